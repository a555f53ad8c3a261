"""Benchmark: lead-scoring throughput (leads/s) of the trained LightGBM model vs the Odoo-style naive-Bayes baseline.

Imports Leads.csv (`--rows` of it) with the product's CSV importer into a throwaway database, reads the leads
back as the Lead Scorer does (`lead_records` + `raw_features`), trains both scorers on the same 70 % and measures
on `--leads` held-out rows (the held-out rows repeated): batch probabilities (what a nightly re-score does) and
per-lead explanations (what the agent stores: probability + top factors). Held-out AUC/Brier for context.
Run: `.venv/bin/python -m benchmarks.bench_lead_scoring [--rows 9240 --leads 100000 --explain 2000]`.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.model_selection import train_test_split
from sqlalchemy.orm import Session

from benchmarks.common import Figure, throwaway_database
from core.config import get_settings
from core.errors import InvalidInput
from core.repositories import lead_scoring as repo
from core.services.import_parsing import custom_key
from core.services.importing import import_csv
from evals.lead_scoring.suite import DEFAULT_EXCLUDE, DEFAULT_TARGET, _label, plan_mapping
from tools.lead_scoring import metrics
from tools.lead_scoring.features import Value, raw_features
from tools.lead_scoring.model import GbmScorer, NaiveBayesScorer, Scorer

console = Console(width=140)
NAME = "lead scoring"
NOW = datetime(2026, 11, 1, tzinfo=UTC)
QUICK = ["--rows", "1500", "--leads", "10000", "--explain", "200"]
FULL = ["--leads", "50000", "--explain", "1000"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="leads CSV (default <datasets_dir>/leads_x_education)")
    p.add_argument("--rows", type=int, default=0, help="use the first N rows of the CSV (0: all)")
    p.add_argument("--leads", type=int, default=100_000, help="leads scored in the batch test")
    p.add_argument("--explain", type=int, default=2000, help="leads explained one by one")
    return p


def _head(path: Path, rows: int, folder: Path) -> Path:
    """The first `rows` data rows of a CSV, as a file the importer can read."""
    out = folder / path.name
    with path.open(encoding="utf-8-sig", newline="") as src, out.open("w", encoding="utf-8", newline="") as dst:
        reader, writer = csv.reader(src), csv.writer(dst)
        for n, row in enumerate(reader):
            if n > rows:
                break
            writer.writerow(row)
    return out


def load_rows(session: Session, data: Path) -> tuple[list[dict[str, Value]], np.ndarray, float]:
    """Import with the product's importer and read the features back as the agent does; seconds taken."""
    started = time.perf_counter()
    imported = import_csv(session, "lead", data, plan_mapping(data, DEFAULT_TARGET, list(DEFAULT_EXCLUDE)), now=NOW)
    records = repo.lead_records(session, imported.ids)
    target = custom_key(DEFAULT_TARGET)
    labels = np.array([_label(r["custom"].get(target), n) for n, r in enumerate(records, start=1)])
    rows = [raw_features(r, NOW, frozenset({target})) for r in records]
    return rows, labels, time.perf_counter() - started


def _rate(count: int, fn: Any) -> tuple[float, Any]:
    fn(1)  # warm-up
    started = time.perf_counter()
    result = fn(count)
    return count / (time.perf_counter() - started), result


def measure(rows: list[dict[str, Value]], labels: np.ndarray, leads: int, explain: int) -> dict[str, Any]:
    """Train both scorers on the same split; leads/s for batch probabilities and one-by-one explanations."""
    train_idx, test_idx = train_test_split(np.arange(len(rows)), test_size=0.3, random_state=42, stratify=labels)
    train = [rows[i] for i in train_idx]
    test = [rows[i] for i in test_idx]
    batch = [test[i % len(test)] for i in range(leads)]
    out: dict[str, Any] = {"train_rows": len(train), "test_rows": len(test)}
    scorers: list[tuple[str, Scorer]] = []
    for kind, train_fn in (("lightgbm", lambda: GbmScorer.train(train, labels[train_idx])),
                           ("naive_bayes", lambda: NaiveBayesScorer.train(train, labels[train_idx]))):
        started = time.perf_counter()
        scorers.append((kind, train_fn()))
        out[f"{kind}.train_s"] = time.perf_counter() - started
    for kind, scorer in scorers:
        out[f"{kind}.quality"] = metrics.summary(labels[test_idx], scorer.probabilities(test))
        out[f"{kind}.batch"], _ = _rate(leads, lambda n, s=scorer: s.probabilities(batch[:n]))
        out[f"{kind}.explain"], _ = _rate(explain, lambda n, s=scorer: [s.explain(r) for r in batch[:n]])
    return out


def run(args: argparse.Namespace) -> list[Figure]:
    data = args.data or Path(get_settings().datasets_dir) / "leads_x_education" / "Leads.csv"
    if not data.is_file():
        raise InvalidInput("--data", f"{data} not found: point --data (or SALESAGENTS_DATASETS_DIR) at Leads.csv")
    with tempfile.TemporaryDirectory() as folder, throwaway_database("leads") as (_url, engine), \
            Session(engine) as session:
        source = _head(data, args.rows, Path(folder)) if args.rows else data
        rows, labels, load_s = load_rows(session, source)
        found = measure(rows, labels, args.leads, args.explain)
        session.rollback()
    table = Table(title=f"Lead scoring on {source.name} ({len(rows):,} leads imported and read back in {load_s:.1f} s; "
                        f"trained on {found['train_rows']:,}, measured on {found['test_rows']:,} held out)")
    for col in ("scorer", "train s", "held-out AUC", "Brier", f"batch leads/s ({args.leads:,})",
                f"explain leads/s ({args.explain:,})"):
        table.add_column(col, justify="left" if col == "scorer" else "right")
    for kind in ("lightgbm", "naive_bayes"):
        q = found[f"{kind}.quality"]
        table.add_row(kind, f"{found[f'{kind}.train_s']:.1f}", f"{q['auc']:.3f}", f"{q['brier']:.3f}",
                      f"{found[f'{kind}.batch']:,.0f}", f"{found[f'{kind}.explain']:,.0f}")
    console.print(table)
    size = f"{len(rows):,} Leads.csv rows; batch {args.leads:,}"
    gbm, nb = found["lightgbm.quality"], found["naive_bayes.quality"]
    return [
        Figure(NAME, "LightGBM batch scoring", found["lightgbm.batch"], "leads/s", "naive Bayes (Odoo-style)",
               found["naive_bayes.batch"], size, f"AUC {gbm['auc']:.3f} vs {nb['auc']:.3f}"),
        Figure(NAME, "LightGBM score + top factors, one by one", found["lightgbm.explain"], "leads/s",
               "naive Bayes (Odoo-style)", found["naive_bayes.explain"], f"{args.explain:,} leads"),
        Figure(NAME, "held-out AUC (context)", gbm["auc"], "AUC", "naive Bayes (Odoo-style)", nb["auc"],
               f"{found['test_rows']:,} held out"),
    ]


def main() -> None:
    run(parser().parse_args())


if __name__ == "__main__":
    main()
