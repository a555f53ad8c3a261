"""Outbox dispatcher, schedule slots and sweeper against the real database (no broker: enqueue is recorded)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from kombu.exceptions import OperationalError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from agents import registry
from agents.dispatcher import MAX_EVENT_ATTEMPTS, debounce_key, dispatch_events, dispatch_once
from agents.registry import AgentSpec
from agents.runtime.runs import create_run
from agents.schedules import schedule_agent, schedule_runs
from agents.sweeper import sweep, sweep_runs
from core.config import get_settings
from core.db.engine import session_scope
from core.models import AgentRun, OutboxEvent
from core.models.enums import ActivityKind
from core.repositories.events import add_event, pending_events
from core.services.engagement import log_activity
from tests import factories
from tests.celery_support import settings_with

pytest_plugins = ("tests.celery_fixtures",)
pytestmark = pytest.mark.usefixtures("sample_agents")

T0 = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)  # a Monday


def _runs(session: Session, agent: str = "sample_scorer") -> list[AgentRun]:
    return list(session.scalars(select(AgentRun).where(AgentRun.agent == agent).order_by(AgentRun.id)))


def _event(session: Session, topic: str, aggregate_id: int, at: datetime, **payload: object) -> OutboxEvent:
    event = add_event(session, topic, "lead" if topic == "lead.created" else "activity", aggregate_id, dict(payload))
    session.flush()
    event.created_at = at
    session.flush()
    return event


def test_debounce_key_is_one_fixed_window_per_subject() -> None:
    start = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
    keys = {debounce_key("lead", 7, start + timedelta(seconds=s), 60) for s in range(0, 60, 7)}
    assert len(keys) == 1
    assert debounce_key("lead", 7, start + timedelta(seconds=60), 60) not in keys
    assert debounce_key("lead", 8, start, 60) not in keys
    assert keys == {f"event:lead:7:{int(start.timestamp()) // 60}"}


def test_a_lead_created_event_becomes_one_queued_run(session: Session) -> None:
    lead = factories.lead(session)
    result = dispatch_events(session, T0, get_settings())
    runs = _runs(session)
    assert [(r.trigger, r.subject_type, r.subject_id, r.status) for r in runs] == [("event", "lead", lead.id, "queued")]
    event = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "lead.created",
                                                      OutboxEvent.aggregate_id == lead.id)).one()
    assert runs[0].event_id == event.id
    assert runs[0].dedupe_key == debounce_key("lead", lead.id, event.created_at, get_settings().event_debounce_s)
    assert result.run_ids == [runs[0].id]
    session.refresh(event)
    assert event.dispatched_at == T0
    again = dispatch_events(session, T0 + timedelta(seconds=1), get_settings())
    assert (again.events, again.run_ids) == (0, [])


def test_ten_activities_on_one_lead_in_the_window_cause_one_run(session: Session) -> None:
    lead = factories.lead(session)
    other = factories.lead(session)
    for i in range(10):
        log_activity(session, kind=ActivityKind.call, subject=f"call {i}", lead_id=lead.id)
    log_activity(session, kind=ActivityKind.email, subject="hello", lead_id=other.id)
    result = dispatch_events(session, T0, get_settings())
    assert result.events == 13  # two lead.created + eleven activity.logged
    assert sorted(r.subject_id or 0 for r in _runs(session)) == sorted([lead.id, other.id])
    assert result.debounced == 11
    assert session.scalar(select(func.count()).select_from(OutboxEvent)
                          .where(OutboxEvent.dispatched_at.is_(None))) == 0


def test_events_in_a_later_window_join_a_run_still_queued_but_not_a_running_one(session: Session) -> None:
    lead = factories.lead(session)
    dispatch_events(session, T0, get_settings())
    (first,) = _runs(session)
    later = first.queued_at + timedelta(minutes=5)
    _event(session, "activity.logged", 0, later, lead_id=lead.id)
    dispatch_events(session, later, get_settings())
    assert [r.id for r in _runs(session)] == [first.id]  # it has not read the lead yet: the event joins it

    session.execute(update(AgentRun).where(AgentRun.id == first.id).values(status="running"))
    _event(session, "activity.logged", 0, later + timedelta(seconds=1), lead_id=lead.id)
    dispatch_events(session, later, get_settings())
    runs = _runs(session)
    assert len(runs) == 2 and runs[1].status == "queued"  # the running one may have read stale data


def test_events_no_agent_listens_to_are_closed_without_runs(session: Session) -> None:
    account = factories.account(session)
    add_event(session, "account.updated", "account", account.id, {})
    session.flush()
    result = dispatch_events(session, T0, get_settings())
    assert result.events == 1 and result.run_ids == [] and _runs(session) == []
    assert pending_events(session) == []


def test_a_malformed_event_is_retried_then_closed_with_its_error_without_blocking_others(session: Session) -> None:
    def subject(event: OutboxEvent) -> int | None:
        return int(event.payload["lead"])  # KeyError on a payload without "lead"

    spec = AgentSpec(name="picky", subject_type="lead", build_graph=lambda cp: None,
                     gather=lambda s, i, n: {}, events=("picky.poke",), event_subject=subject)
    registry.register(spec)
    try:
        lead = factories.lead(session)
        bad = add_event(session, "picky.poke", "lead", lead.id, {})
        good = add_event(session, "picky.poke", "lead", lead.id, {"lead": lead.id})
        session.flush()
        for attempt in range(1, MAX_EVENT_ATTEMPTS + 1):
            result = dispatch_events(session, T0 + timedelta(seconds=attempt), get_settings())
            assert result.failed_events == 1
            session.refresh(bad)
            assert bad.attempts == attempt and "KeyError" in (bad.last_error or "")
            assert (bad.dispatched_at is None) == (attempt < MAX_EVENT_ATTEMPTS)
        session.refresh(good)
        assert good.dispatched_at == T0 + timedelta(seconds=1)
        assert [r.subject_id for r in _runs(session, "picky")] == [lead.id]
    finally:
        registry.unregister("picky")


def test_a_broken_agent_module_fails_the_pass_without_touching_events(session: Session,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    factories.lead(session)
    monkeypatch.setenv("SALESAGENTS_AGENT_MODULES", '["tests.no_such_module"]')
    get_settings.cache_clear()
    with pytest.raises(Exception, match="agent_modules"):
        dispatch_events(session, T0, get_settings())
    assert len(pending_events(session)) == 1


def test_schedule_runs_one_per_subject_per_slot(session: Session) -> None:
    leads = [factories.lead(session).id for _ in range(3)]
    settings = settings_with(agent_schedules={"sample_scorer": "0 7 * * 1"})  # Mondays 07:00
    first = schedule_runs(session, "sample_scorer", T0, settings)
    assert first.slot == "2026-03-02T07:00Z" and first.subjects >= 3
    runs = {r.subject_id: r for r in _runs(session)}
    assert set(leads) <= set(runs)
    assert runs[leads[0]].trigger == "schedule"
    assert runs[leads[0]].dedupe_key == f"schedule:sample_scorer:2026-03-02T07:00Z:{leads[0]}"
    same_slot = schedule_runs(session, "sample_scorer", T0 + timedelta(days=6), settings)  # Sunday: same slot
    assert same_slot.run_ids == [] and same_slot.slot == first.slot
    next_slot = schedule_runs(session, "sample_scorer", T0 + timedelta(days=7), settings)
    assert next_slot.slot == "2026-03-09T07:00Z" and len(next_slot.run_ids) == first.subjects


def test_schedule_needs_a_scheduled_agent_and_its_cron(session: Session) -> None:
    with pytest.raises(Exception, match="not a scheduled agent"):
        schedule_runs(session, "sample_slow", T0, get_settings())
    with pytest.raises(Exception, match=r"agent_schedules\[sample_scorer\]"):
        schedule_runs(session, "sample_scorer", T0, settings_with(agent_schedules={}))


def _run_at(session: Session, status: str, queued_at: datetime, heartbeat_at: datetime | None = None) -> AgentRun:
    lead = factories.lead(session)
    run = create_run(session, "sample_scorer", "manual", "lead", lead.id)
    assert run is not None
    session.execute(update(AgentRun).where(AgentRun.id == run.id)
                    .values(status=status, queued_at=queued_at, heartbeat_at=heartbeat_at,
                            started_at=queued_at if status == "running" else None))
    session.refresh(run)
    return run


def test_sweeper_fails_silent_running_runs_and_resends_stale_queued_ones(session: Session) -> None:
    settings = settings_with(run_stuck_after_s=600)
    silent = _run_at(session, "running", T0 - timedelta(hours=1), heartbeat_at=T0 - timedelta(minutes=11))
    alive = _run_at(session, "running", T0 - timedelta(hours=1), heartbeat_at=T0 - timedelta(minutes=1))
    stale = _run_at(session, "queued", T0 - timedelta(minutes=11))
    fresh = _run_at(session, "queued", T0 - timedelta(minutes=1))
    result = sweep_runs(session, T0, settings)
    assert result.failed == [silent.id] and result.requeued == [stale.id]
    for run in (silent, alive, stale, fresh):
        session.refresh(run)
    assert (silent.status, silent.finished_at) == ("failed", T0) and "no heartbeat for 600 s" in (silent.error or "")
    assert alive.status == "running" and stale.status == "queued" and fresh.status == "queued"
    # One re-send per period: the next sweep a minute later leaves `stale` alone, eleven minutes later not.
    assert sweep_runs(session, T0 + timedelta(minutes=1), settings).requeued == []
    assert sweep_runs(session, T0 + timedelta(minutes=11), settings).requeued == [stale.id, fresh.id]


# Entry points: they own their transactions, so they run on a scratch database.


def _committed_status(run_id: int) -> str | None:
    with session_scope() as other:  # a fresh connection: only committed rows are visible
        run = other.get(AgentRun, run_id)
        return run.status if run else None


def test_dispatch_once_enqueues_only_committed_runs(scratch_db: object) -> None:
    with session_scope() as session:
        lead_id = factories.lead(session).id
    seen: list[str | None] = []
    result = dispatch_once(lambda run_id: seen.append(_committed_status(run_id)))
    assert result.enqueued == 1 and seen == ["queued"]
    with session_scope() as session:
        assert [r.subject_id for r in _runs(session)] == [lead_id]


def test_broker_outage_leaves_runs_queued_for_the_sweeper(scratch_db: object) -> None:
    with session_scope() as session:
        for _ in range(3):
            factories.lead(session)

    def down(run_id: int) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    result = dispatch_once(down)
    assert len(result.run_ids) == 3 and result.enqueued == 0 and "broker unreachable" in (result.enqueue_error or "")
    with session_scope() as session:
        assert [r.status for r in _runs(session)] == ["queued"] * 3
        assert pending_events(session) == []
    sent: list[int] = []
    later = datetime.now(UTC) + timedelta(seconds=get_settings().run_stuck_after_s + 1)
    swept = sweep(sent.append, now=later)
    assert sorted(sent) == sorted(result.run_ids) and swept.enqueued == 3


def test_schedule_agent_commits_before_enqueueing(scratch_db: object) -> None:
    with session_scope() as session:
        factories.lead(session)
    settings = settings_with(agent_schedules={"sample_scorer": "*/5 * * * *"})
    seen: list[str | None] = []
    first = schedule_agent("sample_scorer", lambda run_id: seen.append(_committed_status(run_id)), now=T0,
                           settings=settings)
    again = schedule_agent("sample_scorer", lambda run_id: seen.append(_committed_status(run_id)),
                           now=T0 + timedelta(minutes=4), settings=settings)
    assert first.slot == again.slot == "2026-03-02T09:00Z"
    assert seen == ["queued"] and again.run_ids == []


def test_concurrent_dispatchers_skip_each_others_rows(scratch_db: object) -> None:
    with session_scope() as session:
        lead_ids = [factories.lead(session).id for _ in range(40)]
    # A dispatcher holding its claim does not block another: SKIP LOCKED hands it nothing, at once.
    with session_scope() as holder:
        held = pending_events(holder, limit=100)
        assert len(held) == 40
        box: list = []
        other = threading.Thread(target=lambda: box.append(dispatch_once(lambda run_id: None)))
        other.start()
        other.join(timeout=10)
        assert not other.is_alive() and box[0].events == 0
        holder.rollback()
    sent: list[int] = []
    lock = threading.Lock()

    def enqueue(run_id: int) -> None:
        with lock:
            sent.append(run_id)

    def drain() -> None:
        while dispatch_once(enqueue, limit=3).events:
            pass

    workers = [threading.Thread(target=drain) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    with session_scope() as session:
        runs = _runs(session)
        assert sorted(r.subject_id or 0 for r in runs) == sorted(lead_ids)
        assert sorted(sent) == sorted(r.id for r in runs)  # each run enqueued exactly once
        assert pending_events(session) == []
