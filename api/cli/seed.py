"""`salesagents seed` and `salesagents summary`: fill a database with a synthetic CRM, show what it holds."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.db.engine import session_scope
from core.errors import InvalidInput
from core.repositories import seeding as seeding_repo
from core.seeding import generator


def parse_now(value: str | None) -> datetime:
    """End of the seeded history; by default today 00:00 UTC, so every seed run on one day is identical."""
    if value is None:
        today = datetime.now(UTC).date()
        return datetime(today.year, today.month, today.day, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            "--now", f"expected an ISO date or date-time like 2026-03-01, got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run_seed(
    accounts: int = 200, seed: int = 42, reset: bool = False, now: datetime | None = None
) -> dict[str, int]:
    """Seed in one transaction with a progress bar per phase: on any error nothing is written."""
    from api.cli.main import console

    started = time.perf_counter()
    tasks: list[TaskID] = []
    columns = (SpinnerColumn(), TextColumn("{task.description:<34}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:

        def phase(name: str) -> None:
            if tasks:
                progress.update(tasks[-1], completed=1)
            tasks.append(progress.add_task(name, total=1))

        with session_scope() as session:
            written = generator.seed(
                session, accounts, seed, now or parse_now(None), reset=reset, progress=phase
            )
            phase("commit")
        progress.update(tasks[-1], completed=1)
    total = sum(written.values())
    console.print(
        f"seeded {accounts} accounts (seed {seed}): {total:,} rows in {time.perf_counter() - started:.1f} s"
    )
    return written


def print_summary() -> None:
    from api.cli.main import console

    with session_scope() as session:
        result = seeding_repo.summary(session)
    counts = Table(title="Rows per table")
    counts.add_column("table")
    counts.add_column("rows", justify="right")
    for name, n in sorted(result.counts.items()):
        counts.add_row(name, f"{n:,}")
    counts.add_row("[bold]total[/bold]", f"[bold]{sum(result.counts.values()):,}[/bold]")
    figures = Table(title="History at a glance")
    figures.add_column("figure")
    figures.add_column("value", justify="right")
    for name, n in result.figures.items():
        figures.add_row(name, f"{n:,}")
    console.print(counts)
    console.print(figures)


def seed(
    accounts: int = typer.Option(
        200,
        "--accounts",
        min=1,
        max=generator.MAX_ACCOUNTS,
        help="Number of accounts to generate (leads, deals and the rest scale with it).",
    ),
    seed: int = typer.Option(42, "--seed", help="Random seed: the same seed and --now give the same CRM."),
    reset: bool = typer.Option(
        False, "--reset", help="Empty every CRM table first. Without it a populated database is refused."
    ),
    now: str | None = typer.Option(
        None, "--now", help="End of the seeded history, ISO date or date-time (default: today 00:00 UTC)."
    ),
) -> None:
    """Generate a realistic synthetic CRM (18 months of history) and print a summary of it."""
    run_seed(accounts=accounts, seed=seed, reset=reset, now=parse_now(now))
    print_summary()


def summary() -> None:
    """Print the number of rows per CRM table and a few figures about the history."""
    print_summary()
