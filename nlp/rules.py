"""Classification rules as data: parse, validate (with line numbers) and compile a TOML rules file.

File layout (see `default_rules.toml`, which is the reference and is commented)::

    [meta]
    name = "…"
    min_score = 2.0        # best category evidence below this → category "other", flagged
    temperature = 0.6      # softmax temperature for the confidence figure
    match = "text"         # "token" (default): a keyword is a jieba token (every keyword is added to
                           # jieba's dictionary); "text": a keyword of 2+ characters matches anywhere
                           # in the message, a single character only as a whole jieba token;
                           # "bigram" (mined files): a keyword is a pair of adjacent Chinese
                           # characters, counted in the message's runs of Chinese (nlp/grams.py)
    count = "once"         # "once" (default): a keyword present adds its weight once;
                           # "log": a keyword found n times adds weight × (1 + ln n)

    [categories.facility]  # category code (the taxonomy's, or a mined file's own labels)
    label = "市政设施"
    grade = "A"            # suggested grade when no subcategory says otherwise
    unit = "市政"           # handling unit (information for routing)
    bias = 0.0
    negative = ["…"]       # any of these present → this category is not considered
    [categories.facility.keywords]
    "井盖" = 3             # keyword = weight; "a+b" means all parts present; negative weights allowed
    [[categories.facility.sub]]
    label = "路灯不亮"
    match = ["路灯+不亮", "路灯+坏"]
    weight = 3
    grade = "A"

    [urgent]               # optional: inherited from the default rules when absent
    negations = ["不是", "没有"]   # a danger term right after one of these does not count
    hedges_after = ["隐患"]        # …nor one followed by these (火灾隐患 is a hazard, not a fire)
    [urgent.fire]
    label = "火情"
    terms = ["着火", "冒烟"]

    [intent]               # optional: inherited from the default rules when absent
    greeting = ["你好", …]  # literal phrases, matched on the normalised text

In "token" mode keywords are matched against jieba tokens (every keyword is added to jieba's
dictionary when the file is loaded, so a keyword written here comes out of the tokenizer as one
token); in "text" mode they are matched as substrings, which suits hand-written rules for
colloquial, typo-ridden chat text. Mined rules use "token" mode (they are learnt from tokens).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from nlp import grams, sections
from nlp.locate import Locator as _Locator
from nlp.locate import err as _err
from nlp.locate import syntax_error as _syntax_error

DEFAULT_RULES_PATH = Path(__file__).with_name("default_rules.toml")

GRADES = ("A", "B", "C", "D")
INTENT_KEYS = (
    "greeting",
    "query",
    "rate",
    "consult",
    "question",
    "not_report",
    "service",
    "service_request",
    "private",
    "problem",
    "public",
    "public_place",
    "chaser",
    "reference",
    "thanks",
    "helper",
    "praise",
)
MATCH_MODES = ("token", "text", "bigram")
SCOPE_KEYS = ("negation", "past", "hypothetical", "chronic", "policy", "hedge", "reassure", "neutral", "connective")
_CODE_RE = re.compile(r"^[^\s.\[\]\"'=#]{1,40}$")


@dataclass(frozen=True)
class SubRule:
    category: int
    label: str
    patterns: tuple[tuple[str, ...], ...]  # each pattern: all parts must be present
    weight: float
    grade: str | None
    unit: str | None


@dataclass(frozen=True)
class Category:
    code: str
    label: str
    grade: str
    unit: str
    bias: float
    negative: frozenset[str]


@dataclass(frozen=True)
class UrgentKind:
    code: str
    label: str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class DangerKind:
    """A kind of danger now: `now` patterns are urgent alone; `state` patterns when someone (`who`,
    default [danger] who) is in the message; `with_` patterns must all hold too (e.g. a lift)."""

    code: str
    label: str
    now: tuple[str, ...]
    state: tuple[str, ...] = ()
    who: tuple[str, ...] = ()
    with_: tuple[str, ...] = ()
    category: int | None = None  # index of the category a danger of this kind is evidence for


@dataclass
class RuleSet:
    name: str
    source: str
    match: str  # "token": keywords are jieba tokens; "text": substrings of the message
    count: str  # "once": a keyword adds its weight once; "log": weight × (1 + ln n) for n occurrences
    categories: tuple[Category, ...]
    min_score: float
    temperature: float
    # token -> tuple of (category index, weight)
    single: dict[str, tuple[tuple[int, float], ...]]
    # key part (a token) -> tuple of (other parts (substrings of the text), category index, weight, text)
    multi: dict[str, tuple[tuple[tuple[str, ...], int, float, str], ...]]
    # key part (a token) -> tuple of (other parts, SubRule, text)
    subs: dict[str, tuple[tuple[tuple[str, ...], SubRule, str], ...]]
    # patterns made only of single characters, matched as substrings: (parts, category, weight, text)
    chars: tuple[tuple[tuple[str, ...], int, float, str], ...]
    sub_chars: tuple[tuple[tuple[str, ...], SubRule, str], ...]
    negatives: dict[str, tuple[int, ...]]
    urgent_kinds: tuple[UrgentKind, ...]
    urgent_negations: tuple[str, ...]
    urgent_hedges: tuple[str, ...]
    intent: dict[str, tuple[str, ...]]
    words: frozenset[str] = field(default_factory=frozenset)  # every term to add to jieba
    has_own_intent: bool = False
    has_own_urgent: bool = False
    concepts: dict[str, list[str]] = field(default_factory=dict)
    scope: dict[str, tuple[str, ...]] = field(default_factory=dict)
    danger_who: tuple[str, ...] = ()
    danger_kinds: tuple[DangerKind, ...] = ()
    cat_patterns: tuple[tuple[int, str, float], ...] = ()  # (category, pattern, weight) — text mode
    sub_patterns: tuple[tuple[SubRule, str], ...] = ()

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.categories)

    def index(self, code: str) -> int:
        for i, c in enumerate(self.categories):
            if c.code == code:
                return i
        raise KeyError(code)


# ----------------------------------------------------------------------------- line numbers


def _terms(value, line: int, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _err(line, f"{what} must be a list of strings")
    out = []
    for v in value:
        v = v.strip()
        if not v:
            raise _err(line, f"{what} contains an empty string")
        out.append(v)
    return tuple(out)


def _pattern(term: str, line: int, what: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in term.split("+"))
    if not parts or any(not p for p in parts):
        raise _err(line, f"{what}: bad pattern {term!r} (empty part around '+')")
    if any(any(c.isspace() for c in p) for p in parts):
        raise _err(line, f"{what}: pattern {term!r} contains whitespace")
    return parts


def _number(value, line: int, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _err(line, f"{what} must be a finite number, got {value!r}")
    return float(value)


# ----------------------------------------------------------------------------- parse + compile


def _key_part(parts: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """The part a pattern is indexed by (its longest, matched as a jieba token) and the others
    (matched as substrings of the message). Patterns of single characters have no key."""
    key = max(parts, key=len)
    if len(key) < 2:
        return None, parts
    rest = list(parts)
    rest.remove(key)
    return key, tuple(rest)


def parse_rules(text: str, source: str = "<rules>", base: RuleSet | None = None) -> RuleSet:
    """Parse and compile rules text. Raises ValueError('line N: …') when it is invalid."""
    if not isinstance(text, str):
        raise ValueError("line 0: rules text must be a string")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _syntax_error(e) from None
    loc = _Locator(text)

    allowed_top = {"meta", "categories", "urgent", "intent", "concepts", "separable", "scope", "danger"}
    for k in data:
        if k not in allowed_top:
            ln = loc.section(k) or loc.key(1, k)
            raise _err(ln, f"unknown top-level key {k!r} (expected one of {sorted(allowed_top)})")

    meta = data.get("meta", {})
    mline = loc.section("meta")
    if not isinstance(meta, dict):
        raise _err(loc.key(1, "meta"), "meta must be a table")
    for k in meta:
        if k not in {"name", "version", "min_score", "temperature", "description", "source", "match", "count"}:
            raise _err(loc.key(mline, k), f"unknown meta key {k!r}")
    name = meta.get("name", source)
    if not isinstance(name, str):
        raise _err(loc.key(mline, "name"), "meta.name must be a string")
    min_score = meta.get("min_score", 2.0)
    if not (isinstance(min_score, float) and min_score == -math.inf):  # -inf: always place the best
        min_score = _number(min_score, loc.key(mline, "min_score"), "meta.min_score")
    temperature = _number(meta.get("temperature", 1.0), loc.key(mline, "temperature"), "meta.temperature")
    if temperature <= 0:
        raise _err(loc.key(mline, "temperature"), "meta.temperature must be > 0")
    count = meta.get("count", "once")
    if count not in ("once", "log"):
        raise _err(loc.key(mline, "count"), f"meta.count must be \"once\" or \"log\", got {count!r}")
    match = meta.get("match", "token")
    if match not in MATCH_MODES:
        raise _err(loc.key(mline, "match"), f"meta.match must be one of {', '.join(MATCH_MODES)}, got {match!r}")

    cats_raw = data.get("categories")
    if not isinstance(cats_raw, dict) or not cats_raw:
        raise _err(loc.section("categories") or 1, "at least one [categories.<code>] table is required")

    concept_table = sections.concepts(data, loc, base, _err)
    check = sections.checker(concept_table, _err)
    text_mode = match == "text"
    cat_patterns: list[tuple[int, str, float]] = []
    sub_patterns: list = []

    categories: list[Category] = []
    single: dict[str, list[tuple[int, float]]] = {}
    multi: dict[str, list] = {}
    subs: dict[str, list] = {}
    negatives: dict[str, list[int]] = {}
    chars: list = []
    sub_chars: list = []
    words: set[str] = set()

    for ci, (code, c) in enumerate(cats_raw.items()):
        cline = loc.section("categories", code) or loc.key(1, code)
        if not _CODE_RE.match(code):
            raise _err(cline, f"bad category code {code!r}")
        if not isinstance(c, dict):
            raise _err(cline, f"categories.{code} must be a table")
        for k in c:
            if k not in {"label", "grade", "unit", "bias", "keywords", "negative", "sub"}:
                raise _err(loc.key(cline, k), f"categories.{code}: unknown key {k!r}")
        label = c.get("label", code)
        if not isinstance(label, str) or not label.strip():
            raise _err(loc.key(cline, "label"), f"categories.{code}.label must be a non-empty string")
        grade = c.get("grade", "A")
        if grade not in GRADES:
            raise _err(
                loc.key(cline, "grade"), f"categories.{code}.grade must be one of A B C D, got {grade!r}"
            )
        unit = c.get("unit", "")
        if not isinstance(unit, str):
            raise _err(loc.key(cline, "unit"), f"categories.{code}.unit must be a string")
        bias = _number(c.get("bias", 0.0), loc.key(cline, "bias"), f"categories.{code}.bias")
        neg = _terms(c.get("negative", []), loc.key(cline, "negative"), f"categories.{code}.negative")
        for t in neg:
            negatives.setdefault(t, []).append(ci)
            words.add(t)
        categories.append(Category(code, label.strip(), grade, unit, bias, frozenset(neg)))

        kws = c.get("keywords", {})
        kline = loc.section("categories", code, "keywords") or cline
        if not isinstance(kws, dict):
            raise _err(kline, f"categories.{code}.keywords must be a table of \"keyword\" = weight")
        for kw, w in kws.items():
            ln = loc.key(kline, kw)
            weight = _number(w, ln, f"categories.{code}.keywords.{kw}")
            if text_mode:  # concepts and clause patterns: compiled by the engine
                cat_patterns.append((ci, check(kw, ln, f"categories.{code}.keywords"), weight))
                continue
            if match == "bigram" and not grams.is_bigram(kw):
                raise _err(ln, f"categories.{code}.keywords: {kw!r} is not two Chinese characters (match = \"bigram\")")
            parts = _pattern(kw, ln, f"categories.{code}.keywords")
            words.update(parts)
            key, rest = _key_part(parts)
            if key is None:
                chars.append((parts, ci, weight, kw))
            elif not rest:
                single.setdefault(key, []).append((ci, weight))
            else:
                multi.setdefault(key, []).append((rest, ci, weight, kw))

        sub_list = c.get("sub", [])
        if not isinstance(sub_list, list):
            raise _err(cline, f"categories.{code}.sub must be an array of tables [[categories.{code}.sub]]")
        seen_labels = set()
        for si, s in enumerate(sub_list):
            sline = loc.nth_section(si, "categories", code, "sub") or cline
            if not isinstance(s, dict):
                raise _err(sline, f"categories.{code}.sub[{si}] must be a table")
            for k in s:
                if k not in {"label", "match", "weight", "grade", "unit"}:
                    raise _err(loc.key(sline, k), f"categories.{code}.sub: unknown key {k!r}")
            slabel = s.get("label")
            if not isinstance(slabel, str) or not slabel.strip():
                raise _err(sline, f"categories.{code}.sub[{si}] needs a label")
            if slabel in seen_labels:
                raise _err(loc.key(sline, "label"), f"categories.{code}: duplicate subcategory {slabel!r}")
            seen_labels.add(slabel)
            if "match" not in s:
                raise _err(sline, f"categories.{code}.sub {slabel!r} needs match = [ … ]")
            mline_ = loc.key(sline, "match")
            raw_pats = _terms(s["match"], mline_, f"sub {slabel!r} match")
            if text_mode:
                pats = tuple((check(p, mline_, f"sub {slabel!r}"),) for p in raw_pats)
            else:
                pats = tuple(_pattern(p, mline_, f"sub {slabel!r}") for p in raw_pats)
            if not pats:
                raise _err(mline_, f"sub {slabel!r}: match is empty")
            sweight = _number(s.get("weight", 3.0), loc.key(sline, "weight"), f"sub {slabel!r} weight")
            sgrade = s.get("grade")
            if sgrade is not None and sgrade not in GRADES:
                raise _err(loc.key(sline, "grade"), f"sub {slabel!r}: grade must be one of A B C D")
            sunit = s.get("unit")
            if sunit is not None and not isinstance(sunit, str):
                raise _err(loc.key(sline, "unit"), f"sub {slabel!r}: unit must be a string")
            rule = SubRule(ci, slabel.strip(), pats, sweight, sgrade, sunit)
            if text_mode:  # compiled by the engine; listed in sub_chars too for readers of the old shape
                sub_patterns += [(rule, p[0]) for p in pats]
                sub_chars += [(p, rule, p[0]) for p in pats]
                continue
            for p in pats:
                words.update(p)
                key, rest = _key_part(p)
                if key is None:
                    sub_chars.append((p, rule, "+".join(p)))
                else:
                    subs.setdefault(key, []).append((rest, rule, "+".join(p)))

    urgent = data.get("urgent")
    kinds, negs, hedges = sections.urgent(data, loc, base, _err, _terms, UrgentKind)

    scope = sections.scope(data, loc, base, _err, _terms, SCOPE_KEYS, concept_table)
    danger_who, danger_kinds = sections.danger(data, loc, base, _err, _terms, check, DangerKind,
                                               [c.code for c in categories])
    if urgent is not None:  # an old-style [urgent] section: its terms are dangers now, its words qualifiers
        danger_kinds = tuple(DangerKind(k.code, k.label, tuple(t for t in k.terms if _plain(t))) for k in kinds)
        scope = {**scope, "negation": negs, "hedge": hedges}

    intent_raw = data.get("intent")
    intent = sections.intent(data, loc, base, _err, _terms, check, INTENT_KEYS)

    return RuleSet(
        name=name,
        source=source,
        match=match,
        count=count,
        categories=tuple(categories),
        min_score=min_score,
        temperature=temperature,
        single={k: tuple(v) for k, v in single.items()},
        multi={k: tuple(v) for k, v in multi.items()},
        subs={k: tuple(v) for k, v in subs.items()},
        chars=tuple(chars),
        sub_chars=tuple(sub_chars),
        negatives={k: tuple(v) for k, v in negatives.items()},
        urgent_kinds=kinds,
        urgent_negations=negs,
        urgent_hedges=hedges,
        intent=intent,
        words=frozenset(words) if match == "token" else frozenset(),
        has_own_intent=intent_raw is not None,
        concepts=concept_table,
        scope=scope,
        danger_who=danger_who,
        danger_kinds=danger_kinds,
        cat_patterns=tuple(cat_patterns),
        sub_patterns=tuple(sub_patterns),
        has_own_urgent=urgent is not None,
    )


def _plain(term: str) -> bool:
    return not any(c in term for c in "+&!@")


def load_rules_file(path: str | Path, base: RuleSet | None = None) -> RuleSet:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"line 0: {p} is not UTF-8 ({e.reason})") from None
    except OSError as e:
        raise ValueError(f"line 0: cannot read {p}: {e.strerror or e}") from None
    return parse_rules(text, source=str(p), base=base)


# ----------------------------------------------------------------------------- writing


def toml_str(s: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML)."""
    import json

    return json.dumps(s, ensure_ascii=False)


def toml_key(s: str) -> str:
    return s if re.fullmatch(r"[A-Za-z0-9_-]+", s) else toml_str(s)
