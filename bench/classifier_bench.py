"""Classifier bench: mine rules from the train file, measure them on the test file, and compare
classification throughput with raw `jieba.lcut` on the same messages, one core, in one run.

    python bench/classifier_bench.py [--data ../shared/data/citizen_messages] [--reuse]

The mined rules are derived from data that must not be redistributed: they are written to
bench/out/ (git-ignored), never to the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "out"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "citizen_messages"
# chosen on the TRAIN file only (bench/mine_select.py: stratified 80/20 splits, seeds 0-3, scored on
# each split's rows that are not near-duplicates of the mined part): pairs of Chinese characters
# (features "bigram"), the full model (per_label 0), L2 1e-4, min_df 2, no class balance
MINE_FEATURES = "bigram"
MINE_L2 = 1e-4
MINE_MIN_DF = 2
MINE_BALANCED = False


def _one_core() -> None:
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    except (AttributeError, OSError):
        pass


def _time(fn, texts, rounds: int) -> tuple[float, float]:
    """Best-of-rounds CPU seconds and wall seconds for fn over all texts."""
    best_cpu = best_wall = float("inf")
    for _ in range(rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        for t in texts:
            fn(t)
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    return best_cpu, best_wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the tipdm2020c_*.jsonl files")
    ap.add_argument("--reuse", action="store_true", help="reuse bench/out/tipdm_mined.toml if present")
    ap.add_argument(
        "--features",
        choices=("token", "bigram"),
        default=MINE_FEATURES,
        help="keywords: jieba words (token) or pairs of Chinese characters (bigram)",
    )
    ap.add_argument("--per-label", type=int, default=0, help="keywords for each label (0: all, the full model)")
    ap.add_argument("--min-df", type=int, default=MINE_MIN_DF, help="a keyword is in at least this many messages")
    ap.add_argument("--l2", type=float, default=MINE_L2, help="L2 regularisation of the mined model")
    ap.add_argument(
        "--balanced",
        action=argparse.BooleanOptionalAction,
        default=MINE_BALANCED,
        help="every label's messages weigh the same in total",
    )
    ap.add_argument("--min-weight", type=float, default=0.0, help="drop mined keywords lighter than this")
    ap.add_argument("--neg-per-label", type=int, default=None, help="keywords against each label")
    ap.add_argument("--rounds", type=int, default=3, help="timing rounds (best is kept)")
    args = ap.parse_args(argv)

    train = args.data / "tipdm2020c_train.jsonl"
    test = args.data / "tipdm2020c_raw_subset.jsonl"
    if not train.exists() or not test.exists():
        print(f"data not found under {args.data}", file=sys.stderr)
        return 2
    _one_core()

    import jieba

    from nlp import classify, tokenizer
    from nlp.evaluate import evaluate, read_labelled
    from nlp.mine import mine, to_toml
    from nlp.rules import load_rules_file

    tokenizer.ensure_loaded()
    OUT.mkdir(parents=True, exist_ok=True)
    rules_path = OUT / "tipdm_mined.toml"
    if not (args.reuse and rules_path.exists()):
        t0 = time.perf_counter()
        kw = {} if args.neg_per_label is None else {"neg_per_label": args.neg_per_label}
        m = mine(
            read_labelled(train),
            per_label=args.per_label,
            l2=args.l2,
            min_weight=args.min_weight,
            balanced=args.balanced,
            features=args.features,
            min_df=args.min_df,
            **kw,
        )
        rules_path.write_text(to_toml(m, source=train.name), encoding="utf-8")
        print(f"mined {rules_path.relative_to(ROOT)} from {train.name} in {time.perf_counter() - t0:.0f} s")
    rows = read_labelled(test)
    from nlp.classifier import _default_rules

    rs = load_rules_file(rules_path, base=_default_rules())
    n_kw = sum(len(v) for v in rs.single.values())
    n_neg = sum(1 for v in rs.single.values() for _, w in v if w < 0)

    rep = evaluate(rows, lambda t: classify(t, rules=rs).category, labels=list(rs.codes))
    texts = [t for t, _ in rows]
    chars = sum(len(t) for t in texts)

    # warm up both paths, then time them in the same run, alternating
    for t in texts[:50]:
        jieba.lcut(t)
        classify(t, rules=rs)
        classify(t)
    lcut_cpu, lcut_wall = _time(jieba.lcut, texts, args.rounds)
    mined_cpu, mined_wall = _time(lambda t: classify(t, rules=rs), texts, args.rounds)
    dflt_cpu, dflt_wall = _time(classify, texts, args.rounds)

    figures = {
        "test_file": test.name,
        "messages": len(texts),
        "characters": chars,
        "rules": str(rules_path.relative_to(ROOT)),
        "match": rs.match,
        "keyword_entries": n_kw,
        "negative_entries": n_neg,
        "accuracy": round(rep.accuracy, 4),
        "macro_f1": round(rep.macro_f1, 4),
        "jieba_lcut_msgs_per_s": round(len(texts) / lcut_cpu, 1),
        "classify_mined_msgs_per_s": round(len(texts) / mined_cpu, 1),
        "classify_default_msgs_per_s": round(len(texts) / dflt_cpu, 1),
        "ratio_mined_vs_lcut": round(lcut_cpu / mined_cpu, 3),
        "ratio_default_vs_lcut": round(lcut_cpu / dflt_cpu, 3),
        "wall_ratio_mined_vs_lcut": round(lcut_wall / mined_wall, 3),
    }
    print(
        f"test: {test.name}  messages: {len(texts)}  rules: {rules_path.name} (match = {rs.match}, "
        f"{n_kw} weighted keywords, {n_neg} of them negative)"
    )
    print(f"accuracy  {rep.accuracy:.4f}")
    print(f"macro-F1  {rep.macro_f1:.4f}")
    for lab, v in rep.per_label().items():
        print(f"  {lab:<10} P {v['precision']:.3f}  R {v['recall']:.3f}  F1 {v['f1']:.3f}  n {int(v['support'])}")
    print(f"throughput (one core, CPU time, best of {args.rounds}):")
    print(f"  raw jieba.lcut          {figures['jieba_lcut_msgs_per_s']:>8} msg/s")
    print(
        f"  classify (mined rules)  {figures['classify_mined_msgs_per_s']:>8} msg/s   "
        f"ratio {figures['ratio_mined_vs_lcut']:.2f}× lcut"
    )
    print(
        f"  classify (default rules){figures['classify_default_msgs_per_s']:>9} msg/s   "
        f"ratio {figures['ratio_default_vs_lcut']:.2f}× lcut"
    )
    (OUT / "classifier_bench.json").write_text(json.dumps(figures, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
