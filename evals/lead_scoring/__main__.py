"""`python -m evals.lead_scoring [--data FILE --target COLUMN --exclude COL,COL --seed N]`: prints the figures.

Runs in a database of its own (`<database_name>_eval_leads`) inside one transaction that is rolled back, so
the import leaves nothing behind.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from core.config import get_settings
from core.db.engine import ensure_database, make_engine, resolve_url
from core.db.migrate import upgrade
from core.errors import CrmError
from evals.lead_scoring.suite import DEFAULT_EXCLUDE, DEFAULT_TARGET, SEED, SUITE_ID, LeadScoringResult, run

TARGETS = {"auc": 0.93, "brier": 0.10}


def _print(result: LeadScoringResult, console: Console) -> None:
    console.print(f"[bold]{SUITE_ID}[/] {result.data}: {result.rows} leads, target {result.target!r} "
                  f"({result.positive_rate:.1%} positive), excluded {', '.join(result.excluded) or 'nothing'}; "
                  f"train {result.train_rows}, held out {result.test_rows} (stratified); {result.seconds}")
    table = Table(title="Held-out quality")
    for column in ("model", "AUC", "Brier", "target"):
        table.add_column(column)
    table.add_row(f"product ({result.model_kind}, calibrated)", f"{result.model['auc']:.4f}",
                  f"{result.model['brier']:.4f}", f"AUC >= {TARGETS['auc']}, Brier <= {TARGETS['brier']}")
    table.add_row("naive-Bayes baseline (Odoo-style)", f"{result.baseline['auc']:.4f}",
                  f"{result.baseline['brier']:.4f}", "")
    console.print(table)
    calibration = Table(title="Calibration on held-out leads (score band: predicted vs observed conversion)")
    for column in ("band", "leads", "predicted", "observed", "baseline leads", "baseline observed"):
        calibration.add_column(column, justify="right")
    for ours, base in zip(result.calibration, result.baseline_calibration, strict=True):
        calibration.add_row(ours["band"], str(ours["leads"]), _pct(ours["predicted"]), _pct(ours["observed"]),
                            str(base["leads"]), _pct(base["observed"]))
    console.print(calibration)
    met = result.model["auc"] >= TARGETS["auc"] and result.model["brier"] <= TARGETS["brier"]
    console.print(f"target {'met' if met else 'NOT met'}")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m evals.lead_scoring", description=__doc__)
    parser.add_argument("--data", type=Path, default=settings.datasets_dir / "leads_x_education" / "Leads.csv")
    parser.add_argument("--target", default=DEFAULT_TARGET)
    parser.add_argument("--exclude", default=",".join(DEFAULT_EXCLUDE), help="comma-separated columns")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    exclude = tuple(c.strip() for c in args.exclude.split(",") if c.strip())
    url = resolve_url(settings, database=f"{settings.database_name}_eval_leads")
    ensure_database(url)
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn, conn.begin() as outer:
            from sqlalchemy.orm import Session

            result = run(Session(bind=conn), args.data, target=args.target, exclude=exclude, seed=args.seed)
            outer.rollback()
    except CrmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(result.__dict__, indent=2))
    else:
        _print(result, Console())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
