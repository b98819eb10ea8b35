"""jieba, loaded once, with the domain user dictionary.

Everything in nlp/ tokenises through `cut()`; nothing here runs per request except the cut itself.
No part-of-speech tagging on the hot path.
"""

from __future__ import annotations

import logging
import marshal
import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

import jieba

USER_DICT = Path(__file__).with_name("userdict.txt")

_lock = threading.RLock()
_ready = False
_added: set[str] = set()

jieba.setLogLevel(logging.WARNING)


def ensure_loaded() -> None:
    """Initialise jieba and load the domain dictionary (idempotent, thread-safe)."""
    global _ready
    if _ready:
        return
    with _lock:
        if _ready:
            return
        initialise(jieba.dt)
        if USER_DICT.exists():
            jieba.load_userdict(str(USER_DICT))
        _ready = True


def initialise(tokenizer: jieba.Tokenizer) -> None:
    """`tokenizer.initialize()`, but jieba's own cache of the default dictionary is read in one
    piece: jieba's `marshal.load(file)` reads the 9 MB file a few bytes per call, 1 s of every start
    where one read and `marshal.loads` take 0.3 s. No cache yet, or another dictionary: jieba's way."""
    if tokenizer.dictionary == jieba.DEFAULT_DICT and not tokenizer.cache_file and not tokenizer.initialized:
        cache = os.path.join(tokenizer.tmp_dir or tempfile.gettempdir(), "jieba.cache")
        try:
            with open(cache, "rb") as f:
                freq, total = marshal.loads(f.read())
        except (OSError, ValueError, EOFError, TypeError):
            pass  # missing or unreadable: jieba builds it (and writes the cache) below
        else:
            with tokenizer.lock:
                tokenizer.FREQ, tokenizer.total, tokenizer.initialized = freq, total, True
            return
    tokenizer.initialize()


def add_words(words: Iterable[str], freq: int | None = None) -> int:
    """Add words to jieba's dictionary so they come out as one token. Returns how many were new."""
    ensure_loaded()
    n = 0
    with _lock:
        freqs = jieba.dt.FREQ
        for w in words:
            w = (w or "").strip()
            if len(w) < 2 or w in _added or any(c.isspace() for c in w):
                continue
            _added.add(w)
            if freqs.get(w):
                continue
            # a frequency high enough for the word to win against its parts, as suggest_freq would
            jieba.add_word(w, freq if freq is not None else max(jieba.suggest_freq(w, False), 500))
            n += 1
    return n


def frequencies() -> dict[str, int]:
    """jieba's word → frequency table (the dictionary plus every added word)."""
    if not _ready:
        ensure_loaded()
    return jieba.dt.FREQ


def cut(text: str) -> list[str]:
    """Tokenise for classification: jieba's precise mode without HMM (fast, dictionary driven)."""
    if not _ready:
        ensure_loaded()
    return jieba.lcut(text, HMM=False)
