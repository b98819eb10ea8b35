"""Places, phones, event numbers, ratings; user words."""

from __future__ import annotations

import pytest

from nlp import add_user_words, classify
from nlp.extract import extract_event_number, extract_phone, extract_place, extract_rating, normalize


@pytest.mark.parametrize(
    "text,phone",
    [
        ("电话13812345678", "13812345678"),
        ("联系我 138-1234-5678 谢谢", "13812345678"),
        ("手机 +86 139 0000 1111", "13900001111"),
        ("打027-87654321找我", "027-87654321"),
        ("电话１３８１２３４５６７８", "13812345678"),  # full-width digits
        ("编号123456789012345", None),
        ("没有电话", None),
    ],
)
def test_phone(text, phone):
    assert extract_phone(normalize(text)) == phone


@pytest.mark.parametrize(
    "text,number",
    [
        ("WL20261123-0042", "WL20261123-0042"),
        ("查一下wl20261123-0042", "WL20261123-0042"),
        ("WL20261123 0042怎么样了", "WL20261123-0042"),
        ("编号ＷＬ２０２６１１２３－００４２", "WL20261123-0042"),
        ("WL2026112-0042", None),
        ("XWL20261123-0042", None),
    ],
)
def test_event_number(text, number):
    assert extract_event_number(normalize(text)) == number


@pytest.mark.parametrize(
    "text,rating",
    [
        ("满意", "满意"),
        ("非常满意！", "满意"),
        ("基本满意", "基本满意"),
        ("还行吧", "基本满意"),
        ("不满意 问题没解决", "不满意"),
        ("不太满意", "不满意"),
        ("评价：满意", "满意"),
        ("对物业的服务态度一直很不满意电梯天天坏也没人来修理真的很气人", None),
        ("路灯不亮", None),
    ],
)
def test_rating(text, rating):
    assert extract_rating(normalize(text)) == rating


@pytest.mark.parametrize(
    "text,place",
    [
        ("3栋2单元门口垃圾没人收", "3栋2单元"),
        ("12号楼的电梯坏了", "12号楼"),
        ("解放路与中山路交叉口的井盖没了", "解放路与中山路交叉口"),
        ("我住在阳光花园5栋1单元 楼道灯不亮", "阳光花园5栋1单元"),
        ("和平大道88号门口乱停车", "和平大道88号门口"),
        ("楼道灯不亮", None),
        ("我们小区垃圾没人收", None),
    ],
)
def test_place_patterns(text, place):
    assert extract_place(normalize(text)) == place


def test_grid_alias_added_at_start_up():
    add_user_words(["幸福家园", "幸福小区", "水果湖社区"], places=True)
    c = classify("幸福小区3栋楼下的路灯不亮了")
    assert c.place == "幸福小区3栋"
    assert c.category == "facility"
    c = classify("水果湖社区这边垃圾没人收")
    assert c.place == "水果湖社区"


def test_place_and_phone_on_classification():
    c = classify("12号楼2单元电梯坏了，电话13900001111")
    assert c.place == "12号楼2单元"
    assert c.phone == "13900001111"
