"""The rules form for office staff: the TOML rules file as a structure a form can edit (per category:
label, grade, unit, excluded words, keywords with weights, subcategories; the concepts; the urgency
terms of the danger model), and the edited structure written back into the same text.

Writing back edits the file in place, section by section and line by line, so every comment, the
order of the file and everything the form does not show (scope words, intents, meta) survive
untouched. It produces text only: saving stays with PUT /api/rules (validation, storage, rollback).
The rules file keeps each value on one line (nlp/default_rules.toml does); a value the form
changes is rewritten on its line.
"""

from __future__ import annotations

import json
import re
import tomllib

HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
KEY_LINE = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[A-Za-z0-9_\-]+)\s*=')
CATEGORY_FIELDS = ("label", "grade", "unit", "negative")
DANGER_FIELDS = ("now", "state")


class FormError(ValueError):
    """The form's data cannot be written (unknown category, a bad weight …): answered with 400."""


# ----------------------------------------------------------------------------- reading


def structure(text: str) -> dict:
    """What the form shows, from the rules text (raises FormError when the text is not valid TOML)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FormError(f"规则文件不是合法的 TOML：{exc}") from exc
    danger = data.get("danger") or {}
    categories = []
    for code, cat in (data.get("categories") or {}).items():
        categories.append({
            "code": code, "label": cat.get("label", code), "grade": cat.get("grade", "A"), "unit": cat.get("unit", ""),
            "negative": list(cat.get("negative") or []),
            "keywords": [{"pattern": k, "weight": v} for k, v in (cat.get("keywords") or {}).items()],
            "subs": [{"label": s.get("label", ""), "match": list(s.get("match") or []), "weight": s.get("weight")}
                     for s in cat.get("sub") or []],
            "urgent": [{"name": name, "label": d.get("label", name), "now": list(d.get("now") or []),
                        "state": list(d.get("state") or [])}
                       for name, d in danger.items() if isinstance(d, dict) and d.get("category") == code],
        })
    concepts = [{"name": name, "words": list(words)} for name, words in (data.get("concepts") or {}).items()
                if isinstance(words, list)]
    return {"categories": categories, "concepts": concepts,
            "min_score": (data.get("meta") or {}).get("min_score")}


# ----------------------------------------------------------------------------- writing


def _value(value) -> str:
    """A TOML value on one line: strings and arrays of strings in JSON's syntax (which TOML basic
    strings share), numbers without a needless .0."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_\-]+", name) else json.dumps(name, ensure_ascii=False)


def _line_key(line: str) -> str | None:
    found = KEY_LINE.match(line)
    if not found:
        return None
    raw = found.group(1)
    return json.loads(raw) if raw.startswith('"') else raw


class _Doc:
    """The rules text as lines, with its sections: (start line, end line, name, is_array)."""

    def __init__(self, text: str):
        self.lines = text.split("\n")

    def sections(self) -> list[tuple[int, int, str, bool]]:
        heads = []
        for i, line in enumerate(self.lines):
            found = HEADER.match(line)
            if found and not line.lstrip().startswith("#"):
                heads.append((i, found.group(2).strip(), found.group(1) == "[["))
        out = []
        for n, (start, name, array) in enumerate(heads):
            end = heads[n + 1][0] if n + 1 < len(heads) else len(self.lines)
            out.append((start, end, name, array))
        return out

    def find(self, name: str) -> list[tuple[int, int]]:
        return [(s, e) for s, e, n, _a in self.sections() if n == name]

    def set_keys(self, start: int, end: int, values: dict, *, prune: bool = False) -> None:
        """In the section [start, end): rewrite the line of each key in `values` (None: drop it),
        append missing ones after the last key line; with `prune`, drop key lines not in `values`."""
        seen, last_key = set(), start
        i = start + 1
        while i < end:
            key = _line_key(self.lines[i])
            if key is not None:
                if key in values and values[key] is not None:
                    self.lines[i] = f"{_key(key)} = {_value(values[key])}"
                    seen.add(key)
                elif key in values or prune:
                    del self.lines[i]
                    end -= 1
                    continue
                last_key = i
            i += 1
        missing = [f"{_key(k)} = {_value(v)}" for k, v in values.items() if k not in seen and v is not None]
        self.lines[last_key + 1:last_key + 1] = missing

    def text(self) -> str:
        return "\n".join(self.lines)


def _weight(value, where: str) -> float:
    try:
        weight = float(value)
    except (TypeError, ValueError) as exc:
        raise FormError(f"{where}的权重应为数字") from exc
    if not 0 < weight <= 100:
        raise FormError(f"{where}的权重应在 0–100 之间")
    return weight


def _words(values, where: str) -> list[str]:
    words = [str(v).strip() for v in values or [] if str(v).strip()]
    if any("\n" in w or len(w) > 80 for w in words):
        raise FormError(f"{where}中有过长或换行的词")
    return words


def apply(text: str, form: dict) -> str:
    """The rules text with the form's changes written in. `form` has the shape `structure` returns;
    only the categories, concepts and urgency groups it lists are touched."""
    doc = _Doc(text)
    known = tomllib.loads(text)
    for cat in form.get("categories") or []:
        _apply_category(doc, known, cat)
    for concept in form.get("concepts") or []:
        name = str(concept.get("name") or "").strip()
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
            raise FormError(f"概念名「{name}」只能用字母、数字、下划线")
        found = doc.find("concepts")
        if not found:
            raise FormError("规则文件没有 [concepts] 段")
        doc.set_keys(*found[0], {name: _words(concept.get("words"), f"概念 @{name} ") or None})
    return doc.text()


def _apply_category(doc: _Doc, known: dict, cat: dict) -> None:
    code = str(cat.get("code") or "")
    if code not in (known.get("categories") or {}):
        raise FormError(f"未知分类：{code}（分类代码固定，不能在表单里新增）")
    label = str(cat.get("label") or "").strip()
    if not label:
        raise FormError(f"分类 {code} 的名称不能为空")
    grade = str(cat.get("grade") or "A").upper()
    if grade not in ("A", "B", "C", "D"):
        raise FormError(f"分类「{label}」的建议等级应为 A/B/C/D")
    head = doc.find(f"categories.{code}")
    doc.set_keys(*head[0], {"label": label, "grade": grade, "unit": str(cat.get("unit") or "").strip() or None,
                            "negative": _words(cat.get("negative"), f"「{label}」的排除词") or None})
    keywords = {}
    for row in cat.get("keywords") or []:
        pattern = str(row.get("pattern") or "").strip()
        if pattern:
            keywords[pattern] = _weight(row.get("weight"), f"「{label}」关键词「{pattern}」")
    table = doc.find(f"categories.{code}.keywords")
    if table:
        doc.set_keys(*table[0], keywords, prune=True)
    elif keywords:
        end = head[0][1]
        lines = [f"{_key(k)} = {_value(v)}" for k, v in keywords.items()]
        doc.lines[end:end] = [f"[categories.{code}.keywords]", *lines, ""]
    _apply_subs(doc, code, label, cat.get("subs") or [])
    for group in cat.get("urgent") or []:
        name = str(group.get("name") or "")
        found = doc.find(f"danger.{name}")
        if not found:
            raise FormError(f"未知的紧急情形：{name}")
        doc.set_keys(*found[0], {field: _words(group.get(field), f"紧急情形「{name}」") or None
                                 for field in DANGER_FIELDS if field in group})


def _apply_subs(doc: _Doc, code: str, label: str, subs: list) -> None:
    wanted = []
    for sub in subs:
        name = str(sub.get("label") or "").strip()
        match = _words(sub.get("match"), f"子类「{name}」")
        if not name and not match:
            continue
        if not name or not match:
            raise FormError(f"「{label}」的子类需要名称和至少一个匹配词")
        weight = sub.get("weight")
        wanted.append({"label": name, "match": match,
                       "weight": None if weight in (None, "") else _weight(weight, f"子类「{name}」")})
    existing = doc.find(f"categories.{code}.sub")
    for (start, end), sub in reversed(list(zip(existing, wanted, strict=False))):
        doc.set_keys(start, end, sub)
    for start, end in reversed(existing[len(wanted):]):
        del doc.lines[start:end]
    extra = wanted[len(existing):]
    if extra:
        after = doc.find(f"categories.{code}.sub") or doc.find(f"categories.{code}.keywords") or \
            doc.find(f"categories.{code}")
        end = after[-1][1]
        block = []
        for sub in extra:
            block += [f"[[categories.{code}.sub]]", f"label = {_value(sub['label'])}",
                      f"match = {_value(sub['match'])}"]
            if sub["weight"] is not None:
                block.append(f"weight = {_value(sub['weight'])}")
            block.append("")
        doc.lines[end:end] = block
