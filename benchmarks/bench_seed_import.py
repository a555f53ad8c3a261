"""Benchmark: seeding a synthetic CRM of N accounts, and the Leads.csv import (rows/s), each in a fresh database.

Run: `.venv/bin/python -m benchmarks.bench_seed_import [--accounts 2000] [--runs 3]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from benchmarks.common import Figure, throwaway_database
from core.config import get_settings
from core.seeding.generator import seed
from core.services.importing import import_csv

console = Console()
LEADS_MAPPING = {"Lead Number": "external_id", "Lead Source": "source_detail", "Country": "country",
                 "City": "city"}
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def time_seed(accounts: int) -> tuple[float, int]:
    with throwaway_database("seed") as (_url, engine), Session(engine) as session:
        start = time.perf_counter()
        counts = seed(session, accounts=accounts, seed=7, now=NOW)
        session.commit()
        return time.perf_counter() - start, sum(counts.values())


def time_import(path: Path) -> tuple[float, int]:
    with throwaway_database("import") as (_url, engine), Session(engine) as session:
        start = time.perf_counter()
        result = import_csv(session, "lead", path, LEADS_MAPPING, null_values=["Select"], now=NOW)
        session.commit()
        return time.perf_counter() - start, result.imported


QUICK = ["--accounts", "100", "--runs", "1"]
FULL = ["--accounts", "2000", "--runs", "1"]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--accounts", type=int, default=2000)
    p.add_argument("--runs", type=int, default=3)
    return p


def main() -> None:
    run(parser().parse_args())


def run(args: argparse.Namespace) -> list[Figure]:
    leads_csv = Path(get_settings().datasets_dir) / "leads_x_education" / "Leads.csv"

    table = Table(title=f"Seed and import (median of {args.runs} runs, each in a fresh database, commit included)")
    for col in ("operation", "median s", "rows", "rows/s"):
        table.add_column(col, justify="left" if col == "operation" else "right")
    seeds = [time_seed(args.accounts) for _ in range(args.runs)]
    secs, rows = statistics.median(s for s, _ in seeds), seeds[0][1]
    seed_rate = rows / secs
    table.add_row(f"seed --accounts {args.accounts:,}", f"{secs:.2f}", f"{rows:,}", f"{seed_rate:,.0f}")
    figures = []
    if leads_csv.is_file():
        imports = [time_import(leads_csv) for _ in range(args.runs)]
        secs, rows = statistics.median(s for s, _ in imports), imports[0][1]
        table.add_row("import leads Leads.csv (37 columns)", f"{secs:.2f}", f"{rows:,}", f"{rows / secs:,.0f}")
        figures.append(Figure("seed/import", "CSV import of Leads.csv (validated, audited)", rows / secs, "rows/s",
                              f"seeding a {args.accounts:,}-account CRM", seed_rate, f"{rows:,} leads"))
    else:
        console.print(f"[yellow]Leads.csv not found at {leads_csv}: import benchmark skipped[/yellow]")
    console.print(table)
    return figures


if __name__ == "__main__":
    main()
