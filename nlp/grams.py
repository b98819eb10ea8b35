"""Character pairs: the features of mined rules in `match = "bigram"` mode.

A message's bigrams are the overlapping pairs of Chinese characters inside each run of Chinese
characters, whitespace removed first (a letter, a digit or a punctuation mark ends a run; a space
does not). Mining and scoring both read a message through this one function, so a pre-segmented
training text (words joined by spaces) and a raw message are read the same way, and no word
segmentation is needed to score. (Keeping spaces as run breaks — pairs inside the training file's
words only — ranked lower on held-out splits of the TipDM train file.)
"""

from __future__ import annotations

import re

_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
_PAIR = re.compile(r"^[\u4e00-\u9fff]{2}$")


def bigrams(text: str) -> list[str]:
    """Every pair of adjacent Chinese characters within a run, in order (repeats kept)."""
    out: list[str] = []
    for run in _RUN.findall("".join(text.split())):
        out += [run[i : i + 2] for i in range(len(run) - 1)]
    return out


def is_bigram(term: str) -> bool:
    """A keyword a bigram rules file can match: exactly two Chinese characters."""
    return bool(_PAIR.match(term))
