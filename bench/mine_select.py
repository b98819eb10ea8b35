"""Choosing mining settings honestly: on the TRAIN file only, never on the test file.

    python bench/mine_select.py [--data ../shared/data/citizen_messages] [--seed 0] [--settings 0,2] [--jobs 2]

A fixed-seed, stratified 80/20 split of `tipdm2020c_train.jsonl` (20 % of every label held out);
for each setting of the grid, rules are mined from the 80 % and the classifier, scoring them in
token mode, is measured on the 20 %: macro-F1 and accuracy per setting. The best validation
macro-F1 picks the setting `bench/classifier_bench.py` uses; only then is the test file measured.
Mined files go to bench/out/ (git-ignored): they are derived from TipDM data.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "citizen_messages"

# mine() settings; what is not given is mine()'s default (iterations 200, min_df 2, balanced False)
GRID: list[dict] = [
    # round 1: the L2, the full model against 300 words per label, class balance
    {"per_label": 0, "l2": 2e-5}, {"per_label": 0, "l2": 5e-5},
    {"per_label": 0, "l2": 1e-4}, {"per_label": 0, "l2": 2e-4},
    {"per_label": 300, "l2": 5e-5}, {"per_label": 300, "l2": 1e-4},
    {"per_label": 0, "l2": 5e-5, "balanced": True}, {"per_label": 0, "l2": 1e-4, "balanced": True},
    # round 2, around round 1's best: longer training, the candidate words' min_df
    {"per_label": 0, "l2": 1e-4, "iterations": 400}, {"per_label": 0, "l2": 2e-4, "iterations": 400},
    {"per_label": 0, "l2": 1e-4, "min_df": 1}, {"per_label": 0, "l2": 1e-4, "min_df": 3},
]


def _name(s: dict) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in s.items())


def split(rows: list[tuple[str, str]], seed: int, frac: float = 0.2):
    """Stratified: the same fraction of every label is held out, with a fixed seed."""
    by: dict[str, list[int]] = {}
    for i, (_, lab) in enumerate(rows):
        by.setdefault(lab, []).append(i)
    rng = random.Random(seed)
    held: set[int] = set()
    for lab in sorted(by):
        idx = by[lab][:]
        rng.shuffle(idx)
        held.update(idx[: round(len(idx) * frac)])
    fit = [r for i, r in enumerate(rows) if i not in held]
    val = [r for i, r in enumerate(rows) if i in held]
    return fit, val


def run(train: Path, seed: int, setting: dict) -> dict:
    from nlp import classify
    from nlp.classifier import _default_rules
    from nlp.evaluate import evaluate, read_labelled
    from nlp.mine import mine, to_toml
    from nlp.rules import load_rules_file

    fit, val = split(read_labelled(train), seed)
    m = mine(fit, **setting)
    path = OUT / f"select_{_name(setting).replace(' ', '_')}_seed{seed}.toml"
    path.write_text(to_toml(m, source=train.name + " (80 % split)"), encoding="utf-8")
    rs = load_rules_file(path, base=_default_rules())
    rep = evaluate(val, lambda t: classify(t, rules=rs).category, labels=list(rs.codes))
    return {"setting": _name(setting), "seed": seed,
            "n_fit": len(fit), "n_val": len(val),
            "macro_f1": round(rep.macro_f1, 4), "accuracy": round(rep.accuracy, 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with tipdm2020c_train.jsonl")
    ap.add_argument("--seed", type=int, default=0, help="seed of the stratified 80/20 split")
    ap.add_argument("--settings", default="", help="comma-separated indexes into GRID (default: all)")
    ap.add_argument("--jobs", type=int, default=2, help="settings mined in parallel")
    args = ap.parse_args(argv)
    train = args.data / "tipdm2020c_train.jsonl"
    if not train.exists():
        print(f"data not found under {args.data}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    grid = [GRID[int(i)] for i in args.settings.split(",")] if args.settings else GRID
    with ProcessPoolExecutor(max_workers=args.jobs) as ex:
        results = list(ex.map(run, [train] * len(grid), [args.seed] * len(grid), grid))
    print(f"validation: stratified 80/20 split of {train.name}, seed {args.seed} "
          f"({results[0]['n_fit']} to mine, {results[0]['n_val']} to measure)")
    print(f"{'setting':<44}  {'macro-F1':>8}  {'accuracy':>8}")
    for r in results:
        print(f"{r['setting']:<44}  {r['macro_f1']:>8.4f}  {r['accuracy']:>8.4f}")
    best = max(results, key=lambda r: r["macro_f1"])
    print(f"best by validation: {best['setting']}")
    (OUT / f"mine_select_seed{args.seed}.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
