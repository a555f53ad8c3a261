"""How a committed run reaches a worker: a Celery message with `expires=`, or inline when Redis is unreachable."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import urlsplit

import redis
from celery import Celery
from kombu.exceptions import OperationalError
from kombu.utils.url import maybe_sanitize_url

from core.config import Settings, get_settings
from core.errors import InvalidInput

log = logging.getLogger(__name__)

Enqueue = Callable[[int], None]

# Task names: the contract between senders (dispatcher, CLI, beat) and the worker's agents.tasks.
RUN_AGENT = "agents.run_agent"
DISPATCH_OUTBOX = "agents.dispatch_outbox"
SCHEDULE_AGENT = "agents.schedule_agent"
CHECK_APPROVALS = "agents.check_approvals"
SWEEP = "agents.sweep"
RETRAIN_LEAD_MODEL = "agents.retrain_lead_model"
EXPIRE_QUOTES = "agents.expire_quotes"
CAMPAIGN_REPORT = "agents.campaign_report"


def celery_enqueue(app: Celery, settings: Settings | None = None, countdown_s: float | None = None) -> Enqueue:
    """Send `run_agent(run_id)`; call only after the transaction that created the run has committed.

    `countdown_s` delays delivery (a retry after a lost database connection); the message still expires
    `task_expires_s` after it was due."""
    expires = (settings or get_settings()).task_expires_s + (countdown_s or 0)

    def enqueue(run_id: int) -> None:
        app.send_task(RUN_AGENT, args=[run_id], expires=expires, countdown=countdown_s)

    return enqueue


def inline_enqueue(run_id: int) -> None:
    """Execute the run here and now (demo, debugging, no Redis): same code path as the worker's task."""
    from agents.runtime.executor import execute_until_settled

    execute_until_settled(run_id)


def broker_available(url: str, timeout_s: float = 0.5) -> bool:
    """A real PING, with a short timeout, so the CLI can say "no Redis" instead of hanging on retries."""
    if urlsplit(url).scheme not in ("redis", "rediss"):
        raise InvalidInput("broker_url", f"only Redis brokers are supported, got {maybe_sanitize_url(url)!r}")
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError):
        return False
    finally:
        client.close()


def enqueue_all(run_ids: list[int], enqueue: Enqueue) -> tuple[int, str | None]:
    """After commit: (sent, error). A broker outage leaves the rest queued in the database for the sweeper."""
    sent = 0
    for run_id in run_ids:
        try:
            enqueue(run_id)
        except OperationalError as exc:
            log.warning("enqueue stopped at run %s: %s", run_id, exc)
            return sent, f"broker unreachable: {exc}"
        sent += 1
    return sent, None


class Delivery(NamedTuple):
    enqueue: Enqueue
    inline: bool
    how: str  # one line for the user: where runs go


def choose_enqueue(settings: Settings | None = None) -> Delivery:
    """Celery when Redis answers, else inline; `how` says which, so the demo and CLI can tell the user."""
    settings = settings or get_settings()
    where = maybe_sanitize_url(settings.broker_url)
    if broker_available(settings.broker_url):
        from agents.celery_app import create_app

        return Delivery(celery_enqueue(create_app(settings), settings), False, f"queued on {where}")
    return Delivery(inline_enqueue, True, f"Redis at {where} is unreachable: running agents inline")
