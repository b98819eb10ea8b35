"""The nouns of the domain: Grid, Worker, Resident, Event, TimelineEntry, Attachment, OutboxMessage, Order….

Event's and Order's state sets are defined once, on the noun (FixMyStreet's `open_states`)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.core.db import Base, UTCDateTime, utcnow

GRID_LEVELS = ("district", "street", "community", "grid", "building")
LEVEL_LABELS = {"district": "区", "street": "街道", "community": "社区", "grid": "网格", "building": "楼栋"}


class Grid(Base):
    """One node of the five-level tree 区 → 街道 → 社区 → 小区(网格) → 楼栋."""

    __tablename__ = "grid"
    __table_args__ = (UniqueConstraint("parent_id", "name", name="uq_grid_parent_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)
    level: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    aliases: Mapped[str] = mapped_column(Text, default="")  # "|"-separated
    polygon_wkt: Mapped[str | None] = mapped_column(Text)
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    duty_phone: Mapped[str | None] = mapped_column(String(32))

    # On access: the identity map makes the walk up the tree cheap, without a 4-level join per load.
    parent: Mapped[Grid | None] = relationship(remote_side="Grid.id")

    @property
    def alias_list(self) -> list[str]:
        return [a for a in (self.aliases or "").split("|") if a]

    @property
    def path(self) -> list[Grid]:
        node, chain = self, []
        while node is not None:
            chain.append(node)
            node = node.parent
        return list(reversed(chain))

    def ancestor(self, level: str) -> Grid | None:
        return next((g for g in self.path if g.level == level), None)

    @property
    def full_name(self) -> str:
        return "".join(g.name for g in self.path if g.level != "district")


class Worker(Base):
    """A grid worker (网格员) or volunteer (志愿者); linked to WeChat by binding its OpenID."""

    __tablename__ = "worker"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(32), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="grid_worker")  # grid_worker | volunteer
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    skills: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    grid: Mapped[Grid | None] = relationship()


class Resident(Base):
    __tablename__ = "resident"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"))
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    grid: Mapped[Grid | None] = relationship(lazy="joined")


class Event(Base):
    """One reported problem (事件), tracked from 待受理 to 已评价."""

    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_status_created", "status", "created_at"),
        Index("ix_event_duplicate", "grid_id", "category", "id"),  # find_duplicate: newest first, per grid
        # The monthly three rates read one month from these columns only: an index-only scan on
        # PostgreSQL (INCLUDE); SQLite has no INCLUDE and gets the plain index (migrations 0005, 0007).
        Index("ix_event_rates", "created_at", postgresql_include=[
            "id", "status", "grid_id", "worker_id", "respond_due_at", "accepted_at", "resolve_due_at",
            "completed_at", "overdue", "overdue_count"]),
    )

    # The state sets, once (the transition table is in bot/domain/lifecycle.py):
    OPEN_STATES: ClassVar = ("reported", "assigned", "accepted")  # being handled, under the clock
    UNACCEPTED_STATES: ClassVar = ("reported", "assigned")  # the respond (响应) limit still matters
    WORKING_STATES: ClassVar = ("assigned", "accepted")  # in a grid worker's hands
    RESOLVED_STATES: ClassVar = ("completed", "closed", "rated")  # 办结 and after: done in reports
    CLOSED_STATES: ClassVar = ("closed", "rated")  # checked and closed (核查结案)
    FINAL_STATES: ClassVar = ("rejected", "cancelled", "merged")  # ended unhandled: no way out

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"), index=True)
    source: Mapped[str] = mapped_column(String(16), default="wechat")
    source_key: Mapped[str | None] = mapped_column(String(160), unique=True)  # WeChat MsgId etc.
    text: Mapped[str] = mapped_column(Text, default="")
    intent: Mapped[str] = mapped_column(String(16), default="report")
    category: Mapped[str] = mapped_column(String(24), default="other")
    subcategory: Mapped[str] = mapped_column(String(64), default="")
    grade: Mapped[str] = mapped_column(String(1), default="A")
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    rule: Mapped[str] = mapped_column(Text, default="")
    place_text: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("worker.id"), index=True)
    unit: Mapped[str] = mapped_column(String(64), default="dispatch")  # whose queue it is in
    status: Mapped[str] = mapped_column(String(16), default="reported")
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    rating: Mapped[str | None] = mapped_column(String(12))  # the reporter's latest rating value
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Time limits (限时办理): due times of the current round, set on report, escalation and reopen.
    deadline_round: Mapped[int] = mapped_column(Integer, default=0)
    clock_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    respond_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    respond_remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first 接单 of the round
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # 办结 of the round
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)  # 督办 flag shown to dispatchers
    overdue_count: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # the sweep's index
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    reporter: Mapped[Resident | None] = relationship(lazy="joined")
    grid: Mapped[Grid | None] = relationship(lazy="joined")
    worker: Mapped[Worker | None] = relationship(lazy="joined")
    # selectin: a batch of events loads all their timelines in one extra query, not one per event.
    timeline: Mapped[list[TimelineEntry]] = relationship(
        back_populates="event", order_by="TimelineEntry.id", lazy="selectin"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="event", order_by="Attachment.id", lazy="selectin"
    )


class Timeline:
    """The one shape of a timeline row (events and orders alike): append-only, one row per transition
    (and per note), written by bot/domain/states.py in the same transaction as the change itself."""

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(16))  # resident | worker | volunteer | dispatcher | system
    actor_name: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")


class TimelineEntry(Timeline, Base):
    """An event's timeline."""

    __tablename__ = "timeline_entry"

    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)

    event: Mapped[Event] = relationship(back_populates="timeline")


class Attachment(Base):
    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    timeline_id: Mapped[int | None] = mapped_column(ForeignKey("timeline_entry.id"))
    kind: Mapped[str] = mapped_column(String(16))  # image | location | voice | link
    media_id: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)
    local_path: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event: Mapped[Event] = relationship(back_populates="attachments")


class OutboxMessage(Base):
    """A push waiting to reach WeChat; drained with retries so an API outage loses nothing."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(24), default="customer_service")
    payload: Mapped[dict] = mapped_column(JSON)
    dedup_key: Mapped[str | None] = mapped_column(String(160), unique=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|sending|sent|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InboxMessage(Base):
    """A message stored before it was read: under a flood, or when its handling overran the reply
    budget, the webhook answers "已收到" at once and the message is handled from here in the
    background, its outcome pushed. `number` is the event number promised in that answer.

    Statuses: pending → processing (leased) → done; a failure is due again after a growing pause,
    and after MAX_ATTEMPTS (bot.wechat.inbox) it is `failed`: the resident is asked to send again,
    and a dispatcher sees it and may retry it (GET /api/outbox, POST /api/inbox/retry)."""

    __tablename__ = "inbox_message"
    __table_args__ = (Index("ix_inbox_due", "status", "id"),)
    OPEN_STATES: ClassVar[tuple[str, ...]] = ("pending", "processing")
    FAILED: ClassVar[str] = "failed"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)  # the delivery's de-duplication key
    openid: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)  # the Incoming's fields
    number: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SupervisionNotice(Base):
    """Each reminder / 督办 / escalation happens once per event, kind and deadline round: the unique
    key is claimed before anything is sent, so two service processes cannot both send it."""

    __tablename__ = "supervision_notice"
    __table_args__ = (UniqueConstraint("event_id", "round", "kind", name="uq_supervision_notice_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))  # respond_remind | respond_overdue | resolve_remind | …
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DailyCounter(Base):
    """Per-day sequence behind event numbers (WL20261123-0042) on SQLite (bot/domain/numbering.py)."""

    __tablename__ = "daily_counter"

    key: Mapped[str] = mapped_column(String(24), primary_key=True)  # "WL20261123"
    value: Mapped[int] = mapped_column(Integer, default=0)


class NumberBase(Base):
    """On PostgreSQL a day's numbers are a database SEQUENCE's values minus the day's base: set once
    per day, read-only after (bot/domain/numbering.py)."""

    __tablename__ = "number_base"

    key: Mapped[str] = mapped_column(String(24), primary_key=True)  # "WL20261123"
    base: Mapped[int] = mapped_column(BigInteger)


class BindCode(Base):
    """A one-time 6-digit code that links a worker's or volunteer's WeChat OpenID (valid 24 h)."""

    __tablename__ = "bind_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    worker: Mapped[Worker] = relationship(lazy="joined")


class Follower(Base):
    """A resident who reported the same problem and follows this event (gets its pushes, may rate)."""

    __tablename__ = "follower"
    __table_args__ = (UniqueConstraint("event_id", "resident_id", name="uq_follower_event_resident"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    resident: Mapped[Resident] = relationship(lazy="joined")


class Rating(Base):
    """一事一评: one rating per event and resident (满意 / 基本满意 / 不满意, or 未评价 after 7 days)."""

    __tablename__ = "rating"
    __table_args__ = (
        UniqueConstraint("event_id", "resident_id", "round", name="uq_rating_event_resident_round"),
        # The ratings of a range of events, index-only on PostgreSQL (migrations 0005, 0007).
        Index("ix_rating_event_value", "event_id", postgresql_include=["value"]),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))
    round: Mapped[int] = mapped_column(Integer, default=0)  # the event's reopen_count when rated
    value: Mapped[str] = mapped_column(String(12))  # satisfied | basic | unsatisfied | unrated
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    """An admin-page login: admin, dispatcher or viewer, optionally scoped to a street or district."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    scope_grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    scope: Mapped[Grid | None] = relationship(lazy="joined")


class LoginSession(Base):
    """Server-side admin sessions: the cookie holds a random token, the table its hash."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


class Order(Base):
    """A volunteer service order (五单: 点单 → 派单 → 接单 → 评单 → 晒单), numbered like events."""

    __tablename__ = "service_order"
    __table_args__ = (Index("ix_service_order_status_expires", "status", "offer_expires_at"),)

    # The state sets, once (the transition table is in bot/orders/lifecycle.py):
    OPEN_STATES: ClassVar = ("requested", "offered", "assigned", "accepted")  # not done or cancelled yet
    WAITING_STATES: ClassVar = ("offered", "assigned")  # waiting for 接单: the offer timeout applies
    HELD_STATES: ClassVar = ("assigned", "accepted")  # a volunteer holds it (may 完成 or 退单)
    DONE_STATES: ClassVar = ("completed", "rated")  # served: rateable, on the volunteer's list, 晒单

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"), index=True)
    source_key: Mapped[str | None] = mapped_column(String(160), unique=True)  # WeChat MsgId: retries create once
    service: Mapped[str] = mapped_column(String(32))  # the service menu item's name, e.g. 磨刀
    note: Mapped[str] = mapped_column(Text, default="")  # the resident's words
    place_text: Mapped[str | None] = mapped_column(String(200))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"), index=True)
    volunteer_id: Mapped[int | None] = mapped_column(ForeignKey("worker.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    offer_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # offered/assigned → back to dispatch
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result_note: Mapped[str] = mapped_column(Text, default="")  # the volunteer's 完成 note
    rating: Mapped[str | None] = mapped_column(String(12))  # satisfied | basic | unsatisfied
    rating_comment: Mapped[str] = mapped_column(Text, default="")
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    public: Mapped[bool] = mapped_column(Boolean, default=True)  # 晒单: False when the resident opts out
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)  # 不满意: a dispatcher follows up
    hours: Mapped[float] = mapped_column(Float, default=0.0)
    points: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    resident: Mapped[Resident | None] = relationship(lazy="joined")
    grid: Mapped[Grid | None] = relationship(lazy="joined")
    volunteer: Mapped[Worker | None] = relationship(lazy="joined")
    timeline: Mapped[list[OrderEntry]] = relationship(order_by="OrderEntry.id", lazy="selectin")
    photos: Mapped[list[OrderPhoto]] = relationship(order_by="OrderPhoto.id", lazy="selectin")


class OrderEntry(Timeline, Base):
    """An order's timeline."""

    __tablename__ = "order_entry"

    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id"), index=True)


class OrderOffer(Base):
    """抢单: which volunteers an order was offered to (only they may grab it; the losers are told)."""

    __tablename__ = "order_offer"
    __table_args__ = (UniqueConstraint("order_id", "volunteer_id", name="uq_order_offer_order_volunteer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id"), index=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("worker.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrderPhoto(Base):
    """A photo the volunteer sent as evidence of the service (shown on the showcase unless opted out)."""

    __tablename__ = "order_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id"), index=True)
    media_id: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsEntry(Base):
    """The volunteer hours and points ledger (志愿时长/积分): one credit per completed order."""

    __tablename__ = "points_entry"
    __table_args__ = (UniqueConstraint("order_id", "volunteer_id", name="uq_points_entry_order_volunteer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("worker.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("service_order.id"))
    hours: Mapped[float] = mapped_column(Float, default=0.0)
    points: Mapped[float] = mapped_column(Float, default=0.0)
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PhoneReveal(Base):
    """查看完整号码: one row each time an admin-page user reveals a masked contact (个人信息保护法:
    who looked at whose number, when, and why). Append-only; listed on /admin/audit."""

    __tablename__ = "phone_reveal"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    target_kind: Mapped[str] = mapped_column(String(8))  # event | order
    target_number: Mapped[str] = mapped_column(String(20), index=True)
    field: Mapped[str] = mapped_column(String(16), default="phone")  # what was revealed
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


# ---- the urgent path and the dispatcher queue (issue 15) ----


class DutyEntry(Base):
    """One person on the duty roster (值班表) of a community, street or district: a grid worker (by
    worker_id), or a dispatcher reached on WeChat (by openid). Alerted for urgent reports whose grid
    is not known, in the resident's community first, then the street, then the district."""

    __tablename__ = "duty_entry"
    __table_args__ = (UniqueConstraint("grid_id", "openid", name="uq_duty_entry_grid_openid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"), index=True)  # the community/street it covers
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("worker.id"))
    openid: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(16), default="值班人员")  # 网格员 / 值班调度员 / 值班人员
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # on duty now

    grid: Mapped[Grid] = relationship(lazy="joined")
    worker: Mapped[Worker | None] = relationship(lazy="joined")


class EventAlert(Base):
    """Who was alerted of an urgent event: every alerted worker may 接单 it, the first one wins."""

    __tablename__ = "event_alert"
    __table_args__ = (UniqueConstraint("event_id", "openid", name="uq_event_alert_event_openid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("worker.id"), index=True)
    openid: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UrgentAck(Base):
    """A dispatcher acknowledged the admin page's alarm for an urgent event (once per event)."""

    __tablename__ = "urgent_ack"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), unique=True)
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DispatchRequest(Base):
    """The dispatcher queue: a complaint about the handling or a worker, 转人工, or a second 催办
    within the response limit. Never routed to the worker concerned; a dispatcher answers it in the
    admin page and the answer is pushed to the resident."""

    __tablename__ = "dispatch_request"
    __table_args__ = (Index("ix_dispatch_request_status", "status", "id"),)

    KINDS: ClassVar = {"complaint": "投诉", "human": "转人工", "chaser": "催办"}

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | answered
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    resident: Mapped[Resident] = relationship(lazy="joined")
    event: Mapped[Event | None] = relationship(lazy="joined")
