"""`salesagents llm usage`: model calls, tokens, cost and outcomes per agent and day, from the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import typer
from rich.table import Table

from core.db.engine import session_scope
from core.errors import InvalidInput
from core.llm import ledger


def usage_table(rows: list[ledger.UsageRow], days: int) -> Table:
    """One line per day and agent plus a total, so budget overruns and fallbacks stand out."""
    table = Table(title=f"Model usage, last {days} day(s) (UTC)")
    for name in ("day", "agent", "calls", "input tokens", "output tokens", "cost USD", "ok", "repaired",
                 "fallback", "error", "over budget", "avg latency ms"):
        table.add_column(name, justify="left" if name in ("day", "agent") else "right")
    for r in rows:
        table.add_row(r.day.isoformat(), r.agent, f"{r.calls:,}", f"{r.input_tokens:,}", f"{r.output_tokens:,}",
                      f"{r.cost_usd:.4f}", f"{r.ok:,}", f"{r.repaired:,}", f"{r.fallback:,}", f"{r.error:,}",
                      f"{r.over_budget:,}", f"{r.latency_ms // max(r.calls, 1):,}")
    calls = sum(r.calls for r in rows)
    table.add_row("[bold]total[/bold]", "", f"[bold]{calls:,}[/bold]",
                  f"[bold]{sum(r.input_tokens for r in rows):,}[/bold]",
                  f"[bold]{sum(r.output_tokens for r in rows):,}[/bold]",
                  f"[bold]{sum((r.cost_usd for r in rows), Decimal(0)):.4f}[/bold]",
                  *(f"[bold]{sum(getattr(r, k) for r in rows):,}[/bold]"
                    for k in ("ok", "repaired", "fallback", "error", "over_budget")),
                  f"[bold]{sum(r.latency_ms for r in rows) // max(calls, 1):,}[/bold]")
    return table


def usage(days: Annotated[int, typer.Option("--days", help="How many UTC days back, today included.")] = 7) -> None:
    """Print ledger totals per agent and day (tokens, cost, outcomes)."""
    from api.cli.main import console

    if days < 1:
        raise InvalidInput("--days", f"must be at least 1, got {days}")
    today = datetime.now(UTC).date()
    since = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), tzinfo=UTC)
    with session_scope() as session:
        rows = ledger.usage_totals(session, since)
    if not rows:
        console.print(f"no model calls since {since.date().isoformat()}")
        return
    console.print(usage_table(rows, days))
