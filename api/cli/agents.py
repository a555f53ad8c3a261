"""`salesagents run AGENT` (inline, for the demo and debugging) and `salesagents runs` (what ran, how it ended)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from agents import registry
from agents.runtime import runs as run_service
from agents.runtime.executor import RunOutcome, execute_until_settled
from core.db.engine import session_scope
from core.errors import InvalidInput
from core.models.agents import RUN_STATUSES
from core.services.outputs import outputs_of_run

MAX_LISTED_OUTPUTS = 10


def _describe(kind: str, row: Any) -> str:
    if kind == "scores":
        return f"score {row.purpose} = {float(row.score):g}" + (f" ({row.band})" if row.band else "")
    if kind == "suggestions":
        return f"suggestion #{row.id}: {row.title}" + (" [fallback]" if row.fallback else "")
    if kind == "tasks":
        due = f", due {row.due_at:%Y-%m-%d}" if row.due_at else ""
        return f"task #{row.id}: {row.title}{due}"
    return f"draft #{row.id} to {row.recipient}: {row.subject} [{row.status}]"


def _outcomes_table(results: list[tuple[int | None, RunOutcome]]) -> Table:
    table = Table(title="Runs")
    for name in ("run", "subject", "status", "model calls", "ms", "error"):
        table.add_column(name, justify="right" if name in ("run", "subject", "model calls", "ms") else "left")
    colour = {"succeeded": "green", "failed": "red", "skipped": "yellow", "waiting_review": "cyan"}
    for subject_id, o in results:
        status = f"[{colour.get(o.status, 'white')}]{o.status}[/]"
        table.add_row(str(o.run_id), str(subject_id or ""), status, str(o.llm_calls), f"{o.duration_ms:,}",
                      o.error or "")
    return table


def run(agent: Annotated[str, typer.Argument(help="Registered agent name (see SALESAGENTS_AGENT_MODULES).")],
        subject: Annotated[int | None, typer.Option("--subject", help="Run on this subject id.")] = None,
        all_subjects: Annotated[bool, typer.Option("--all", help="Run on every subject of the agent's sweep.")]
        = False) -> None:
    """Run an agent now, in this process (no worker needed), and print each run's outcome and outputs.

    Exits 1 when a run failed, so scripts notice.
    """
    from api.cli.main import console

    if (subject is None) == (not all_subjects):
        raise InvalidInput("--subject", "give either --subject ID or --all")
    spec = registry.get(agent)
    now = datetime.now(UTC)
    with session_scope() as session:
        if all_subjects:
            if spec.subjects is None:
                raise InvalidInput("--all", f"{agent} has no subject sweep; use --subject ID")
            subject_ids: list[int | None] = list(spec.subjects(session, now))
        else:
            subject_ids = [subject]
        queued = []
        for subject_id in subject_ids:
            created = run_service.create_run(session, agent, "manual", spec.subject_type, subject_id)
            assert created is not None  # no dedupe key: a manual run is always new
            queued.append((subject_id, created.id))
    if not queued:
        console.print(f"{agent}: no subjects to run on")
        return
    results = [(subject_id, execute_until_settled(run_id)) for subject_id, run_id in queued]
    console.print(_outcomes_table(results))
    with session_scope() as session:
        for subject_id, outcome in results[:MAX_LISTED_OUTPUTS]:
            written = outputs_of_run(session, outcome.run_id)
            lines = [_describe(kind, row) for kind, rows in written.items() for row in rows]
            for item in outcome.interrupts:
                lines.append(f"waiting for review: {item['value']}")
            if lines:
                console.print(f"[bold]run {outcome.run_id}[/bold] ({spec.subject_type} {subject_id}):")
                for line in lines:
                    console.print(f"  {line}", soft_wrap=True)
    counts = {s: sum(1 for _, o in results if o.status == s) for s in RUN_STATUSES}
    console.print(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    if counts["failed"]:
        raise typer.Exit(1)


def runs(agent: Annotated[str | None, typer.Option("--agent", help="Only this agent.")] = None,
         status: Annotated[str | None, typer.Option("--status", help=f"One of {', '.join(RUN_STATUSES)}.")] = None,
         limit: Annotated[int, typer.Option("--limit", help="Newest N runs.")] = 20) -> None:
    """List recent agent runs with their status, model use and errors."""
    from api.cli.main import console

    if status is not None and status not in RUN_STATUSES:
        raise InvalidInput("--status", f"expected one of {', '.join(RUN_STATUSES)}, got {status!r}")
    if not 1 <= limit <= 1000:
        raise InvalidInput("--limit", f"must be 1 to 1000, got {limit}")
    with session_scope() as session:
        rows = run_service.list_runs(session, agent=agent, status=status, limit=limit)
        if not rows:
            console.print("no runs")
            return
        table = Table(title="Agent runs, newest first")
        for name in ("id", "agent", "subject", "status", "tries", "calls", "tokens", "finished", "error"):
            table.add_column(name, no_wrap=name != "error")
        for r in rows:
            table.add_row(str(r.id), r.agent, f"{r.subject_type or ''} {r.subject_id or ''}".strip(), r.status,
                          str(r.attempts), str(r.llm_calls), f"{r.input_tokens + r.output_tokens:,}",
                          f"{r.finished_at:%m-%d %H:%M}" if r.finished_at else "", (r.error or "")[:80])
        console.print(table)
