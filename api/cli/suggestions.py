"""`salesagents suggestions list | show | accept | dismiss`: agents' suggestions and a person's decision on them."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

app = typer.Typer(help="Agents' suggestions (upsell, expansion, ...): list, show, accept (creates a proposed deal), "
                       "dismiss.", no_args_is_help=True)

IdArg = Annotated[int, typer.Argument(help="Suggestion id (see `suggestions list`).", show_default=False)]
AsOpt = Annotated[int, typer.Option("--as", help="User id of the person deciding.", show_default=False)]


def _console() -> Any:
    from api.cli.main import console

    return console


@app.command("list")
def list_(subject_type: Annotated[str | None, typer.Option("--subject-type", help="account, deal, lead...")] = None,
          subject_id: Annotated[int | None, typer.Option("--subject-id", help="Only this subject.")] = None,
          agent: Annotated[str | None, typer.Option("--agent", help="Only this agent's suggestions.")] = None,
          status: Annotated[str, typer.Option("--status", help="open, accepted, dismissed or all.")] = "open",
          limit: Annotated[int, typer.Option("--limit", min=1)] = 50) -> None:
    """Suggestions, newest first (open ones by default)."""
    from core.db.engine import session_scope
    from core.errors import InvalidInput
    from core.repositories.suggestions import listing

    if status not in ("open", "accepted", "dismissed", "all"):
        raise InvalidInput("--status", f"{status!r} is not one of open, accepted, dismissed, all")
    with session_scope() as session:
        rows = listing(session, subject_type=subject_type, subject_id=subject_id, agent=agent,
                       status=None if status == "all" else status, limit=limit)
        table = Table(title=f"{len(rows)} suggestion(s)")
        for col in ("id", "agent", "subject", "status", "proposal", "title"):
            table.add_column(col, overflow="fold")
        for row in rows:
            proposal = (row.evidence or {}).get("proposal")
            deal = f"{proposal['amount']} {proposal['currency']}" if isinstance(proposal, dict) else ""
            table.add_row(str(row.id), row.agent, f"{row.subject_type} {row.subject_id}", row.status, deal, row.title)
    _console().print(table if rows else "no suggestions")


@app.command()
def show(suggestion_id: IdArg) -> None:
    """One suggestion: its text and the evidence it rests on."""
    from core.db.engine import session_scope
    from core.errors import NotFound
    from core.models import Suggestion

    with session_scope() as session:
        row = session.get(Suggestion, suggestion_id)
        if row is None:
            raise NotFound("suggestion", suggestion_id)
        out = _console()
        out.print(f"suggestion {row.id} ({row.agent} on {row.subject_type} {row.subject_id}, {row.status})",
                  markup=False)
        out.print(row.title, markup=False)
        out.print(row.body, markup=False, soft_wrap=True)
        out.print(json.dumps(row.evidence, indent=2, default=str), markup=False, soft_wrap=True)


@app.command()
def accept(suggestion_id: IdArg, user: AsOpt) -> None:
    """Accept: marks it accepted and, for a proposed expansion deal, creates the deal (once)."""
    from core.db.engine import session_scope
    from core.services.suggestions import accept as do_accept

    with session_scope() as session:
        result = do_accept(session, suggestion_id, user)
    deal = f"; created deal {result.deal_id}" if result.deal_id else ""
    _console().print(f"suggestion {result.suggestion_id} accepted by user {user}{deal}", markup=False)


@app.command()
def dismiss(suggestion_id: IdArg, user: AsOpt,
            reason: Annotated[str | None, typer.Option("--reason", help="Why (in the audit log).")] = None) -> None:
    """Dismiss: marks it dismissed; the same signals do not suggest it again."""
    from core.db.engine import session_scope
    from core.services.suggestions import dismiss as do_dismiss

    with session_scope() as session:
        result = do_dismiss(session, suggestion_id, user, reason=reason)
    _console().print(f"suggestion {result.suggestion_id} dismissed by user {user}", markup=False)
