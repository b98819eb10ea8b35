"""Three months of demo history, generated deterministically so every admin page has something true
to show: events in every state and category (classified by the real rules, with the real time
limits), ratings, overdue cases, a second 不满意, photos, service orders and volunteers' hours.

Same seed, same day → same history. The rows are written as an import would write them — each
event's timeline is the sequence of transitions its state implies, with the times that lead there —
so the three rates, the ledger and the map read them exactly as they read live events. Idempotent:
a second run finds the marker resident and adds nothing.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.db import utcnow
from bot.demo import photos
from bot.demo.sample import GRIDS, HALF
from bot.domain import deadlines
from bot.domain.models import (
    Attachment,
    Event,
    Grid,
    Order,
    OrderEntry,
    OrderPhoto,
    PointsEntry,
    Rating,
    Resident,
    SupervisionNotice,
    TimelineEntry,
    Worker,
)
from bot.domain.numbering import next_number
from bot.domain.vocabulary import RATING_LABELS
from bot.orders.orders import service_hours
from bot.timelimits import rounds
from bot.wechat.media import media_dir
from nlp import classifier
from settings import get_settings

SEED = 17
DAYS = 92
RECENT_ORDER_FATES = {4: "completed", 2: "accepted", 0: "offered"}  # days back → state now
MARKER = "o-demo-history-00"
RESIDENTS = 40

# What residents write, per taxonomy code; {p} is one of the grid's aliases, {b} a building.
TEXTS = {
    "environment": ["{p}{b}栋门口垃圾好几天没人清运，味道很大", "{p}小区门口有人乱倒建筑垃圾",
                    "{p}围墙上贴满了小广告", "{p}路口有流动摊贩占道经营", "{p}楼下餐馆油烟直排扰民"],
    "facility": ["{p}{b}栋旁边路灯不亮了，晚上很黑", "{p}门口道路坑洼，电动车容易摔", "{p}人行道井盖缺失很危险",
                 "{p}下水道堵塞，污水漫出来了", "{p}下雨后路面积水严重"],
    "property": ["{p}{b}栋电梯故障，老人上下楼困难", "{p}{b}栋楼道灯坏了", "{p}{b}栋顶楼漏水渗水",
                 "{p}小区门禁坏了谁都能进", "{p}二次供水水质发黄"],
    "safety": ["{p}{b}栋有人飞线充电，很不安全", "{p}电动车推进楼道充电", "{p}消防通道被车堵塞",
               "{p}{b}栋有人高空抛物"],
    "security": ["{p}最近有可疑人员挨家敲门", "{p}车棚电动车电瓶被盗", "{p}有人在小区推销非法集资"],
    "dispute": ["{p}{b}栋楼上装修噪音扰民，周末一早就开始", "{p}邻居家狗天天叫，宠物扰民",
                "{p}楼上漏水到我家，协商不成有纠纷", "{p}广场舞音响声音太大噪音扰民"],
    "traffic": ["{p}门口乱停车堵住出入口", "{p}有僵尸车占用车位好几个月", "{p}共享单车乱放挡路"],
    "greening": ["{p}{b}栋前树枝太长挡住窗户需要修剪", "{p}绿地被人毁绿种菜", "{p}大风后树木倒伏压在路上"],
    "other": ["{p}这边有个情况想反映一下，说不清楚", "{p}那个事情到底有没有人管"],
    "welfare": ["{p}想咨询一下低保怎么申请", "{p}家里老人需要养老服务补贴怎么办", "{p}咨询医保社保缴费问题"],
}
SCENE_OF = {"environment": "garbage", "facility": "streetlight", "property": "stairway", "traffic": "parking",
            "greening": "tree", "safety": "stairway"}
REASONS = {"rejected": "经核实属于私人合同纠纷，不属于网格受理范围，已建议通过法律途径解决",
           "cancelled": "居民已自行解决，撤销", "merged": "与同一地点的在办事件重复，已合并"}
ENDING = {"rejected": "reject", "cancelled": "cancel", "merged": "merge"}
COMMENTS = {"satisfied": ["处理很及时，谢谢网格员", "", "效率高", ""], "basic": ["处理了，但是等了几天", ""],
            "unsatisfied": ["说是处理了，其实问题还在", "没人联系我"]}


class _Clock:
    """The history's times: a fixed set of days before today, in whole minutes."""

    def __init__(self, now: datetime, rng: random.Random):
        self.now, self.rng = now.replace(second=0, microsecond=0), rng

    def day(self, back: int) -> datetime:
        start = self.now - timedelta(days=back)
        local_hour = self.rng.choice([8, 9, 9, 10, 10, 11, 14, 15, 16, 17, 19, 20])  # Asia/Shanghai hours
        return start.replace(hour=(local_hour - 8) % 24, minute=self.rng.randrange(60))


def load(session: Session, *, base_url: str = "", now: datetime | None = None) -> dict:
    """Write the history once; returns what was added (or {"skipped": True})."""
    if session.scalar(select(Resident.id).where(Resident.openid == MARKER)) is not None:
        return {"skipped": True}
    rng = random.Random(SEED)
    clock = _Clock(now or utcnow(), rng)
    residents = [Resident(openid=f"o-demo-history-{i:02d}", created_at=clock.now - timedelta(days=DAYS + 5))
                 for i in range(RESIDENTS)]
    session.add_all(residents)
    grids = {g.name: g for g in session.scalars(select(Grid).where(Grid.level == "grid"))}
    workers = {w.grid_id: w for w in session.scalars(select(Worker).where(Worker.role == "grid_worker"))}
    session.flush()
    photo_dir = _write_photos()
    events = _events(session, rng, clock, residents, grids, workers, photo_dir)
    orders = _orders(session, rng, clock, residents, grids, base_url)
    session.flush()
    return {"events": events, "orders": orders}


def _write_photos():
    folder = media_dir() / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    for name in photos.SCENES:
        path = folder / f"{name}.png"
        if not path.exists():
            path.write_bytes(photos.png(name))
    return folder


# ----------------------------------------------------------------------------- events


def _fate(rng: random.Random, age: int) -> str:
    """Which state an event of this age (in days) is in now: old ones are done, recent ones open."""
    roll = rng.random()
    if roll < 0.04:
        return "rejected"
    if roll < 0.07:
        return "cancelled"
    if roll < 0.09:
        return "merged"
    if age <= 1:
        return rng.choice(["reported", "reported", "assigned", "accepted", "accepted"])
    if age <= 6:
        return rng.choice(["accepted", "completed", "closed", "closed", "rated", "rated", "rated"])
    if age <= 12:
        return rng.choice(["completed", "closed", "rated", "rated", "rated", "rated", "rated", "rated"])
    return "rated" if rng.random() < 0.88 else "closed"


class _Story:
    """Append an event's transitions, in order, with the state each one leads to."""

    def __init__(self, session: Session, event: Event):
        self.session, self.event, self.state = session, event, None

    def add(self, at: datetime, action: str, to: str, *, actor: str, name: str = "", note: str = "") -> None:
        self.session.add(TimelineEntry(event=self.event, at=at, actor=actor, actor_name=name, action=action,
                                       from_status=self.state, to_status=to, note=note))
        self.state = to
        self.event.status, self.event.updated_at = to, at


def _events(session, rng, clock, residents, grids, workers, photo_dir) -> int:
    grid_list = [grids[name] for _community, name, *_rest in GRIDS if name in grids]
    # Each worker works at their own pace: how often they are late to respond / resolve, and how
    # satisfied their residents are — so the rankings have something to rank.
    pace = {w.id: (rng.uniform(0.03, 0.25), rng.uniform(0.05, 0.35), rng.uniform(0.55, 0.92))
            for w in workers.values()}
    count, merged_target = 0, None
    for back in range(DAYS, -1, -1):
        for _ in range(rng.choice([1, 2, 2, 3, 3, 4] if back > 3 else [4, 5, 6])):
            category = rng.choice(list(TEXTS))
            grid = rng.choice(grid_list)
            aliases = grid.alias_list or [grid.name]
            text = rng.choice(TEXTS[category]).format(p=rng.choice(aliases), b=rng.randint(1, 12))
            if rng.random() < 0.25:  # some residents leave a number to call back (masked on screen)
                text += f"，联系电话1{rng.choice('3589')}{rng.randint(0, 99999999):08d}{rng.randint(0, 9)}"
            created = clock.day(back)
            if created > clock.now:
                created = clock.now - timedelta(minutes=rng.randint(20, 300))
            event = _event(session, rng, text, created, grid, rng.choice(residents))
            fate = _fate(rng, back)
            if fate == "merged" and merged_target is None:
                fate = "cancelled"
            _live(session, rng, clock, event, fate, workers.get(grid.id), pace, merged_target)
            if rng.random() < 0.3:
                scene = SCENE_OF.get(event.category, "garbage")
                session.add(Attachment(event=event, kind="image", media_id=f"{photos.MEDIA_PREFIX}{scene}",
                                       local_path=str(photo_dir / f"{scene}.png"), created_at=created))
            merged_target = event if event.status != "merged" else merged_target
            count += 1
    return count


def _event(session, rng, text, created, grid, person) -> Event:
    result = classifier.classify(text)
    event = Event(number=next_number(session, created), reporter=person, source=rng.choice(
        ["wechat"] * 8 + ["open311", "patrol"]), text=text, intent="report", category=result.category,
        subcategory=result.subcategory, grade=result.grade or "A", urgent=bool(result.urgent),
        flagged=result.category == "other", confidence=result.confidence, rule=result.rule,
        place_text=result.place, phone=result.phone, grid=grid, status="reported", created_at=created,
        updated_at=created,
        deadline_round=0, overdue_count=0, reopen_count=0, overdue=False)
    if rng.random() < 0.65 and grid.lat is not None:  # a WeChat location: a point inside the grid
        event.lat = grid.lat + rng.uniform(-HALF, HALF) * 0.8
        event.lng = grid.lng + rng.uniform(-HALF, HALF) * 0.8
    if rng.random() < 0.08:
        event.grade = "B"
    session.add(event)
    rounds.start_round(event, created, new_round=True)
    session.flush()  # ratings and supervision notices refer to the id
    return event


def _live(session, rng, clock, event: Event, fate: str, worker: Worker | None, pace, merged_target) -> None:
    """Walk the event from 待受理 to its fate, with times that respect (or miss) its limits."""
    story = _Story(session, event)
    story.add(event.created_at, "report", "reported", actor="resident", note=event.text)
    if fate in ("rejected", "cancelled", "merged") or fate == "reported" or worker is None:
        if fate in ("rejected", "cancelled", "merged"):
            actor = "resident" if fate == "cancelled" else "dispatcher"
            story.add(event.created_at + timedelta(minutes=rng.randint(10, 120)), ENDING[fate], fate, actor=actor,
                      name="" if actor == "resident" else "调度员", note=REASONS[fate])
            if fate == "merged":
                event.merged_into_id = merged_target.id
        _settle(session, clock, event)
        return
    late_respond, late_resolve, happy = pace[worker.id]
    assigned_at = event.created_at + timedelta(minutes=rng.randint(3, 40))
    story.add(assigned_at, "assign", "assigned", actor="dispatcher", name="调度员", note=f"派至网格员{worker.name}")
    event.worker, event.unit = worker, f"grid:{worker.grid_id}"
    if fate == "assigned":
        _settle(session, clock, event)
        return
    _accept(rng, story, event, worker, assigned_at, late_respond)
    if fate == "accepted":
        _settle(session, clock, event)
        return
    _finish(rng, story, event, worker, late_resolve, clock.now)
    if fate == "completed":
        _settle(session, clock, event)
        return
    closed_at = min(event.completed_at + timedelta(hours=rng.randint(1, 20)), clock.now)
    story.add(closed_at, "close", "closed", actor="dispatcher", name="调度员", note="核查属实，结案")
    event.closed_at = closed_at
    if fate == "closed":
        if clock.now - closed_at > timedelta(days=7):  # the 7-day window passed: 未评价, as the job records it
            _rate(session, event, "unrated", "", closed_at + timedelta(days=7), story=None)
        _settle(session, clock, event)
        return
    value = _mood(rng, happy)
    rated_at = min(closed_at + timedelta(hours=rng.randint(1, 48)), clock.now)
    if value == "unsatisfied" and clock.now - rated_at < timedelta(days=4):
        value = "basic"  # a first 不满意 always reopens: too recent for the second round to have run
    _rate(session, event, value, rng.choice(COMMENTS[value]), rated_at, story)
    if value == "unsatisfied":
        _second_round(session, rng, story, event, worker, rated_at, clock.now)
    _settle(session, clock, event)


def _accept(rng, story, event, worker, after, late_share) -> None:
    due = event.respond_due_at
    if rng.random() < late_share and due is not None:
        at = due + timedelta(minutes=rng.randint(20, 300))
        event.overdue_count = max(event.overdue_count, 1)
    else:
        at = after + timedelta(minutes=rng.randint(5, 90))
        if due is not None and at > due:
            at = due - timedelta(minutes=1)
    story.add(max(at, after + timedelta(minutes=1)), "accept", "accepted", actor="worker", name=worker.name)
    event.accepted_at = story_time(story)


def _finish(rng, story, event, worker, late_share, now) -> None:
    due, start = event.resolve_due_at, event.accepted_at
    if rng.random() < late_share and due is not None:
        at = due + timedelta(hours=rng.randint(2, 40))
        event.overdue_count = max(event.overdue_count, 1)
    else:
        span = (due - start) if due is not None else timedelta(hours=8)
        at = start + span * rng.uniform(0.15, 0.9)
    at = min(max(at, start + timedelta(minutes=30)), now - timedelta(minutes=5))
    story.add(at - (at - start) / 2, "progress", "accepted", actor="worker", name=worker.name,
              note="已到现场查看，正在处理")
    story.add(at, "complete", "completed", actor="worker", name=worker.name, note="已处理完毕，附处理后照片")
    event.completed_at = at


def story_time(story: _Story) -> datetime:
    return story.event.updated_at


def _mood(rng, happy: float) -> str:
    roll = rng.random()
    if roll < happy:
        return "satisfied"
    return "basic" if roll < happy + (1 - happy) * 0.5 else "unsatisfied"


def _rate(session, event: Event, value: str, comment: str, at: datetime, story: _Story | None) -> None:
    session.add(Rating(event_id=event.id, resident_id=event.reporter_id, round=event.reopen_count, value=value,
                       comment=comment, at=at))
    event.rating = value
    if story is not None:
        note = RATING_LABELS[value] + (f"：{comment}" if comment else "")
        story.add(at, "rate", "rated", actor="resident", note=note)


def _second_round(session, rng, story, event, worker, rated_at, now) -> None:
    """不满意 → 重办 once; the second round ends in 不满意 again: 居民二次不满意, a dispatcher's case."""
    story.add(rated_at, "reopen", "assigned", actor="system", name="系统", note="居民不满意，重办")
    event.reopen_count, event.closed_at = 1, None
    rounds.start_round(event, rated_at, new_round=True)
    _accept(rng, story, event, worker, rated_at, 0.0)
    _finish(rng, story, event, worker, 0.0, now)
    closed = min(event.completed_at + timedelta(hours=3), now)
    story.add(closed, "close", "closed", actor="dispatcher", name="调度员", note="重办完成，核查结案")
    event.closed_at = closed
    again = rng.choice(["satisfied", "basic", "basic", "unsatisfied", "unsatisfied"])
    comment = "还是没有解决" if again == "unsatisfied" else ""
    _rate(session, event, again, comment, min(closed + timedelta(hours=5), now), story)
    event.flagged = again == "unsatisfied"


def _settle(session: Session, clock: _Clock, event: Event) -> None:
    """Supervision as it would have happened: checkpoints already past are recorded as fired, open
    events past a limit carry the 督办 flag, and only the future checkpoints stay for the sweep."""
    fired = [kind for kind, at in deadlines.checkpoints(event) if at <= clock.now]
    for kind in fired:
        session.add(SupervisionNotice(event_id=event.id, round=event.deadline_round, kind=kind, at=clock.now))
    if event.status in Event.OPEN_STATES and any("overdue" in kind for kind in fired):
        event.overdue, event.overdue_count = True, max(event.overdue_count, 1)
    deadlines.refresh(event, fired)


# ----------------------------------------------------------------------------- service orders (五单)

ORDER_NOTES = {"磨刀": "家里两把菜刀钝了", "修伞": "一把折叠伞骨架断了", "补鞋": "皮鞋开胶了",
               "理发": "老人行动不便，想上门理发",
               "家电维修": "洗衣机不脱水", "水电小修": "厨房水龙头漏水", "代买代办": "帮忙买点米和油",
               "陪同就医": "下周二去医院复查，需要有人陪同", "上门助老": "独居老人，想有人上门看看"}


def _orders(session, rng, clock, residents, grids, base_url: str) -> int:
    volunteers = list(session.scalars(select(Worker).where(Worker.role == "volunteer").order_by(Worker.id)))
    if not volunteers:
        return 0
    per_hour = get_settings().points_per_hour
    services = list(ORDER_NOTES)
    count = 0
    for back in range(DAYS, -1, -2):
        service = rng.choice(services)
        able = [v for v in volunteers if service in (v.skills or "").split("|")] or volunteers
        volunteer = rng.choice(able)
        created = clock.day(back)
        if created > clock.now:
            created = clock.now - timedelta(minutes=rng.randint(20, 200))
        grid = volunteer.grid or rng.choice(list(grids.values()))
        order = Order(number=next_number(session, created), resident=rng.choice(residents), service=service,
                      note=ORDER_NOTES[service], grid=grid, status="requested", created_at=created, updated_at=created,
                      place_text=f"{(grid.alias_list or [grid.name])[0]}{rng.randint(1, 12)}栋")
        session.add(order)
        session.flush()
        steps = [(created, "order", "requested", "resident", "", f"{service}：{order.note}")]
        # The last few days' orders are one of each open state, not drawn: how many draws came before
        # depends on the time of day (a day's slot later than now is redrawn), and a draw could miss one.
        fate = "rated" if back > 5 else RECENT_ORDER_FATES.get(back, "offered")
        if back > 5 and rng.random() < 0.1:
            fate = "cancelled"
        offered = created + timedelta(minutes=2)
        if fate != "requested":
            steps.append((offered, "offer", "offered", "system", "系统", f"推送给志愿者：{volunteer.name}"))
        if fate == "cancelled":
            steps.append((offered + timedelta(hours=2), "cancel", "cancelled", "resident", "", "不需要了"))
        elif fate in ("accepted", "completed", "rated"):
            accepted = offered + timedelta(minutes=rng.randint(5, 120))
            steps.append((accepted, "accept", "accepted", "volunteer", volunteer.name, "抢单成功"))
            order.volunteer, order.accepted_at = volunteer, accepted
            if fate in ("completed", "rated"):
                done = min(accepted + timedelta(minutes=rng.randint(30, 200)), clock.now)
                hours = service_hours(accepted, done)
                order.completed_at, order.hours, order.points = done, hours, round(hours * per_hour, 2)
                order.result_note = "服务完成"
                steps.append((done, "complete", "completed", "volunteer", volunteer.name,
                              f"服务完成（计 {hours:g} 小时，{order.points:g} 积分）"))
                session.add(PointsEntry(volunteer_id=volunteer.id, order_id=order.id, hours=hours, points=order.points,
                                        note=f"{order.number} {service}", at=done))
                if base_url:
                    session.add(OrderPhoto(order_id=order.id, media_id=f"{photos.MEDIA_PREFIX}service",
                                           url=f"{base_url}/simulator/photos/service.png", created_at=done))
            if fate == "rated":
                value = rng.choice(["satisfied"] * 6 + ["basic", "basic", "unsatisfied"])
                rated = min(order.completed_at + timedelta(hours=rng.randint(1, 30)), clock.now)
                order.rating, order.rated_at, order.flagged = value, rated, value == "unsatisfied"
                order.public = value != "unsatisfied" and rng.random() < 0.85
                steps.append((rated, "rate", "rated", "resident", "", RATING_LABELS[value]))
        state = None
        for at, action, to, actor, name, note in steps:
            session.add(OrderEntry(order_id=order.id, at=at, actor=actor, actor_name=name, action=action,
                                   from_status=state, to_status=to, note=note))
            state = to
            order.status, order.updated_at = to, at
        count += 1
    return count
