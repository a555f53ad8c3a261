"""`salesagents approvals ...`: what waits for whom, and approve / edit / reject, each resuming the paused agent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from core.errors import InvalidInput

app = typer.Typer(help="Drafts waiting for a person: inbox, approve, edit, reject; SLA escalation and expiry.",
                  no_args_is_help=True)

IdArg = Annotated[int, typer.Argument(help="Approval id (see `approvals inbox`).", show_default=False)]
AsOpt = Annotated[int | None, typer.Option(
    "--as", help="User id of the person deciding (default: the assigned reviewer, or the manager it escalated to).")]


def _console() -> Any:
    from api.cli.main import console

    return console


@app.command()
def inbox(reviewer: Annotated[int | None, typer.Option(
              "--reviewer", help="User id; without it: the approvals nobody is assigned to.")] = None) -> None:
    """Pending drafts a person must decide (assigned or escalated to them), the most urgent first."""
    from datetime import UTC, datetime

    from core.db.engine import session_scope
    from core.services.approvals import inbox as pending

    with session_scope() as session:
        rows = pending(session, reviewer)
    if not rows:
        who = f"user {reviewer}" if reviewer is not None else "nobody (unassigned)"
        _console().print(f"nothing waits for {who}")
        return
    now = datetime.now(UTC)
    table = Table(title=f"approvals waiting for {'user ' + str(reviewer) if reviewer is not None else 'anyone'}")
    for col in ("id", "agent", "to", "subject", "due", "expires", "note"):
        table.add_column(col, overflow="fold")
    for row in rows:
        note = "escalated to you" if row.escalated_to_id == reviewer and reviewer is not None else (
            "overdue" if row.due_at <= now else "")
        table.add_row(str(row.approval_id), row.agent, row.recipient, row.subject, f"{row.due_at:%Y-%m-%d %H:%M}",
                      f"{row.expires_at:%Y-%m-%d %H:%M}", note)
    _console().print(table)


def _decide(approval_id: int, action: str, decider: int | None, text: str | None = None,
            reason: str | None = None) -> None:
    from core.config import get_settings
    from core.db.engine import session_scope
    from core.services.approvals import decide, default_decider

    if decider is None:
        with session_scope() as session:
            decider = default_decider(session, approval_id)
    result = decide(approval_id, action, decider, edited_text=text, reason=reason)
    mail = {"stored": f"kept in the local outbox (mail_transport={get_settings().mail_transport}; nothing sent)",
            "sent": "sent", "failed": "NOT sent: the mail server refused it (see mail_messages.error)",
            None: "nothing sent"}[result.mail_status]
    line = f"approval {result.approval_id} {result.status} by user {decider}: draft {result.draft_status}, {mail}"
    _console().print(line + (f"; run {result.run_id} {result.run_status}" if result.run_status else ""),
                     soft_wrap=True, markup=False)
    if result.error:
        _console().print(f"run {result.run_id}: {result.error}", soft_wrap=True, markup=False)


@app.command()
def approve(approval_id: IdArg, decider: AsOpt = None) -> None:
    """Approve the draft as written: the agent resumes and sends it."""
    _decide(approval_id, "approve", decider)


@app.command()
def edit(approval_id: IdArg,
         text: Annotated[str | None, typer.Option("--text", help="The corrected message.")] = None,
         file: Annotated[Path | None, typer.Option("--file", help="A file holding the corrected message.")] = None,
         decider: AsOpt = None) -> None:
    """Send a corrected text instead of the draft; the correction teaches later drafts."""
    if (text is None) == (file is None):
        raise InvalidInput("--text/--file", "give the edited message with exactly one of --text or --file")
    if file is not None:
        if not file.is_file():
            raise InvalidInput("--file", f"{file} is not a readable file")
        text = file.read_text(encoding="utf-8")
    _decide(approval_id, "edit", decider, text=text)


@app.command()
def reject(approval_id: IdArg,
           reason: Annotated[str, typer.Option("--reason", help="Why the draft must not go out.")],
           decider: AsOpt = None) -> None:
    """Reject the draft: nothing is sent, and the reason teaches later drafts."""
    _decide(approval_id, "reject", decider, reason=reason)


@app.command()
def sla() -> None:
    """Escalate overdue approvals, expire old ones, retry refused sends now (beat does it every few minutes)."""
    from core.services.approvals import check_sla

    report = check_sla()
    _console().print(f"escalated {len(report.escalated)}, expired {len(report.expired)}, "
                     f"finished {len(report.resumed)} interrupted decision(s), "
                     f"sent {len(report.resent)} message(s) the mail server had refused", markup=False)
    for approval_id, error in report.errors.items():
        _console().print(f"approval {approval_id}: {error}", soft_wrap=True, markup=False)
