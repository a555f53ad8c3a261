"""Outbox -> runs: claim committed events (SKIP LOCKED), debounce them per subject, commit, then enqueue.

Ten activities on one lead within `event_debounce_s` share one dedupe key, so they cause one run; an event for
a subject that already has a run waiting in the queue joins that run (it has not read the data yet).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from agents import registry
from agents.enqueue import Enqueue, enqueue_all
from agents.registry import AgentSpec
from agents.runtime.runs import create_run
from core.config import Settings, get_settings
from core.db.engine import session_scope
from core.models import OutboxEvent
from core.repositories import dispatch as dispatch_repo
from core.repositories import events as events_repo

log = logging.getLogger(__name__)

MAX_EVENT_ATTEMPTS = 5
BATCH = 200


@dataclass
class DispatchResult:
    events: int = 0
    run_ids: list[int] = field(default_factory=list)
    debounced: int = 0
    failed_events: int = 0
    enqueued: int = 0
    enqueue_error: str | None = None


def debounce_key(subject_type: str, subject_id: int, at: datetime, window_s: int) -> str:
    """Events on one subject in the same fixed window of `window_s` seconds share this key."""
    window = int(at.timestamp()) // max(1, window_s)
    return f"event:{subject_type}:{subject_id}:{window}"


def _runs_for_event(session: Session, event: OutboxEvent, specs: list[AgentSpec],
                    settings: Settings) -> tuple[list[int], int]:
    """(new run ids, events folded into an existing run) for every agent the event's topic triggers."""
    created: list[int] = []
    debounced = 0
    for spec in specs:
        subject_id = spec.event_subject(event)
        if subject_id is None:
            continue
        if dispatch_repo.queued_run(session, spec.name, spec.subject_type, subject_id) is not None:
            debounced += 1
            continue
        key = debounce_key(spec.subject_type, subject_id, event.created_at, settings.event_debounce_s)
        run = create_run(session, spec.name, "event", spec.subject_type, subject_id, dedupe_key=key,
                         event_id=event.id)
        if run is None:
            debounced += 1
        else:
            created.append(run.id)
    return created, debounced


def dispatch_events(session: Session, now: datetime, settings: Settings, limit: int = BATCH) -> DispatchResult:
    """Turn up to `limit` pending events into queued runs in the caller's transaction (nothing is enqueued)."""
    result = DispatchResult()
    specs = registry.all_specs()  # a broken agent module fails the pass; it must not poison the events
    claimed = events_repo.pending_events(session, limit)
    done: list[int] = []
    for event in claimed:
        event_id, attempts, topic = event.id, event.attempts, event.topic
        try:
            with session.begin_nested():
                created, debounced = _runs_for_event(
                    session, event, [spec for spec in specs if topic in spec.events], settings)
        except Exception as exc:  # one malformed event must not block the outbox behind it
            give_up = attempts + 1 >= MAX_EVENT_ATTEMPTS
            dispatch_repo.record_event_error(session, event_id, f"{type(exc).__name__}: {exc}"[:2000],
                                             give_up_at=now if give_up else None)
            result.failed_events += 1
            log.warning("outbox event %s (%s) failed to dispatch: %s", event_id, topic, exc)
            continue
        result.run_ids.extend(created)
        result.debounced += debounced
        done.append(event_id)
    if done:
        events_repo.mark_dispatched(session, done, now)
    result.events = len(claimed)
    return result


def dispatch_once(enqueue: Enqueue, *, now: datetime | None = None, limit: int = BATCH,
                  settings: Settings | None = None) -> DispatchResult:
    """One dispatcher pass; the entry point (task, CLI loop) calls it, it owns its transaction."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    with session_scope() as session:
        result = dispatch_events(session, now, settings, limit)
    result.enqueued, result.enqueue_error = enqueue_all(result.run_ids, enqueue)
    return result
