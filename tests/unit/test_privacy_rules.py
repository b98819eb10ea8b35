"""The one masking rule for personal data (bot.domain.privacy) and the vocabulary's words
(numbers, grades, rating words), read without a server."""

from __future__ import annotations

from datetime import datetime

import pytest

import nlp
from bot.domain import vocabulary
from bot.domain.privacy import for_reader, mask_name, mask_phone, mask_text
from nlp import rules as nlp_rules
from tests.support.personal_data import (
    EMAIL,
    EMAIL_MASKED,
    ID_CARD,
    ID_MASKED,
    LANDLINE,
    LANDLINE_MASKED,
    MOBILE,
    MOBILE_MASKED,
    REPORT,
)

# ----------------------------------------------------------------------------- the rule


def test_mask_text_masks_identity_and_contacts():
    assert mask_text(REPORT) == (f"幸福小区3栋楼道灯坏了，身份证{ID_MASKED}，电话{MOBILE_MASKED}，"
                                 f"座机{LANDLINE_MASKED}，邮箱{EMAIL_MASKED}，请尽快修")
    assert mask_text("身份证号420106199001011234。") == "身份证号420106********1234。"
    assert mask_text("手机 +86 139 1234 5678 或 139-1234-5678") == "手机 +86 139****5678 或 139****5678"
    assert mask_text("区号0710-3456789") == "区号0710-****6789"
    assert mask_text(None) == "" and mask_text("") == ""


def test_contacts_kept_for_those_who_call_back_but_never_the_id_card():
    shown = mask_text(REPORT, keep_contacts=True)
    assert ID_MASKED in shown and ID_CARD not in shown
    assert MOBILE in shown and LANDLINE in shown and EMAIL in shown


@pytest.mark.parametrize("text", [
    "事件 WL20261123-0042 已办结", "wl20261123-0042", "2026-11-23 09:30", "20261123", "2026年11月23日",
    "维修费 1380 元", "共计 13800.50 元", "¥12,000", "押金 200000 元", "拨打 12345 热线", "幸福小区3栋2单元501室",
    "订单号 9876543210", "坐标 30.5572,114.3501",
])
def test_numbers_that_are_not_personal_data_are_left_alone(text):
    assert mask_text(text) == text


def test_phone_fields_and_names():
    assert mask_phone(MOBILE) == MOBILE_MASKED and mask_phone(LANDLINE) == LANDLINE_MASKED
    assert mask_phone("(027) 8765 4321") == "027****4321"  # any other shape: first 3 and last 4 digits
    assert mask_phone("110") == "****" and mask_phone(None) is None and mask_phone("") == ""
    assert mask_name("周红") == "周*" and mask_name("欧阳娜娜") == "欧***" and mask_name("") == "志愿者"


def test_for_reader_leaves_empty_values_as_they_are():
    text, phone = for_reader(keep_contacts=False)
    assert text(None) is None and phone(None) is None and text(REPORT) == mask_text(REPORT)
    assert phone(MOBILE) == MOBILE_MASKED
    text, phone = for_reader(keep_contacts=True)
    assert text(None) is None and phone(MOBILE) == MOBILE and ID_CARD not in text(REPORT)


# ----------------------------------------------------------------------------- the vocabulary


def test_numbers_are_found_formatted_and_recognised():
    key = vocabulary.day_key(datetime(2026, 11, 23, 9, 30))
    assert vocabulary.format_number(key, 42) == "WL20261123-0042"
    assert vocabulary.find_number("补充 wl20261123-0042 楼道很黑") == "WL20261123-0042"
    assert vocabulary.find_number("没有编号") is None
    assert vocabulary.is_number(" WL20261123-0042 ") and not vocabulary.is_number("WL20261123-042")


def test_grades_route_upwards_with_their_labels():
    assert vocabulary.GRADE_CODES == ("A", "B", "C", "D")
    assert vocabulary.GRADE_CODES == nlp_rules.GRADES  # the grades a rules file may suggest are the same
    assert [vocabulary.next_grade(g) for g in vocabulary.GRADE_CODES] == ["B", "C", "D", None]
    assert vocabulary.GRADE_TITLES["A"] == "A 简易" and vocabulary.GRADE_TITLES["D"] == "D 疑难"
    assert vocabulary.UNIT_LABELS["B"] == "街道职能部门" and vocabulary.UNIT_KIND_LABELS["city"] == "市指挥中心"


def test_rating_words_come_from_nlp_and_agree_with_its_classifier():
    for word in vocabulary.REPLY_WORDS:  # every chat rating word means what nlp reads it as
        label = nlp.classify(word).rating
        assert vocabulary.RATING_SCALE[vocabulary.rating_value(word)] == label, word
    assert vocabulary.rating_value("不太满意") == "unsatisfied" and vocabulary.rating_value("非常满意") == "satisfied"
    number, word, comment = vocabulary.RATING_REPLY.match("WL20261123-0042 不满意，灯还是不亮").groups()
    assert (number, word, comment) == ("WL20261123-0042", "不满意", "灯还是不亮")
    assert vocabulary.RATING_LABELS["unrated"] == "未评价"
