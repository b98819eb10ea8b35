"""The hand-written resident messages: the holdout third (never looked at while tuning) must keep
the figures the rules reached, so a regression fails. The split is fixed (make_split.py, seed 14)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from nlp import classify
from nlp.evaluate import evaluate_resident, read_resident, summary

DATA = Path(__file__).parent / "data"

# reached on the holdout when the issue was closed (see the closing note); the issue's targets are
# intent ≥ 0.90, category ≥ 0.85, urgent recall 1.00, urgent precision ≥ 0.80, service ≥ 0.90
# (holdout at that commit: intent 0.965, category 0.890, urgent P 0.970 / R 1.000, service 0.974)
HOLDOUT_MIN = {
    "intent_accuracy": 0.95,
    "category_accuracy_reports": 0.87,
    "urgent_recall": 1.0,
    "urgent_precision": 0.95,
    "service_accuracy": 0.95,
}


@pytest.fixture(scope="module")
def holdout():
    rows = read_resident(DATA / "resident_holdout.jsonl")
    reps, _ = evaluate_resident(rows, classify)
    return summary(rows, reps)


@pytest.mark.parametrize("figure", sorted(HOLDOUT_MIN))
def test_holdout_figures(holdout, figure):
    assert holdout[figure] >= HOLDOUT_MIN[figure], holdout


def test_the_split_is_the_committed_one():
    all_rows = read_resident(DATA / "resident_all.jsonl")
    tune = read_resident(DATA / "resident_tune.jsonl")
    hold = read_resident(DATA / "resident_holdout.jsonl")
    assert len(all_rows) >= 800
    assert {r["id"] for r in tune} | {r["id"] for r in hold} == {r["id"] for r in all_rows}
    assert not {r["id"] for r in tune} & {r["id"] for r in hold}
    assert abs(len(hold) / len(all_rows) - 1 / 3) < 0.02


def test_the_set_covers_what_the_issue_asks():
    rows = [json.loads(line) for line in (DATA / "resident_all.jsonl").read_text(encoding="utf-8").splitlines()]
    cats = Counter(r["category"] for r in rows if r["intent"] == "report")
    assert min(cats[c] for c in ("environment", "facility", "property", "safety", "security", "dispute",
                                 "traffic", "greening", "welfare")) >= 60, cats
    dangers = Counter(r["danger"] for r in rows if r["danger"])
    assert len(dangers) >= 9 and min(dangers.values()) >= 8, dangers
    services = Counter(r["service"] for r in rows if r["service"])
    assert len(services) == 9 and min(services.values()) >= 12, services
