"""Build the labelled resident-message set from the hand-written src_*.txt files and split it,
by a fixed seed, into tune (2/3) and holdout (1/3).

    python tests/unit/nlp/data/make_split.py

Source line format: intent|category|danger|service|text, "-" for none. Intents: r report,
s service, q query, a rate, c consult, g greeting, o other. The split is stratified by intent and
danger kind so that every kind appears in both halves. Run once, before tuning anything; the
committed resident_tune.jsonl / resident_holdout.jsonl are the reference (do not re-split).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).parent
SEED = 14
INTENTS = {"r": "report", "s": "service", "q": "query", "a": "rate", "c": "consult", "g": "greeting", "o": "other"}
CATS = {"env": "environment", "fac": "facility", "pro": "property", "saf": "safety", "sec": "security",
        "dis": "dispute", "tra": "traffic", "gre": "greening", "wel": "welfare", "oth": "other"}


def rows() -> list[dict]:
    out, seen = [], set()
    for src in sorted(HERE.glob("src_*.txt")):
        for n, line in enumerate(src.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            intent, cat, danger, service, text = line.split("|", 4)
            text = text.strip()
            if text in seen:
                raise SystemExit(f"{src.name}:{n}: duplicate {text!r}")
            seen.add(text)
            out.append({
                "id": f"{src.stem.removeprefix('src_')}-{n}",
                "text": text,
                "intent": INTENTS[intent],
                "category": CATS[cat] if cat != "-" else None,
                "urgent": danger != "-",
                "danger": danger if danger != "-" else None,
                "service": service if service != "-" else None,
            })
    return out


def main() -> None:
    data = rows()
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in data:
        groups[(r["intent"], r["danger"] or "", r["category"] or "")].append(r)
    rng = random.Random(SEED)
    tune, hold = [], []
    for key in sorted(groups):
        g = groups[key]
        rng.shuffle(g)
        k = round(len(g) / 3)
        hold += g[:k]
        tune += g[k:]
    for name, part in (("resident_all", data), ("resident_tune", tune), ("resident_holdout", hold)):
        (HERE / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part), encoding="utf-8")
    print(f"{len(data)} messages: tune {len(tune)}, holdout {len(hold)}")


if __name__ == "__main__":
    main()
