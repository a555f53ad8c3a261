"""Benchmark: the nightly Deal Coach over `--deals` open deals, then a second night with ~1 % of deals changed.

Builds the CRM server-side (INSERT ... SELECT generate_series) in a throwaway database: reps, accounts with a
decision maker each, open deals in the four open stages; a healthy deal has a recent activity with its decision
maker, an open task ahead, a future close date and a stay shorter than its stage's norm, and `--flagged` of the
deals went quiet (last activity 20-60 days ago: `no_activity`). Each night is what beat does: the sweep
(`schedule_runs`: flags for every open deal, input hash against the last coached run) creates one run per
flagged deal whose facts or flags changed, then each run goes through `execute_run` with a scripted model at the
HTTP boundary (a grounded answer; the Deal Coach's own validator checks it). Before night 2, `--changed` of the
deals get a new amount, half of them flagged ones: only those may cost model calls.
Run: `.venv/bin/python -m benchmarks.bench_deal_coach [--deals 100000 --flagged 0.002 --changed 0.01]`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from agents import registry
from agents.deal_coach import agent_specs
from agents.runtime.checkpoint import setup_checkpointer
from agents.runtime.executor import execute_run
from agents.schedules import schedule_runs
from benchmarks.common import Figure, scripted_client, throwaway_database
from core.config import Settings, get_settings
from core.db.engine import session_scope
from core.models import LlmCall
from core.services import deals as deal_service
from tools.deal_coach.facts import AGENT

console = Console(width=140)
NAME = "deal coach"
NOW = datetime(2026, 11, 2, 7, tzinfo=UTC)
QUICK = ["--deals", "2000", "--flagged", "0.01", "--changed", "0.01"]
FULL: list[str] = []


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--deals", type=int, default=100_000, help="open deals")
    p.add_argument("--flagged", type=float, default=0.002, help="share of deals that went quiet (flagged)")
    p.add_argument("--changed", type=float, default=0.01, help="share of deals changed before night 2")
    p.add_argument("--reps", type=int, default=50)
    p.add_argument("--fallback-deals", type=int, default=60_000,
                   help="size to measure at when --deals hits PostgreSQL's 65,535 bind-parameter limit (0: fail)")
    return p


def build(session: Session, deals: int, flagged_every: int, reps: int) -> None:
    """Reps, accounts (5 deals each) with one decision maker, deals, their last activity and an open task."""
    pipeline = deal_service.create_pipeline(session, "Sales", is_default=True)
    params: dict[str, Any] = {"deals": deals, "accounts": max(1, deals // 5), "reps": reps, "pipeline": pipeline.id,
                              "now": NOW, "every": flagged_every}
    for sql in (
        "INSERT INTO users (email, full_name, role) SELECT 'rep' || g || '@bench.test', 'Rep ' || g, 'rep' "
        "FROM generate_series(1, :reps) g",
        "INSERT INTO accounts (name, currency, industry) SELECT 'Account ' || g, 'USD', "
        "(ARRAY['Software', 'Retail', 'Finance', 'Health'])[1 + g % 4] FROM generate_series(1, :accounts) g",
        "INSERT INTO contacts (account_id, first_name, last_name, buying_role) "
        "SELECT id, 'Dana' || id, 'Decider', 'decision_maker' FROM accounts",
        # Open stages cycle by deal number; a stay of 0-9 days is shorter than any default stage norm (14/21).
        "INSERT INTO deals (name, account_id, pipeline_id, stage_id, amount, currency, owner_id, status, "
        "stage_entered_at, created_at, expected_close_date) "
        "SELECT 'Deal ' || g, a.first + g % :accounts, :pipeline, s.ids[1 + g % 4], 1000 * (1 + g % 90), 'USD', "
        "u.first + g % :reps, 'open', :now - make_interval(days => g % 10), :now - interval '30 days', "
        "(:now + make_interval(days => 20 + g % 80))::date "
        "FROM generate_series(1, :deals) g, (SELECT min(id) AS first FROM accounts) a, "
        "(SELECT min(id) AS first FROM users) u, "
        "(SELECT array_agg(id ORDER BY position) AS ids FROM stages WHERE pipeline_id = :pipeline "
        "AND NOT is_won AND NOT is_lost) s",
        # The last activity, with the account's decision maker: 1-10 days ago, 20-59 days ago for flagged deals.
        "INSERT INTO activities (kind, subject, occurred_at, deal_id, contact_id) "
        "SELECT 'call', 'Call', :now - make_interval(days => (CASE WHEN d.id % :every = 0 THEN 20 + d.id % 40 "
        "ELSE 1 + d.id % 10 END)::int), d.id, c.id FROM deals d JOIN contacts c ON c.account_id = d.account_id",
        "INSERT INTO tasks (title, assignee_id, due_at, deal_id) "
        "SELECT 'Follow up', owner_id, :now + make_interval(days => (3 + id % 12)::int), id FROM deals",
    ):
        session.execute(text(sql), params)
    session.flush()


@dataclass
class Night:
    label: str
    sweep_s: float
    runs: int
    runs_s: float
    calls: int
    statuses: dict[str, int]

    @property
    def total_s(self) -> float:
        return self.sweep_s + self.runs_s


def night(engine: Engine, label: str, now: datetime, settings: Settings, client: Any) -> Night:
    """Beat's work for one slot: the sweep creates the runs, then each is executed (sequentially)."""
    with Session(engine) as session:
        calls_before = session.scalar(select(func.count(LlmCall.id)).where(LlmCall.agent == AGENT)) or 0
    started = time.perf_counter()
    with session_scope(engine) as session:
        result = schedule_runs(session, AGENT, now, settings)
    sweep_s = time.perf_counter() - started
    started = time.perf_counter()
    statuses: dict[str, int] = {}
    for run_id in result.run_ids:
        status = execute_run(run_id, now=now, engine=engine, settings=settings, http_client=client).status
        statuses[status] = statuses.get(status, 0) + 1
    runs_s = time.perf_counter() - started
    with Session(engine) as session:
        calls = (session.scalar(select(func.count(LlmCall.id)).where(LlmCall.agent == AGENT)) or 0) - calls_before
    return Night(label, sweep_s, len(result.run_ids), runs_s, calls, statuses)


def change(engine: Engine, share: float, flagged_every: int) -> tuple[int, int]:
    """A new amount on `share` of the deals, up to half of them flagged ones; (changed, changed and flagged)."""
    with session_scope(engine) as session:
        total = session.scalar(text("SELECT count(*) FROM deals")) or 0
        wanted = max(2, round(total * share))
        flagged_ids = session.scalars(text("SELECT id FROM deals WHERE id % :every = 0 ORDER BY id LIMIT :n"),
                                      {"every": flagged_every, "n": min(wanted // 2, total // flagged_every // 2)}
                                      ).all()
        other_ids = session.scalars(text("SELECT id FROM deals WHERE id % :every <> 0 ORDER BY id LIMIT :n"),
                                    {"every": flagged_every, "n": wanted - len(flagged_ids)}).all()
        session.execute(text("UPDATE deals SET amount = amount + 500 WHERE id = ANY(:ids)"),
                        {"ids": list(flagged_ids) + list(other_ids)})
    return len(flagged_ids) + len(other_ids), len(flagged_ids)


def grounded(body: dict[str, Any]) -> dict[str, Any]:
    """What a good model answers: an action citing nothing the deal's data does not hold."""
    due = (NOW + timedelta(days=2)).date().isoformat()
    return {"actions": [{"action": "Call the decision maker and book the next meeting",
                         "why": "No activity on the deal for weeks.", "due_date": due}]}


@dataclass
class Outcome:
    open_deals: int
    flagged: int
    build_s: float
    first: Night
    second: Night
    changed: int
    changed_flagged: int


def measure(deals: int, flagged_share: float, changed_share: float, reps: int) -> Outcome:
    """Build the CRM, run night 1, change ~1 % of the deals, run night 2 (all in one throwaway database)."""
    settings = get_settings().model_copy(update={
        "llm_base_url": "http://scripted-model.invalid/v1", "llm_model": "scripted", "llm_purposes": {},
        "llm_budgets": {}, "deal_coach_similar_deals": 0})
    flagged_every = max(1, round(1 / flagged_share))
    known = {s.name for s in registry.all_specs()}
    specs = [s for s in agent_specs() if s.name not in known]
    for spec in specs:
        registry.register(spec)
    try:
        with throwaway_database("deal_coach") as (url, engine):
            setup_checkpointer(url)
            started = time.perf_counter()
            with session_scope(engine) as session:
                build(session, deals, flagged_every, reps)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
            build_s = time.perf_counter() - started
            with Session(engine) as session:
                open_deals = session.scalar(text("SELECT count(*) FROM deals WHERE status = 'open'")) or 0
                flagged = session.scalar(text("SELECT count(*) FROM deals WHERE id % :e = 0"),
                                         {"e": flagged_every}) or 0
            client, _ = scripted_client(grounded)
            first = night(engine, "night 1 (first)", NOW, settings, client)
            changed, changed_flagged = change(engine, changed_share, flagged_every)
            second = night(engine, "night 2 (~1 % changed)", NOW + timedelta(days=1), settings, client)
    finally:
        for spec in specs:
            registry.unregister(spec.name)
    return Outcome(open_deals, flagged, build_s, first, second, changed, changed_flagged)


def run(args: argparse.Namespace) -> list[Figure]:
    failure = ""
    try:
        found = measure(args.deals, args.flagged, args.changed, args.reps)
    except OperationalError as exc:
        if not args.fallback_deals or "number of parameters" not in str(exc.orig):
            raise
        failure = (f"{args.deals:,} open deals: the sweep failed ({str(exc.orig).splitlines()[0]}); "
                   f"measured at {args.fallback_deals:,}")
        console.print(f"[red]{failure}[/red]")
        found = measure(args.fallback_deals, args.flagged, args.changed, args.reps)
    first, second = found.first, found.second
    table = Table(title=f"Nightly Deal Coach over {found.open_deals:,} open deals ({found.flagged:,} flagged; built "
                        f"in {found.build_s:.0f} s); scripted grounded model; runs executed one after the other")
    for col in ("night", "sweep s", "runs", "runs s", "ms/run", "total s", "model calls", "statuses"):
        table.add_column(col, justify="left" if col in ("night", "statuses") else "right")
    for n in (first, second):
        table.add_row(n.label, f"{n.sweep_s:.1f}", f"{n.runs:,}", f"{n.runs_s:.1f}",
                      f"{1000 * n.runs_s / n.runs:,.0f}" if n.runs else "-", f"{n.total_s:.1f}", f"{n.calls:,}",
                      ", ".join(f"{k} {v}" for k, v in sorted(n.statuses.items())))
    console.print(table)
    console.print(f"changed before night 2: {found.changed:,} deals ({found.changed_flagged:,} of them flagged)")
    size = f"{found.open_deals:,} open deals" + (f" ({args.deals:,} failed)" if failure else "")
    return [
        Figure(NAME, "night 1: sweep + coaching flagged deals", first.total_s, "s", "night 2 (~1 % changed)",
               second.total_s, size, f"sweep {first.sweep_s:.1f} s, {first.runs:,} runs; {failure}".strip("; ")),
        Figure(NAME, "night 1: model calls", first.calls, "calls", "flagged deals", float(found.flagged), size),
        Figure(NAME, "night 2: model calls", second.calls, "calls", "changed flagged deals",
               float(found.changed_flagged), size, f"{found.changed:,} deals changed"),
        Figure(NAME, "sweep over all open deals (flags + hashes)", second.sweep_s, "s",
               "coaching one flagged deal (mean run)", first.runs_s / first.runs if first.runs else None, size),
    ]


def main() -> None:
    run(parser().parse_args())


if __name__ == "__main__":
    main()
