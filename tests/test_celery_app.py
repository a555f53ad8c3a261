"""Celery app configuration, beat schedule from cron settings, schedule slots, and the messages we send."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from celery.schedules import crontab

from agents.celery_app import QUEUE, beat_schedule, create_app, transport_options
from agents.enqueue import (
    CAMPAIGN_REPORT,
    CHECK_APPROVALS,
    DISPATCH_OUTBOX,
    EXPIRE_QUOTES,
    RETRAIN_LEAD_MODEL,
    RUN_AGENT,
    SCHEDULE_AGENT,
    SWEEP,
    broker_available,
    celery_enqueue,
    choose_enqueue,
    inline_enqueue,
)
from agents.schedules import parse_cron, previous_tick, slot_label
from core.config import Settings
from core.errors import InvalidInput
from tests.celery_support import BrokerSpace, settings_with

pytest_plugins = ("tests.celery_fixtures",)

DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1
REDIS_URL_FOR_CONFIG = "redis://127.0.0.1:6379/9"  # only read, never connected to


def test_app_is_crash_safe_and_json_only() -> None:
    app = create_app(settings_with(broker_url=REDIS_URL_FOR_CONFIG, broker_visibility_timeout_s=300))
    conf = app.conf
    assert conf.broker_url == REDIS_URL_FOR_CONFIG
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json" and list(conf.accept_content) == ["json"]
    assert conf.task_default_queue == QUEUE and conf.timezone == "UTC"
    assert conf.broker_transport_options["visibility_timeout"] == 300
    assert conf.broker_transport_options["unacked_restore_interval"] == 10
    assert (conf.task_soft_time_limit, conf.task_time_limit) == (240, 270)  # runs end before a redelivery
    app.loader.import_default_modules()  # what a worker does at start: `include` brings agents.tasks
    assert sorted(name for name in app.tasks if name.startswith("agents.")) == sorted(
        [RUN_AGENT, DISPATCH_OUTBOX, SCHEDULE_AGENT, CHECK_APPROVALS, SWEEP, RETRAIN_LEAD_MODEL, EXPIRE_QUOTES,
         CAMPAIGN_REPORT])


def test_short_visibility_timeouts_are_scanned_every_second() -> None:
    assert transport_options(settings_with(broker_visibility_timeout_s=3))["unacked_restore_interval"] == 1


def test_beat_schedule_has_agents_sla_sweeper_and_dispatcher() -> None:
    settings = Settings(agent_schedules={"deal_coach": "0 7 * * *", "health_monitor": "0 6 * * 1",
                                         "expansion_detector": "0 6 1 * *", "approval_sla": "*/5 * * * *",
                                         "sweep_stuck_runs": "* * * * *", "lead_model_retrain": "0 2 * * *"},
                        dispatch_interval_s=2.0, task_expires_s=1800)
    entries = beat_schedule(settings, [("deal_coach", "deal_coach"), ("health_monitor", "health_monitor"),
                                       ("expansion_detector", "expansion_detector")])
    assert set(entries) == {"agent:deal_coach", "agent:health_monitor", "agent:expansion_detector",
                            "approval_sla", "sweep_stuck_runs", "lead_model_retrain", "expire_quotes",
                            "campaign_report", "dispatch_outbox"}
    coach = entries["agent:deal_coach"]
    assert coach["task"] == SCHEDULE_AGENT and coach["args"] == ("deal_coach",)
    assert coach["schedule"] == crontab(minute="0", hour="7")
    assert entries["agent:health_monitor"]["schedule"] == crontab(minute="0", hour="6", day_of_week="1")
    assert entries["agent:expansion_detector"]["schedule"] == crontab(minute="0", hour="6", day_of_month="1")
    assert entries["approval_sla"]["task"] == CHECK_APPROVALS
    assert entries["approval_sla"]["schedule"] == crontab(minute="*/5")
    assert entries["sweep_stuck_runs"]["task"] == SWEEP
    assert entries["dispatch_outbox"]["schedule"] == timedelta(seconds=2)
    assert all("expires" in entry["options"] for entry in entries.values())
    assert coach["options"]["expires"] == 1800 and entries["sweep_stuck_runs"]["options"]["expires"] == 300


def test_one_overridden_cadence_keeps_the_other_defaults_and_off_disables() -> None:
    settings = Settings(agent_schedules={"deal_coach": "0 8 * * 1-5", "health_monitor": "off", "approval_sla": ""})
    entries = beat_schedule(settings, [("deal_coach", "deal_coach"), ("health_monitor", "health_monitor"),
                                       ("quote_followup", "quote_followup")])
    assert entries["agent:deal_coach"]["schedule"] == crontab(minute="0", hour="8", day_of_week="1-5")
    assert entries["agent:quote_followup"]["schedule"] == crontab(minute="30", hour="7")  # the default
    assert "agent:health_monitor" not in entries and "approval_sla" not in entries
    assert "sweep_stuck_runs" in entries


def test_beat_schedule_names_the_setting_to_fix() -> None:
    with pytest.raises(InvalidInput, match=r"agent_schedules\[churn_watch\].*no such key"):
        beat_schedule(Settings(agent_schedules={}), [("churn_watch", "churn_watch")])
    with pytest.raises(InvalidInput, match=r"agent_schedules\[approval_sla\].*5 cron fields"):
        beat_schedule(Settings(agent_schedules={"approval_sla": "*/5 * * *"}), [])
    with pytest.raises(InvalidInput, match="dispatch_interval_s"):
        beat_schedule(Settings(agent_schedules={}, dispatch_interval_s=0), [])


def test_beat_builds_its_schedule_from_settings_and_registered_agents(sample_agents: None, tmp_path: Path) -> None:
    app = create_app(settings_with(agent_schedules={"sample_scorer": "15 3 * * *"}, data_dir=tmp_path))
    assert app.conf.beat_schedule == {}  # workers never build it
    scheduler = app.conf.beat_scheduler(app=app, schedule_filename=app.conf.beat_schedule_filename, lazy=False)
    entry = scheduler.schedule["agent:sample_scorer"]
    assert entry.schedule == crontab(minute="15", hour="3") and entry.args == ("sample_scorer",)
    assert {"dispatch_outbox", "sweep_stuck_runs", "approval_sla"} <= set(scheduler.schedule)
    scheduler.close()
    assert list(tmp_path.glob("celerybeat-schedule*"))  # beat's state lives under data_dir


def test_beat_refuses_to_start_on_a_bad_cron(sample_agents: None, tmp_path: Path) -> None:
    app = create_app(settings_with(agent_schedules={"sample_scorer": "15 3 * *"}, data_dir=tmp_path))
    with pytest.raises(InvalidInput, match=r"agent_schedules\[sample_scorer\]"):
        app.conf.beat_scheduler(app=app, schedule_filename=app.conf.beat_schedule_filename, lazy=False)


@pytest.mark.parametrize("expression, message", [
    ("61 * * * *", "not a valid cron expression"),
    ("0 6 * * 7", "weekdays are 0-6"),
    ("0 6 * *", "5 cron fields"),
    ("every day", "5 cron fields"),
])
def test_bad_cron_expressions_are_explained(expression: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        parse_cron(expression, "deal_coach")
    assert info.value.field == "agent_schedules[deal_coach]"


@pytest.mark.parametrize("expression, now, tick", [
    ("0 7 * * *", "2026-03-04T07:00:00", "2026-03-04T07:00"),
    ("0 7 * * *", "2026-03-04T06:59:59", "2026-03-03T07:00"),
    ("*/5 * * * *", "2026-03-04T10:14:59", "2026-03-04T10:10"),
    ("0 6 * * 1", "2026-03-08T23:00:00", "2026-03-02T06:00"),  # Sunday -> the Monday before
    ("0 6 1 * *", "2026-03-01T05:00:00", "2026-02-01T06:00"),
    ("30 7 * * 1-5", "2026-03-07T12:00:00", "2026-03-06T07:30"),  # Saturday -> Friday
    ("0 0 29 2 *", "2027-03-01T00:00:00", "2024-02-29T00:00"),  # leap day only
])
def test_previous_tick_is_the_latest_fire_time(expression: str, now: str, tick: str) -> None:
    at = datetime.fromisoformat(now).replace(tzinfo=UTC)
    assert slot_label(previous_tick(parse_cron(expression, "k"), at)) == f"{tick}Z"


def test_previous_tick_reads_other_time_zones_as_utc() -> None:
    at = datetime.fromisoformat("2026-03-04T08:30:00+02:00")  # 06:30 UTC
    assert slot_label(previous_tick(parse_cron("0 7 * * *", "k"), at)) == "2026-03-03T07:00Z"


def test_every_run_message_carries_an_expiry(broker: BrokerSpace) -> None:
    app = create_app(settings_with(task_expires_s=120))
    before = datetime.now(UTC)
    celery_enqueue(app, settings_with(task_expires_s=120))(4242)
    client = redis.Redis.from_url(broker.url)
    (raw,) = client.lrange(broker.key(QUEUE), 0, -1)
    message = json.loads(raw)
    headers = message["headers"]
    assert headers["task"] == RUN_AGENT and headers["argsrepr"] == "[4242]"
    expires = datetime.fromisoformat(headers["expires"])
    assert timedelta(seconds=110) < expires - before < timedelta(seconds=130)


def test_broker_check_and_inline_fallback() -> None:
    assert broker_available("redis://127.0.0.1:6379/13") is True
    assert broker_available(DEAD_BROKER) is False
    delivery = choose_enqueue(settings_with(broker_url=DEAD_BROKER))
    assert delivery.inline and delivery.enqueue is inline_enqueue
    assert delivery.how == "Redis at redis://127.0.0.1:1/0 is unreachable: running agents inline"
    assert not choose_enqueue(settings_with(broker_url="redis://127.0.0.1:6379/13")).inline
    with pytest.raises(InvalidInput, match="only Redis"):
        broker_available("amqp://guest:secret@localhost//")
