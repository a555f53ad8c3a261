"""A real Redis (db 13) and a real worker: in a thread (solo pool) for the flows, in subprocesses for SIGKILL.

Each test runs on a scratch database, since the worker must see committed rows.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun, task_revoked
from sqlalchemy import select

from agents.celery_app import create_app
from agents.enqueue import CHECK_APPROVALS, DISPATCH_OUTBOX, RUN_AGENT, SCHEDULE_AGENT, SWEEP, celery_enqueue
from agents.runtime.runs import create_run
from core.config import get_settings
from core.db.engine import session_scope
from core.models import AgentRun, AgentScore, OutboxEvent, Task
from core.models.enums import ActivityKind
from core.services.engagement import log_activity
from tests import factories
from tests.celery_support import SAMPLE_MODULES, BrokerSpace, WorkerProcess, wait_for

pytest_plugins = ("tests.celery_fixtures",)


class Observed:
    """What the in-process worker did, from Celery's own signals."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.finished: list[tuple[str, Any]] = []
        self.revoked: list[tuple[str, bool]] = []

    def on_postrun(self, sender: Any = None, task: Any = None, retval: Any = None, **_: Any) -> None:
        with self.lock:
            self.finished.append((task.name, retval))

    def on_revoked(self, sender: Any = None, request: Any = None, expired: bool = False, **_: Any) -> None:
        with self.lock:
            self.revoked.append((request.id, expired))

    def count(self, name: str) -> int:
        with self.lock:
            return sum(1 for task_name, _ in self.finished if task_name == name)

    def result(self, name: str) -> Any:
        with self.lock:
            return next(retval for task_name, retval in self.finished if task_name == name)


@pytest.fixture
def worker(scratch_db: object, sample_agents: None, broker: BrokerSpace) -> Iterator[tuple[Celery, Observed]]:
    """A solo worker in a thread on its own Redis db; it executes tasks against the scratch database."""
    app = create_app(get_settings())
    observed = Observed()
    task_postrun.connect(observed.on_postrun, weak=False)
    task_revoked.connect(observed.on_revoked, weak=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            yield app, observed
    finally:
        task_postrun.disconnect(observed.on_postrun)
        task_revoked.disconnect(observed.on_revoked)


def _runs(agent: str = "sample_scorer") -> list[AgentRun]:
    with session_scope() as session:
        return list(session.scalars(select(AgentRun).where(AgentRun.agent == agent).order_by(AgentRun.id)))


def _finished(agent: str = "sample_scorer", count: int = 1) -> list[AgentRun] | None:
    runs = _runs(agent)
    done = [r for r in runs if r.status in ("succeeded", "failed", "skipped")]
    return runs if len(done) >= count else None


def _scores(run_id: int) -> list[AgentScore]:
    with session_scope() as session:
        return list(session.scalars(select(AgentScore).where(AgentScore.run_id == run_id)))


def _tasks(run_id: int) -> list[Task]:
    with session_scope() as session:
        return list(session.scalars(select(Task).where(Task.agent_run_id == run_id)))


def test_an_outbox_event_becomes_exactly_one_run_and_its_outputs(worker: tuple[Celery, Observed]) -> None:
    app, observed = worker
    with session_scope() as session:
        lead_id = factories.lead(session, employees=500, industry="Logistics").id
    app.send_task(DISPATCH_OUTBOX, expires=30)
    (run,) = wait_for(_finished, 30, "the run of the lead.created event")
    app.send_task(DISPATCH_OUTBOX, expires=30)  # a second pass finds nothing left to do
    wait_for(lambda: observed.count(DISPATCH_OUTBOX) == 2, 10, "the second dispatch")
    assert [r.id for r in _runs()] == [run.id]
    assert (run.status, run.trigger, run.subject_id, run.attempts) == ("succeeded", "event", lead_id, 1)
    with session_scope() as session:
        event = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "lead.created")).one()
        assert run.event_id == event.id and event.dispatched_at is not None
    (score,) = _scores(run.id)
    assert score.subject_id == lead_id and score.factors["company_size"] == 10
    assert len(_tasks(run.id)) == 1
    assert observed.count(RUN_AGENT) == 1


def test_ten_activities_on_one_lead_within_the_window_cause_one_run(worker: tuple[Celery, Observed]) -> None:
    app, observed = worker
    with session_scope() as session:
        lead = factories.lead(session)
        for i in range(10):
            log_activity(session, kind=ActivityKind.call, subject=f"call {i}", lead_id=lead.id)
    app.send_task(DISPATCH_OUTBOX, expires=30)
    (run,) = wait_for(_finished, 30, "the rescoring run")
    assert run.status == "succeeded" and run.subject_id == lead.id
    (score,) = _scores(run.id)
    assert score.factors["engagement"] == 30  # the one run read all ten activities
    assert observed.count(RUN_AGENT) == 1 and len(_runs()) == 1


def test_an_expired_message_is_not_executed_and_the_sweeper_sends_a_new_one(
        worker: tuple[Celery, Observed], monkeypatch: pytest.MonkeyPatch) -> None:
    app, observed = worker
    with session_scope() as session:
        lead = factories.lead(session)
        run = create_run(session, "sample_scorer", "manual", "lead", lead.id)
        assert run is not None
        run_id = run.id
    message = app.send_task(RUN_AGENT, args=[run_id], expires=datetime.now(UTC) - timedelta(seconds=1))
    wait_for(lambda: (message.id, True) in observed.revoked, 15, "the worker to drop the expired message")
    assert observed.count(RUN_AGENT) == 0
    (queued,) = _runs()
    assert queued.status == "queued" and _scores(run_id) == []

    monkeypatch.setenv("SALESAGENTS_RUN_STUCK_AFTER_S", "1")  # the worker's sweep reads settings per call
    get_settings.cache_clear()
    wait_for(lambda: (datetime.now(UTC) - queued.queued_at).total_seconds() > 1.2, 5, "the run to turn stale")
    app.send_task(SWEEP, expires=30)
    (done,) = wait_for(_finished, 30, "the re-sent run")
    assert done.status == "succeeded" and done.id == run_id and len(_scores(run_id)) == 1
    assert observed.result(SWEEP)["requeued"] == [run_id]


def test_beat_tasks_schedule_agents_and_check_approvals(worker: tuple[Celery, Observed],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    app, observed = worker
    with session_scope() as session:
        lead_ids = sorted(factories.lead(session).id for _ in range(3))
    monkeypatch.setenv("SALESAGENTS_AGENT_SCHEDULES", '{"sample_scorer": "*/10 * * * *"}')
    get_settings.cache_clear()
    app.send_task(SCHEDULE_AGENT, args=["sample_scorer"], expires=30)
    app.send_task(SCHEDULE_AGENT, args=["sample_scorer"], expires=30)  # a doubled tick: same slot, no new runs
    runs = wait_for(lambda: _finished(count=3), 30, "the scheduled runs")
    wait_for(lambda: observed.count(SCHEDULE_AGENT) == 2, 10, "both schedule messages")
    assert sorted(r.subject_id for r in runs) == lead_ids and {r.trigger for r in runs} == {"schedule"}
    assert {r.status for r in runs} == {"succeeded"}
    app.send_task(CHECK_APPROVALS, expires=30)
    wait_for(lambda: observed.count(CHECK_APPROVALS) == 1, 10, "the SLA check")
    report = observed.result(CHECK_APPROVALS)
    assert report["escalated"] == [] and report["expired"] == []  # nothing waits for review here


# Worker subprocesses: the SIGKILL tests.


def _slow_run() -> int:
    with session_scope() as session:
        lead = factories.lead(session)
        run = create_run(session, "sample_slow", "manual", "lead", lead.id)
        assert run is not None
        return run.id


def _run(run_id: int) -> AgentRun:
    with session_scope() as session:
        run = session.get(AgentRun, run_id)
        assert run is not None
        return run


def _worker_env(slow_s: float, visibility_timeout_s: int = 600) -> dict[str, str]:
    return {"SALESAGENTS_AGENT_MODULES": SAMPLE_MODULES, "SALESAGENTS_SAMPLE_SLOW_SECONDS": str(slow_s),
            "SALESAGENTS_BROKER_VISIBILITY_TIMEOUT_S": str(visibility_timeout_s)}


def _deliveries(log: str, task_id: str) -> int:
    return log.count(f"Task agents.run_agent[{task_id}] received")


def _in_slow_node(run_id: int) -> bool:
    run = _run(run_id)  # the heartbeat after the first step: the graph is now sleeping in the slow node
    if run.status not in ("queued", "running"):
        pytest.fail(f"run {run_id} ended {run.status} before the kill: {run.error}")
    return run.status == "running" and run.heartbeat_at is not None and run.started_at is not None \
        and run.heartbeat_at > run.started_at


def test_a_sigkilled_worker_has_its_run_redelivered_to_a_new_worker(
        scratch_db: object, sample_agents: None, broker: BrokerSpace, tmp_path: Path) -> None:
    run_id = _slow_run()
    celery_enqueue(create_app(get_settings()))(run_id)
    # A dead worker's message comes back after the visibility timeout: 8 s here instead of 10 minutes (runs are
    # capped at 80 % of it, so it must leave a loaded machine time to reach the slow node).
    first = WorkerProcess("first", _worker_env(slow_s=60, visibility_timeout_s=8), tmp_path / "first.log")
    second: WorkerProcess | None = None
    try:
        first.wait_ready()
        wait_for(lambda: _in_slow_node(run_id), 30, "the first worker to be inside the slow node")
        task_id = _run(run_id).task_id
        first.kill()
        assert _run(run_id).status == "running" and _scores(run_id) == []
        second = WorkerProcess("second", _worker_env(slow_s=0.2, visibility_timeout_s=8), tmp_path / "second.log")
        second.wait_ready()
        done = wait_for(lambda: _run(run_id).status != "running" and _run(run_id), 30, "the redelivered run")
    finally:
        first.stop()
        if second is not None:
            second.stop()
        print(first.log()[-4000:], second.log()[-4000:] if second else "")  # shown when the test fails
    assert done.status == "succeeded", second.log()[-3000:] if second else ""
    assert done.attempts == 2 and done.task_id == task_id  # the same message, claimed again by its own id
    assert [float(s.score) for s in _scores(run_id)] == [0.2]  # one output, written by the second worker
    assert task_id is not None and _deliveries(first.log(), task_id) == 1
    assert _deliveries(second.log(), task_id) == 1


def test_a_killed_pool_process_has_its_message_requeued(
        scratch_db: object, sample_agents: None, broker: BrokerSpace, tmp_path: Path) -> None:
    run_id = _slow_run()
    celery_enqueue(create_app(get_settings()))(run_id)
    worker = WorkerProcess("pool", _worker_env(slow_s=1.5), tmp_path / "pool.log")
    try:
        worker.wait_ready()
        wait_for(lambda: _in_slow_node(run_id), 30, "the pool process to be inside the slow node")
        (child,) = worker.pool_children()
        os.kill(child, signal.SIGKILL)  # the OOM killer's way: the pool process dies, its parent lives
        done = wait_for(lambda: _run(run_id).status != "running" and _run(run_id), 30, "the requeued run")
    finally:
        worker.stop()
        print(worker.log()[-4000:])  # shown when the test fails
    assert done.status == "succeeded"
    assert done.attempts == 2 and len(_scores(run_id)) == 1
    assert "WorkerLostError" in worker.log()
    assert _deliveries(worker.log(), str(done.task_id)) == 2  # requeued once, run once more, no third copy


def test_a_run_is_stopped_before_its_message_could_be_redelivered(
        scratch_db: object, sample_agents: None, broker: BrokerSpace, tmp_path: Path) -> None:
    run_id = _slow_run()
    celery_enqueue(create_app(get_settings()))(run_id)
    # Visibility timeout 2 s: the soft limit (1.6 s) ends the 30 s run before Redis would hand out a copy.
    worker = WorkerProcess("limit", _worker_env(slow_s=30, visibility_timeout_s=2), tmp_path / "limit.log")
    try:
        worker.wait_ready()
        done = wait_for(lambda: _run(run_id).status not in ("queued", "running") and _run(run_id), 20,
                        "the time limit to end the run")
        time.sleep(2.5)  # past the visibility timeout: a copy would have been delivered by now
    finally:
        worker.stop()
        print(worker.log()[-4000:])  # shown when the test fails
    assert done.status == "failed" and "SoftTimeLimitExceeded" in (done.error or ""), done.error
    assert _scores(run_id) == [] and _deliveries(worker.log(), str(done.task_id)) == 1
