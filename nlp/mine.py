"""Mining weighted keyword rules from labelled history (e.g. years of 12345 work orders).

The result is an ordinary rules file: per label, up to N keywords with weights, for a person to
review and edit. Scoring is the classifier's own: each keyword present adds its weight once, the
label with the highest total (bias + keywords) wins.

Method (pure Python, no extra dependency):
  1. tokenise every message with the classifier's tokenizer (jieba, no HMM), binary presence;
  2. candidate keywords: words of 2+ characters (or letters/digits-free single CJK characters that
     are frequent) seen in at least `min_df` messages;
  3. weights: a multi-class averaged perceptron with margin (a linear model like an SVM's), trained
     for a few epochs over the binary features, started from smoothed log-odds;
  4. per label keep the N keywords with the largest positive weight (the evidence *for* the label),
     then re-fit the weights of the kept keywords only, so the file that is written scores exactly
     what was measured.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from nlp import tokenizer
from nlp.extract import normalize
from nlp.rules import toml_key, toml_str

_GOOD = re.compile(r"^[\u4e00-\u9fffA-Za-z][\u4e00-\u9fffA-Za-z0-9]*$")
_STOP = set(
    "的 了 是 在 我 我们 你 你们 他 他们 她 它 这 那 这个 那个 和 与 及 或 也 都 就 还 又 很 非常 但 但是 而 "
    "因为 所以 如果 可以 没有 不 有 对 被 把 让 给 从 到 向 为 为了 以 于 等 等等 一个 一些 什么 怎么 "
    "请 请问 您好 你好 谢谢 领导 问题 情况 现在 目前 已经 进行 相关 部门 希望 要求 反映 尽快 能够 能 会 "
    "要 想 说 做 去 来 上 下 中 后 前 里 年 月 日 号 时 个 之 其 该 此 并 且 则 即 再 只 更 最 多 少".split()
)


@dataclass
class Mined:
    labels: list[str]
    weights: dict[str, dict[str, float]]  # label -> keyword -> weight
    bias: dict[str, float]
    n_train: int


def features(text: str) -> set[str]:
    return set(tokenizer.cut(normalize(text)))


def _usable(tok: str) -> bool:
    return len(tok) >= 2 and bool(_GOOD.match(tok)) and tok not in _STOP


def mine(
    rows: Sequence[tuple[str, str]],
    per_label: int = 300,
    min_df: int = 2,
    epochs: int = 12,
    seed: int = 13,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> Mined:
    """Learn weighted keywords for each label from (text, label) pairs."""
    tokenizer.ensure_loaded()
    labels = sorted({lab for _, lab in rows})
    li = {lab: i for i, lab in enumerate(labels)}
    docs: list[tuple[frozenset[str], int]] = []
    df: Counter = Counter()
    for k, (text, lab) in enumerate(rows):
        f = frozenset(t for t in features(text) if _usable(t))
        docs.append((f, li[lab]))
        df.update(f)
        if on_progress and k % 200 == 0:
            on_progress("tokenising", k, len(rows))
    vocab = {t for t, c in df.items() if c >= min_df}
    docs = [(frozenset(t for t in f if t in vocab), y) for f, y in docs]

    w = _perceptron(docs, len(labels), epochs, seed, on_progress)
    # keep the strongest positive evidence per label, then re-fit on the kept keywords only
    keep: set[str] = set()
    for i in range(len(labels)):
        col = sorted(((ws[i], t) for t, ws in w.items() if ws[i] > 0), reverse=True)[:per_label]
        keep.update(t for _, t in col)
    docs_k = [(frozenset(t for t in f if t in keep), y) for f, y in docs]
    w = _perceptron(docs_k, len(labels), epochs, seed, on_progress)
    bias_key = "\0bias"
    weights: dict[str, dict[str, float]] = {lab: {} for lab in labels}
    for t, ws in w.items():
        if t == bias_key:
            continue
        for i, lab in enumerate(labels):
            if ws[i] > 0:
                weights[lab][t] = ws[i]
    # final pruning to per_label keywords, sorted by weight
    for lab in labels:
        top = sorted(weights[lab].items(), key=lambda kv: -kv[1])[:per_label]
        weights[lab] = dict(top)
    bias = {lab: w.get(bias_key, [0.0] * len(labels))[i] for i, lab in enumerate(labels)}
    return Mined(labels=labels, weights=weights, bias=bias, n_train=len(rows))


def _perceptron(docs, n_labels, epochs, seed, on_progress):
    """Averaged multi-class perceptron with a margin, binary features plus a bias feature."""
    bias_key = "\0bias"
    w: dict[str, list[float]] = {}
    acc: dict[str, list[float]] = {}  # summed weights for averaging (lazy trick)
    stamp: dict[str, list[int]] = {}
    c = 1
    rnd = random.Random(seed)
    order = list(range(len(docs)))
    margin = 1.0
    for ep in range(epochs):
        rnd.shuffle(order)
        for idx in order:
            f, y = docs[idx]
            feats = list(f) + [bias_key]
            scores = [0.0] * n_labels
            for t in feats:
                ws = w.get(t)
                if ws is not None:
                    for i in range(n_labels):
                        scores[i] += ws[i]
            # best wrong label
            best, best_s = -1, -math.inf
            for i in range(n_labels):
                if i != y and scores[i] > best_s:
                    best, best_s = i, scores[i]
            if scores[y] - best_s < margin:
                for t in feats:
                    ws = w.get(t)
                    if ws is None:
                        ws = w[t] = [0.0] * n_labels
                        acc[t] = [0.0] * n_labels
                        stamp[t] = [c] * n_labels
                    a, s = acc[t], stamp[t]
                    for i in (y, best):
                        a[i] += (c - s[i]) * ws[i]
                        s[i] = c
                    ws[y] += 1.0
                    ws[best] -= 1.0
            c += 1
        if on_progress:
            on_progress("training", ep + 1, epochs)
    # averaged weights
    avg: dict[str, list[float]] = {}
    for t, ws in w.items():
        a, s = acc[t], stamp[t]
        avg[t] = [(a[i] + (c - s[i]) * ws[i]) / c for i in range(n_labels)]
    # scale so that a typical keyword weight reads like the hand-written rules (0.1 … 10)
    top = sorted((abs(v) for ws in avg.values() for v in ws), reverse=True)
    scale = 5.0 / top[max(0, len(top) // 200)] if top and top[0] > 0 else 1.0
    return {t: [v * scale for v in ws] for t, ws in avg.items()}


def to_toml(m: Mined, source: str = "") -> str:
    """Render a mined model as a rules file a person can review."""
    lines = [
        "# Mined keyword rules — review before use. Each keyword present adds its weight once;",
        "# the label with the highest total wins. Generated by `weilinli nlp mine`.",
        "",
        "[meta]",
        f"name = {toml_str('mined: ' + (source or 'labelled history'))}",
        "version = 1",
        "min_score = 0.0",
        "temperature = 2.0",
        f"description = {toml_str(f'{m.n_train} labelled messages, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC')}",
    ]
    for lab in m.labels:
        lines += [
            "",
            f"[categories.{toml_key(lab)}]",
            f"label = {toml_str(lab)}",
            f"bias = {m.bias.get(lab, 0.0):.4f}",
            "",
            f"[categories.{toml_key(lab)}.keywords]",
        ]
        for kw, wt in m.weights[lab].items():
            lines.append(f"{toml_str(kw)} = {wt:.3f}")
    return "\n".join(lines) + "\n"
