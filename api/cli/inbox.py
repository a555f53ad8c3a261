"""`salesagents inbox list|approve|edit|reject`: the reviewer's inbox, each draft beside the customer's own words.

Deciding reuses `api.cli.approvals` (claim, then resume the paused agent); `list` adds what the approvals table
does not show: the NPS answer (score, category, comment) a reply draft answers, and the draft itself.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli import approvals as approvals_cli

app = typer.Typer(help="Drafts waiting for you, with the customer's comment beside each; approve, edit or reject.",
                  no_args_is_help=True)

BODY_CHARS = 600


def _clip(text: str | None, limit: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@app.command("list")
def list_(reviewer: Annotated[int | None, typer.Option(
              "--reviewer", help="User id; without it (and without --all): the drafts nobody is assigned to.")] = None,
          everyone: Annotated[bool, typer.Option("--all", help="Every pending draft, whoever reviews it.")] = False,
          agent: Annotated[str | None, typer.Option("--agent", help="Only this agent's drafts.")] = None,
          limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50) -> None:
    """Pending drafts, most urgent first: the customer's comment (for NPS replies) beside the draft to decide."""
    from core.db.engine import session_scope
    from core.errors import NotFound
    from core.repositories import approvals as approvals_repo
    from core.repositories.nps_followup import inbox

    with session_scope() as session:
        if reviewer is not None and approvals_repo.user(session, reviewer) is None:
            raise NotFound("user", reviewer)
        rows = inbox(session, reviewer, everyone=everyone, agent=agent, limit=limit)
    console: Any = approvals_cli._console()
    who = "anyone" if everyone else (f"user {reviewer}" if reviewer is not None else "nobody (unassigned)")
    if not rows:
        console.print(f"nothing waits for {who}", markup=False)
        return
    table = Table(title=f"inbox of {who}: {len(rows)} pending", show_lines=True)
    for col in ("id", "agent", "to", "customer said", "draft", "due"):
        table.add_column(col, overflow="fold")
    for row in rows:
        said = (f"{row.score}/10 {row.category}: {_clip(row.comment, 300) or '(no comment)'}"
                if row.score is not None else "")
        table.add_row(str(row.approval_id), row.agent, row.recipient, said,
                      f"{row.subject}\n\n{_clip(row.body, BODY_CHARS)}", f"{row.due_at:%Y-%m-%d %H:%M}")
    console.print(table)
    console.print("decide with `salesagents inbox approve ID`, `inbox edit ID --text ...` or "
                  "`inbox reject ID --reason ...`", markup=False)


app.command("approve")(approvals_cli.approve)
app.command("edit")(approvals_cli.edit)
app.command("reject")(approvals_cli.reject)
