"""Reply texts shown to residents (Chinese), composed from plain domain values."""

from __future__ import annotations

from sqlalchemy.orm import Session

import nlp
from bot.domain.lifecycle import ACTION_LABELS, STATUS_LABELS
from bot.domain.models import Event
from bot.domain.vocabulary import local_text
from bot.events import urgent
from bot.notify.notices import limits_lines
from bot.places.routing import Route

WELCOME = (
    "您好，欢迎关注微邻里！身边的烦心事、需要帮忙的事，直接发给我们：\n"
    "· 报事：用文字、语音、照片或位置描述问题（如“幸福小区3栋楼道灯不亮”）\n"
    "· 查询：回复“查询”或“我的事件”，或直接发送事件编号\n"
    "· 补充：回复“补充 编号 内容”；撤销：回复“撤销 编号”\n"
    "· 点单：回复“点单”选一项便民服务（磨刀、修伞、理发、家电维修、陪同就医等），志愿者上门服务\n"
    "紧急情况请直接拨打 119 / 120 / 110。"
)
WORKER_HELP = (
    "网格员指令：\n"
    "· 我的任务\n· 接单 [编号]\n· 进展 [编号] 内容（可再发照片）\n· 办结 [编号] 结果（可再发办结后照片）\n"
    "· 退回 [编号] 原因\n· 上报 [编号] 原因（升级处理）\n· 巡查 问题描述（巡查发现的问题）\n"
    "不写编号时，指最近的一条任务。"
)
VOLUNTEER_HELP = (
    "志愿者指令：\n"
    "· 我的服务（待接、服务中的服务单和志愿时长、积分）\n"
    "· 抢单 [编号] / 接单 [编号]\n· 完成 [编号] 备注（可再发一张服务照片）\n· 退单 [编号] 原因\n"
    "不写编号时，指最近的一条服务单。"
)
ASK_PLACE = "请问具体在哪里？可回复小区、楼栋（如“幸福小区3栋”）或发送位置；回复“跳过”略过。"
ASK_PHOTO = "如方便，请发一张现场照片；回复“跳过”略过。"
ASK_DESCRIPTION = "请用一句话描述遇到的问题（如“楼道灯坏了”）；回复“跳过”略过。"
VOICE_UNCLEAR = "抱歉，没能识别您的语音。请用文字描述问题，或发送现场照片。"
UNSUPPORTED = "暂不支持这类消息。请用文字、语音、照片或位置反映问题，回复“帮助”查看用法。"
RATE_LIMITED = "您发送得太频繁了，请稍后再试。"
NOT_FOUND = "未找到该事件，或它不是您反映的事件。回复“我的事件”查看您的事件。"
STORED_FIRST = "事件 {number} 已收到，正在分类与派单，结果稍后推送给您。"

URGENT_GUIDES = [
    (("火", "烟", "燃烧", "爆炸"), "发生火情请立即拨打 119，远离现场，不要乘电梯。"),
    (("燃气", "煤气", "天然气", "液化气"),
     "请立即关闭燃气阀门、开窗通风，不要开关电器或使用明火，到室外拨打 119 或燃气抢修电话。"),
    (("电梯",), "被困电梯请保持冷静，按电梯内警铃或拨打电梯内救援电话，不要强行扒门或爬出轿厢。"),
    # not a bare 电: every 电梯 text got the electric advice
    (("触电", "漏电", "电线", "电箱", "电缆", "电闸", "电表", "火花"),
     "请远离掉落电线或漏电处，切勿用手触碰，有人触电请先断电并拨打 120。"),
    (("晕", "倒", "昏迷", "受伤", "流血", "不省人事", "起不来"), "有人受伤或晕倒请立即拨打 120 急救电话。"),
    (("塌", "坍"), "请立即远离危险区域，有人员被困请拨打 119。"),
    (("水", "淹", "漫"), "请切断室内电源，转移到高处，必要时拨打 119。"),
    (("孩", "儿童", "小孩"), "儿童遇险请立即拨打 110 或 119 求助。"),
    (("偷", "抢", "打架", "持刀", "闯"), "请注意自身安全，立即拨打 110 报警。"),
]


def category_text(event: Event) -> str:
    label = nlp.category_label(event.category)
    return f"{label}/{event.subcategory}" if event.subcategory else label


def urgent_guide(text: str, alerted: urgent.Alerted) -> str:
    """What to do now, who was actually alerted (nothing more), and the community's duty phone."""
    tips = [tip for words, tip in URGENT_GUIDES if any(w in text for w in words)]
    lines = tips[:2] or ["如有险情，请立即拨打 119（火警）/ 120（急救）/ 110（报警）。"]
    if alerted.names:
        lines.append(f"已立即通知：{'、'.join(alerted.names[:5])}。")
    else:
        lines.append("暂未能联系到值班人员，请务必直接拨打上面的电话。")
    lines.append(f"社区值班电话 {alerted.phone}。")
    return "\n".join(lines)


def reported(session: Session, event: Event, route: Route) -> str:
    lines = []
    if event.urgent:
        lines.append("【紧急】" + urgent_guide(event.text, urgent.alerted(session, event)))
    lines += [
        f"已受理您的反映，事件编号：{event.number}",
        f"类别：{category_text(event)}",
        f"处理：{_handler(event, route)}",
        *limits_lines(event),
    ]
    return "\n".join(lines)


def _handler(event: Event, route: Route) -> str:
    if event.urgent and event.worker is None and event.grid is None:
        return "紧急事件，值班人员接单后处置（地点不明，请回复位置）"
    return route.label


def rerouted(event: Event, route: Route) -> str:
    return f"已记录地点：{event.place_text}\n事件 {event.number} 由 {route.label} 处理。"


def timeline_line(entry) -> str:
    who = entry.actor_name or {"resident": "您", "system": "系统", "dispatcher": "调度员"}.get(entry.actor, "")
    note = f"：{entry.note[:40]}" if entry.note and entry.action not in ("report",) else ""
    return f"{local_text(entry.at)} {who} {ACTION_LABELS.get(entry.action, entry.action)}{note}"


def event_list(events: list[Event]) -> str:
    if not events:
        return "您还没有反映过事件。直接发送文字、语音、照片或位置即可报事。"
    lines = ["您最近的事件："]
    for i, event in enumerate(events, 1):
        lines.append(f"{i}. {event.number}【{STATUS_LABELS[event.status]}】{category_text(event)}")
        if event.timeline:
            lines.append(f"   最新：{timeline_line(event.timeline[-1])}")
    lines.append("回复事件编号查看详情。")
    return "\n".join(lines)


def event_detail(event: Event) -> str:
    handler = event.worker.name if event.worker else ("调度中心" if event.unit == "dispatch" else "职能部门")
    lines = [
        f"事件 {event.number}【{STATUS_LABELS[event.status]}】",
        f"类别：{category_text(event)}",
        f"地点：{event.place_text or '未提供'}",
        f"内容：{event.text[:80] or '（图片/位置报事）'}",
        f"处理：{handler}",
        "进展：",
    ]
    lines += [f"· {timeline_line(entry)}" for entry in event.timeline[-5:]]
    return "\n".join(lines)
