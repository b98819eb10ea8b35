"""Resident-message figures (intent, category, urgent, service) of the default rules on the tune
and holdout files, and the tune errors (tuning looks at tune errors only).

    python bench/resident_eval.py [--errors] [--holdout-errors]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "tests" / "unit" / "nlp" / "data"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--errors", action="store_true", help="print the tune set's errors")
    ap.add_argument("--holdout", action="store_true", help="also measure the holdout (not while tuning)")
    ap.add_argument("--holdout-errors", action="store_true", help="print the holdout's errors (closing note only)")
    args = ap.parse_args(argv)
    from nlp import classify
    from nlp.evaluate import evaluate_resident, read_resident, summary

    names = ["resident_tune"] + (["resident_holdout"] if args.holdout or args.holdout_errors else [])
    for name in names:
        rows = read_resident(DATA / f"{name}.jsonl")
        reps, wrong = evaluate_resident(rows, classify)
        print(name, json.dumps(summary(rows, reps), ensure_ascii=False))
        if (args.errors and name == "resident_tune") or (args.holdout_errors and name == "resident_holdout"):
            for r, i, c, u, s, rule in wrong:
                print(f"  {r['text']}\n    gold {r['intent']}/{r.get('category')}/{r.get('urgent')}/{r.get('service')}"
                      f"  got {i}/{c}/{u}/{s}  {rule}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
