"""Mined rules over pairs of Chinese characters (`match = "bigram"`): reading, mining, scoring."""

from __future__ import annotations

import pytest

from nlp import classify
from nlp.grams import bigrams
from nlp.mine import mine, to_toml
from nlp.rules import parse_rules

# pre-segmented like the TipDM train file (words joined by spaces); the test messages are raw text,
# where jieba reads 停车场 / 垃圾站 / 噪音扰民 as one word each — words the training text never had
TRAIN = [
    ("小区 停车 收费 太 贵", "交通"),
    ("停车 位 不够 车辆 乱停", "交通"),
    ("路边 停车 收费 不 合理", "交通"),
    ("公交 站台 车辆 停车", "交通"),
    ("垃圾 堆放 臭气 没人 清理", "环境"),
    ("垃圾 桶 满 了 臭", "环境"),
    ("噪音 很大 晚上 施工", "环境"),
    ("工地 噪音 扰民 垃圾", "环境"),
]


def test_bigrams_are_pairs_inside_runs_of_chinese_with_spaces_removed():
    assert bigrams("路灯 不亮，A3区噪音") == ["路灯", "灯不", "不亮", "区噪", "噪音"]
    assert bigrams("停车 停车") == ["停车", "车停", "停车"]  # a space joins the run; repeats count
    assert bigrams("abc 123 好") == []


def test_bigram_rules_read_raw_messages_that_jieba_cuts_into_unseen_words(tmp_path):
    tok = parse_rules(to_toml(mine(TRAIN, per_label=0, min_df=1, iterations=100)))
    big = parse_rules(to_toml(mine(TRAIN, per_label=0, min_df=1, iterations=100, features="bigram")))
    assert big.match == "bigram" and big.count == "log"
    assert "停车" in big.single and "车场" not in big.single
    assert big.words == frozenset()  # pairs are never added to jieba's dictionary

    for text, gold in [("停车场乱收费", "交通"), ("垃圾站臭气熏天", "环境"), ("噪音扰民", "环境")]:
        got = classify(text, rules=big)
        assert got.category == gold, (text, got.rule)
    # the same data mined as words: the raw messages' words (停车场, 噪音扰民) match no keyword
    assert classify("停车场乱收费", rules=tok).category == "other"
    assert classify("噪音扰民", rules=tok).category == "other"


def test_a_repeated_pair_counts_with_log_weight():
    rs = parse_rules(
        '[meta]\nmatch = "bigram"\ncount = "log"\nmin_score = -inf\n'
        '[categories.a]\n[categories.a.keywords]\n"噪音" = 1\n'
        '[categories.b]\n[categories.b.keywords]\n"垃圾" = 1.5\n'
    )
    assert classify("噪音垃圾", rules=rs).category == "b"
    assert classify("噪音噪音噪音垃圾", rules=rs).category == "a"  # 1 × (1 + ln 3) > 1.5


def test_a_bigram_rules_file_refuses_a_keyword_that_is_not_a_pair():
    text = '[meta]\nmatch = "bigram"\n\n[categories.a]\n[categories.a.keywords]\n"噪音" = 1\n"路灯坏" = 2\n'
    with pytest.raises(ValueError, match=r"^line 7: .*not two Chinese characters"):
        parse_rules(text)
    with pytest.raises(ValueError, match=r"^line 2: meta.match must be one of token, text, bigram"):
        parse_rules('[meta]\nmatch = "pairs"\n[categories.a]\n')
