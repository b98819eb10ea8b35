"""`weilinli`: the command line (typer + rich)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console

import settings as settings_module

app = typer.Typer(help="微邻里 weilinli — 网格化基层治理公众号机器人", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
grids_app = typer.Typer(help="Grid registry (区/街道/社区/网格 and grid workers)", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(grids_app, name="grids")
users_app = typer.Typer(help="Admin-page logins", no_args_is_help=True)
app.add_typer(users_app, name="users")
menu_app = typer.Typer(help="The account's custom menu (自定义菜单)", no_args_is_help=True)
app.add_typer(menu_app, name="menu")
volunteers_app = typer.Typer(help="Volunteer roster (志愿者: skills and home grid)", no_args_is_help=True)
app.add_typer(volunteers_app, name="volunteers")
console = Console()
err = Console(stderr=True)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apscheduler", "alembic.runtime.plugins"):  # a line per job run / plugin drowns the log
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="interface to listen on"),
          port: int = typer.Option(8000, help="TCP port"),
          workers: int = typer.Option(1, help="worker processes (share PostgreSQL + Redis when > 1)")) -> None:
    """Run the service: webhook, admin page, API, scheduler and push outbox."""
    import uvicorn

    _logging()
    s = settings_module.get_settings()
    if workers > 1 and not s.redis_url:
        err.print("[red]--workers > 1 needs WEILINLI_REDIS_URL: the embedded store is per process[/]")
        raise typer.Exit(2)
    if workers > 1 and s.effective_database_url.startswith("sqlite"):
        err.print("[yellow]several workers on SQLite: writes are serialised; use PostgreSQL in production[/]")
    from bot.core.migrate import upgrade

    if s.effective_database_url.startswith("sqlite"):
        upgrade()
    if workers > 1:  # one master loads the read-only data, then forks the workers (bot/serving.py)
        from bot import serving

        serving.run(host, port, workers)
        return
    # X-Forwarded-For is anyone's to send: uvicorn believes it only from WEILINLI_TRUSTED_PROXIES.
    trusted = s.trusted_proxies.strip()
    uvicorn.run("bot.app:create_app", factory=True, host=host, port=port, log_level="info", access_log=False,
                timeout_graceful_shutdown=5, proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None)


@app.command()
def demo(host: str = typer.Option("127.0.0.1", help="interface to listen on"),
         port: int = typer.Option(8000, help="TCP port")) -> None:
    """Run the service on embedded defaults with demo data, the simulator and a fake WeChat API."""
    import uvicorn

    _logging()
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    # Demo pushes must reach the simulator even outside the 48-hour window: a demo template id.
    template = settings_module.get_settings().wechat_template_id or "demo-template"
    settings_module.configure(demo=True, wechat_api_base=f"{base}/_fake_wechat/", public_url=base,
                              wechat_template_id=template)
    from bot.app import create_app
    from bot.core import runtime
    from bot.core.db import session_scope
    from bot.core.migrate import upgrade
    from bot.demo import accounts, history
    from bot.demo import sample as demo_data

    service = create_app()
    runtime.install(service.state.runtime)  # the demo data goes in through the app's own runtime
    upgrade()
    with session_scope() as session:
        demo_data.load(session)
        demo_data.load_duty_roster(session)
        logins = accounts.create(session)
    with session_scope() as session:
        added = history.load(session, base_url=base)
    s = settings_module.get_settings()
    console.print(f"[bold green]微邻里 demo[/] on {s.effective_database_url}, "
                  f"{'plaintext' if not s.safe_mode else 'AES safe'} mode")
    if not added.get("skipped"):
        console.print(f"  Demo history     : {added['events']} events and {added['orders']} service orders "
                      f"over the last {history.DAYS} days")
    console.print(f"  Admin page       : {base}/admin/")
    for username, password, label in logins:
        console.print(f"      login {username} / {password}  ({label})")
    console.print(f"  WeChat simulator : {base}/simulator/")
    console.print(f"  Webhook          : {base}/wechat")
    console.print(f"  Fake WeChat API  : {base}/_fake_wechat/_records")
    console.print(f"  Health           : {base}/healthz   API docs: {base}/docs")
    uvicorn.run(service, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply the Alembic migrations."""
    from bot.core.migrate import upgrade

    upgrade(revision)
    console.print(f"database at revision {revision}")


def _import_all_or_nothing(importer, file: Path):
    """Run a spreadsheet import in one transaction; on a bad row print every error and exit 1."""
    from bot.core.db import session_scope
    from bot.core.migrate import upgrade
    from bot.places.registry import RegistryError

    upgrade()
    try:
        with session_scope() as session:
            return importer(session, file)
    except RegistryError as exc:
        for line in exc.errors:
            err.print(f"[red]{line}[/]")
        err.print("[red]导入失败，未写入任何数据。[/]")
        raise typer.Exit(1) from None


@grids_app.command("import")
def grids_import(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True)) -> None:
    """Import grids and grid workers from CSV/XLSX with the header 区,街道,社区,网格,别名,网格员,手机号."""
    from bot.places.registry import import_grids

    result = _import_all_or_nothing(import_grids, file)
    console.print(f"导入完成：{result.rows} 行，新建网格 {result.grids_created} 个，"
                  f"新增网格员 {result.workers_created} 人，更新 {result.workers_updated} 人")


@grids_app.command("export")
def grids_export(file: Path = typer.Argument(..., dir_okay=False)) -> None:
    """Export grids and grid workers to CSV or XLSX (same header as import)."""
    import csv

    from openpyxl import Workbook

    from bot.core.db import session_scope
    from bot.core.spreadsheet import safe_cell
    from bot.places.registry import export_grids

    with session_scope() as session:
        rows = [[safe_cell(cell) for cell in row] for row in export_grids(session)]
    if file.suffix.lower() == ".xlsx":
        book = Workbook()
        for row in rows:
            book.active.append(row)
        book.save(file)
    else:
        with file.open("w", newline="", encoding="utf-8-sig") as fh:
            csv.writer(fh).writerows(rows)
    console.print(f"exported {len(rows) - 1} rows to {file}")


@users_app.command("add")
def users_add(name: str = typer.Argument(..., help="login name"),
              role: str = typer.Option(..., "--role", help="admin | dispatcher | viewer"),
              password: str = typer.Option(..., "--password", help="at least 8 characters"),
              scope: str = typer.Option("", "--scope", help="street or district name the user is limited to")) -> None:
    """Add (or update) an admin-page login."""
    from sqlalchemy import select

    from admin.auth import add_user
    from bot.core.db import session_scope
    from bot.core.migrate import upgrade
    from bot.domain.models import Grid

    upgrade()
    try:
        with session_scope() as session:
            grid = None
            if scope:
                grid = session.scalar(select(Grid).where(Grid.name == scope, Grid.level.in_(("district", "street"))))
                if grid is None:
                    raise ValueError(f"no street or district named {scope}")
            user = add_user(session, name, password, role, grid)
            console.print(f"user {user.username} ({user.role}{', ' + scope if scope else ''}) saved")
    except ValueError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None


@volunteers_app.command("import")
def volunteers_import(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True)) -> None:
    """Import volunteers from CSV/XLSX with the header 姓名,手机号,技能,网格 (技能 separated by |)."""
    from bot.orders.volunteers import import_volunteers

    result = _import_all_or_nothing(import_volunteers, file)
    console.print(f"导入完成：{result.rows} 行，新增志愿者 {result.created} 人，更新 {result.updated} 人")
    if result.unknown_skills:
        console.print(f"[yellow]提示：服务菜单中没有这些技能对应的服务：{'、'.join(result.unknown_skills)}[/]")


@menu_app.command("push")
def menu_push() -> None:
    """Create the custom menu (报事 / 便民服务 / 我的) through the WeChat API; idempotent."""
    from wechatpy.exceptions import WeChatClientException

    from bot.wechat import menu

    data = menu.menu(settings_module.get_settings().public_url)
    try:
        outcome = menu.push(data)
    except ValueError as exc:
        err.print(f"[red]菜单不符合微信限制：{exc}[/]")
        raise typer.Exit(2) from None
    except (WeChatClientException, OSError) as exc:
        err.print(f"[red]微信接口调用失败：{exc}[/]")
        raise typer.Exit(1) from None
    names = " / ".join(b["name"] for b in data["button"])
    console.print(f"菜单{'未变化，无需重新推送' if outcome == 'unchanged' else '已创建'}：{names}"
                  "（微信客户端约 5 分钟内刷新）")


@app.command("bind-code")
def bind_code(phone: str = typer.Argument(..., help="the worker's or volunteer's phone number")) -> None:
    """Print a one-time 6-digit code (valid 24 h); the worker sends `绑定 <code>` to the account."""
    from bot.core.db import session_scope
    from bot.core.migrate import upgrade
    from bot.events.casework import issue_bind_code

    upgrade()
    try:
        with session_scope() as session:
            code = issue_bind_code(session, phone)
    except LookupError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    print(code)


@app.command()
def report(month: str = typer.Option(..., "--month", help="YYYY-MM, a calendar month in Asia/Shanghai time"),
           out: Path = typer.Option(..., "--out", dir_okay=False, help="the .xlsx workbook to write")) -> None:
    """Write the monthly 民情分析 workbook: totals by category and grid, the three rates, overdue, places."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bot.core.db import session_scope
    from bot.core.migrate import upgrade
    from bot.reports import rates
    from bot.reports import workbook as monthly

    try:
        rates.month_range(month)
    except rates.RatesError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    upgrade()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress, session_scope() as session:
        task = progress.add_task(f"{month} 民情分析", total=len(monthly.STEPS))

        def step(name: str) -> None:
            progress.update(task, advance=1, description=f"{month} 民情分析：{name}")

        summary = monthly.write_report(session, month, out, on_step=step)
    console.print(f"已生成 {out}：事件 {summary['events']} 件，超期督办 {summary['overdue_rows']} 件，"
                  f"工作表 {len(summary['sheets'])} 张")


def _list_or_act(ids: list[int] | None, every: bool, show: bool, rows, line, act, hint: str, done: str) -> None:
    """The held rows' lines (`--list`, or nothing chosen), or `act(session, ids or None)` on them."""
    from bot.core.db import session_scope

    with session_scope() as session:
        if show or (not ids and not every):
            for row in rows(session):
                typer.echo("\t".join(map(str, line(row))))
            if not show:
                err.print(f"[yellow]{hint}[/]")
            return
        count = act(session, None if every else list(ids))
    console.print(done.format(count=count))


# -- push outbox dead letters (issue 16): list and re-queue what WeChat did not take --
outbox_app = typer.Typer(help="Push outbox: dead and unknown pushes", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")


@outbox_app.command("requeue")
def outbox_requeue(ids: list[int] = typer.Argument(None, help="push ids (default: with --all, every one)"),
                   all_held: bool = typer.Option(False, "--all", help="every dead and unknown push"),
                   show: bool = typer.Option(False, "--list", help="only list them")) -> None:
    """Re-queue dead pushes (given up after WEILINLI_OUTBOX_DEAD_AFTER_HOURS) and unknown ones (may
    have been delivered: re-sending may repeat them)."""
    from bot.notify import outbox

    _list_or_act(ids, all_held, show, outbox.held,
                 lambda m: (m.id, m.status, m.openid, f"{m.attempts} 次", m.last_error or ""),
                 outbox.requeue, "give push ids or --all to re-queue", "已重新排队 {count} 条推送")


# -- messages stored first whose handling failed: list and handle again --
inbox_app = typer.Typer(help="Messages stored first (已收到) whose handling failed", no_args_is_help=True)
app.add_typer(inbox_app, name="inbox")


@inbox_app.command("retry")
def inbox_retry(ids: list[int] = typer.Argument(None, help="stored message ids (default: with --all, every one)"),
                every: bool = typer.Option(False, "--all", help="every failed stored message"),
                show: bool = typer.Option(False, "--list", help="only list them")) -> None:
    """Handle failed stored messages again (the resident was asked to send again; a promised event
    number is kept)."""
    from bot.wechat import inbox

    def line(m) -> tuple:
        text = str(m.payload.get("text", "")).replace("\n", " ")[:40]
        return m.id, m.number or "-", m.openid, f"{m.attempts} 次", text, m.last_error or ""

    _list_or_act(ids, every, show, inbox.failed, line, inbox.retry,
                 "give stored message ids or --all to retry", "已重新处理 {count} 条消息")


def _mount_nlp() -> None:
    from nlp import cli as nlp_cli

    app.command("classify", help="Classify JSONL {id, text} lines from FILE or stdin")(nlp_cli.classify_command)
    app.add_typer(nlp_cli.nlp_app, name="nlp", help="Mine and evaluate classification rules")


_mount_nlp()


if __name__ == "__main__":
    app()
