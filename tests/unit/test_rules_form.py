"""The rules form's round trip (admin/rules_form.py) and the account menu's limits (bot/wechat/menu.py)."""

from __future__ import annotations

import copy
import tomllib

import pytest

from admin import rules_form
from bot.wechat import menu
from nlp.classifier import rules_path

TEXT = rules_path().read_text(encoding="utf-8")


def test_the_form_reads_and_writes_the_default_rules_unchanged():
    form = rules_form.structure(TEXT)
    codes = [c["code"] for c in form["categories"]]
    assert codes[:3] == ["environment", "facility", "property"] and form["concepts"]
    assert any(c["urgent"] for c in form["categories"])  # the danger model's terms, per category
    assert rules_form.apply(TEXT, form) == TEXT  # byte for byte: comments and order survive


def test_an_edit_touches_only_its_lines():
    form = rules_form.structure(TEXT)
    cat = copy.deepcopy(next(c for c in form["categories"] if c["code"] == "greening"))
    cat["keywords"] = [k for k in cat["keywords"] if k["pattern"] != cat["keywords"][0]["pattern"]]
    cat["keywords"].append({"pattern": "葡萄架", "weight": "3.5"})
    cat["subs"].append({"label": "葡萄架", "match": ["葡萄架"], "weight": ""})
    cat["label"] = "园林绿化管护"
    out = rules_form.apply(TEXT, {"categories": [cat]})
    data, before = tomllib.loads(out), tomllib.loads(TEXT)
    assert data["categories"]["greening"]["label"] == "园林绿化管护"
    assert data["categories"]["greening"]["keywords"]["葡萄架"] == 3.5
    assert data["categories"]["greening"]["sub"][-1] == {"label": "葡萄架", "match": ["葡萄架"]}
    others = {k: v for k, v in data.items() if k != "categories"}
    assert others == {k: v for k, v in before.items() if k != "categories"}
    assert all(data["categories"][c] == before["categories"][c] for c in before["categories"] if c != "greening")
    assert out.count("\n#") == TEXT.count("\n#")


@pytest.mark.parametrize("change, message", [
    ({"code": "nope"}, "未知分类"),
    ({"label": ""}, "名称不能为空"),
    ({"grade": "E"}, "A/B/C/D"),
    ({"keywords": [{"pattern": "树", "weight": "很多"}]}, "权重"),
    ({"subs": [{"label": "无匹配词", "match": [], "weight": None}]}, "匹配词"),
])
def test_bad_form_values_are_refused_in_chinese(change, message):
    cat = next(c for c in rules_form.structure(TEXT)["categories"] if c["code"] == "greening") | change
    with pytest.raises(rules_form.FormError, match=message):
        rules_form.apply(TEXT, {"categories": [cat]})


def test_the_account_menu_fits_wechats_limits():
    data = menu.menu("https://wl.example.org")
    assert menu.check(data) == []
    assert [b["name"] for b in data["button"]] == ["报事", "便民服务", "我的"]
    too_long = {"button": [{"type": "click", "name": "便民服务中心", "key": "X"}] * 4}
    problems = menu.check(too_long)
    assert any("1–3" in p for p in problems) and any("16 字节" in p for p in problems)
