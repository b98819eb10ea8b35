"""The contract other code depends on: names, types, and "never raises"."""

from __future__ import annotations

import json
import random
import threading

import nlp
from nlp import CATEGORIES, Classification, category_label, classify

TAXONOMY = [
    ("environment", "市容环卫"),
    ("facility", "市政设施"),
    ("property", "物业管理"),
    ("safety", "安全隐患"),
    ("security", "治安防范"),
    ("dispute", "矛盾纠纷"),
    ("traffic", "交通停车"),
    ("greening", "园林绿化"),
    ("welfare", "民生服务"),
    ("other", "其他"),
]
INTENTS = {"report", "service", "query", "rate", "consult", "greeting", "other"}


def test_exports():
    for name in ("Classification", "classify", "CATEGORIES", "category_label", "reload_rules",
                 "add_user_words", "validate_rules_text"):
        assert hasattr(nlp, name), name


def test_categories_in_design_order():
    assert list(CATEGORIES.items()) == TAXONOMY
    assert category_label("facility") == "市政设施"
    assert category_label("no-such-code") == "no-such-code"


def test_result_shape_and_json():
    c = classify("我们小区3栋门口的路灯坏了好几天了，晚上黑漆漆的，电话13812345678")
    assert isinstance(c, Classification)
    assert c.intent == "report"
    assert c.category == "facility"
    assert c.subcategory == "路灯不亮"
    assert c.grade in "ABCD" and len(c.grade) == 1
    assert c.urgent is False
    assert c.phone == "13812345678"
    assert 0.0 <= c.confidence <= 1.0
    assert "facility/路灯不亮" in c.rule and "路灯" in c.rule
    assert c.rules and all(isinstance(r, str) for r in c.rules)
    d = c.to_dict()
    json.dumps(d, ensure_ascii=False)
    for k in ("intent", "category", "subcategory", "grade", "urgent", "place", "phone", "confidence", "rule",
              "rules", "event_number", "rating", "flagged"):
        assert k in d
    try:
        c.intent = "x"  # type: ignore[misc]
    except Exception:
        pass
    else:
        raise AssertionError("Classification must be frozen")


def _garbage(rnd: random.Random) -> str:
    pools = [
        "".join(chr(rnd.randint(0, 0x2FFFF)) for _ in range(rnd.randint(0, 50))),
        "\x00\x01\x02\u200b\ufeff\ud800",
        "🔥🔥🔥💧🚒" * rnd.randint(1, 5),
        "]]><xml>" * 3,
        "　" * 20,
        "Ｗ Ｌ ２０２６" * 3,
    ]
    return rnd.choice(pools)


def test_never_raises_on_any_input():
    rnd = random.Random(7)
    samples = ["", " ", "\n\t", "🔥", "\x00", "\ud800", "a" * 10_000, "着火" * 5000, "路灯不亮" * 2600,
               None, 123, "WL20261123-0042" * 100]
    samples += [_garbage(rnd) for _ in range(200)]
    for s in samples:
        c = classify(s)  # type: ignore[arg-type]
        assert isinstance(c, Classification)
        assert c.intent in INTENTS
        assert c.category in CATEGORIES
        json.dumps(c.to_dict(), ensure_ascii=False)


def test_empty_is_other_not_flagged():
    c = classify("")
    assert (c.intent, c.category, c.flagged) == ("other", "other", False)


def test_thread_safe():
    texts = ["楼道灯不亮", "垃圾没人收", "厨房有煤气味", "你好", "满意", "低保怎么申请"] * 30
    expected = [classify(t) for t in texts]
    errors = []

    def worker():
        try:
            for t, e in zip(texts, expected, strict=True):
                assert classify(t) == e
        except Exception as ex:  # noqa: BLE001
            errors.append(ex)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors


def test_low_confidence_goes_to_other_flagged():
    c = classify("那个东西又那样了，你们看一下")
    assert c.category == "other"
    assert c.flagged
