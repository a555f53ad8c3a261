"""Run one agent on one subject: claim, gather, skip unchanged input, drive the graph, record the outcome.

`execute_run` and `resume_run` are entry points: they own their transactions (several short ones, so the
run's status is visible while the graph works) and never leave a run half-claimed on an ordinary error.
LangGraph checkpoints every step in Postgres (thread_id = run id, durability "sync"): a redelivered message
continues a crashed run from its last step, and a paused run resumes from any process.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.types import Command
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from agents import registry
from agents.runtime import runs
from agents.runtime.checkpoint import open_checkpointer
from agents.runtime.context import RunContext
from agents.runtime.transient import is_transient, retry_delay
from core.config import Settings, get_settings
from core.db.engine import get_engine, transaction
from core.errors import Conflict, CrmError, InvalidInput
from core.models import AgentRun
from core.repositories import runs as runs_repo
from core.services.outputs import outputs_of_run
from core.services.snapshot import jsonable

RECURSION_LIMIT = 50


@dataclass(frozen=True)
class RunOutcome:
    """What one call did to a run; `claimed` is False when another worker owns it or it already finished."""

    run_id: int
    agent: str
    status: str
    claimed: bool
    error: str | None = None
    interrupts: list[Any] = field(default_factory=list)
    llm_calls: int = 0
    duration_ms: int = 0
    retry_in_s: float | None = None  # set when a lost database connection put the run back in the queue


class RunAbandoned(Exception):
    """The run stopped being ours while the graph worked (the sweeper failed it): stop at the next step."""


def input_hash(inputs: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of an agent's gathered inputs."""
    text = json.dumps(jsonable(inputs), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def error_message(exc: BaseException) -> str:
    """The operator's one-line reason: our errors already read as messages, others get their type."""
    if isinstance(exc, CrmError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}".strip()


class _Runner:
    """The pieces one execute or resume call shares: settings, sessions, clock, checkpointer URL."""

    def __init__(self, engine: Engine | None, now: datetime | None, http_client: httpx.Client | None,
                 settings: Settings | None) -> None:
        self.engine = engine or get_engine()
        self.sessions: sessionmaker[Session] = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.fixed_now = now
        self.http_client = http_client
        self.settings = settings or get_settings()
        self.started = time.monotonic()

    def now(self) -> datetime:
        return self.fixed_now or datetime.now(UTC)

    @contextmanager
    def tx(self) -> Iterator[Session]:
        with transaction(self.sessions) as session:
            yield session

    def context(self, run: AgentRun, hash_: str) -> RunContext:
        return RunContext(run_id=run.id, agent=run.agent, subject_type=run.subject_type or "",
                          subject_id=run.subject_id, input_hash=hash_, now=self.now(),
                          session_factory=self.sessions, settings=self.settings, http_client=self.http_client)

    def outcome(self, run_id: int, agent: str, status: str, *, claimed: bool = True, error: str | None = None,
                interrupts: list[Any] | None = None, llm_calls: int = 0,
                retry_in_s: float | None = None) -> RunOutcome:
        return RunOutcome(run_id, agent, status, claimed, error, interrupts or [], llm_calls,
                          int((time.monotonic() - self.started) * 1000), retry_in_s)

    def failed(self, run: AgentRun, exc: Exception, *, with_totals: bool) -> RunOutcome:
        """Record a failure: back to the queue when the database connection dropped and tries are left (the
        caller sends it again after `retry_in_s`; the checkpoint keeps the steps done), else failed."""
        message = error_message(exc)
        retry = is_transient(exc) and run.attempts < self.settings.run_attempts
        with self.tx() as session:
            totals = self.totals(session, run.id) if with_totals else {}
            if retry:
                delay = retry_delay(self.settings.run_retry_delay_s, run.attempts)
                note = f"try {run.attempts} of {self.settings.run_attempts} lost its database connection, " \
                       f"retrying in {delay:g} s: {message}"
                if runs.requeue_run(session, run.id, self.now(), note):
                    return self.outcome(run.id, run.agent, "queued", error=note, retry_in_s=delay,
                                        llm_calls=totals.get("llm_calls", 0))
            runs.fail_run(session, run.id, self.now(), message, **totals)
        return self.outcome(run.id, run.agent, "failed", error=message, llm_calls=totals.get("llm_calls", 0))

    def totals(self, session: Session, run_id: int) -> dict[str, Any]:
        totals = runs_repo.llm_totals(session, run_id)
        written = {kind: len(rows) for kind, rows in outputs_of_run(session, run_id).items()}
        return totals | {"summary": {"outputs": written}}

    def drive(self, saver: PostgresSaver, spec: registry.AgentSpec, ctx: RunContext, graph_input: Any) -> list[Any]:
        """Stream the graph step by step (a heartbeat after each); the pending interrupts when it pauses."""
        config: Any = {"configurable": {"thread_id": str(ctx.run_id)}, "recursion_limit": RECURSION_LIMIT}
        graph = spec.build_graph(saver)
        if graph_input is _CONTINUE:
            state = graph.get_state(config)
            if state.interrupts or not state.next:
                return _pending(state.interrupts)  # paused, or finished before its status was saved
            graph_input = None
        for _ in graph.stream(graph_input, config, context=ctx, durability="sync", stream_mode="updates"):
            with self.tx() as session:
                if not runs.heartbeat(session, ctx.run_id, self.now()):
                    raise RunAbandoned(f"run {ctx.run_id} is no longer running")
        return _pending(graph.get_state(config).interrupts)

    def settle(self, run: AgentRun, drive: Callable[[], list[Any]]) -> RunOutcome:
        """Drive the graph and record succeeded, waiting_review or failed with the run's model totals."""
        try:
            interrupts = drive()
        except RunAbandoned as exc:
            with self.tx() as session:
                current = runs.get_run(session, run.id)
                return self.outcome(run.id, run.agent, current.status, error=current.error or str(exc))
        except Exception as exc:  # any failure of the agent becomes the run's error (or, if transient, a retry)
            return self.failed(run, exc, with_totals=True)
        status = "waiting_review" if interrupts else "succeeded"
        with self.tx() as session:
            totals = self.totals(session, run.id)
            totals["summary"]["interrupts"] = jsonable(interrupts)
            if not runs.finish_run(session, run.id, self.now(), status=status, **totals):
                status = runs.get_run(session, run.id).status
        return self.outcome(run.id, run.agent, status, interrupts=interrupts, llm_calls=totals["llm_calls"])


def _pending(interrupts: Any) -> list[dict[str, Any]]:
    """The paused graph's interrupts as {"id", "value"}: the id addresses a resume when several wait."""
    return [{"id": i.id, "value": i.value} for i in interrupts]


_CONTINUE: Any = object()  # marker: continue the thread's checkpoint instead of starting with fresh inputs


def execute_run(run_id: int, *, now: datetime | None = None, task_id: str | None = None,
                http_client: httpx.Client | None = None, engine: Engine | None = None,
                settings: Settings | None = None) -> RunOutcome:
    """Claim a queued run (or re-claim our own after a redelivery) and take it as far as it goes."""
    runner = _Runner(engine, now, http_client, settings)
    with runner.tx() as session:
        run = runs.claim_run(session, run_id, task_id, runner.now())
        if run is None:
            current = runs.get_run(session, run_id)
            return runner.outcome(run_id, current.agent, current.status, claimed=False)
    with open_checkpointer(runner.engine.url) as saver:
        try:
            spec = registry.get(run.agent)
            if run.input_hash is not None and _has_checkpoint(saver, run.id):
                ctx = runner.context(run, run.input_hash)
                return runner.settle(run, lambda: runner.drive(saver, spec, ctx, _CONTINUE))
            with runner.tx() as session:
                inputs = jsonable(spec.gather(session, run.subject_id, runner.now()))
                if not isinstance(inputs, dict):
                    raise InvalidInput("gather", f"{spec.name} must gather a dict, got {type(inputs).__name__}")
                hash_ = input_hash(inputs)
                runs_repo.set_input_hash(session, run.id, hash_)
                previous = runs_repo.latest_comparable(session, run)
                if previous is not None and previous.input_hash == hash_:
                    runs.skip_run(session, run.id, runner.now(), f"inputs unchanged since run {previous.id}")
                    return runner.outcome(run.id, run.agent, "skipped")
        except Exception as exc:  # an unknown agent or a failed gather fails the run, not the worker
            return runner.failed(run, exc, with_totals=False)
        ctx = runner.context(run, hash_)
        return runner.settle(run, lambda: runner.drive(saver, spec, ctx, {"inputs": inputs}))


def execute_until_settled(run_id: int, **options: Any) -> RunOutcome:
    """execute_run for callers without a queue (CLI, demo, inline delivery): a run put back after a lost
    database connection is tried again here, after its delay, until it settles or its tries are used up."""
    outcome = execute_run(run_id, **options)
    while outcome.retry_in_s is not None:
        time.sleep(outcome.retry_in_s)
        outcome = execute_run(run_id, **options)
    return outcome


def _has_checkpoint(saver: PostgresSaver, run_id: int) -> bool:
    return saver.get_tuple({"configurable": {"thread_id": str(run_id), "checkpoint_ns": ""}}) is not None


def resume_run(run_id: int, resume_value: Any, *, interrupt_id: str | None = None, now: datetime | None = None,
               http_client: httpx.Client | None = None, engine: Engine | None = None,
               settings: Settings | None = None) -> RunOutcome:
    """Continue a run paused in waiting_review with a person's decision; only one caller can claim it."""
    runner = _Runner(engine, now, http_client, settings)
    with runner.tx() as session:
        run = runs_repo.claim_waiting(session, run_id, runner.now())
        if run is None:
            current = runs.get_run(session, run_id)
            raise Conflict(f"run {run_id} is {current.status}, not waiting for review")
    try:
        spec = registry.get(run.agent)
    except CrmError as exc:
        with runner.tx() as session:
            runs.fail_run(session, run.id, runner.now(), str(exc))
        return runner.outcome(run.id, run.agent, "failed", error=str(exc))
    command: Command[Any] = Command(resume={interrupt_id: resume_value} if interrupt_id else resume_value)
    ctx = runner.context(run, run.input_hash or "")
    with open_checkpointer(runner.engine.url) as saver:
        return runner.settle(run, lambda: runner.drive(saver, spec, ctx, command))
