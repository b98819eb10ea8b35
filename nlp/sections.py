"""The rules file's newer sections: [concepts], [separable], [scope] and [danger].

Each parser takes the TOML data, the line locator and the base rules (a file without the section
inherits the default rules' one) and raises ValueError("line N: …") on an error.
"""

from __future__ import annotations

from nlp.concepts import ConceptError, Vocab, parse_concepts, split_pattern


def concepts(data, loc, base, err) -> dict[str, list[str]]:
    out = dict(base.concepts) if base is not None else {}
    raw, sep = data.get("concepts", {}), data.get("separable", {})
    for key, value in (("concepts", raw), ("separable", sep)):
        if not isinstance(value, dict):
            raise err(loc.section(key) or 1, f"{key} must be a table")
    try:
        out.update(parse_concepts(raw, sep))
    except ConceptError as e:
        line = loc.key(loc.section("concepts"), e.name)
        if e.name in sep:
            line = loc.key(loc.section("separable"), e.name)
        raise err(line, str(e)) from None
    vocab = Vocab(out)
    for name in out:  # unknown or cyclic @refs are errors of the concept that has them
        try:
            vocab.expand(name)
        except ValueError as e:
            raise err(loc.key(loc.section("concepts"), name), f"concepts.{name}: {e}") from None
    return out


def checker(concept_table: dict[str, list[str]], err):
    """A function validating one rule pattern (parts, @refs) for the error of line `line`."""
    vocab = Vocab(concept_table)

    def check(text: str, line: int, what: str) -> str:
        try:
            parts = split_pattern(text)
            if all(p.startswith("!") for p in parts):
                raise ValueError(f"pattern {text!r} has no positive part")
            for p in parts:
                p = p.lstrip("!")
                if p.startswith("@"):
                    vocab.expand(p[1:])
        except ValueError as e:
            raise err(line, f"{what}: {e}") from None
        return text

    return check


def scope(data, loc, base, err, terms, keys, concept_table) -> dict[str, tuple[str, ...]]:
    out = dict(base.scope) if base is not None else {}
    raw = data.get("scope")
    if raw is None:
        return out
    line = loc.section("scope")
    if not isinstance(raw, dict):
        raise err(line, "scope must be a table of qualifier = [words]")
    for k, v in raw.items():
        if k not in keys:
            raise err(loc.key(line, k), f"unknown scope qualifier {k!r} (expected one of {list(keys)})")
        out[k] = terms(v, loc.key(line, k), f"scope.{k}")
        for w in out[k]:
            if w.startswith("@") and w[1:] not in concept_table:
                raise err(loc.key(line, k), f"scope.{k}: unknown concept {w}")
    return out


def danger(data, loc, base, err, terms, check, kind_cls, codes=()):
    """([danger] who, kinds). A file without [danger] inherits the base's (and an old-style [urgent]
    section, converted by the caller, replaces it)."""
    raw = data.get("danger")
    if raw is None:
        if base is None:
            return (), ()
        # inherited kinds point at categories by the base's indexes: re-map them by code
        base_codes = [c.code for c in base.categories]
        kinds = tuple(kind_cls(k.code, k.label, k.now, k.state, k.who, k.with_,
                               list(codes).index(base_codes[k.category])
                               if k.category is not None and base_codes[k.category] in codes else None)
                      for k in base.danger_kinds)
        return base.danger_who, kinds
    line = loc.section("danger")
    if not isinstance(raw, dict):
        raise err(line, "danger must be a table")
    who = tuple(check(w, loc.key(line, "who"), "danger.who") for w in
                terms(raw.get("who", []), loc.key(line, "who"), "danger.who"))
    kinds = []
    for code, v in raw.items():
        if code == "who":
            continue
        kline = loc.section("danger", code) or line
        if not isinstance(v, dict):
            raise err(kline, f"danger.{code} must be a table (label, now, state, who, with)")
        for k in v:
            if k not in {"label", "now", "state", "who", "with", "category"}:
                raise err(loc.key(kline, k), f"danger.{code}: unknown key {k!r}")
        label = v.get("label", code)
        if not isinstance(label, str):
            raise err(loc.key(kline, "label"), f"danger.{code}.label must be a string")

        def pats(key, _v=v, _kline=kline, _code=code):
            ln = loc.key(_kline, key)
            return tuple(check(p, ln, f"danger.{_code}.{key}") for p in terms(_v.get(key, []), ln,
                                                                            f"danger.{_code}.{key}"))

        now, state, with_ = pats("now"), pats("state"), pats("with")
        kwho = tuple(check(w, loc.key(kline, "who"), f"danger.{code}.who") for w in
                     terms(v.get("who", []), loc.key(kline, "who"), f"danger.{code}.who"))
        if not now and not state:
            raise err(kline, f"danger.{code} needs now = [ … ] or state = [ … ]")
        cat = v.get("category")
        if cat is not None and cat not in codes:
            raise err(loc.key(kline, "category"), f"danger.{code}.category: unknown category {cat!r}")
        kinds.append(kind_cls(code, label, now, state, kwho, with_, list(codes).index(cat) if cat else None))
    return who, tuple(kinds)


def urgent(data, loc, base, err, terms, kind_cls):
    """The old-style [urgent] section: (kinds, negations, hedges_after), inherited when absent."""
    raw = data.get("urgent")
    if raw is None:
        if base is None:
            return (), (), ()
        return base.urgent_kinds, base.urgent_negations, base.urgent_hedges
    uline = loc.section("urgent")
    if not isinstance(raw, dict):
        raise err(uline, "urgent must be a table")
    negs = terms(raw.get("negations", []), loc.key(uline, "negations"), "urgent.negations")
    hedges = terms(raw.get("hedges_after", []), loc.key(uline, "hedges_after"), "urgent.hedges_after")
    kinds = []
    for k, v in raw.items():
        if k in ("negations", "hedges_after"):
            continue
        kline = loc.section("urgent", k) or uline
        if not isinstance(v, dict):
            raise err(kline, f"urgent.{k} must be a table with label and terms")
        lab = v.get("label", k)
        if not isinstance(lab, str):
            raise err(loc.key(kline, "label"), f"urgent.{k}.label must be a string")
        if "terms" not in v:
            raise err(kline, f"urgent.{k} needs terms = [ … ]")
        kinds.append(kind_cls(k, lab, terms(v["terms"], loc.key(kline, "terms"), f"urgent.{k}.terms")))
    return tuple(kinds), negs, hedges


def intent(data, loc, base, err, terms, check, keys) -> dict[str, tuple[str, ...]]:
    """[intent]: phrase lists (words or @concepts), each inherited from the base when absent."""
    raw = data.get("intent")
    if raw is None:
        return dict(base.intent) if base is not None else {k: () for k in keys}
    iline = loc.section("intent")
    if not isinstance(raw, dict):
        raise err(iline, "intent must be a table")
    out = {k: () for k in keys}
    if base is not None:
        out.update(base.intent)
    for k, v in raw.items():
        if k not in keys:
            raise err(loc.key(iline, k), f"unknown intent list {k!r} (expected one of {list(keys)})")
        out[k] = terms(v, loc.key(iline, k), f"intent.{k}")
        for w in out[k]:
            if w.startswith("@"):
                check(w, loc.key(iline, k), f"intent.{k}")
    return out
