"""Choosing mining settings honestly: on the TRAIN file only, never on the test file.

    python bench/mine_select.py [--data ../shared/data/citizen_messages] [--seeds 0,1,2,3] [--settings 0,2] [--jobs 2]

Fixed-seed, stratified 80/20 splits of `tipdm2020c_train.jsonl` (20 % of every label held out);
for each setting of the grid and each seed, rules are mined from the 80 % and the classifier,
scoring them as it does in production, is measured on the 20 %: macro-F1 and accuracy.

Two views of the 20 %: all of it, and "dedup" — without the rows whose character 3-gram overlap
with some mined row exceeds 0.5, the way the test file was cut from the train file (the train file
repeats ~10 % of its messages nearly verbatim, which flatters a split). The best mean dedup macro-F1
over the seeds picks the setting `bench/classifier_bench.py` uses; only then is the test file
measured. Mined files go to bench/out/ (git-ignored): they are derived from TipDM data.
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
    {"per_label": 0, "l2": 2e-5},
    {"per_label": 0, "l2": 5e-5},
    {"per_label": 0, "l2": 1e-4},
    {"per_label": 0, "l2": 2e-4},
    {"per_label": 300, "l2": 5e-5},
    {"per_label": 300, "l2": 1e-4},
    {"per_label": 0, "l2": 5e-5, "balanced": True},
    {"per_label": 0, "l2": 1e-4, "balanced": True},
    # round 2, around round 1's best: longer training, the candidate words' min_df
    {"per_label": 0, "l2": 1e-4, "iterations": 400},
    {"per_label": 0, "l2": 2e-4, "iterations": 400},
    {"per_label": 0, "l2": 1e-4, "min_df": 1},
    {"per_label": 0, "l2": 1e-4, "min_df": 3},
    # round 3: pairs of Chinese characters instead of jieba words
    {"per_label": 0, "l2": 1e-4, "features": "bigram"},
    {"per_label": 0, "l2": 5e-5, "features": "bigram"},
    {"per_label": 0, "l2": 2e-4, "features": "bigram"},
    {"per_label": 0, "l2": 1e-4, "features": "bigram", "min_df": 3},
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


def _grams3(text: str) -> set[str]:
    s = "".join(text.split())
    return {s[i : i + 3] for i in range(len(s) - 2)}


def near_duplicates(fit: list[tuple[str, str]], val: list[tuple[str, str]], over: float = 0.5) -> list[bool]:
    """For each validation row: does some mined row share more than `over` of the character 3-grams
    of the shorter of the two (the rule that removed the test file's rows from the train file)?"""
    import numpy as np

    ids: dict[str, int] = {}
    fit_g = [[ids.setdefault(g, len(ids)) for g in _grams3(t)] for t, _ in fit]
    posting: list[list[int]] = [[] for _ in ids]
    for r, gs in enumerate(fit_g):
        for g in gs:
            posting[g].append(r)
    posting_a = [np.array(p, dtype=np.int64) for p in posting]
    fit_n = np.array([max(1, len(gs)) for gs in fit_g])
    out = []
    for t, _ in val:
        gs = [ids[g] for g in _grams3(t) if g in ids]
        n = max(1, len(_grams3(t)))
        if not gs:
            out.append(False)
            continue
        shared = np.bincount(np.concatenate([posting_a[g] for g in gs]), minlength=len(fit))
        out.append(bool(np.any(shared / np.minimum(fit_n, n) > over)))
    return out


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
    pred = [classify(t, rules=rs).category for t, _ in val]
    dup = near_duplicates(fit, val)
    labels = list(rs.codes)
    rep = evaluate(((p, g) for p, (_, g) in zip(pred, val, strict=True)), lambda p: p, labels=labels)
    rep_d = evaluate(((p, g) for p, (_, g), d in zip(pred, val, dup, strict=True) if not d), lambda p: p, labels=labels)
    return {
        "setting": _name(setting),
        "seed": seed,
        "n_fit": len(fit),
        "n_val": len(val),
        "n_val_dedup": rep_d.n,
        "macro_f1": round(rep.macro_f1, 4),
        "accuracy": round(rep.accuracy, 4),
        "macro_f1_dedup": round(rep_d.macro_f1, 4),
        "accuracy_dedup": round(rep_d.accuracy, 4),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with tipdm2020c_train.jsonl")
    ap.add_argument("--seeds", default="0,1,2,3", help="seeds of the stratified 80/20 splits")
    ap.add_argument("--settings", default="", help="comma-separated indexes into GRID (default: all)")
    ap.add_argument("--jobs", type=int, default=2, help="settings mined in parallel")
    args = ap.parse_args(argv)
    train = args.data / "tipdm2020c_train.jsonl"
    if not train.exists():
        print(f"data not found under {args.data}", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    grid = [GRID[int(i)] for i in args.settings.split(",")] if args.settings else GRID
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(g, s) for g in grid for s in seeds]
    with ProcessPoolExecutor(max_workers=args.jobs) as ex:
        results = list(ex.map(run, [train] * len(jobs), [s for _, s in jobs], [g for g, _ in jobs]))
    r0 = results[0]
    print(
        f"validation: stratified 80/20 splits of {train.name}, seeds {args.seeds} "
        f"({r0['n_fit']} to mine, {r0['n_val']} to measure, ~{r0['n_val_dedup']} without near-duplicates)"
    )
    print(f"{'setting':<52}  {'macro-F1 per seed (dedup)':<36}  {'mean':>6}  {'dedup':>6}")
    table = []
    for g in grid:
        rs_ = [r for r in results if r["setting"] == _name(g)]
        mean = sum(r["macro_f1"] for r in rs_) / len(rs_)
        mean_d = sum(r["macro_f1_dedup"] for r in rs_) / len(rs_)
        per = " ".join(f"{r['macro_f1']:.4f}({r['macro_f1_dedup']:.4f})" for r in rs_)
        table.append({"setting": _name(g), "mean_macro_f1": round(mean, 4), "mean_macro_f1_dedup": round(mean_d, 4)})
        print(f"{_name(g):<52}  {per:<36}  {mean:>6.4f}  {mean_d:>6.4f}")
    best = max(table, key=lambda r: r["mean_macro_f1_dedup"])
    print(f"best by validation (mean dedup macro-F1): {best['setting']}")
    out = OUT / f"mine_select_seeds{args.seeds.replace(',', '-')}.json"
    out.write_text(json.dumps({"runs": results, "table": table}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
