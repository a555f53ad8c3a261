"""Cron strings from settings -> Celery crontabs, and the schedule slot a trigger belongs to (its dedupe key)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from celery.schedules import crontab
from sqlalchemy.orm import Session

from agents import registry
from agents.enqueue import Enqueue, enqueue_all
from agents.runtime.runs import create_run
from core.config import Settings, get_settings
from core.db.engine import session_scope
from core.errors import InvalidInput

CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
OFF = ("", "off")


def cron_table(settings: Settings) -> dict[str, str]:
    """The default cadences overridden key by key by the setting, so changing one job keeps the others."""
    defaults = Settings.model_fields["agent_schedules"].get_default(call_default_factory=True)
    return dict(defaults) | settings.agent_schedules


def is_off(expression: str) -> bool:
    """`"off"` (or an empty string) disables a scheduled job."""
    return expression.strip().lower() in OFF


def parse_cron(expression: str, key: str) -> crontab:
    """Five standard cron fields (UTC); a bad one names the settings key so the user knows what to fix."""
    setting = f"agent_schedules[{key}]"
    parts = expression.split()
    if len(parts) != len(CRON_FIELDS):
        raise InvalidInput(setting, f"{expression!r} needs 5 cron fields (minute hour day month weekday), "
                                  f"got {len(parts)}")
    try:
        return crontab(**dict(zip(CRON_FIELDS, parts, strict=True)))
    except ValueError as exc:
        raise InvalidInput(setting, f"{expression!r} is not a valid cron expression: {exc} "
                                  "(weekdays are 0-6 or sun-sat)") from exc


def _matches_day(cron: crontab, day: datetime) -> bool:
    # Celery requires day of month AND weekday to match (classic cron ORs them); slots follow Celery.
    return (day.month in cron.month_of_year and day.day in cron.day_of_month
            and day.isoweekday() % 7 in cron.day_of_week)


def previous_tick(cron: crontab, now: datetime) -> datetime:
    """The latest fire time at or before `now`: every trigger of one tick maps to the same slot."""
    now = now.astimezone(UTC).replace(second=0, microsecond=0)
    day = now.replace(hour=0, minute=0)
    for _ in range(366 * 8 + 2):  # a leap-day-only schedule fires at least once in 8 years
        if _matches_day(cron, day):
            latest = None
            for hour in sorted(cron.hour):
                for minute in sorted(cron.minute):
                    candidate = day.replace(hour=hour, minute=minute)
                    if candidate <= now:
                        latest = candidate
            if latest is not None:
                return latest
        day -= timedelta(days=1)
    raise InvalidInput("agent_schedules", f"{cron!r} never fires")


def slot_label(tick: datetime) -> str:
    return tick.strftime("%Y-%m-%dT%H:%MZ")


@dataclass
class ScheduleResult:
    agent: str
    slot: str
    subjects: int = 0
    run_ids: list[int] = field(default_factory=list)
    enqueued: int = 0
    enqueue_error: str | None = None


def schedule_key(agent: str, slot: str, subject_id: int | None) -> str:
    """One run per agent, slot and subject: a doubled beat tick or a manual re-trigger creates nothing new."""
    return f"schedule:{agent}:{slot}:{subject_id}"


def schedule_runs(session: Session, name: str, now: datetime, settings: Settings) -> ScheduleResult:
    """This slot's queued runs for every subject of a scheduled agent, in the caller's transaction."""
    spec = registry.get(name)
    if spec.schedule is None or spec.subjects is None:
        raise InvalidInput("agent", f"{name} is not a scheduled agent")
    crons = cron_table(settings)
    if spec.schedule not in crons or is_off(crons[spec.schedule]):
        raise InvalidInput(f"agent_schedules[{spec.schedule}]", f"no cron expression for agent {name}")
    slot = slot_label(previous_tick(parse_cron(crons[spec.schedule], spec.schedule), now))
    result = ScheduleResult(agent=name, slot=slot)
    subjects = spec.subjects(session, now)
    result.subjects = len(subjects)
    for subject_id in subjects:
        run = create_run(session, name, "schedule", spec.subject_type, subject_id,
                         dedupe_key=schedule_key(name, slot, subject_id))
        if run is not None:
            result.run_ids.append(run.id)
    return result


def schedule_agent(name: str, enqueue: Enqueue, *, now: datetime | None = None,
                   settings: Settings | None = None) -> ScheduleResult:
    """Beat's entry point: create the slot's runs, commit, then enqueue them."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    with session_scope() as session:
        result = schedule_runs(session, name, now, settings)
    result.enqueued, result.enqueue_error = enqueue_all(result.run_ids, enqueue)
    return result
