"""Command-line entry points: `weilinli classify` and `weilinli nlp mine|eval`.

`classify_command` is a plain typer-compatible function (the main CLI mounts it); `nlp_app` is a
Typer app with the `mine` and `eval` sub-commands.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional  # noqa: UP035 - typer needs Optional in annotations on some versions

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import nlp
from nlp.evaluate import evaluate, message_text, read_labelled

OUTPUT_FIELDS = ("id", "intent", "category", "subcategory", "grade", "urgent", "place", "confidence", "rule",
                 "service")

nlp_app = typer.Typer(
    help="分类规则工具：挖掘、评估 (mine and measure classification rules)", no_args_is_help=True
)


def _err_console() -> Console:
    return Console(stderr=True)


def _load_rules_or_exit(rules: Optional[Path]):  # noqa: UP045
    from nlp.classifier import _rules_from_arg, get_rules  # jieba: only when a command runs

    if rules is None:
        return get_rules()
    try:
        return _rules_from_arg(rules)
    except FileNotFoundError:
        _err_console().print(f"[red]rules file not found: {rules}[/red]")
        raise typer.Exit(2) from None
    except ValueError as e:
        _err_console().print(f"[red]{rules}: {e}[/red]")
        raise typer.Exit(2) from None


def classify_command(
    file: Optional[Path] = typer.Argument(  # noqa: UP045
        None, help="JSONL file of {\"id\", \"text\"} lines (default: stdin)", exists=True, dir_okay=False
    ),
    rules: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--rules", help="rules file (TOML) to use instead of the active rules", dir_okay=False
    ),
) -> None:
    """Classify messages: one JSONL line in, one JSONL line out
    ({"id","intent","category","subcategory","grade","urgent","place","confidence","rule"})."""
    rs = _load_rules_or_exit(rules)
    stream = open(file, encoding="utf-8", errors="replace") if file is not None else sys.stdin  # noqa: SIM115
    out = sys.stdout
    bad = 0
    try:
        for n, line in enumerate(stream, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                obj = None
            if isinstance(obj, dict):
                mid = obj.get("id", n)
                text = message_text(obj)
            elif isinstance(obj, str):
                mid, text = n, obj
            else:
                bad += 1
                _err_console().print(f"line {n}: not a JSON object with \"text\"; classified the raw line")
                mid, text = n, line
            c = nlp.classify(text, rules=rs)
            d = c.to_dict()
            rec = {k: d[k] for k in OUTPUT_FIELDS if k != "id"}
            out.write(json.dumps({"id": mid, **rec}, ensure_ascii=False) + "\n")
    finally:
        if file is not None:
            stream.close()
    out.flush()


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@nlp_app.command("mine")
def mine_command(
    train: Path = typer.Argument(..., help="labelled JSONL: {\"text\", \"label\"} (optional \"title\")",
                                 exists=True, dir_okay=False),
    out: Path = typer.Option(..., "--out", "-o", help="rules file (TOML) to write"),
    per_label: int = typer.Option(300, "--per-label", min=0, help="keywords kept per label (0: all, the full model)"),
    min_weight: float = typer.Option(0.0, "--min-weight", min=0.0, help="drop keywords lighter than this (max 10)"),
    min_df: int = typer.Option(2, "--min-df", min=1, help="a keyword must occur in this many messages"),
    neg_per_label: int = typer.Option(300, "--neg-per-label", min=0, help="negative keywords kept per label"),
    iterations: int = typer.Option(200, "--iterations", min=1, help="training iterations"),
    l2: float = typer.Option(1e-4, "--l2", min=0.0, help="L2 regularisation (choose it on a validation split)"),
    balanced: bool = typer.Option(False, "--balanced", help="every label's messages weigh the same in total"),
    features: str = typer.Option("token", "--features",
                                 help="token: jieba words (readable); bigram: pairs of Chinese characters "
                                      "(ranked best on TipDM validation splits, see nlp/README.md)"),
) -> None:
    """Propose weighted keyword rules from labelled history, for a person to review."""
    from nlp.mine import mine, to_toml
    from nlp.rules import parse_rules

    console = _err_console()
    try:
        rows = read_labelled(train)
    except ValueError as e:
        console.print(f"[red]{train}: {e}[/red]")
        raise typer.Exit(2) from None
    if not rows:
        console.print(f"[red]{train}: no labelled rows[/red]")
        raise typer.Exit(2)
    if features not in ("token", "bigram"):
        console.print(f"[red]--features must be token or bigram, not {features!r}[/red]")
        raise typer.Exit(2)
    with _progress(console) as prog:
        task = prog.add_task("mining", total=None)

        def step(stage: str, k: int, total: int) -> None:
            prog.update(task, description=stage, completed=k, total=total)

        m = mine(rows, per_label=per_label, neg_per_label=neg_per_label, min_df=min_df, min_weight=min_weight,
                 iterations=iterations, l2=l2, balanced=balanced, features=features, on_progress=step)
    text = to_toml(m, source=train.name)
    parse_rules(text, source=str(out))  # what we write must load
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    n_kw = sum(len(v) for v in m.weights.values())
    console.print(f"wrote {out}: {len(m.labels)} labels, {n_kw} keywords from {len(rows)} messages")


@nlp_app.command("eval")
def eval_command(
    test: Path = typer.Argument(..., help="labelled JSONL: {\"text\", \"label\"} (optional \"title\")",
                                exists=True, dir_okay=False),
    rules: Optional[Path] = typer.Option(None, "--rules", help="rules file (default: the active rules)",  # noqa: UP045
                                         dir_okay=False),
    json_out: Optional[Path] = typer.Option(None, "--json", help="also write the figures as JSON here"),  # noqa: UP045
    limit: int = typer.Option(0, "--limit", min=0, help="only the first N rows (0: all)"),
) -> None:
    """Accuracy, macro-F1, per-label precision/recall/F1 and the confusion matrix. A file of
    resident messages (lines with "intent", "category", "urgent", "service") is measured on all
    four: intent, category of reports, urgent and service."""
    console = Console()
    rs = _load_rules_or_exit(rules)
    from nlp.evaluate import is_resident_file

    if is_resident_file(test):
        _eval_resident(console, test, rs, json_out, limit)
        return
    rows = _read_or_exit(read_labelled, test, limit)
    labels = list(rs.codes)
    gold_only = sorted({g for _, g in rows} - set(labels))
    labels += gold_only
    with _progress(_err_console()) as prog:
        task = prog.add_task("classifying", total=len(rows))
        rep = evaluate(
            rows,
            lambda t: nlp.classify(t, rules=rs).category,
            labels=labels,
            on_step=lambda: prog.advance(task),
        )
    pl = rep.per_label()
    console.print(
        f"[bold]{test.name}[/bold]  rules: {rs.name}  messages: {rep.n}  "
        f"accuracy: [bold]{rep.accuracy:.4f}[/bold]  macro-F1: [bold]{rep.macro_f1:.4f}[/bold]"
    )
    t = Table(title="per label", show_lines=False)
    for col in ("label", "precision", "recall", "F1", "support"):
        t.add_column(col, justify="left" if col == "label" else "right")
    for lab in labels:
        if pl[lab]["support"] == 0 and not any(p == lab for (_, p) in rep.confusion):
            continue
        v = pl[lab]
        t.add_row(
            lab, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", str(int(v["support"]))
        )
    console.print(t)
    preds = [p for p in rep.predicted_labels() if any(pp == p for (_, pp) in rep.confusion)]
    cm = Table(title="confusion matrix (rows: gold, columns: predicted)")
    cm.add_column("gold \\ pred")
    for p in preds:
        cm.add_column(p, justify="right")
    for g in labels:
        if pl[g]["support"] == 0:
            continue
        cm.add_row(g, *[(f"[bold]{rep.confusion[(g, p)]}[/bold]" if g == p else str(rep.confusion[(g, p)]))
                        for p in preds])
    console.print(cm)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(rep.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")


def _report_tables(console: Console, title: str, rep) -> None:
    pl = rep.per_label()
    t = Table(title=f"{title}: per label (accuracy {rep.accuracy:.4f}, macro-F1 {rep.macro_f1:.4f}, n {rep.n})")
    for col in ("label", "precision", "recall", "F1", "support"):
        t.add_column(col, justify="left" if col == "label" else "right")
    for lab in rep.labels:
        v = pl[lab]
        t.add_row(lab, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", str(int(v["support"])))
    console.print(t)
    cm = Table(title=f"{title}: confusion matrix (rows: gold, columns: predicted)")
    cm.add_column("gold \\ pred")
    for p in rep.labels:
        cm.add_column(p, justify="right")
    for g in rep.labels:
        if pl[g]["support"]:
            cm.add_row(g, *[(f"[bold]{rep.confusion[(g, p)]}[/bold]" if g == p else str(rep.confusion[(g, p)]))
                            for p in rep.labels])
    console.print(cm)


def _read_or_exit(read, test: Path, limit: int) -> list:
    """The file's labelled rows (the first `limit` of them, if set); a malformed file exits 2."""
    try:
        rows = read(test)
    except ValueError as e:
        _err_console().print(f"[red]{test}: {e}[/red]")
        raise typer.Exit(2) from None
    return rows[:limit] if limit else rows


def _eval_resident(console: Console, test: Path, rs, json_out, limit: int) -> None:
    from nlp.evaluate import evaluate_resident, read_resident, summary

    rows = _read_or_exit(read_resident, test, limit)
    with _progress(_err_console()) as prog:
        task = prog.add_task("classifying", total=len(rows))
        reps, wrong = evaluate_resident(rows, lambda t: nlp.classify(t, rules=rs), on_step=lambda: prog.advance(task))
    fig = summary(rows, reps)
    console.print(
        f"[bold]{test.name}[/bold]  rules: {rs.name}  messages: {fig['messages']}  "
        f"intent accuracy: [bold]{fig['intent_accuracy']:.4f}[/bold]  "
        f"category accuracy (reports): [bold]{fig['category_accuracy_reports']:.4f}[/bold]  "
        f"urgent P/R: [bold]{fig['urgent_precision']:.4f}/{fig['urgent_recall']:.4f}[/bold]  "
        f"service accuracy: [bold]{fig['service_accuracy']:.4f}[/bold]",
        soft_wrap=True,
    )
    for name in ("intent", "category", "urgent", "service"):
        _report_tables(console, name, reps[name])
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        out = {**fig, **{k: v.to_dict() for k, v in reps.items()},
               "wrong": [{"text": r["text"], "intent": i, "category": c, "urgent": u, "service": s, "rule": rule}
                         for r, i, c, u, s, rule in wrong]}
        json_out.write_text(json.dumps(out, ensure_ascii=False, indent=2), encoding="utf-8")


def build_app() -> typer.Typer:
    """A stand-alone CLI (`python -m nlp.cli`): classify + mine + eval."""
    app = typer.Typer(no_args_is_help=True)
    app.command("classify")(classify_command)
    app.add_typer(nlp_app, name="nlp")
    return app


if __name__ == "__main__":
    build_app()()
