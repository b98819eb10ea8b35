"""The compiled form of a text-mode rules file and the per-message evidence it finds.

`Engine(rules, services)` turns every concept, keyword pattern, subcategory, qualifier, danger,
intent list and service of the menu into concept ids and one scanner regex. `Engine.evidence(text)`
scans the message once and returns an `Evidence`: which ids occur where (message and clause), the
category scores (total and per clause), the subcategories, vetoes, the danger that fired (or the
dangers a qualifier cancelled) and the menu services named. The classifier decides from that.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from nlp import scan as scanner
from nlp import tokenizer
from nlp.concepts import Pattern, Vocab

log = logging.getLogger("weilinli.nlp")

# scope qualifiers that cancel a danger in their clause; negation only cancels what follows it
CLAUSE_QUALIFIERS = ("past", "hypothetical", "chronic", "policy", "hedge")
DANGER_WEIGHT = 6.0  # a danger now is strong evidence for its kind's category
QUALIFIER_LABELS = {"negation": "否定", "past": "过去", "hypothetical": "假设/担心", "chronic": "长期/慢性",
                    "policy": "政策咨询", "hedge": "隐患/宣传", "reassure": "已无大碍"}


@dataclass
class Danger:
    code: str
    label: str
    how: str  # the pattern (and who) that fired, for the explanation
    clause: int


@dataclass
class Evidence:
    scan: scanner.Scan
    at: dict[int, tuple[int, int, str]]  # id -> (first start, clause, term) in the message
    clause_ids: list[dict[int, int]]  # per clause: id -> first start
    scores: list[float]
    clause_scores: list[list[float]]
    hits: list[tuple[int, float, str]] = field(default_factory=list)  # (category, weight, pattern)
    subs: list[tuple[object, str]] = field(default_factory=list)  # (SubRule, pattern)
    vetoed: set[int] = field(default_factory=set)
    danger: Danger | None = None
    cancelled: list[str] = field(default_factory=list)  # "过去(上个月)·子句1 「…」"
    services: list[tuple[float, str, str]] = field(default_factory=list)  # (score, name, what matched)

    loose: set[int] = field(default_factory=set)  # one-character words inside longer jieba words

    def has(self, i: int | None) -> bool:
        """Present (an intent list's one-character word must be a whole jieba word: 乱 ≠ 乱按)."""
        return i is not None and i in self.at and i not in self.loose

    def term(self, i: int | None) -> str | None:
        hit = self.at.get(i) if i is not None else None
        return hit[2] if hit else None


class Engine:
    def __init__(self, rs, services=()):
        v = self.vocab = Vocab(rs.concepts)
        self.n = len(rs.categories)
        # category keyword patterns and subcategories, indexed by their first positive part
        self.index: dict[int, list[tuple[Pattern, int, float, object]]] = {}
        for ci, text, weight in rs.cat_patterns:
            self._add(v.pattern(text), ci, weight, None)
        for sub, text in rs.sub_patterns:
            self._add(v.pattern(text), sub.category, sub.weight, sub)
        self.vetoes = [(ci, v.group(f"veto.{c.code}", sorted(c.negative))) for ci, c in enumerate(rs.categories)
                       if c.negative]
        self.q = {k: v.group("scope." + k, list(words)) for k, words in rs.scope.items()
                  if words and k not in ("connective",)}
        self.connectives = frozenset(w.lower() for w in rs.scope.get("connective", ()))
        self.intent = {k: v.group("intent." + k, list(words)) for k, words in rs.intent.items() if words}
        self.who = v.group("danger.who", list(rs.danger_who)) if rs.danger_who else None
        self.kinds = []
        for k in rs.danger_kinds:
            who = v.group(f"danger.{k.code}.who", list(k.who)) if k.who else self.who
            self.kinds.append((k, [v.pattern(p) for p in k.now], [v.pattern(p) for p in k.state], who,
                               [v.pattern(p) for p in k.with_]))
        self.services = []
        for s in services:
            words = v.group("service." + s.name, list(s.words)) if s.words else None
            pats = []
            for p in s.match:
                try:  # a menu pattern may name a concept these rules do not have (a mined file)
                    pats.append(v.pattern(p))
                except ValueError as e:
                    log.debug("service %s: pattern %r skipped: %s", s.name, p, e)
            self.services.append((s.name, words, pats))
        terms = dict(v.terms)
        for w in self.connectives:
            terms.setdefault(w, set())
        self.terms, self.inner = _inherit(terms, set(self.q.values()), self.q.get("neutral"))
        self.single = frozenset(t for t in self.terms if len(t) == 1)
        self.rx = scanner.trie_regex(self.terms)

    def _add(self, p: Pattern, ci: int, weight: float, sub) -> None:
        self.index.setdefault(p.pos[0], []).append((p, ci, weight, sub))

    # ------------------------------------------------------------------ per message

    def evidence(self, text: str, tokens: list[str] | None = None) -> Evidence:
        """`tokens`: the message's jieba cut when the caller has one (mined rules): then a
        one-character word is checked against it instead of a local cut."""
        sc = scanner.scan(self.rx, text, self.connectives)
        bounds = None
        if tokens is not None:
            bounds, pos = {0}, 0
            for tok in tokens:
                pos += len(tok)
                bounds.add(pos)
        at: dict[int, tuple[int, int, str]] = {}
        cl: list[dict[int, int]] = [{} for _ in sc.clauses]
        terms = self.terms
        loose: set[int] = set()  # ids seen only as a one-character word inside a longer jieba word
        for s, e, t, ci in sc.hits:
            inside = False
            if t in self.single:  # alone, a one-character keyword needs a whole jieba word (树 ≠ 树立)
                inside = (s not in bounds or e not in bounds) if bounds is not None else not _whole_word(text, s, e)
            inner = self.inner.get(t, ())
            for i in terms.get(t, ()):
                inside_i = inside or i in inner
                if i not in at:
                    at[i] = (s, ci, t)
                    if inside_i:
                        loose.add(i)
                elif not inside_i:
                    loose.discard(i)
                cl[ci].setdefault(i, s)
        ev = Evidence(sc, at, cl, [0.0] * self.n, [[0.0] * self.n for _ in sc.clauses], loose=loose)
        seen: set[int] = set()
        for i in list(at):
            for p, ci, w, sub in self.index.get(i, ()):
                if id(p) in seen or (len(p.pos) == 1 and i in loose):
                    continue
                where = _fires(p, at, cl)
                if where is None:
                    continue
                seen.add(id(p))
                if sub is not None:
                    ev.subs.append((sub, p.text))
                    if id(sub) in seen:
                        continue
                    seen.add(id(sub))
                else:
                    ev.hits.append((ci, w, p.text))
                ev.scores[ci] += w
                ev.clause_scores[where][ci] += w
        for ci, gid in self.vetoes:
            if gid in at:
                ev.vetoed.add(ci)
        self._danger(ev)
        self._services(ev)
        return ev

    def _danger(self, ev: Evidence) -> None:
        at, cl = ev.at, ev.clause_ids
        reassure = self.q.get("reassure")
        for kind, now, state, who, with_ in self.kinds:
            if with_ and not all(_fires(p, at, cl) is not None for p in with_):
                continue
            cands = [(p, None) for p in now]
            if state and who is not None and who in at:
                cands += [(p, who) for p in state]
            for p, w in cands:
                for ci, start in _clauses_firing(p, at, cl):
                    why = self._cancel(ev, ci, start, chronic=w is not None)
                    how = self.explain(p, ev, ci)
                    if w is not None:
                        how = f"{ev.term(w)}×{how}"
                    if why is None and reassure is not None and reassure in at:
                        why = f"{QUALIFIER_LABELS['reassure']}({ev.term(reassure)})"
                    if why:
                        ev.cancelled.append(f"{why}·子句{ci + 1}「{ev.scan.clause_text(ci)}」{kind.label}:{how}")
                        continue
                    ev.danger = Danger(kind.code, kind.label, how, ci)
                    if kind.category is not None:
                        ev.scores[kind.category] += DANGER_WEIGHT
                        ev.clause_scores[ci][kind.category] += DANGER_WEIGHT
                        ev.hits.append((kind.category, DANGER_WEIGHT, f"危险:{kind.label}"))
                    return

    def explain(self, p: Pattern, ev: Evidence, ci: int) -> str:
        """"@fire_now(着火)&@wire(电线)": each part with the word that stood for it in the clause."""
        out = []
        for i in p.pos:
            name = self.vocab.label(i)
            term = self._term_in(ev, i, ci) if i in ev.clause_ids[ci] else ev.term(i)
            out.append(f"{name}({term})" if name.startswith("@") else name)
        return "&".join(out)

    def _cancel(self, ev: Evidence, ci: int, start: int, chronic: bool = True) -> str | None:
        ids = ev.clause_ids[ci]
        neg = self.q.get("negation")
        if neg is not None and neg in ids:
            for _s, e, t, c in ev.scan.hits:  # a negation right before the danger (没有着火, 不是煤气味)
                if c == ci and start - 3 <= e <= start and neg in self.terms.get(t, ()):
                    return f"{QUALIFIER_LABELS['negation']}({t})"
        for k in CLAUSE_QUALIFIERS:
            if k == "chronic" and not chronic:  # 一直冒烟 is still a fire; 一直有心脏病 is not an attack
                continue
            g = self.q.get(k)
            if g is not None and g in ids:
                return f"{QUALIFIER_LABELS[k]}({self._term_in(ev, g, ci)})"
        return None

    def _term_in(self, ev: Evidence, gid: int, ci: int) -> str:
        pos = ev.clause_ids[ci][gid]
        for s, _e, t, c in ev.scan.hits:
            if s == pos and c == ci and gid in self.terms.get(t, ()):
                return t
        return ev.term(gid) or "?"

    def _services(self, ev: Evidence) -> None:
        for name, words, pats in self.services:
            # a word of the item (keyword, separable form) beats a combination pattern (理个发 is
            # 理发 even for an elderly father, whom 上门助老's patterns would also match); then longer
            best = None
            if words is not None and words in ev.at:
                t = ev.term(words)
                best = (100.0 + len(t), t)
            for p in pats:
                if (best is None or best[0] < 10 + len(p.pos)) and _fires(p, ev.at, ev.clause_ids) is not None:
                    best = (10.0 + len(p.pos), p.text)
            if best:
                ev.services.append((best[0], name, best[1]))
        ev.services.sort(key=lambda x: -x[0])


def _inherit(terms: dict[str, set[int]], scoped: set[int], neutral):
    """A term also stands for every shorter term (2+ characters) inside it: the scanner reports the
    longest term only, and 着火了 must still count as the keyword 着火 (and 坏了 as the part 坏 of
    路灯+坏). Qualifiers are not inherited (没反应 is a state, not the negation 没), and a neutral
    term inherits nothing (it exists to hide what is inside it: 打不着火 is not 着火)."""
    out, inner = {}, {}
    for t, ids in terms.items():
        got = set(ids)
        if neutral is not None and neutral in ids:
            out[t] = tuple(sorted(got))
            continue
        n = len(t)
        one = set()  # inherited only from a one-character word inside: like a one-character hit
        for i in range(n):
            for j in range(i + 1, n + 1 if i else n):
                sub = terms.get(t[i:j])
                if sub:
                    new = {x for x in sub if x not in scoped and x not in got}
                    if j - i == 1:
                        one |= new
                    else:
                        one -= {x for x in sub}
                    got |= new
        out[t] = tuple(sorted(got))
        if one - ids:
            inner[t] = frozenset(one - ids)
    return out, inner


_WINDOW = 4


def _whole_word(text: str, s: int, e: int) -> bool:
    """Whether text[s:e] is a whole jieba word — cutting only a few characters around it, not the
    whole message (the segmentation of a window agrees with the full one near its middle)."""
    freq = tokenizer.frequencies()
    n = len(text)
    # without HMM jieba joins characters only into dictionary words: none covering this one → whole
    if not any(freq.get(text[a:b]) for a in range(max(0, s - 3), s + 1)
               for b in range(max(e, a + 2), min(n, a + 5) + 1)):
        return True
    a = max(0, s - _WINDOW)
    pos, cuts = a, set()
    for tok in tokenizer.cut(text[a:e + _WINDOW]):
        cuts.add(pos)
        pos += len(tok)
    cuts.add(pos)
    return s in cuts and e in cuts


def _fires(p: Pattern, at, cl) -> int | None:
    """The clause where pattern `p` holds (the clause of its first part), else None."""
    first = at.get(p.pos[0])
    if first is None:
        return None
    if not p.clause:
        if all(i in at for i in p.pos) and not any(i in at for i in p.neg):
            return first[1]
        return None
    for ci in range(first[1], len(cl)):
        ids = cl[ci]
        if p.pos[0] in ids and all(i in ids for i in p.pos) and not any(i in ids for i in p.neg):
            return ci
    return None


def _clauses_firing(p: Pattern, at, cl):
    """(clause, start of its first part) for every clause where `p` holds — dangers are per clause."""
    first = at.get(p.pos[0])
    if first is None:
        return
    for ci in range(first[1], len(cl)):
        ids = cl[ci]
        if p.pos[0] in ids and all(i in ids for i in p.pos) and not any(i in ids for i in p.neg):
            yield ci, min(ids[i] for i in p.pos)
