"""jieba's dictionary cache read in one piece (nlp.tokenizer.initialise) gives jieba's own tokenizer."""

from __future__ import annotations

import jieba
import pytest

from nlp import tokenizer

SENTENCE = "幸福家园16栋楼道里冒烟了，电梯也停了"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A tokenizer that built its prefix dictionary the slow way and wrote jieba's cache."""
    folder = tmp_path_factory.mktemp("jieba")
    first = jieba.Tokenizer()
    first.tmp_dir = str(folder)
    tokenizer.initialise(first)  # no cache yet: jieba's own path builds it and writes it
    assert (folder / "jieba.cache").exists()
    return folder, first


def test_the_cache_read_in_one_piece_is_the_dictionary_jieba_built(built):
    folder, first = built
    second = jieba.Tokenizer()
    second.tmp_dir = str(folder)
    tokenizer.initialise(second)
    assert second.initialized
    assert second.total == first.total and second.FREQ == first.FREQ
    assert second.lcut(SENTENCE) == first.lcut(SENTENCE)


def test_an_unreadable_cache_is_left_to_jieba(tmp_path, monkeypatch):
    (tmp_path / "jieba.cache").write_bytes(b"\x00not marshal")
    fresh = jieba.Tokenizer()
    fresh.tmp_dir = str(tmp_path)
    calls = []
    monkeypatch.setattr(fresh, "initialize", lambda: calls.append("jieba"))
    tokenizer.initialise(fresh)
    assert calls == ["jieba"] and not fresh.initialized
