"""`salesagents campaigns list | create | roi`: campaigns, their spend, and the revenue attributed to them.

The CLI is the operator's tool and sees the whole company, like the API's attribution report for managers and
admins. `roi` prints one row per campaign and deal currency: amounts in different currencies are never added,
and the cost and ROI stand on the row of the campaign's own currency.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from core.errors import InvalidInput

app = typer.Typer(help="Campaigns: spend, utm codes and attributed revenue (list, create, roi).",
                  no_args_is_help=True)

DateOpt = Annotated[str | None, typer.Option(help="A day, YYYY-MM-DD (UTC).", show_default=False)]
NONE = "—"


def _console() -> Any:
    from api.cli.main import console

    return console


def _day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(option, f"{value!r} is not a date (YYYY-MM-DD)") from None


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _roi(value: Decimal | None) -> str:
    return NONE if value is None else f"{value:.2f}"


@app.command("list")
def list_(limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100) -> None:
    """Campaigns with their code, dates, spend and the touches recorded so far."""
    from core.db.engine import session_scope
    from core.repositories import attribution as attribution_repo
    from core.services import campaigns as svc

    with session_scope() as session:
        rows = svc.list_campaigns(session, limit=limit)
        activity = {a.campaign_id: a for a in attribution_repo.activity(session, None, None)}
        table = Table(title=f"{len(rows)} campaign(s)")
        for col in ("id", "name", "channel", "utm_campaign", "dates", "cost", "expected", "touches", "leads"):
            table.add_column(col, overflow="fold",
                             justify="right" if col in ("cost", "expected", "touches", "leads") else "left")
        for c in rows:
            act = activity.get(c.id)
            dates = f"{c.start_date or '…'} – {c.end_date or '…'}" if c.start_date or c.end_date else ""
            table.add_row(str(c.id), Text(c.name), c.channel.value, Text(c.utm_campaign or ""), dates,
                          f"{_money(c.cost)} {c.currency}", f"{_money(c.expected_revenue)} {c.currency}",
                          str(act.touches if act else 0), str(act.leads if act else 0))
    _console().print(table if rows else "no campaigns")


@app.command()
def create(name: Annotated[str, typer.Option("--name", help="Unique name.", show_default=False)],
           channel: Annotated[str, typer.Option(
               "--channel", help="email, event, ad, social, webinar, content or partner.", show_default=False)],
           utm: Annotated[str | None, typer.Option("--utm", help="The utm_campaign code leads arrive with.")] = None,
           cost: Annotated[str, typer.Option("--cost", help="The whole spend.")] = "0",
           expected: Annotated[str, typer.Option("--expected-revenue", help="Planned revenue.")] = "0",
           currency: Annotated[str, typer.Option("--currency", help="Of cost and expected revenue.")] = "USD",
           start: DateOpt = None, end: DateOpt = None,
           owner: Annotated[int | None, typer.Option("--owner", help="User id of the owning manager.")] = None
           ) -> None:
    """Record a campaign; leads captured with its utm code from now on are attributed to it."""
    from core.db.engine import session_scope
    from core.services import campaigns as svc

    with session_scope() as session:
        campaign = svc.create_campaign(session, name=name, channel=channel, utm_campaign=utm, cost=cost,
                                       expected_revenue=expected, currency=currency,
                                       start_date=_day("--start", start), end_date=_day("--end", end),
                                       owner_id=owner, actor="cli")
        line = (f"campaign {campaign.id} created: {campaign.name} ({campaign.channel.value}, "
                f"utm {campaign.utm_campaign or NONE}, cost {_money(campaign.cost)} {campaign.currency})")
    _console().print(line, markup=False)


@app.command()
def roi(model: Annotated[str, typer.Option("--model", help="first_touch, last_touch or linear.")] = "linear",
        since: DateOpt = None, until: DateOpt = None) -> None:
    """Revenue of the deals won in the period attributed to campaigns, with spend and ROI, per currency."""
    from core.db.engine import session_scope
    from core.services import attribution as svc

    first, last = _day("--since", since), _day("--until", until)
    with session_scope() as session:
        report = svc.report(session, model, since=first, until=last)
    period = f"{report.since or 'start'} to {report.until or 'today'}"
    table = Table(title=f"Campaign ROI, {report.model.value}, deals won {period}")
    # numbers fold onto a second line in a narrow terminal rather than being cut short
    for col in ("campaign", "touches", "leads", "currency", "won deals", "revenue", "cost", "ROI"):
        table.add_column(col, overflow="fold", justify="left" if col in ("campaign", "currency") else "right")
    for c in report.campaigns:
        for i, line in enumerate(c.revenue):
            own = i == 0  # the campaign's own currency: the one its cost and ROI are in
            table.add_row(Text(c.name) if own else "", str(c.touches) if own else "", str(c.leads) if own else "",
                          line.currency, str(line.won_deals), _money(line.attributed_revenue),
                          _money(c.cost) if own else NONE, _roi(c.roi) if own else NONE)
    totals = Table(title=f"Totals per currency ({report.touches} touch(es), {report.leads} lead(s) in the period)")
    for col in ("currency", "won deals", "won revenue", "attributed deals", "attributed revenue", "cost", "ROI"):
        totals.add_column(col, overflow="fold", justify="left" if col == "currency" else "right")
    for t in report.totals:
        totals.add_row(t.currency, str(t.won_deals), _money(t.won_revenue), str(t.attributed_deals),
                       _money(t.attributed_revenue), _money(t.cost), _roi(t.roi))
    out = _console()
    out.print(table if report.campaigns else "no campaigns")
    out.print(totals)
