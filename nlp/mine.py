"""Mining weighted keyword rules from labelled history (e.g. years of 12345 work orders).

The result is an ordinary rules file for a person to review: per label, keywords with weights —
positive weights are evidence *for* the label, negative weights evidence *against* it. Scoring is
the classifier's own, with `count = "log"`: a keyword found n times adds weight × (1 + ln n); the
label with the highest total wins.

Two kinds of keyword (`features`):
  - "token" (the default): jieba words, scored in `match = "token"` mode;
  - "bigram": pairs of adjacent Chinese characters (`nlp.grams.bigrams`), scored in
    `match = "bigram"` mode. Pairs do not depend on how a text was segmented: a pre-segmented
    training file and raw messages are read alike, and scoring needs no jieba cut. On the TipDM
    train file they rank about a point of macro-F1 above words on held-out splits
    (bench/mine_select.py: 0.926 against 0.916, mean of four seeds).

Method:
  1. read every message as candidate keywords: words of 2+ characters from the classifier's own
     tokenizer (jieba, no HMM, domain dictionary; no stop-words, no numbers), or character pairs;
     keep those in ≥ `min_df` messages;
  2. a linear model over sublinear term frequency × IDF, length-normalised, one-vs-rest squared
     hinge loss (a linear SVM), L2-regularised, trained by full-batch AdaGrad;
  3. per label keep the `per_label` keywords with the largest weight (0: all of them — the full model,
     which ranks best: pruning to a few hundred words per label costs about a point of macro-F1),
     re-fit the model on the kept keywords only, drop weights below `min_weight` (on the file's
     scale, the strongest keyword weighs 10), and write each label's positive weights and its
     `neg_per_label` strongest
     negative ones. Because the model has no bias and the length normalisation is the same for every
     label, summing weight × idf × (1 + ln n) ranks the labels exactly as the model does.

numpy does the arithmetic (it is already installed with shapely); only `weilinli nlp mine` needs it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from nlp import grams, tokenizer
from nlp.extract import normalize
from nlp.rules import toml_key, toml_str

_GOOD = re.compile(r"^[\u4e00-\u9fffA-Za-z][\u4e00-\u9fffA-Za-z0-9]*$")
_STOP = set(
    "的 了 是 在 我 我们 你 你们 他 他们 她 它 这 那 这个 那个 和 与 及 或 也 都 就 还 又 很 非常 但 但是 而 "
    "因为 所以 如果 可以 没有 不 有 对 被 把 让 给 从 到 向 为 为了 以 于 等 等等 一个 一些 什么 怎么 "
    "请 请问 您好 你好 谢谢 领导 问题 情况 现在 目前 已经 进行 相关 部门 希望 要求 反映 尽快 能够 能 会 "
    "要 想 说 做 去 来 上 下 中 后 前 里 年 月 日 号 时 个 之 其 该 此 并 且 则 即 再 只 更 最 多 少".split()
)

Progress = Callable[[str, int, int], None]


@dataclass
class Mined:
    labels: list[str]
    weights: dict[str, dict[str, float]]  # label -> keyword -> weight (sorted: positives first)
    n_train: int
    n_vocab: int
    features: str = "token"  # "token": jieba words; "bigram": pairs of Chinese characters


def usable(tok: str) -> bool:
    return len(tok) >= 2 and bool(_GOOD.match(tok)) and tok not in _STOP


def mine(
    rows: Sequence[tuple[str, str]],
    per_label: int = 300,
    neg_per_label: int = 300,
    min_df: int = 2,
    iterations: int = 200,
    l2: float = 1e-4,
    on_progress: Progress | None = None,
    min_weight: float = 0.0,
    balanced: bool = False,
    features: str = "token",
) -> Mined:
    """Learn weighted keywords for each label from (text, label) pairs."""
    import numpy as np

    if features not in ("token", "bigram"):
        raise ValueError(f'features must be "token" or "bigram", got {features!r}')
    tokenizer.ensure_loaded()
    labels = sorted({lab for _, lab in rows})
    li = {lab: i for i, lab in enumerate(labels)}
    n_docs, n_lab = len(rows), len(labels)
    docs: list[Counter] = []
    df: Counter = Counter()
    for k, (text, _) in enumerate(rows):
        t = normalize(text)
        c = Counter(grams.bigrams(t)) if features == "bigram" else Counter(w for w in tokenizer.cut(t) if usable(w))
        docs.append(c)
        df.update(c.keys())
        if on_progress and k % 250 == 0:
            on_progress("分词 tokenising", k, n_docs)
    vocab = sorted(t for t, c in df.items() if c >= min_df)
    vi = {t: i for i, t in enumerate(vocab)}
    n_vocab = len(vocab)
    idf = np.array([math.log((n_docs + 1) / (df[t] + 1)) + 1.0 for t in vocab])
    y = np.array([li[lab] for _, lab in rows])
    target = 2.0 * np.eye(n_lab)[y] - 1.0  # one-vs-rest: +1 own label, -1 others
    # balanced: every label's messages weigh the same in total (rare labels count more per message)
    doc_w = (n_docs / (n_lab * np.bincount(y, minlength=n_lab)))[y] if balanced else np.ones(n_docs)

    rows_i, cols_i, vals = [], [], []
    for r, c in enumerate(docs):
        for t, n in c.items():
            j = vi.get(t)
            if j is not None:
                rows_i.append(r)
                cols_i.append(j)
                vals.append(1.0 + math.log(n))
    rows_a = np.array(rows_i, dtype=np.int64)
    cols_a = np.array(cols_i, dtype=np.int64)
    tf = np.array(vals)

    def design(mask):
        """Sparse (row, col, value) of the normalised tf-idf matrix restricted to `mask`."""
        keep = mask[cols_a]
        r, c = rows_a[keep], cols_a[keep]
        v = tf[keep] * idf[c]
        norm = np.sqrt(np.bincount(r, weights=v * v, minlength=n_docs))
        v = v / np.where(norm > 0, norm, 1.0)[r]
        return r, c, v

    def fit(mask, stage):
        r, c, v = design(mask)
        w = np.zeros((n_vocab, n_lab))
        g2 = np.full_like(w, 1e-8)
        z = np.empty((n_docs, n_lab))
        grad = np.empty_like(w)
        for it in range(iterations):
            for k in range(n_lab):  # sparse products, one label at a time (bincount is fast)
                z[:, k] = np.bincount(r, weights=v * w[c, k], minlength=n_docs)
            m = np.maximum(0.0, 1.0 - target * z)
            g_doc = -2.0 * target * m * doc_w[:, None] / n_docs
            for k in range(n_lab):
                grad[:, k] = np.bincount(c, weights=v * g_doc[r, k], minlength=n_vocab)
            grad += l2 * w
            g2 += grad * grad
            w -= 0.5 * grad / np.sqrt(g2)
            if on_progress and it % 10 == 0:
                on_progress(stage, it, iterations)
        return w * mask[:, None]

    w = fit(np.ones(n_vocab, dtype=bool), "训练 training")
    if per_label <= 0 or per_label >= n_vocab:
        mask = np.ones(n_vocab, dtype=bool)  # the full model: nothing to re-fit
        neg_per_label = n_vocab if per_label <= 0 else neg_per_label
    else:
        mask = np.zeros(n_vocab, dtype=bool)
        for k in range(n_lab):
            mask[np.argsort(-w[:, k])[:per_label]] = True
        w = fit(mask, "精简 refit")
    wr = w * idf[:, None]
    top = float(np.abs(wr).max()) or 1.0
    wr = wr * (10.0 / top)  # readable scale: the strongest keyword weighs 10
    weights: dict[str, dict[str, float]] = {}
    for k, lab in enumerate(labels):
        col = wr[:, k]
        pos = [j for j in np.argsort(-col) if col[j] > 0 and mask[j]]
        neg = [j for j in np.argsort(col) if col[j] < 0 and mask[j]][:neg_per_label]
        weights[lab] = {
            vocab[j]: round(float(col[j]), 3)
            for j in pos + neg
            if round(float(col[j]), 3) != 0 and abs(col[j]) >= min_weight
        }
    return Mined(labels=labels, weights=weights, n_train=n_docs, n_vocab=n_vocab, features=features)


def to_toml(m: Mined, source: str = "") -> str:
    """Render a mined model as a rules file a person can review."""
    what = "character pairs" if m.features == "bigram" else "words"
    desc = f"{m.n_train} labelled messages, {m.n_vocab} candidate {what}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    lines = [
        "# Mined keyword rules — review before use. Generated by `weilinli nlp mine`.",
        "# A keyword found n times in a message adds weight × (1 + ln n) to its label; positive weights",
        "# are evidence for the label, negative weights evidence against it; the highest total wins.",
    ]
    if m.features == "bigram":
        lines.append('# Keywords are pairs of adjacent Chinese characters (match = "bigram"), not words.')
    lines += [
        "",
        "[meta]",
        f"name = {toml_str('mined: ' + (source or 'labelled history'))}",
        "version = 1",
        f"match = {toml_str(m.features)}",
        'count = "log"',
        "min_score = -inf  # always name the best label",
        "temperature = 3.0",
        f"description = {toml_str(desc)}",
    ]
    for lab in m.labels:
        kws = m.weights[lab]
        npos = sum(1 for v in kws.values() if v > 0)
        lines += [
            "",
            f"[categories.{toml_key(lab)}]",
            f"label = {toml_str(lab)}",
            "",
            f"# {npos} keywords for {lab}, then {len(kws) - npos} against",
            f"[categories.{toml_key(lab)}.keywords]",
        ]
        for kw, wt in kws.items():
            lines.append(f"{toml_str(kw)} = {wt:g}")
    return "\n".join(lines) + "\n"
