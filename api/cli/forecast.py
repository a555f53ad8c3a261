"""`salesagents forecast [--by rep|team] [--period month|quarter]`: the weighted pipeline of open deals."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from core.db.engine import session_scope
from core.repositories import deal_coach as repo
from tools.deal_coach.forecast import forecast as weigh
from tools.deal_coach.forecast import totals_by_period

app = typer.Typer(help="Weighted pipeline: open deals' amount x stage win probability, per rep or team and period.",
                  invoke_without_command=True)


@app.callback()
def forecast(by: Annotated[str, typer.Option("--by", help="Group by rep or team.")] = "rep",
             period: Annotated[str, typer.Option("--period", help="Close period: month or quarter.")] = "month",
             ) -> None:
    """One line per period, group and currency; the last column is the period's total over all groups."""
    from api.cli.main import console

    with session_scope() as session:
        lines = weigh(repo.forecast_rows(session), by=by, period=period)
    totals = totals_by_period(lines)
    table = Table(title=f"Weighted pipeline by {by} and {period}")
    for column in ("period", by, "currency", "deals", "amount", "weighted", "period total"):
        table.add_column(column, justify="right" if column in ("deals", "amount", "weighted", "period total")
                         else "left")
    for line in lines:
        table.add_row(line.period, line.group, line.currency, str(line.deals), f"{line.amount:,.2f}",
                      f"{line.weighted:,.2f}", f"{totals[(line.period, line.currency)]:,.2f}")
    console.print(table if lines else "no open deals")
