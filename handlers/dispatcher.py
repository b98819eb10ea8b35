"""The one place where the chat routers are put in order (aiogram's `include_routers`).

Each router carries its own role filter, so none copies another's commands:

1. common — follow/unfollow, menu clicks, WeChat's location reports, unsupported types;
2. confirmation and binding flows — narrow answers (确认撤销, a list's "1", a 6-digit code) that
   must be read before a role's catch-all help;
3. grid workers, then volunteers — their commands, each ending in the role's help;
4. residents' order commands (an order's number, 撤销 of an order, 评单), then event ratings,
   then the resident's event commands (查询, 补充, 撤销, 转人工, complaints, 催办): commands win
   over any open dialog;
5. the residents' dialog flows — the report follow-up (where? a photo? — and what comes right
   after a report attaches to it), the service order, the rating comment, 转人工;
6. a service asked for in plain words, then everything else is a report (or asked back).
"""

from __future__ import annotations

from handlers import common, orders, resident, volunteer, worker
from handlers.flows import binding, confirmation, human, rating, report, service_order
from handlers.router import Context, Router

root = Router("root").include_routers(
    common.router,
    confirmation.flow,
    binding.flow,
    worker.router,
    volunteer.router,
    orders.commands,
    rating.entry,
    resident.commands,
    report.flow,
    service_order.flow,
    rating.flow,
    human.flow,
    orders.in_words,
    resident.reports,
)


def dispatch(ctx: Context) -> str | None:
    return root.dispatch(ctx)
