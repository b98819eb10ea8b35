"""Who can be simulated, where they can stand, and which chat words they get as quick chips."""

from __future__ import annotations

from bot.demo import sample

RESIDENTS = [
    ("o-demo-resident-1", "张阿姨", "幸福家园 3栋"),
    ("o-demo-resident-2", "李先生", "东亭花园"),
    ("o-demo-resident-3", "王奶奶", "翠柳村"),
    ("o-demo-resident-4", "陈女士", "中北花园"),
]
VOLUNTEERS = [
    ("o-demo-volunteer-1", "周红", "翠柳社区志愿服务队"),
]

# A chip either sends its text at once ("send") or puts it in the input box to be completed ("fill");
# "number" appends the persona's most recent event number.
RESIDENT_CHIPS = [
    {"text": "查询", "mode": "send"},
    {"text": "我的事件", "mode": "send"},
    {"text": "补充", "mode": "fill", "number": True},
    {"text": "撤销", "mode": "fill", "number": True},
    {"text": "满意", "mode": "send"},
    {"text": "基本满意", "mode": "send"},
    {"text": "不满意", "mode": "fill"},
    {"text": "跳过", "mode": "send"},
    {"text": "帮助", "mode": "send"},
]
WORKER_CHIPS = [
    {"text": "我的任务", "mode": "send"},
    {"text": "接单", "mode": "send"},
    {"text": "进展", "mode": "fill", "number": True},
    {"text": "办结", "mode": "fill", "number": True},
    {"text": "退回", "mode": "fill", "number": True},
    {"text": "上报", "mode": "fill", "number": True},
    {"text": "绑定", "mode": "fill"},
]
VOLUNTEER_CHIPS = [
    {"text": "我的服务", "mode": "send"},
    {"text": "抢单", "mode": "send"},
    {"text": "接单", "mode": "send"},
    {"text": "完成", "mode": "fill", "number": True},
    {"text": "绑定", "mode": "fill"},
]
CHIPS = {"resident": RESIDENT_CHIPS, "worker": WORKER_CHIPS, "volunteer": VOLUNTEER_CHIPS,
         "custom": RESIDENT_CHIPS + WORKER_CHIPS}

MENU = [
    {"key": "QUERY", "label": "查询进度"},
    {"key": "REPORT", "label": "我要报事"},
    {"key": "SERVICE", "label": "便民服务（点单）"},
    {"key": "HELP", "label": "使用帮助"},
]


def personas() -> list[dict]:
    people = [{"openid": openid, "name": name, "role": "resident", "role_label": "居民", "note": note}
              for openid, name, note in RESIDENTS]
    for index, (community, grid, _aliases, worker, _phone, _centre) in enumerate(sample.GRIDS, 1):
        people.append({"openid": sample.persona_openid(index), "name": worker, "role": "worker",
                       "role_label": "网格员", "note": grid, "community": community})
    people += [{"openid": openid, "name": name, "role": "volunteer", "role_label": "志愿者", "note": note}
               for openid, name, note in VOLUNTEERS]
    return people


def places() -> list[dict]:
    """The demo grids' centres: a location message there lands inside that grid's polygon."""
    return [{"name": f"{grid}（{aliases.split('|')[0]}）", "lat": lat, "lng": lng,
             "label": f"湖北省武汉市{sample.DISTRICT}{sample.STREET}{community}{aliases.split('|')[0]}"}
            for community, grid, aliases, _worker, _phone, (lat, lng) in sample.GRIDS]
