"""Benchmark: the agent runtime through Redis and a real Celery worker, with a no-LLM agent step.

Starts a prefork worker (a subprocess, `celery -A agents.worker_entry`) on Redis db 14 and a throwaway
database, runs the outbox dispatcher in this process, and measures from the database's own timestamps:
- event -> output latency p50/p95 for events arriving one at a time (split into dispatch, queue and run);
- runs/s for a burst of events on distinct leads;
- orchestration overhead per run: run time (claim -> finished) minus model time (0 here: no model call),
  next to the same runs executed inline (no Celery) to show what the queue adds.
Run: `.venv/bin/python -m benchmarks.bench_runtime [--events 80 --gap 0.2 --burst 200 --poll 0.1 --concurrency 2]`.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

import redis
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from agents.dispatcher import dispatch_once
from agents.enqueue import Enqueue, celery_enqueue
from agents.registry import AgentSpec
from agents.runtime.checkpoint import setup_checkpointer
from agents.runtime.context import RunContext
from agents.runtime.executor import execute_run
from benchmarks.common import Figure, percentile, throwaway_database
from core.config import REPO_ROOT, get_settings
from core.db.engine import get_engine, session_scope
from core.errors import NotFound
from core.models import AgentRun, AgentScore, Lead, OutboxEvent
from core.services import leads as lead_service
from core.services import outputs

console = Console(width=140)
AGENT = "bench_scorer"
REDIS_DB = 14  # the tests use 13
MODULE = "benchmarks.bench_runtime"
NAME = "runtime"


# The agent: one deterministic node that reads the lead and writes a score (the shape of a no-LLM step).

class State(TypedDict, total=False):
    inputs: dict[str, Any]


def _gather(session: Session, lead_id: int | None, now: datetime) -> dict[str, Any]:
    lead = session.get(Lead, lead_id) if lead_id is not None else None
    if lead is None:
        raise NotFound("lead", lead_id)
    return {"lead_id": lead.id, "employees": lead.employees, "email": lead.email, "title": lead.title}


def _score(state: State, runtime: Runtime[RunContext]) -> State:
    ctx, inputs = runtime.context, state["inputs"]
    factors = {"size": min(50, (inputs.get("employees") or 0) // 20), "title": 25 if inputs.get("title") else 0,
               "email": 25 if inputs.get("email") else 0}
    with ctx.transaction() as session:
        outputs.write_score(session, ctx.origin, purpose="bench", score=sum(factors.values()), factors=factors,
                            model="bench_rules@1")
    return {}


def _build(checkpointer: Any) -> Any:
    graph = StateGraph(State, context_schema=RunContext)
    graph.add_node("score", _score)
    graph.add_edge(START, "score")
    graph.add_edge("score", END)
    return graph.compile(checkpointer=checkpointer)


def agent_specs() -> list[AgentSpec]:
    return [AgentSpec(name=AGENT, subject_type="lead", build_graph=_build, gather=_gather, events=("lead.created",))]


# Harness.

@dataclass
class Timing:
    run_id: int
    event_at: datetime
    queued_at: datetime
    started_at: datetime
    output_at: datetime
    finished_at: datetime
    model_ms: int


def _ms(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() * 1000


def _pct(values: list[float], q: int) -> float:
    return percentile(values, q)


def _timings(run_ids: list[int]) -> list[Timing]:
    with session_scope() as session:
        rows = session.execute(
            select(AgentRun.id, OutboxEvent.created_at, AgentRun.queued_at, AgentRun.started_at,
                   AgentScore.created_at, AgentRun.finished_at, AgentRun.model_ms)
            .join(OutboxEvent, OutboxEvent.id == AgentRun.event_id)
            .join(AgentScore, AgentScore.run_id == AgentRun.id)
            .where(AgentRun.id.in_(run_ids), AgentRun.status == "succeeded")).all()
    timings = []
    for run_id, event_at, queued_at, started_at, output_at, finished_at, model_ms in rows:
        if started_at is None or finished_at is None:
            raise RuntimeError(f"succeeded run {run_id} lacks started_at or finished_at")
        timings.append(Timing(run_id, event_at, queued_at, started_at, output_at, finished_at, model_ms))
    return timings


def _new_leads(count: int) -> None:
    with session_scope() as session:
        for i in range(count):
            lead_service.create_lead(session, first_name="Bench", last_name=f"Lead{i}", email=f"b{i}@bench.test",
                                     employees=20 * (i % 60), title="Buyer" if i % 2 else None)


def _wait_finished(run_ids: list[int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with session_scope() as session:
            left = session.scalar(select(func.count()).select_from(AgentRun).where(
                AgentRun.id.in_(run_ids), AgentRun.status.in_(("queued", "running"))))
        if not left:
            return
        time.sleep(0.05)
    raise TimeoutError(f"{left} of {len(run_ids)} runs still unfinished after {timeout_s} s")


class Dispatcher:
    """The outbox dispatcher polling in a thread, as `salesagents dispatch` does; collects the runs it made."""

    def __init__(self, enqueue: Enqueue, poll_s: float) -> None:
        self.enqueue, self.poll_s = enqueue, poll_s
        self.run_ids: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            result = dispatch_once(self.enqueue)
            self.run_ids.extend(result.run_ids)
            if not result.events:
                self._stop.wait(self.poll_s)

    def __enter__(self) -> Dispatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@contextmanager
def worker_process(env: dict[str, str], concurrency: int) -> Iterator[None]:
    """A prefork worker in its own process group; always stopped (TERM, then KILL) and reaped."""
    log = Path(tempfile.mkstemp(prefix="bench_worker_", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "agents.worker_entry", "worker", "--pool=prefork",
             f"--concurrency={concurrency}", "--loglevel=WARNING", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-n", "bench@%h"],
            cwd=REPO_ROOT, env=os.environ | env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            if proc.returncode not in (0, -signal.SIGTERM):
                console.print(f"[red]worker exited with {proc.returncode}[/red], log: {log}")
            else:
                log.unlink()


@contextmanager
def bench_environment(url: URL, broker_url: str, key_prefix: str) -> Iterator[dict[str, str]]:
    """Point this process and the worker at the throwaway database, Redis db 14 and the bench agent."""
    env = {"SALESAGENTS_DATABASE_NAME": str(url.database), "SALESAGENTS_BROKER_URL": broker_url,
           "SALESAGENTS_BROKER_KEY_PREFIX": key_prefix, "SALESAGENTS_AGENT_MODULES": f'["{MODULE}"]'}
    if get_settings().database_url:
        env["DATABASE_URL"] = url.render_as_string(hide_password=False)
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        yield env
    finally:
        get_engine().dispose()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        get_engine.cache_clear()


def _latency_rows(timings: list[Timing]) -> list[tuple[str, list[float]]]:
    return [
        ("event -> output", [_ms(t.event_at, t.output_at) for t in timings]),
        ("  event -> run queued (dispatcher poll)", [_ms(t.event_at, t.queued_at) for t in timings]),
        ("  queued -> claimed (Redis + worker)", [_ms(t.queued_at, t.started_at) for t in timings]),
        ("  claimed -> output (gather, graph)", [_ms(t.started_at, t.output_at) for t in timings]),
        ("event -> run finished", [_ms(t.event_at, t.finished_at) for t in timings]),
    ]


def _inline_overheads(count: int) -> list[float]:
    """The same agent without Celery: execute_run in this process (what `salesagents run` does)."""
    _new_leads(count)
    collected: list[int] = []
    dispatch_once(collected.append)
    durations = []
    for run_id in collected:
        outcome = execute_run(run_id)
        if outcome.status != "succeeded":
            raise RuntimeError(f"inline run {run_id} ended {outcome.status}: {outcome.error}")
        durations.append(float(outcome.duration_ms))
    return durations


QUICK = ["--events", "20", "--burst", "40"]
FULL: list[str] = []


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=80, help="events arriving one at a time (latency)")
    p.add_argument("--gap", type=float, default=0.2, help="seconds between those events")
    p.add_argument("--burst", type=int, default=200, help="events committed at once (runs/s)")
    p.add_argument("--poll", type=float, default=0.1, help="dispatcher poll interval in seconds")
    p.add_argument("--concurrency", type=int, default=2, help="worker processes (prefork)")
    return p


def main() -> None:
    run(parser().parse_args())


def run(args: argparse.Namespace) -> list[Figure]:

    broker_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    key_prefix = f"bench-{uuid.uuid4().hex[:8]}:"  # our keys only: other users of the Redis stay untouched
    broker = redis.Redis.from_url(broker_url)
    broker.ping()
    with throwaway_database("runtime") as (url, _engine), bench_environment(url, broker_url, key_prefix) as env:
        setup_checkpointer(url)
        from agents.celery_app import create_app

        app = create_app(get_settings())
        enqueue = celery_enqueue(app)
        try:
            with worker_process(env, args.concurrency), Dispatcher(enqueue, args.poll) as dispatcher:
                _new_leads(2 * args.concurrency)  # warm-up: imports, first connections, first graph
                deadline = time.monotonic() + 60
                while len(dispatcher.run_ids) < 2 * args.concurrency and time.monotonic() < deadline:
                    time.sleep(0.05)
                _wait_finished(dispatcher.run_ids, 60)
                dispatcher.run_ids.clear()

                for _ in range(args.events):
                    _new_leads(1)
                    time.sleep(args.gap)
                while len(dispatcher.run_ids) < args.events:
                    time.sleep(0.05)
                latency_ids = list(dispatcher.run_ids)
                _wait_finished(latency_ids, 120)
                dispatcher.run_ids.clear()

                started = time.perf_counter()
                _new_leads(args.burst)
                while len(dispatcher.run_ids) < args.burst:
                    time.sleep(0.02)
                burst_ids = list(dispatcher.run_ids)
                _wait_finished(burst_ids, 600)
                burst_wall = time.perf_counter() - started
            latency = _timings(latency_ids)
            burst = _timings(burst_ids)
            inline = _inline_overheads(min(args.events, 50))
        finally:
            keys = list(broker.scan_iter(match=f"{key_prefix}*"))
            if keys:
                broker.delete(*keys)
            broker.close()

    return _report(args, latency, burst, burst_wall, inline)


def _report(args: argparse.Namespace, latency: list[Timing], burst: list[Timing], burst_wall: float,
            inline: list[float]) -> list[Figure]:
    table = Table(title=f"Event -> output through Redis and a worker ({len(latency)} events, one every "
                        f"{args.gap:g} s; dispatcher polls every {args.poll:g} s; prefork x{args.concurrency})")
    for name in ("stage", "p50 ms", "p95 ms", "max ms"):
        table.add_column(name, justify="left" if name == "stage" else "right")
    for name, values in _latency_rows(latency):
        table.add_row(name, f"{_pct(values, 50):,.1f}", f"{_pct(values, 95):,.1f}", f"{max(values):,.1f}")
    console.print(table)
    console.print(f"load average (1/5/15 min) at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())} "
                  f"on {os.cpu_count()} cores")

    first = min(t.event_at for t in burst)
    last = max(t.finished_at for t in burst)
    span = (last - first).total_seconds()
    table = Table(title=f"Throughput: {len(burst)} events committed at once, distinct leads")
    for name in ("measure", "value"):
        table.add_column(name, justify="left" if name == "measure" else "right")
    table.add_row("runs/s (first event -> last run finished)", f"{len(burst) / span:,.1f}")
    table.add_row("runs/s (wall clock incl. creating the leads)", f"{len(burst) / burst_wall:,.1f}")
    table.add_row("event -> output p50 / p95 under the burst (ms)",
                  f"{_pct([_ms(t.event_at, t.output_at) for t in burst], 50):,.0f} / "
                  f"{_pct([_ms(t.event_at, t.output_at) for t in burst], 95):,.0f}")
    console.print(table)

    table = Table(title="Orchestration overhead per run (run time minus model time; this agent makes no model call)")
    for name in ("where", "runs", "run time p50 ms", "p95 ms", "model ms (mean)", "overhead p50 ms"):
        table.add_column(name, justify="left" if name == "where" else "right")
    for label, rows in (("worker, runs one at a time", latency), ("worker, under the burst", burst)):
        run_ms = [_ms(t.started_at, t.finished_at) for t in rows]
        model = statistics.mean(t.model_ms for t in rows)
        overhead = [r - t.model_ms for r, t in zip(run_ms, rows, strict=True)]
        table.add_row(label, str(len(rows)), f"{_pct(run_ms, 50):,.1f}", f"{_pct(run_ms, 95):,.1f}",
                      f"{model:,.1f}", f"{_pct(overhead, 50):,.1f}")
    table.add_row("inline execute_run (no Celery)", str(len(inline)), f"{_pct(inline, 50):,.1f}",
                  f"{_pct(inline, 95):,.1f}", "0.0", f"{_pct(inline, 50):,.1f}")
    console.print(table)
    to_output = [_ms(t.event_at, t.output_at) for t in latency]
    size = f"{len(latency)} events, 1 every {args.gap:g} s, prefork x{args.concurrency}"
    inline_label = "direct execute_run in-process (no outbox, Redis, worker)"
    return [
        Figure(NAME, "event -> score p50 (outbox, Redis, worker)", _pct(to_output, 50), "ms", inline_label,
               _pct(inline, 50), size, f"dispatcher polls every {args.poll:g} s"),
        Figure(NAME, "event -> score p95 (outbox, Redis, worker)", _pct(to_output, 95), "ms", inline_label,
               _pct(inline, 95), size),
        Figure(NAME, "burst throughput through the worker", len(burst) / span, "runs/s",
               "direct execute_run, one after the other", 1000 * len(inline) / sum(inline),
               f"{len(burst)} events at once"),
    ]


if __name__ == "__main__":
    main()
