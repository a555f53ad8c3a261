"""`python -m evals.auto_labeler [--data FILE --text-col COL --label-col COL --json]`: prints the figures.

Defaults: the S&P 500 companies, sector from the business summary with names and tickers masked, 5-fold.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from core.config import get_settings
from core.errors import CrmError
from evals.auto_labeler.suite import FOLDS, SEED, SUITE_ID, AutoLabelerResult, as_json, run
from tools.auto_labeler.classifier import METHODS

TARGET = 0.85
LABELS = {"embedding_lr": "embeddings (MiniLM) + logistic regression",
          "embedding_knn": "embeddings (MiniLM) + kNN (k=7, cosine)",
          "tfidf_lr": "TF-IDF words + logistic regression",
          "ensemble": "product: embeddings LR + TF-IDF LR (mean probability)"}
SP500_DEFAULTS = {"text_col": "Longbusinesssummary", "label_col": "Sector",
                  "mask_cols": "Symbol,Shortname,Longname", "employees_col": "Fulltimeemployees"}


def _print(result: AutoLabelerResult, console: Console) -> None:
    console.print(f"[bold]{SUITE_ID}[/] {result.data}: {result.rows} companies, {len(result.classes)} labels, "
                  f"{result.folds}-fold stratified CV (seed {result.seed}); embedding {result.embed_seconds}s, "
                  f"total {result.seconds}s")
    table = Table(title="Industry from the description (names masked), cross-validated")
    for column in ("method", "accuracy", "macro F1", "target"):
        table.add_column(column)
    for method in METHODS:
        table.add_row(LABELS[method], f"{result.accuracy[method]:.4f}", f"{result.macro_f1[method]:.4f}",
                      f">= {TARGET}" if method == "ensemble" else "")
    console.print(table)
    if result.size_rows or result.size_missing:
        console.print(f"size band from employees: {result.size_exact}/{result.size_rows} exact, "
                      f"{result.size_missing} without a head count; bands {result.size_bands}")
    console.print(f"target {'met' if result.accuracy['ensemble'] >= TARGET else 'NOT met'}")


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="salesagents eval run auto_labeler", description=__doc__)
    parser.add_argument("--data", type=Path, default=None, help="companies CSV (default: S&P 500)")
    parser.add_argument("--text-col", default=None)
    parser.add_argument("--label-col", default=None)
    parser.add_argument("--mask-cols", default=None, help="comma-separated name/ticker columns masked in the text")
    parser.add_argument("--employees-col", default=None, help="head-count column for the size band check")
    parser.add_argument("--folds", type=int, default=FOLDS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    defaults = SP500_DEFAULTS if args.data is None else {}
    data = args.data or settings.datasets_dir / "sp500_companies" / "sp500_companies.csv"
    text_col = args.text_col or defaults.get("text_col")
    label_col = args.label_col or defaults.get("label_col")
    if not text_col or not label_col:
        print("error: --text-col and --label-col are required with --data", file=sys.stderr)
        return 2
    mask = args.mask_cols if args.mask_cols is not None else defaults.get("mask_cols", "")
    if args.folds < 2:
        print("error: --folds must be at least 2", file=sys.stderr)
        return 2
    try:
        result = run(data, text_col=text_col, label_col=label_col,
                     mask_cols=tuple(c.strip() for c in mask.split(",") if c.strip()),
                     employees_col=args.employees_col or defaults.get("employees_col"), folds=args.folds,
                     seed=args.seed)
    except CrmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(as_json(result), indent=2))
    else:
        _print(result, Console())
    return 0


if __name__ == "__main__":
    sys.exit(main())
