"""`salesagents worker`, `beat` and `dispatch`: the processes that turn events and schedules into agent runs."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Annotated

import typer
from celery.schedules import crontab
from kombu.utils.url import maybe_sanitize_url
from rich.table import Table

from agents.celery_app import app_beat_schedule, create_app
from agents.dispatcher import BATCH, DispatchResult, dispatch_once
from agents.enqueue import Delivery, Enqueue, broker_available, choose_enqueue, inline_enqueue
from agents.runtime.executor import RunOutcome, execute_until_settled
from core.config import Settings, get_settings
from core.errors import InvalidInput

POOLS = ("prefork", "solo", "threads")


def _require_broker(settings: Settings) -> None:
    if not broker_available(settings.broker_url):
        raise InvalidInput("broker_url", f"Redis at {maybe_sanitize_url(settings.broker_url)} is unreachable: start "
                                         "it, or run agents inline with `salesagents dispatch --inline` or "
                                         "`salesagents run AGENT`")


def worker(pool: Annotated[str, typer.Option(help="prefork (processes), solo (one task at a time) or threads.")]
           = "prefork",
           concurrency: Annotated[int, typer.Option(min=1, help="Tasks at once (ignored by solo).")] = 2,
           loglevel: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info") -> None:
    """Run a Celery worker: agent runs, outbox dispatch, scheduled sweeps, approval SLA checks (needs Redis)."""
    if pool not in POOLS:
        raise InvalidInput("--pool", f"expected one of {', '.join(POOLS)}, got {pool!r}")
    settings = get_settings()
    _require_broker(settings)
    create_app(settings).worker_main(["worker", f"--pool={pool}", f"--concurrency={concurrency}",
                                      f"--loglevel={loglevel}"])


def beat(loglevel: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info") -> None:
    """Run Celery beat: scheduled agents, the approval SLA check, the sweeper and the outbox dispatcher."""
    from api.cli.main import console

    settings = get_settings()
    app = create_app(settings)
    table = Table(title="Beat schedule (UTC)")
    for name in ("entry", "task", "when", "message expires (s)"):
        table.add_column(name)
    for name, entry in app_beat_schedule(app).items():  # fails here, naming the setting, on a bad cron
        table.add_row(name, entry["task"], _when(entry["schedule"]), f"{entry['options']['expires']:g}")
    console.print(table)
    _require_broker(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.Beat(loglevel=loglevel).run()


def _when(schedule: crontab | timedelta) -> str:
    if isinstance(schedule, timedelta):
        return f"every {schedule.total_seconds():g} s"
    return repr(schedule).removeprefix("<crontab: ").removesuffix(" (m/h/dM/MY/d)>")


def _outcomes(outcomes: list[RunOutcome]) -> Table:
    table = Table(title="Runs executed inline")
    for name in ("run", "agent", "status", "ms", "error"):
        table.add_column(name, justify="right" if name in ("run", "ms") else "left")
    for o in outcomes:
        table.add_row(str(o.run_id), o.agent, o.status, f"{o.duration_ms:,}", o.error or "")
    return table


def dispatch(once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
             inline: Annotated[bool, typer.Option("--inline", help="Execute runs here even if Redis is up.")]
             = False,
             interval: Annotated[float | None, typer.Option(min=0.05, help="Seconds between polls "
                                                            "(default: dispatch_interval_s).")] = None) -> None:
    """Turn committed outbox events into agent runs (ten events on one subject in the window make one run).

    Runs go to the workers through Redis; when Redis is unreachable (or with --inline) they execute here.
    """
    from api.cli.main import console

    settings = get_settings()
    outcomes: list[RunOutcome] = []
    delivery = Delivery(inline_enqueue, True, "running agents inline (--inline)") if inline \
        else choose_enqueue(settings)

    def run_here(run_id: int) -> None:  # the worker's code path, with the outcome kept for the table
        outcomes.append(execute_until_settled(run_id))

    enqueue: Enqueue = run_here if delivery.inline else delivery.enqueue
    console.print(delivery.how)
    pause = interval or settings.dispatch_interval_s
    try:
        while True:
            result = dispatch_once(enqueue, settings=settings)
            if result.events or once:
                console.print(_summary(result))
            if outcomes:
                console.print(_outcomes(outcomes))
                outcomes.clear()
            if once:
                return
            if result.events < BATCH:  # a full batch means more are waiting: go on at once
                time.sleep(pause)
    except KeyboardInterrupt:
        console.print("stopped")


def _summary(result: DispatchResult) -> str:
    text = (f"{result.events} event(s) -> {len(result.run_ids)} new run(s), {result.debounced} folded into "
            f"existing runs, {result.enqueued} enqueued")
    if result.failed_events:
        text += f", {result.failed_events} event(s) failed (see outbox_events.last_error)"
    if result.enqueue_error:
        text += f"; {result.enqueue_error} (the sweeper re-sends the rest)"
    return text
