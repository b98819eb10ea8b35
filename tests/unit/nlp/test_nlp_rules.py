"""Rules as data: validation with line numbers, live reload, a bad file keeps the old rules."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

import nlp
from nlp import classify, reload_rules, validate_rules_text
from nlp.classifier import rules_path
from nlp.rules import DEFAULT_RULES_PATH

MINI = """\
[meta]
name = "mini"
min_score = 1.0

[categories.facility]
label = "市政设施"

[categories.facility.keywords]
"路灯" = 2

[[categories.facility.sub]]
label = "路灯不亮"
match = ["路灯+不亮"]
"""


@pytest.fixture
def restore_rules():
    before = rules_path()
    yield
    reload_rules(before if before.exists() else DEFAULT_RULES_PATH)


def test_default_rules_validate():
    validate_rules_text(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))


def _line(exc: ValueError) -> int:
    msg = str(exc)
    assert msg.startswith("line "), msg
    return int(msg.split(":")[0].split()[1])


@pytest.mark.parametrize(
    "text,line",
    [
        (MINI.replace('"路灯" = 2', '"路灯" = '), 9),  # TOML syntax error
        (MINI.replace('"路灯" = 2', '"路灯" = "two"'), 9),  # weight not a number
        (MINI.replace('label = "市政设施"', 'label = "市政设施"\ngrade = "E"'), 7),  # bad grade
        (MINI.replace('match = ["路灯+不亮"]', 'match = ["路灯+"]'), 13),  # empty pattern part
        (MINI.replace('min_score = 1.0', 'min_score = 1.0\ncolour = "red"'), 4),  # unknown key
        (MINI + '\n[intent]\nfoo = ["x"]\n', 16),  # unknown intent list
        (MINI.replace('label = "路灯不亮"\n', ''), 11),  # sub without label
    ],
)
def test_validation_errors_have_line_numbers(text, line):
    with pytest.raises(ValueError) as ei:
        validate_rules_text(text)
    assert _line(ei.value) == line, str(ei.value)


def test_reload_bad_file_keeps_old_rules(tmp_path, restore_rules):
    p = tmp_path / "rules.toml"
    shutil.copy(DEFAULT_RULES_PATH, p)
    reload_rules(p)
    assert classify("楼道灯不亮").category == "property"
    good = p.read_text(encoding="utf-8")
    p.write_text(good + "\n[categories.broken\n", encoding="utf-8")
    with pytest.raises(ValueError) as ei:
        reload_rules(p)
    assert str(ei.value).startswith("line ")
    assert classify("楼道灯不亮").category == "property"  # old rules still in force


def test_live_edit_takes_effect(tmp_path, restore_rules):
    p = tmp_path / "rules.toml"
    p.write_text(MINI, encoding="utf-8")
    reload_rules(p)
    c = classify("路灯不亮")
    assert (c.category, c.subcategory) == ("facility", "路灯不亮")
    assert c.rule.startswith("facility/路灯不亮: 路灯+不亮")
    # intents and urgency are inherited from the default rules
    assert classify("着火了").urgent
    assert classify("你好").intent == "greeting"
    edited = MINI.replace('"路灯" = 2', '"路灯" = 2\n"井盖" = 3')
    p.write_text(edited, encoding="utf-8")
    reload_rules()  # re-read the active file
    assert classify("井盖没了").category == "facility"


def test_auto_reload_on_mtime_change(tmp_path, restore_rules, monkeypatch):
    import nlp.classifier as clf

    p = tmp_path / "rules.toml"
    p.write_text(MINI, encoding="utf-8")
    reload_rules(p)
    assert classify("井盖没了").category == "other"
    monkeypatch.setattr(clf, "AUTO_RELOAD_SECONDS", 0.0)
    time.sleep(0.01)
    p.write_text(MINI.replace('"路灯" = 2', '"路灯" = 2\n"井盖" = 3'), encoding="utf-8")
    import os

    os.utime(p, (time.time() + 5, time.time() + 5))
    assert classify("井盖没了").category == "facility"
    # a broken edit is refused, old rules stay
    p.write_text("this is not toml ===", encoding="utf-8")
    os.utime(p, (time.time() + 10, time.time() + 10))
    assert classify("井盖没了").category == "facility"


def test_save_rules_text_validates_first(tmp_path, restore_rules):
    p = tmp_path / "rules.toml"
    p.write_text(MINI, encoding="utf-8")
    reload_rules(p)
    with pytest.raises(ValueError):
        nlp.save_rules_text("[meta\n", p)
    assert p.read_text(encoding="utf-8") == MINI
    nlp.save_rules_text(MINI.replace('"路灯" = 2', '"路灯" = 2\n"井盖" = 3'), p)
    assert classify("井盖没了").category == "facility"


def test_classify_with_rules_argument(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text(
        '[meta]\nmin_score = 0\n[categories."城乡建设"]\nlabel = "城乡建设"\n[categories."城乡建设".keywords]\n'
        '"路灯" = 1\n[categories."教育文体"]\nlabel = "教育文体"\n[categories."教育文体".keywords]\n"学校" = 1\n',
        encoding="utf-8",
    )
    assert classify("学校门口", rules=p).category == "教育文体"
    assert classify("学校门口", rules=Path(p)).category == "教育文体"
    assert classify("学校门口").category != "教育文体"  # the active rules are untouched


def test_missing_file_is_a_value_error(tmp_path, restore_rules):
    with pytest.raises(ValueError):
        reload_rules(tmp_path / "nope.toml")
    assert classify("楼道灯不亮").category == "property"


MINED = """\
[meta]
match = "token"
count = "log"
min_score = -inf

[categories."甲"]
label = "甲"
[categories."甲".keywords]
"学校" = 1
"医院" = -2

[categories."乙"]
label = "乙"
[categories."乙".keywords]
"医院" = 2.5
"""


def test_token_mode_log_counts_and_negative_weights(tmp_path):
    p = tmp_path / "mined.toml"
    p.write_text(MINED, encoding="utf-8")
    # 甲 = 1 × (1 + ln 3) − 2 ≈ 0.10 (学校 three times, 医院 against); 乙 = 2.5
    assert classify("学校学校学校医院", rules=p).category == "乙"
    # 学校 ×12 → 1 × (1 + ln 12) ≈ 3.48; 甲 = 3.48 - 2 = 1.48 < 2.5
    assert classify("学校" * 12 + "医院", rules=p).category == "乙"
    assert classify("学校", rules=p).category == "甲"
    # only a negative keyword matched: the other label (total 2.5) wins, nothing is "other"
    c = classify("医院", rules=p)
    assert c.category == "乙" and not c.flagged
    # nothing matched at all → other
    assert classify("今天天气不错", rules=p).category == "other"
