"""Urgent recall (100 % on the danger list), ordinary reports not flagged, intents, negations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp import classify

DANGERS = [
    # fire / smoke
    "3栋2楼着火了", "楼道里冒烟了不知道哪家的", "隔壁屋里起火了快来人", "小区配电房失火", "楼下车棚烧起来了",
    "对面楼窗户往外冒黑烟", "好大的浓烟从地下室出来", "电动车充电时爆炸了", "电线打火花了", "火灾！快打119",
    # gas
    "厨房一股煤气味", "单元楼里燃气味很重", "闻到天然气味道好浓", "煤气泄漏了怎么办", "楼道里闻到煤气",
    "天然气管子漏气了", "一股臭鸡蛋味 是不是燃气漏了", "液化气味好大",
    # wires / electricity
    "大风把电线刮断了", "电线掉在地上还在冒火", "高压线掉下来了", "路边电箱漏电", "有人触电了",
    "小孩被电到了", "电线杆倒了压住了电线", "电线垂到地上了没人管",
    # someone collapsed / hurt
    "有个老人在菜场门口晕倒了", "我家老头摔倒起不来了", "楼下有人倒地不起", "邻居昏迷不醒叫不醒",
    "有人心脏病发作了", "老人在楼道里摔了一跤爬不起来", "有人被车撞了躺在路上", "有人要跳楼",
    # collapse
    "小区围墙塌了", "老房子后墙坍塌了", "阳台塌下来了", "路面塌陷了一个大洞", "工地脚手架倒塌",
    "楼顶的广告牌掉下来砸到人了",
    # flooding into homes
    "暴雨 水漫进屋了", "下水道倒灌家里进水了", "一楼家里全是水", "雨太大了水都灌进屋里了", "屋里被淹了",
    # child in danger
    "有个小孩困在电梯里了", "孩子掉到化粪池里了", "小孩卡在防盗窗里出不来", "孩子爬到窗户外面去了",
    "有个伢掉河里了", "小孩被锁在车里了", "我家孩子走失了", "有人被困在电梯里",
    # violence
    "楼下有人拿刀砍人", "有人持刀抢劫",
    # colloquial / run-ons / typos
    "快来人啊着火了着火了", "救命啊 屋里冒烟了", "我屋里煤气味道蛮大的么样搞", "电线掉下来了冇得人管",
]

ORDINARY = [
    "楼道灯不亮", "垃圾没人收", "路灯坏了一个礼拜", "电梯坏了", "下水道堵了", "楼上装修太吵",
    "小区门口乱停车", "家里水管漏水", "楼下饭店油烟太大", "物业不管事", "低保怎么申请", "树枝挡住窗户了",
    "路上积水很深", "井盖松了一走就响", "电动车在楼道充电 担心着火", "消防通道堵了万一着火怎么办",
    "没有着火 就是烧烤油烟大", "不是煤气味 是下水道臭", "路面坑洼老人容易摔倒", "楼道堆杂物有火灾隐患",
    "停水了", "我家电视坏了想找人修", "满意", "查询",
]


@pytest.mark.parametrize("text", DANGERS)
def test_urgent_recall(text):
    c = classify(text)
    assert c.urgent, (text, c.rule)
    assert c.intent == "report", (text, c.intent)
    assert "紧急" in c.rule


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_not_urgent(text):
    c = classify(text)
    assert not c.urgent, (text, c.rule)


@pytest.mark.parametrize(
    "text,intent",
    [
        ("查询", "query"),
        ("我的事件", "query"),
        ("WL20261123-0042", "query"),
        ("WL20261123-0042 处理得怎么样了", "query"),
        ("我上次反映的路灯处理到哪了", "query"),
        ("满意", "rate"),
        ("基本满意", "rate"),
        ("不满意，路灯还是不亮", "rate"),
        ("非常满意，谢谢网格员", "rate"),
        ("我很满意", "rate"),
        ("对物业很不满意，电梯坏了一周", "report"),
        ("你好", "greeting"),
        ("您好，在吗？", "greeting"),
        ("hi", "greeting"),
        ("在吗", "greeting"),
        ("低保怎么申请", "consult"),
        ("请问高龄津贴去哪里办", "consult"),
        ("不是报修，就是问一下医保卡丢了怎么补办", "consult"),
        ("能不能派人来帮我家老人修下水管", "service"),
        ("想预约磨刀", "service"),
        ("我要点单 家电维修", "service"),
        ("家里老人要去医院 能不能安排陪同就医", "service"),
        ("修伞", "service"),
        ("楼道灯不亮", "report"),
        ("路灯坏了怎么还没人修？", "report"),
        ("楼下那个坑到底有没有人管啊", "report"),
        ("能不能派人来看看我家门口的路灯 坏好几天了", "report"),
        ("那个东西又那样了", "other"),
    ],
)
def test_intents(text, intent):
    c = classify(text)
    assert c.intent == intent, (text, c.intent, c.rule)


def test_category_is_guessed_whatever_the_intent():
    c = classify("不满意，路灯还是不亮")
    assert (c.intent, c.category, c.rating) == ("rate", "facility", "不满意")
    c = classify("低保怎么申请")
    assert (c.intent, c.category, c.subcategory) == ("consult", "welfare", "低保")


def test_greeting_then_report_is_a_report():
    c = classify("你好，我们楼下的垃圾三天没人收了")
    assert (c.intent, c.category) == ("report", "environment")


DEV = Path(__file__).with_name("dev_set.jsonl")


def test_dev_set():
    """The hand-written dev set (residents' style): every field right."""
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 100
    wrong = []
    for r in rows:
        c = classify(r["text"])
        ok = c.intent == r["intent"] and c.urgent == r["urgent"]
        ok = ok and (c.category == r["category"] or c.category in r.get("also", []))
        if "subcategory" in r:
            ok = ok and c.subcategory == r["subcategory"]
        if not ok:
            wrong.append((r["text"], c.intent, c.category, c.subcategory, c.urgent, c.rule))
    assert len(wrong) <= len(rows) * 0.03, wrong
