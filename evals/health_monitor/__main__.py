"""`salesagents eval run health_monitor [--data FILE] [--seed N] [--sample N] [--folds K] [--ar-scale X] [--json]`.

Prints the health score's held-out AUC for churn on the IBM telco data (target >= 0.85), the raw-column
logistic-regression baseline on the same split, churn rate per band, the learned weights, and K-fold figures.
No database is needed. A missing data set is a clear skip (exit 0), never a failure.
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
from evals.health_monitor.suite import FOLDS, SEED, SUITE_ID, TARGET_AUC, HealthEvalResult, run


def _print(result: HealthEvalResult, console: Console) -> None:
    console.print(f"[bold]{SUITE_ID}[/] {result.data}: {result.rows} customers ({result.churn_rate:.1%} churned); "
                  f"train {result.train_rows}, held out {result.test_rows} (stratified, seed); AR scale "
                  f"{result.ar_scale}; {result.seconds}s")
    table = Table(title="Held-out AUC for churn")
    for column in ("model", "AUC", f"{result.cv_auc.get('folds', 0)}-fold AUC", "target"):
        table.add_column(column)
    cv = result.cv_auc
    base_cv = result.cv_baseline_auc
    table.add_row("health score (learned weights)", f"{result.auc:.4f}",
                  f"{cv['mean']:.4f} ± {cv['sd']:.4f}" if cv else "-", f">= {TARGET_AUC}")
    table.add_row("health score (configured default weights)", f"{result.settings_weights_auc:.4f}", "-", "")
    table.add_row("baseline: logistic regression on raw columns", f"{result.baseline_auc:.4f}",
                  f"{base_cv['mean']:.4f} ± {base_cv['sd']:.4f}" if base_cv else "-", "")
    for name, figures in result.ceiling.items():
        table.add_row(f"reference: {name}", f"{figures['auc']:.4f}",
                      f"{figures['cv']:.4f} ± {figures['cv_sd']:.4f}" if "cv" in figures else "-", "")
    console.print(table)
    bands = Table(title="Churn rate per band (held out)")
    for column in ("band", "customers", "churned", "churn rate"):
        bands.add_column(column, justify="right" if column != "band" else "left")
    for name, row in result.band_churn_rates.items():
        bands.add_row(name, str(row["rows"]), str(row["churned"]),
                      "-" if row["churn_rate"] is None else f"{row['churn_rate']:.1%}")
    console.print(bands)
    console.print("Learned weights by category: " + ", ".join(f"{c} {w:.0%}" for c, w in
                                                               result.category_weights.items()))
    console.print("Signals: " + ", ".join(f"{n} {w:.1%}" for n, w in
                                          sorted(result.weights.items(), key=lambda x: -x[1])))
    for name, words in result.curves.items():
        console.print(f"  curve {name}: {words}")
    for name, rates in result.rates.items():
        console.print(f"  retention per category, {name} (training split, smoothed): "
                      + ", ".join(f"{c} {r:.0%}" for c, r in rates.items()))
    console.print(f"target {'met' if result.target_met else 'NOT met'} (AUC {result.auc:.4f} vs {TARGET_AUC})")


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="salesagents eval run health_monitor", description=__doc__)
    parser.add_argument("--data", type=Path,
                        default=settings.datasets_dir / "telco_churn_ibm" / "Telco-Customer-Churn.csv")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--sample", type=int, default=None, help="a stratified sample of this many customers")
    parser.add_argument("--folds", type=int, default=FOLDS, help="cross-validation folds (0 or 1: none)")
    parser.add_argument("--ar-scale", type=float, default=None,
                        help="open AR scoring one half (default: the training split's median monthly bill)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        message = (f"skipped: data set not found at {args.data} (set SALESAGENTS_DATASETS_DIR or pass --data "
                   f"path/to/Telco-Customer-Churn.csv)")
        print(json.dumps({"skipped": message}) if args.json else message)
        return 0
    try:
        result = run(args.data, seed=args.seed, limit=args.sample, folds=args.folds, settings=settings,
                     ar_scale=args.ar_scale)
    except CrmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.__dict__, indent=2))
    else:
        _print(result, Console())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
