"""Concepts: named sets of words and phrases that rules combine instead of repeating word lists.

In a rules file::

    [concepts]
    elder = ["老人", "婆婆", "爹爹", "我妈", "俺娘"]       # dialect words, typos, run-ons …
    broken = ["坏了", "不亮", "冇得用", "不中了"]
    lamp_broken = ["@lamp+@broken"]                     # no: a concept lists words; combine in rules

    [separable]      # 离合词: verb + 个/下/一下/了/点 … + object, one declaration
    haircut = { verb = "理 剪 剃", object = "发 头 头发" }   # 理个发、剪下头、剃了头、理理发 …

A concept may include another with "@name". Rule patterns (keywords, sub `match`, danger, services)
combine parts: "a+b" all parts anywhere in the message, "a&b" all parts in one clause; a part
"@name" is any word of the concept, a part "!x" / "!@name" must be absent (from the same scope).

`Vocab` gives every concept and every literal word an integer id and records, for each surface
term, the ids it stands for; the scanner finds terms, the engine works with ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# what may stand between the two halves of a separable verb (理个发、磨下刀、修一下伞、买点菜)
PARTICLES = ("", "个", "下", "一下", "了", "点", "一点", "了个", "个小", "几下", "了一下", "一个", "下子",
             "完", "好", "一次", "次", "趟", "一趟")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,40}$")


def separable_forms(verbs: list[str], objects: list[str]) -> list[str]:
    """Every surface form of verb + particle + object, plus reduplication (磨磨刀、修一修伞)."""
    out = []
    for v in verbs:
        for o in objects:
            out += [v + p + o for p in PARTICLES]
            out += [v + v + o, v + "一" + v + o, v + "了" + v + o]
    return out


def split_words(value) -> list[str]:
    """"理 剪 剃" or ["理", "剪"] → ["理", "剪", "剃"]."""
    if isinstance(value, str):
        return [w for w in value.split() if w]
    if isinstance(value, list) and all(isinstance(w, str) for w in value):
        return [w.strip() for w in value if w.strip()]
    raise ValueError("must be a string of words separated by spaces, or a list of strings")


@dataclass(frozen=True)
class Pattern:
    """A compiled rule pattern: all `pos` concept ids present, none of `neg`, in one clause or anywhere."""

    pos: tuple[int, ...]
    neg: tuple[int, ...]
    clause: bool
    text: str


class Vocab:
    """Concept ids and the surface terms that stand for them."""

    def __init__(self, concepts: dict[str, list[str]]):
        self.concepts = concepts  # name -> raw members (words and @refs), already validated
        self.ids: dict[str, int] = {}
        self.names: list[str] = []
        self.terms: dict[str, set[int]] = {}
        self._expanded: dict[str, frozenset[str]] = {}

    def expand(self, name: str, _stack: tuple[str, ...] = ()) -> frozenset[str]:
        """The words of concept `name`, @refs resolved. Raises ValueError on unknown/cyclic refs."""
        hit = self._expanded.get(name)
        if hit is not None:
            return hit
        if name not in self.concepts:
            raise ValueError(f"unknown concept @{name}")
        if name in _stack:
            raise ValueError(f"concept @{name} includes itself ({' → '.join((*_stack, name))})")
        words: set[str] = set()
        for w in self.concepts[name]:
            if w.startswith("@"):
                words |= self.expand(w[1:], (*_stack, name))
            else:
                words.add(w.lower())
        out = frozenset(words)
        self._expanded[name] = out
        return out

    def _id(self, key: str) -> int:
        i = self.ids.get(key)
        if i is None:
            i = self.ids[key] = len(self.names)
            self.names.append(key)
        return i

    def concept(self, name: str) -> int:
        """Id of concept `name` (its words registered as terms)."""
        key = "@" + name
        if key in self.ids:
            return self.ids[key]
        words = self.expand(name)
        i = self._id(key)
        for w in words:
            self.terms.setdefault(w, set()).add(i)
        return i

    def word(self, w: str) -> int:
        """Id of a literal word."""
        w = w.lower()
        i = self._id(w)
        self.terms.setdefault(w, set()).add(i)
        return i

    def part(self, p: str) -> int:
        return self.concept(p[1:]) if p.startswith("@") else self.word(p)

    def group(self, key: str, members: list[str]) -> int:
        """Id of an unnamed set of words/@refs (an intent list, a qualifier, a service's words)."""
        i = self._id(key)
        for m in members:
            for w in (self.expand(m[1:]) if m.startswith("@") else (m.lower(),)):
                self.terms.setdefault(w, set()).add(i)
        return i

    def pattern(self, text: str) -> Pattern:
        parts = split_pattern(text)
        pos = tuple(self.part(p) for p in parts if not p.startswith("!"))
        neg = tuple(self.part(p[1:]) for p in parts if p.startswith("!"))
        if not pos:
            raise ValueError(f"pattern {text!r} has no positive part")
        return Pattern(pos, neg, "&" in text, text)

    def label(self, i: int) -> str:
        return self.names[i]


def split_pattern(text: str) -> list[str]:
    """"@lamp&@broken" → ["@lamp", "@broken"]; raises ValueError on an empty part or whitespace."""
    parts = [p.strip() for p in re.split(r"[+&]", text)]
    if not parts or any(not p or p == "!" for p in parts):
        raise ValueError(f"bad pattern {text!r} (empty part around '+' or '&')")
    if any(any(c.isspace() for c in p) for p in parts):
        raise ValueError(f"pattern {text!r} contains whitespace")
    return parts


def parse_concepts(raw, separable) -> dict[str, list[str]]:
    """Validate [concepts] and [separable]; returns name -> members. Raises ValueError(msg, name)."""
    out: dict[str, list[str]] = {}
    for name, members in (raw or {}).items():
        if not _NAME.match(name):
            raise ConceptError(name, f"bad concept name {name!r} (letters, digits, _ . -)")
        if not isinstance(members, list) or not all(isinstance(m, str) and m.strip() for m in members):
            raise ConceptError(name, f"concept {name} must be a list of non-empty strings")
        out[name] = [m.strip() for m in members]
    for name, decl in (separable or {}).items():
        if not _NAME.match(name):
            raise ConceptError(name, f"bad separable name {name!r}")
        if not isinstance(decl, dict) or set(decl) - {"verb", "object"} or not {"verb", "object"} <= set(decl):
            raise ConceptError(name, f"separable {name} must be {{ verb = \"…\", object = \"…\" }}")
        try:
            forms = separable_forms(split_words(decl["verb"]), split_words(decl["object"]))
        except ValueError as e:
            raise ConceptError(name, f"separable {name}: {e}") from None
        out[name] = out.get(name, []) + forms
    return out


class ConceptError(ValueError):
    def __init__(self, name: str, msg: str):
        super().__init__(msg)
        self.name = name
