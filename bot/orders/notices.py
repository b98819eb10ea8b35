"""Who is told what about a service order: every push to residents, volunteers and dispatchers, and its
Chinese text, in one place. The outbox delivers them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.domain.models import Order, Worker
from bot.domain.privacy import mask_phone, mask_text
from bot.notify.outbox import enqueue
from bot.orders.present import place_of
from nlp.extract import extract_phone
from settings import get_settings


def _step(order: Order) -> int:
    """Which change a push belongs to: the id of the order's latest timeline row (unique per change, so a
    retried request cannot push twice and two changes never share a key)."""
    return max((entry.id or 0 for entry in order.timeline), default=0)


def _push(session: Session, openid: str | None, text: str, order: Order, kind: str) -> None:
    if openid:
        enqueue(session, openid, text, dedup_key=f"order:{order.number}:{kind}:{_step(order)}:{openid}")


def _tell_resident(session: Session, order: Order, text: str, kind: str) -> None:
    person = order.resident
    if person is not None and person.subscribed:
        _push(session, person.openid, text, order, kind)


def _tell_dispatchers(session: Session, order: Order, text: str, kind: str) -> None:
    for openid in filter(None, (o.strip() for o in get_settings().dispatcher_openids.split(","))):
        _push(session, openid, text, order, kind)


def order_text(order: Order, title: str, *, full: bool) -> str:
    """The order's card; `full=False` (pushed to many volunteers) masks contacts in the note too."""
    note = mask_text(order.note, keep_contacts=full)  # the assigned volunteer calls the resident
    lines = [f"【{title}】{order.number}", f"服务：{order.service}", f"地点：{place_of(order)}"]
    if note:
        lines.append(f"说明：{note[:200]}")
    return "\n".join(lines)


def needs_dispatcher(session: Session, order: Order, *, new: bool = False) -> None:
    """No place or no matching volunteer: a dispatcher assigns it by hand."""
    _tell_dispatchers(session, order, order_text(order, "新服务单·待派单" if new else "服务单·待派单", full=True),
                      "dispatch")


def offered(session: Session, order: Order, volunteer: Worker) -> None:
    text = order_text(order, "抢单", full=False) + f"\n回复「抢单 {order.number}」接单，先到先得。"
    _push(session, volunteer.openid, text, order, "offer")


def assigned(session: Session, order: Order, volunteer: Worker, previous: Worker | None) -> None:
    text = order_text(order, "派单", full=True) + \
        f"\n回复「接单 {order.number}」确认接单，不便请回复「退单 {order.number}」。"
    _push(session, volunteer.openid, text, order, "assign")
    if previous is not None:
        _push(session, previous.openid, f"【改派】服务单 {order.number} 已由调度员改派他人，无需再服务。", order,
              "reassigned")


def accepted(session: Session, order: Order, others: list[Worker]) -> None:
    """The volunteer gets the way to reach the resident; the resident hears who serves them and what
    happens next; the other volunteers it was offered to, that it is taken."""
    volunteer = order.volunteer
    phone = extract_phone(order.note or "")
    if phone:
        reach = f"居民电话：{phone}（点击号码即可拨打），请先电话约好上门时间。"
        told = f"志愿者将拨打您留的电话 {mask_phone(phone)} 与您约定上门时间"
    else:
        reach = ("居民未留电话：请按地点上门；需要联系居民时，请联系社区调度员"
                 f"（{get_settings().duty_phone}）经公众号转告。")
        told = ("您未留电话，志愿者将按您填写的地点上门；如需另约时间，请致电社区"
                f"（{get_settings().duty_phone}）转告志愿者")
    _push(session, volunteer.openid, order_text(order, "接单成功", full=True) + f"\n{reach}\n"
          f"服务完成后回复「完成 {order.number} 备注」，可再发一张服务照片。", order, "accepted")
    _tell_resident(session, order, f"【已接单】您的服务单 {order.number}（{order.service}）已由志愿者"
                   f"{volunteer.name}接单。{told}。完成后请为本次服务评价。", "accept")
    for other in others:
        _push(session, other.openid, f"【已被接单】服务单 {order.number}（{order.service}）已由其他志愿者接单，"
              "感谢您的热心！", order, "taken")


def relayed(session: Session, order: Order, text: str) -> None:
    """A dispatcher's message to the resident, relayed through the account (the resident's number
    is never given out for it)."""
    _tell_resident(session, order, f"【服务单留言】{order.number}（{order.service}）\n{text[:500]}", "relay")


def timed_out(session: Session, order: Order) -> None:
    _tell_dispatchers(session, order, order_text(order, "服务单超时无人接单·请派单", full=True), "timeout")
    _tell_resident(session, order, f"【服务单】{order.number}（{order.service}）暂时无志愿者接单，"
                   "已转社区调度员为您安排，请耐心等待。", "timeout")


def completed(session: Session, order: Order, volunteer: Worker, note: str) -> None:
    _tell_resident(session, order, f"【服务完成】{order.number}（{order.service}）志愿者{volunteer.name}已完成服务："
                   f"{note[:200] or '已完成'}\n请评价：回复“满意”“基本满意”或“不满意 + 意见”。"
                   "服务会隐去个人信息后在“晒单”展示，如不愿公开，评价时加上“不公开”。", "complete")


def unsatisfied(session: Session, order: Order, comment: str) -> None:
    _tell_dispatchers(session, order, f"【服务不满意】{order.number}（{order.service}）：{comment[:200]}",
                      "unsatisfied")


def cancelled(session: Session, order: Order, volunteer: Worker | None, *, by_resident: bool, reason: str) -> None:
    if volunteer is not None:
        _push(session, volunteer.openid, f"【服务单取消】{order.number}（{order.service}）已取消，无需再服务。", order,
              "cancel")
    if not by_resident:
        _tell_resident(session, order, f"【服务单取消】{order.number}（{order.service}）：{reason or '已取消'}",
                       "cancel")
