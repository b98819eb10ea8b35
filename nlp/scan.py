"""One pass over a message: every known term (concept words, keywords, qualifiers, connectives,
intent phrases, service words) found by one trie-shaped regex, and the clauses they fall in.

Why a trie regex: the vocabulary has thousands of terms; testing each term with `in` rescans the
message once per term. A regex built from the terms' trie is scanned once, in C; its greedy
branches give the longest term starting at each point, and a term lying inside an earlier, longer
one is dropped (煤气味 hides 气味, 没反应 hides the negation 没, 打不着火 hides 着火).

Clauses: the message is cut at punctuation, spaces and connectives (然后/还有/另外/而且 …, which are
terms too: 里面还有两个人 keeps its 还有 because the longer term starting earlier wins).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable

_PUNCT = re.compile(r"[\s,，。.!！?？;；、~～…:：()（）\[\]【】\"“”'‘’]+")


def trie_regex(terms: Iterable[str]) -> re.Pattern | None:
    """A regex matching any of `terms` (lower-case), preferring the longest at each position.

    No IGNORECASE and no look-ahead: a top-level alternation of literals lets the regex engine skip
    positions that cannot start a term with one set look-up (the scan runs at C speed)."""
    trie: dict = {}
    for t in terms:
        if not t:
            continue
        node = trie
        for ch in t.lower():
            node = node.setdefault(ch, {})
        node[""] = True
    if not trie:
        return None
    return re.compile(_node(trie))


def _node(node: dict) -> str:
    end = "" in node
    branches = [re.escape(ch) + _node(child) for ch, child in sorted(node.items()) if ch != ""]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if end:  # the term may stop here; trying the longer branches first keeps the match longest
        return f"(?:{body})?"
    return body


class Scan:
    """The terms of one message: `hits` is a list of (start, end, term, clause index)."""

    __slots__ = ("text", "hits", "clauses")

    def __init__(self, text: str, hits: list, clauses: list[tuple[int, int]]):
        self.text = text
        self.hits = hits
        self.clauses = clauses

    def clause_text(self, i: int) -> str:
        s, e = self.clauses[i]
        return self.text[s:e]


def scan(rx: re.Pattern | None, text: str, connectives: frozenset[str]) -> Scan:
    low = text.lower()
    if len(low) != len(text):  # a rare character whose lower case is longer: keep positions right
        low = text
    raw = []
    if rx is not None:
        # leftmost-longest terms; then, inside each, a term that starts there and reaches beyond it
        # (被关 / 关在车里 both count); a term lying inside an earlier one is dropped (没反应 ⊃ 没)
        reach = 0
        match = rx.match
        for m in rx.finditer(low):
            s, e = m.span()
            if e > reach:
                raw.append((s, e, m.group(0)))
                reach = e
            for p in range(s + 1, e):
                m2 = match(low, p)
                if m2 is not None and m2.end() > reach:
                    raw.append((p, m2.end(), m2.group(0)))
                    reach = m2.end()
        raw.sort()
    # clause boundaries: punctuation runs and connective terms
    cuts = [(m.start(), m.end()) for m in _PUNCT.finditer(text)]
    cuts += [(s, e) for s, e, t in raw if t in connectives]
    cuts.sort()
    clauses: list[tuple[int, int]] = []
    pos = 0
    for s, e in cuts:
        if s > pos:
            clauses.append((pos, s))
        pos = max(pos, e)
    if pos < len(text):
        clauses.append((pos, len(text)))
    if not clauses:
        clauses = [(0, len(text))]
    starts = [s for s, _ in clauses]
    hits = [(s, e, t, max(0, bisect_right(starts, s) - 1)) for s, e, t in raw if t not in connectives]
    return Scan(text, hits, clauses)
