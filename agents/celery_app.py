"""The Celery app: Redis broker, crash-safe delivery settings and the beat schedule, all from Settings.

Built by `create_app()` (the worker entry point, the CLI, tests), never at import time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Celery
from celery.beat import PersistentScheduler
from celery.signals import worker_process_init

from agents import registry
from agents.enqueue import (
    CAMPAIGN_REPORT,
    CHECK_APPROVALS,
    DISPATCH_OUTBOX,
    EXPIRE_QUOTES,
    RETRAIN_LEAD_MODEL,
    SCHEDULE_AGENT,
    SWEEP,
)
from agents.schedules import cron_table, is_off, parse_cron
from core.config import Settings, get_settings
from core.errors import InvalidInput

QUEUE = "salesagents"
APPROVAL_SLA_KEY = "approval_sla"
SWEEP_KEY = "sweep_stuck_runs"
LEAD_RETRAIN_KEY = "lead_model_retrain"
EXPIRE_QUOTES_KEY = "expire_quotes"
CAMPAIGN_REPORT_KEY = "campaign_report"
HOUSEKEEPING_EXPIRES_S = 300


def transport_options(settings: Settings) -> dict[str, Any]:
    """Abandoned (unacked) messages come back after the visibility timeout; live workers look every tenth of it."""
    timeout = settings.broker_visibility_timeout_s
    options: dict[str, Any] = {"visibility_timeout": timeout, "unacked_restore_throttle": 1,
                               "unacked_restore_interval": max(1, min(10, timeout // 10)),
                               "socket_connect_timeout": 5}
    if settings.broker_key_prefix:
        options["global_keyprefix"] = settings.broker_key_prefix
    return options


def time_limits(settings: Settings) -> tuple[float, float]:
    """(soft, hard) limits under the visibility timeout: a message is only ever redelivered after its run stopped.

    Redis re-sends any message unacknowledged for `broker_visibility_timeout_s`, even one a live worker is still
    running; capping the run below it keeps that from ever starting a second copy of a running run.
    """
    timeout = settings.broker_visibility_timeout_s
    return timeout * 0.8, timeout * 0.9


def beat_schedule(settings: Settings, scheduled_agents: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """Cron entries for (agent, schedule key) pairs plus the SLA check, the sweeper, the lead-model retraining, the
    expiry of sent quotes past their validity, the weekly campaign report and the outbox dispatcher."""
    crons = cron_table(settings)
    expires = {"expires": settings.task_expires_s}
    entries: dict[str, dict[str, Any]] = {}
    for name, key in scheduled_agents:
        if key not in crons:
            raise InvalidInput(f"agent_schedules[{key}]", f"agent {name} is scheduled by {key!r} but the setting "
                                                          "has no such key")
        if is_off(crons[key]):
            continue
        entries[f"agent:{name}"] = {"task": SCHEDULE_AGENT, "schedule": parse_cron(crons[key], key),
                                    "args": (name,), "options": expires}
    for key, task in ((APPROVAL_SLA_KEY, CHECK_APPROVALS), (SWEEP_KEY, SWEEP)):
        if key in crons and not is_off(crons[key]):
            # Housekeeping: a backlog of identical checks is pointless, so they expire sooner.
            entries[key] = {"task": task, "schedule": parse_cron(crons[key], key),
                            "options": {"expires": min(settings.task_expires_s, HOUSEKEEPING_EXPIRES_S)}}
    # Nightly and weekly jobs: one missed by hours is still worth doing, so they keep the normal expiry.
    for key, task in ((LEAD_RETRAIN_KEY, RETRAIN_LEAD_MODEL), (EXPIRE_QUOTES_KEY, EXPIRE_QUOTES),
                      (CAMPAIGN_REPORT_KEY, CAMPAIGN_REPORT)):
        if key in crons and not is_off(crons[key]):
            entries[key] = {"task": task, "schedule": parse_cron(crons[key], key), "options": expires}
    interval = settings.dispatch_interval_s
    if interval <= 0:
        raise InvalidInput("dispatch_interval_s", f"must be positive, got {interval}")
    # A dispatch message older than a few intervals is pointless: the next one does the same work.
    entries["dispatch_outbox"] = {"task": DISPATCH_OUTBOX, "schedule": timedelta(seconds=interval),
                                  "options": {"expires": max(5.0, interval * 5)}}
    return entries


def registered_schedules() -> list[tuple[str, str]]:
    return [(spec.name, spec.schedule) for spec in registry.scheduled() if spec.schedule is not None]


class SalesagentsCelery(Celery):
    """A Celery app that remembers the settings it was built from (beat reads its schedule from them)."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__("salesagents", **kwargs)
        self.settings = settings


class SettingsScheduler(PersistentScheduler):
    """Beat's scheduler: builds the schedule from settings and registered agents when beat starts, so workers
    never load it and a bad cron stops beat with a message naming the setting."""

    def setup_schedule(self) -> None:
        self.app.conf.beat_schedule = app_beat_schedule(self.app)
        super().setup_schedule()


def app_beat_schedule(app: Celery) -> dict[str, dict[str, Any]]:
    settings = app.settings if isinstance(app, SalesagentsCelery) else get_settings()
    return beat_schedule(settings, registered_schedules())


def _fresh_engine(**_: Any) -> None:
    """A forked pool child must not reuse the parent's pooled database connections."""
    from core.db.engine import get_engine

    if get_engine.cache_info().currsize:
        get_engine().dispose(close=False)


def create_app(settings: Settings | None = None) -> SalesagentsCelery:
    """One app per process (worker, beat, CLI, test); reads no agent module until a worker or beat needs it."""
    settings = settings or get_settings()
    app = SalesagentsCelery(settings, broker=settings.broker_url, include=["agents.tasks"], set_as_current=False)
    soft_limit, hard_limit = time_limits(settings)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_soft_time_limit=soft_limit,  # the run fails with SoftTimeLimitExceeded as its error
        task_time_limit=hard_limit,
        task_default_queue=QUEUE,
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options(settings),
        worker_hijack_root_logger=False,
        beat_scheduler=SettingsScheduler,
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
    )
    worker_process_init.connect(_fresh_engine, weak=False, dispatch_uid="salesagents.fresh_engine")
    return app
