"""Reading labelled JSONL and measuring a rules file: accuracy, macro-F1, per-label P/R/F1, confusion."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


def message_text(row: dict) -> str:
    """`title` + `text` (citizen-message files carry both; chat exports only text)."""
    title = row.get("title") or ""
    text = row.get("text") or ""
    if not isinstance(title, str):
        title = str(title)
    if not isinstance(text, str):
        text = str(text)
    return f"{title} {text}".strip() if title else text


def read_jsonl(path: Path | str) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; a bad line raises ValueError('line N: …')."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"line {n}: not JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise ValueError(f"line {n}: expected a JSON object")
            yield n, obj


def read_labelled(path: Path | str) -> list[tuple[str, str]]:
    """(text, label) pairs; rows without a label are an error."""
    out = []
    for n, obj in read_jsonl(path):
        label = obj.get("label")
        if not isinstance(label, str) or not label:
            raise ValueError(f"line {n}: missing \"label\"")
        out.append((message_text(obj), label))
    return out


@dataclass
class Report:
    labels: list[str]
    n: int = 0
    correct: int = 0
    confusion: Counter = field(default_factory=Counter)  # (gold, predicted) -> count

    def add(self, gold: str, pred: str) -> None:
        self.n += 1
        self.correct += gold == pred
        self.confusion[(gold, pred)] += 1

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    def per_label(self) -> dict[str, dict[str, float]]:
        out = {}
        for lab in self.labels:
            tp = self.confusion[(lab, lab)]
            pred = sum(v for (g, p), v in self.confusion.items() if p == lab)
            gold = sum(v for (g, p), v in self.confusion.items() if g == lab)
            prec = tp / pred if pred else 0.0
            rec = tp / gold if gold else 0.0
            f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
            out[lab] = {"precision": prec, "recall": rec, "f1": f1, "support": gold}
        return out

    @property
    def macro_f1(self) -> float:
        pl = self.per_label()
        gold_labels = [lab for lab in self.labels if pl[lab]["support"]]
        return sum(pl[lab]["f1"] for lab in gold_labels) / len(gold_labels) if gold_labels else 0.0

    def predicted_labels(self) -> list[str]:
        extra = sorted({p for (_, p) in self.confusion} - set(self.labels))
        return self.labels + extra

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "per_label": {
                k: {kk: round(vv, 4) for kk, vv in v.items()} for k, v in self.per_label().items()
            },
            "confusion": {
                g: {p: self.confusion[(g, p)] for p in self.predicted_labels()} for g in self.labels
            },
        }


def evaluate(
    rows: Iterable[tuple[str, str]],
    predict: Callable[[str], str],
    labels: list[str] | None = None,
    on_step: Callable[[], None] | None = None,
) -> Report:
    rows = list(rows)
    if labels is None:
        labels = sorted({g for _, g in rows})
    rep = Report(labels=list(labels))
    for text, gold in rows:
        rep.add(gold, predict(text))
        if on_step is not None:
            on_step()
    return rep


# ----------------------------------------------------------------------------- resident messages

NONE = "—"


def is_resident_file(path: Path | str) -> bool:
    """A resident-message file labels "intent" (and category/urgent/service), not just "label"."""
    for _, obj in read_jsonl(path):
        return "intent" in obj
    return False


def read_resident(path: Path | str) -> list[dict]:
    rows = []
    for n, obj in read_jsonl(path):
        if not isinstance(obj.get("text"), str) or not isinstance(obj.get("intent"), str):
            raise ValueError(f"line {n}: needs \"text\" and \"intent\"")
        rows.append(obj)
    return rows


def evaluate_resident(rows: list[dict], classify: Callable[[str], object],
                      on_step: Callable[[], None] | None = None) -> tuple[dict[str, Report], list[tuple]]:
    """Reports for intent (all messages), category (reports with a category), urgent (all) and
    service (all: the menu item's name, or — when none); plus the wrong rows
    (row, predicted intent, category, urgent, service, rule)."""
    reps = {k: Report(labels=[]) for k in ("intent", "category", "urgent", "service")}
    wrong = []
    for r in rows:
        c = classify(r["text"])
        reps["intent"].add(r["intent"], c.intent)
        if r["intent"] == "report" and r.get("category"):
            reps["category"].add(r["category"], c.category)
        reps["urgent"].add(str(bool(r.get("urgent"))).lower(), str(bool(c.urgent)).lower())
        gold_s = r.get("service") or NONE
        pred_s = (c.service or NONE) if c.intent == "service" else NONE
        reps["service"].add(gold_s, pred_s)
        bad = c.intent != r["intent"] or bool(c.urgent) != bool(r.get("urgent")) or gold_s != pred_s
        bad = bad or (r["intent"] == "report" and r.get("category") and c.category != r["category"])
        if bad:
            wrong.append((r, c.intent, c.category, c.urgent, c.service, c.rule))
        if on_step is not None:
            on_step()
    for rep in reps.values():
        rep.labels = sorted({g for g, _ in rep.confusion} | {p for _, p in rep.confusion})
    return reps, wrong


def service_accuracy(rows: list[dict], rep: Report) -> float:
    """Of the messages asking for a named menu service, the share given that service."""
    gold = [g for (g, _p), n in rep.confusion.items() for _ in range(n) if g != NONE]
    ok = sum(n for (g, p), n in rep.confusion.items() if g != NONE and g == p)
    return ok / len(gold) if gold else 0.0


def urgent_pr(rep: Report) -> tuple[float, float]:
    pl = rep.per_label()
    v = pl.get("true", {"precision": 0.0, "recall": 0.0})
    return v["precision"], v["recall"]


def summary(rows: list[dict], reps: dict[str, Report]) -> dict[str, float]:
    p, r = urgent_pr(reps["urgent"])
    return {
        "messages": len(rows),
        "intent_accuracy": round(reps["intent"].accuracy, 4),
        "category_accuracy_reports": round(reps["category"].accuracy, 4),
        "urgent_precision": round(p, 4),
        "urgent_recall": round(r, 4),
        "service_accuracy": round(service_accuracy(rows, reps["service"]), 4),
    }
