"""The keyword-rule classifier: intent, category, subcategory, grade, urgency, place, phone, and
the explanation a dispatcher sees.

`classify(text)` is thread-safe (the active rules are an immutable snapshot swapped atomically),
fast (one jieba cut without HMM, dictionary look-ups and a handful of regex scans) and never raises.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from nlp import extract, grams, intents, services, tokenizer
from nlp.engine import Engine
from nlp.rules import DEFAULT_RULES_PATH, RuleSet, load_rules_file, parse_rules

log = logging.getLogger("weilinli.nlp")

CATEGORIES: dict[str, str] = {
    "environment": "市容环卫",
    "facility": "市政设施",
    "property": "物业管理",
    "safety": "安全隐患",
    "security": "治安防范",
    "dispute": "矛盾纠纷",
    "traffic": "交通停车",
    "greening": "园林绿化",
    "welfare": "民生服务",
    "other": "其他",
}

INTENTS = ("report", "service", "query", "rate", "consult", "greeting", "other")
INTENT_LABELS = {
    "report": "报事",
    "service": "办事",
    "query": "查询",
    "rate": "评价",
    "consult": "咨询",
    "greeting": "问候",
    "other": "其他",
}


def category_label(code: str) -> str:
    """Chinese label of a category code (the active rules' own labels for mined categories)."""
    if code in CATEGORIES:
        return CATEGORIES[code]
    rs = _state.rules
    if rs is not None:
        for c in rs.categories:
            if c.code == code:
                return c.label
    return code


@dataclass(frozen=True)
class Classification:
    intent: str
    category: str
    subcategory: str
    grade: str
    urgent: bool
    place: str | None
    phone: str | None
    confidence: float
    rule: str
    rules: tuple[str, ...] = ()
    event_number: str | None = None
    rating: str | None = None
    flagged: bool = False
    service: str | None = None  # the service menu item's name when intent is "service"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["rules"] = list(self.rules)
        return d

    @property
    def category_label(self) -> str:
        return category_label(self.category)


# ----------------------------------------------------------------------------- rules state


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.rules: RuleSet | None = None
        self.path: Path = DEFAULT_RULES_PATH
        self.mtime: float = 0.0
        self.checked: float = 0.0
        self.default: RuleSet | None = None
        self.file_cache: dict[tuple[str, float], RuleSet] = {}


_state = _State()
AUTO_RELOAD_SECONDS = 2.0


def _default_rules() -> RuleSet:
    if _state.default is None:
        with _state.lock:
            if _state.default is None:
                _state.default = load_rules_file(DEFAULT_RULES_PATH)
    return _state.default


def _is_default(path: Path) -> bool:
    try:
        return path.resolve() == DEFAULT_RULES_PATH.resolve()
    except OSError:
        return False


def _load(path: Path) -> RuleSet:
    base = None if _is_default(path) else _default_rules()
    rs = load_rules_file(path, base=base)
    _prepare(rs)
    return rs


def _activate(rs: RuleSet, path: Path) -> None:
    _prepare(rs)
    tokenizer.add_words(rs.words)
    with _state.lock:
        _state.rules = rs
        _state.path = path
        try:
            _state.mtime = path.stat().st_mtime
        except OSError:
            _state.mtime = 0.0
        _state.checked = time.monotonic()


def get_rules() -> RuleSet:
    """The active rules (loading the default rules on first use)."""
    if _state.rules is None:
        with _state.lock:
            if _state.rules is None:
                tokenizer.ensure_loaded()
                path = _configured_path() if _is_default(_state.path) else _state.path
                _activate(_load(path), path)
    else:
        _maybe_auto_reload()
    return _state.rules  # type: ignore[return-value]


def _configured_path() -> Path:
    """WEILINLI_RULES_FILE when it exists (the editor saves there), else the packaged rules."""
    from settings import get_settings  # the one project import nlp allows

    configured = get_settings().rules_file
    return Path(configured) if configured and Path(configured).is_file() else DEFAULT_RULES_PATH


def rules_path() -> Path:
    return _state.path


def reload_rules(path: str | os.PathLike | None = None) -> None:
    """Load rules from `path` (default: the active file) and make them active.

    A bad file raises ValueError('line N: …') and the old rules stay in force."""
    p = Path(path) if path is not None else _state.path
    tokenizer.ensure_loaded()
    rs = _load(p)  # raises ValueError; nothing changed yet
    _activate(rs, p)
    log.info("classification rules loaded from %s (%d categories)", p, len(rs.categories))


def validate_rules_text(text: str) -> None:
    """Raise ValueError('line N: …') if `text` is not a valid rules file."""
    parse_rules(text, base=_default_rules())


def save_rules_text(text: str, path: str | os.PathLike | None = None) -> None:
    """Validate, write atomically and activate (the admin page's rule editor uses this)."""
    p = Path(path) if path is not None else _state.path
    base = None if _is_default(p) else _default_rules()
    rs = parse_rules(text, source=str(p), base=base)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, p)
    _activate(rs, p)


def _maybe_auto_reload() -> None:
    """Pick up an edited rules file without a restart (checked at most every 2 s)."""
    now = time.monotonic()
    if now - _state.checked < AUTO_RELOAD_SECONDS:
        return
    _state.checked = now
    try:
        mtime = _state.path.stat().st_mtime
    except OSError:
        return
    if mtime == _state.mtime:
        return
    try:
        rs = _load(_state.path)
    except ValueError as e:
        _state.mtime = mtime  # do not retry until it changes again
        log.error("rules file %s refused, old rules stay in force: %s", _state.path, e)
        return
    _activate(rs, _state.path)
    log.info("rules file %s changed: reloaded", _state.path)


def _rules_from_arg(rules) -> RuleSet:
    if rules is None:
        return get_rules()
    if isinstance(rules, RuleSet):
        _prepare(rules)
        return rules
    p = Path(rules)
    key = (str(p.resolve()), p.stat().st_mtime)
    rs = _state.file_cache.get(key)
    if rs is None:
        tokenizer.ensure_loaded()
        rs = _load(p)
        tokenizer.add_words(rs.words)
        _state.file_cache[key] = rs
    return rs


def add_user_words(words: Iterable[str], places: bool = False) -> None:
    """Add grid names/aliases (or any domain words) to jieba's dictionary; with places=True
    they are also recognised by the place extractor. Called at start-up and on grid import."""
    words = [w for w in (extract.normalize(w) for w in words) if w]
    tokenizer.add_words(words)
    if places:
        extract.add_places(words)


# ----------------------------------------------------------------------------- compiled engine

_PREPARED: dict[int, tuple[RuleSet, tuple, Engine]] = {}


def _prepare(rs: RuleSet) -> Engine:
    """The compiled engine of `rs` with the current service menu (recompiled when either changes)."""
    defs, key = services.current()
    hit = _PREPARED.get(id(rs))
    if hit is not None and hit[0] is rs and hit[1] == key:
        return hit[2]
    eng = Engine(rs, defs)
    if len(_PREPARED) > 64:
        _PREPARED.clear()
    _PREPARED[id(rs)] = (rs, key, eng)
    return eng


# ----------------------------------------------------------------------------- classify

_LOG = [0.0] + [math.log(i) for i in range(1, 64)]


def _empty(rule: str) -> Classification:
    return Classification(
        intent="other",
        category="other",
        subcategory="",
        grade="A",
        urgent=False,
        place=None,
        phone=None,
        confidence=0.0,
        rule=rule,
        rules=(),
        flagged=False,
    )


def classify(text: str, rules=None) -> Classification:
    """Classify one message. Never raises: on internal failure the message is flagged for a person."""
    try:
        return _classify(text, rules)
    except Exception:  # noqa: BLE001 - the bot must answer whatever arrives
        log.exception("classifier failed; message flagged for a dispatcher")
        c = _empty("分类出错，转人工")
        return Classification(**{**c.__dict__, "flagged": True})


def _classify(text: str, rules) -> Classification:
    t = extract.normalize(text)
    if not t:
        return _empty("空消息")
    rs = _rules_from_arg(rules)
    eng = _prepare(rs)
    cats = rs.categories
    n = len(cats)

    if rs.match == "text":
        ev = eng.evidence(t)
        evidence, hits, fired_subs, vetoed = ev.scores, ev.hits, ev.subs, ev.vetoed
    elif rs.match == "bigram":  # mined rules over character pairs: no jieba cut needed to score
        ev = eng.evidence(t)
        evidence, hits, fired_subs, vetoed = [0.0] * n, [], [], set()
        _evidence_tokens(rs, t, Counter(grams.bigrams(t)), evidence, hits, fired_subs, vetoed)
    else:  # mined rules: keywords are jieba tokens, counted with (1 + ln n); the same cut serves the engine
        tokens = tokenizer.cut(t)
        ev = eng.evidence(t, tokens)
        evidence, hits, fired_subs, vetoed = [0.0] * n, [], [], set()
        _evidence_tokens(rs, t, Counter(tokens), evidence, hits, fired_subs, vetoed)

    # the best total among the categories not vetoed (a matched one wins a tie); none if nothing matched
    matched = {ci for ci, _, _ in hits} | {s.category for s, _ in fired_subs}
    best, best_total, totals = -1, -math.inf, []
    if matched - vetoed:
        best_key = (-math.inf, False)
        for ci in range(n):
            if ci in vetoed:
                continue
            tot = cats[ci].bias + evidence[ci]
            totals.append(tot)
            key = (tot, ci in matched)
            if key > best_key:
                best, best_total, best_key = ci, tot, key
    placed = best >= 0 and evidence[best] >= rs.min_score

    event_number = extract.extract_event_number(t)
    rating = extract.extract_rating(t)
    best_code = cats[best].code if best >= 0 else None
    intent, why, service = intents.decide(eng, ev, t, placed, best_code, event_number, rating)

    if best >= 0:
        z = sum(math.exp((s - best_total) / rs.temperature) for s in totals)
        confidence = 1.0 / z if z > 0 else 0.0
    else:
        confidence = 0.0
    flagged = False
    subcategory = ""
    grade = "A"
    rule_ids: list[str] = []
    parts: list[str] = []
    if placed:
        cat = cats[best]
        category = cat.code
        grade = cat.grade
        mine = [(s, txt) for s, txt in fired_subs if s.category == best]
        kw = sorted(((w, txt) for ci, w, txt in hits if ci == best), key=lambda x: -x[0])
        if mine:
            # the heaviest subcategory; among equals the one with most patterns present, then file order
            count: dict[int, int] = {}
            for s, _ in mine:
                count[id(s)] = count.get(id(s), 0) + 1
            sub, txt = max(mine, key=lambda x: (x[0].weight, count[id(x[0])]))
            subcategory = sub.label
            grade = sub.grade or grade
            parts.append(f"{category}/{sub.label}: {txt}")
            rule_ids.append(f"{category}.sub.{sub.label}")
            if kw:
                parts.append("关键词 " + "、".join(f"{txt}({w:.3g})" for w, txt in kw[:4] if w > 0))
        else:
            parts.append(f"{category}: " + "+".join(txt for w, txt in kw[:4] if w > 0))
        rule_ids.extend(f"{category}.kw.{txt}" for _, txt in kw[:8])
        also = _also(ev, best, rs) if rs.match == "text" else []
        if also:
            parts.append("also " + "、".join(also))
        if len(ev.scan.clauses) > 1 and rs.match == "text":
            parts.append(f"子句 {len(ev.scan.clauses)}")
    else:
        category = "other"
        if best >= 0:
            parts.append(f"other: 证据不足（{cats[best].code} {evidence[best]:.3g} < {rs.min_score:g}）")
            confidence = min(confidence, 0.3)
        else:
            parts.append("other: 没有规则命中")
        flagged = intent in ("report", "other")

    if ev.danger is not None:
        d = ev.danger
        parts.append(f"紧急({d.label}): {d.how}·子句{d.clause + 1}「{ev.scan.clause_text(d.clause)}」")
        rule_ids.append(f"urgent.{d.code}")
    for c in ev.cancelled[:3]:
        parts.append(f"不算紧急 {c}")
    if intent != "report" or why:
        parts.append(f"意图 {intent}" + (f": {why}" if why else ""))
        rule_ids.append(f"intent.{intent}")

    return Classification(
        intent=intent,
        category=category,
        subcategory=subcategory,
        grade=grade,
        urgent=ev.danger is not None,
        place=extract.extract_place(t),
        phone=extract.extract_phone(t),
        confidence=round(max(0.0, min(1.0, confidence)), 3),
        rule="; ".join(parts),
        rules=tuple(rule_ids),
        event_number=event_number,
        rating=rating if intent == "rate" else None,
        flagged=flagged,
        service=service,
    )


def _also(ev, best: int, rs: RuleSet) -> list[str]:
    """Other categories that are the best of some clause (a message with two problems)."""
    out = []
    for ci, scores in enumerate(ev.clause_scores):
        top = max(range(len(scores)), key=scores.__getitem__)
        if top != best and scores[top] >= rs.min_score and top not in ev.vetoed:
            code = rs.categories[top].code
            if code not in out:
                out.append(f"{code}(子句{ci + 1})" if code not in out else code)
    return out


def _evidence_tokens(rs: RuleSet, t, counts, evidence, hits, fired_subs, vetoed) -> None:
    single = rs.single
    log_count = rs.count == "log"
    toks = counts.keys()
    for tok, n in counts.items():
        got = single.get(tok)
        if got:
            f = (1.0 + _LOG[n] if n < 64 else 1.0 + math.log(n)) if log_count else 1.0
            for ci, w in got:
                evidence[ci] += w * f
                hits.append((ci, w * f, tok))
    if rs.multi:
        for tok in toks:
            got = rs.multi.get(tok)
            if got:
                for rest, ci, w, txt in got:
                    if all(r in t for r in rest):
                        evidence[ci] += w
                        hits.append((ci, w, txt))
    for parts, ci, w, txt in rs.chars:
        if all(r in t for r in parts):
            evidence[ci] += w
            hits.append((ci, w, txt))
    if rs.subs or rs.sub_chars:
        seen = set()
        for tok in toks:
            got = rs.subs.get(tok)
            if got:
                for rest, sub, txt in got:
                    if id(sub) not in seen and all(r in t for r in rest):
                        seen.add(id(sub))
                        evidence[sub.category] += sub.weight
                        fired_subs.append((sub, txt))
        for parts, sub, txt in rs.sub_chars:
            if id(sub) not in seen and all(r in t for r in parts):
                seen.add(id(sub))
                evidence[sub.category] += sub.weight
                fired_subs.append((sub, txt))
    if rs.negatives:
        for tok in toks:
            got = rs.negatives.get(tok)
            if got:
                vetoed.update(got)
