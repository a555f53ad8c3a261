"""quote_followup.v1: build the scenarios, run the agent twice (the daily sweep, then a run on every quote after
the rep approved the first nudges), and measure which quotes got nudges, tasks and escalations.

Figures: precision and recall of nudges (drafts), tasks and escalations (high-priority tasks) against the
expected actions, the share of nudges in the expected window, and duplicates: outputs beyond one per quote and
window, and outputs written by the repeated run (both must be 0).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime

import httpx
from sqlalchemy import select
from sqlalchemy.engine import Engine

from agents import registry
from agents.quote_followup import agent_specs
from agents.quote_followup.nodes import due_quotes
from agents.runtime import runs
from agents.runtime.executor import execute_run
from core.config import Settings, get_settings
from core.db.engine import session_scope
from core.models import Approval, Draft, LlmCall, MailMessage, Task
from core.models.enums import TaskPriority
from core.services import approvals
from evals.quote_followup.scenarios import SCENARIOS, SETTINGS, Built, Scenario, build_all
from tools.quote_followup.selection import AGENT

SUITE_ID = "quote_followup.v1"


@dataclass
class QuoteFollowupResult:
    scenarios: int
    nudges: dict[str, float]
    tasks: dict[str, float]
    escalations: dict[str, float]
    window_accuracy: float
    duplicates: int
    repeated_run_outputs: int
    due_after_runs: int
    runs: dict[str, int]
    llm_outcomes: dict[str, int]  # ledger rows by outcome (over_budget: the template text, no model call)
    approved: int
    mail_stored: int
    mismatches: list[str] = field(default_factory=list)


@contextmanager
def suite_settings() -> Iterator[Settings]:
    """The suite's nudge delays (env, as an operator sets them), restored afterwards."""
    names = {key: f"SALESAGENTS_{key.upper()}" for key in SETTINGS}
    saved = {env: os.environ.get(env) for env in names.values()}
    for key, env in names.items():
        value = SETTINGS[key]
        os.environ[env] = json.dumps(value) if isinstance(value, dict) else str(value)
    get_settings.cache_clear()
    try:
        yield get_settings()
    finally:
        for env, old in saved.items():
            if old is None:
                os.environ.pop(env, None)
            else:
                os.environ[env] = old
        get_settings.cache_clear()


def _pr(expected: set[int], predicted: set[int]) -> dict[str, float]:
    hits = len(expected & predicted)
    return {"precision": hits / len(predicted) if predicted else 1.0,
            "recall": hits / len(expected) if expected else 1.0,
            "expected": len(expected), "predicted": len(predicted)}


def _round(engine: Engine, quote_ids: list[int], trigger: str, now: datetime, settings: Settings,
           http_client: httpx.Client | None) -> list[str]:
    with session_scope(engine) as session:
        run_ids = []
        for quote_id in quote_ids:
            run = runs.create_run(session, AGENT, trigger, "quote", quote_id)
            assert run is not None
            run_ids.append(run.id)
    return [execute_run(run_id, now=now, engine=engine, settings=settings, http_client=http_client).status
            for run_id in run_ids]


def _outputs(engine: Engine) -> tuple[Counter[int], Counter[int], set[int], set[tuple[int, str]]]:
    """Drafts and tasks per quote, quotes with a high-priority task, and (quote, window) of every output."""
    drafts: Counter[int] = Counter()
    tasks: Counter[int] = Counter()
    urgent: set[int] = set()
    windows: set[tuple[int, str]] = set()
    prefix = f"{AGENT}:quote:"
    with session_scope(engine) as session:
        for key in session.scalars(select(Draft.idempotency_key).where(Draft.agent == AGENT)):
            quote_id, _purpose, window = key.removeprefix(prefix).split(":")
            drafts[int(quote_id)] += 1
            windows.add((int(quote_id), window))
        for task_key, priority in session.execute(select(Task.idempotency_key, Task.priority)
                                                  .where(Task.idempotency_key.like(f"{prefix}%"))):
            quote_id, _purpose, window = str(task_key).removeprefix(prefix).split(":")
            tasks[int(quote_id)] += 1
            windows.add((int(quote_id), window))
            if priority in (TaskPriority.high, TaskPriority.urgent):
                urgent.add(int(quote_id))
    return drafts, tasks, urgent, windows


def _approve_pending(engine: Engine, now: datetime, settings: Settings, http_client: httpx.Client | None) -> int:
    with session_scope(engine) as session:
        pending = [(a.id, a.reviewer_id) for a in session.scalars(select(Approval).where(Approval.status == "pending"))]
    for approval_id, reviewer_id in pending:
        assert reviewer_id is not None, f"approval {approval_id} has no reviewer"
        approvals.decide(approval_id, "approve", reviewer_id, now=now, engine=engine, settings=settings,
                         http_client=http_client)
    return len(pending)


def run(engine: Engine, now: datetime, settings: Settings, *, http_client: httpx.Client | None = None,
        scenarios: tuple[Scenario, ...] = SCENARIOS) -> QuoteFollowupResult:
    """The whole suite on `engine` (a fresh database; it commits). Call inside `suite_settings()`."""
    with session_scope(engine) as session:
        built = build_all(session, now, scenarios)
    by_id: dict[int, Built] = {b.quote_id: b for b in built}
    specs = [s for s in agent_specs() if s.name not in {x.name for x in registry.all_specs()}]
    for spec in specs:
        registry.register(spec)
    try:
        with session_scope(engine) as session:
            due = due_quotes(session, now)
        statuses = _round(engine, due, "schedule", now, settings, http_client)
        after_first = _outputs(engine)
        approved = _approve_pending(engine, now, settings, http_client)
        statuses += _round(engine, sorted(by_id), "manual", now, settings, http_client)
        with session_scope(engine) as session:
            due_after = len(due_quotes(session, now))
            llm_outcomes = dict(Counter(session.scalars(select(LlmCall.outcome).where(LlmCall.agent == AGENT))))
            mail_stored = len(session.scalars(select(MailMessage.id)).all())
    finally:
        for spec in specs:
            registry.unregister(spec.name)
    drafts, tasks, urgent, windows = _outputs(engine)
    repeated = (sum(drafts.values()) - sum(after_first[0].values())) + (sum(tasks.values()) -
                                                                         sum(after_first[1].values()))
    duplicates = sum(c - 1 for c in drafts.values() if c > 1) + sum(c - 1 for c in tasks.values() if c > 1)
    expected_nudge = {q for q, b in by_id.items() if b.scenario.expected in ("nudge", "escalate")}
    expected_task = {q for q, b in by_id.items() if b.scenario.expected != "none"}
    expected_final = {q for q, b in by_id.items() if b.scenario.window == "final"}
    in_window = [q for q in expected_task & set(tasks) if (q, by_id[q].scenario.window) in windows]
    mismatches = []
    for q, b in sorted(by_id.items()):
        got = ("escalate" if q in urgent and drafts[q] else "nudge" if drafts[q] else "task" if tasks[q] else "none")
        want = b.scenario.expected
        if got != want:
            mismatches.append(f"{b.scenario.name}: expected {want}, got {got}")
    return QuoteFollowupResult(
        scenarios=len(built), nudges=_pr(expected_nudge, set(drafts)), tasks=_pr(expected_task, set(tasks)),
        escalations=_pr(expected_final, urgent),
        window_accuracy=len(in_window) / len(expected_task & set(tasks)) if expected_task & set(tasks) else 1.0,
        duplicates=duplicates, repeated_run_outputs=repeated, due_after_runs=due_after, runs=dict(Counter(statuses)),
        llm_outcomes=llm_outcomes, approved=approved, mail_stored=mail_stored, mismatches=mismatches)


def as_json(result: QuoteFollowupResult) -> str:
    return json.dumps(asdict(result), indent=2)
