"""Celery tasks: thin wrappers taking ids only; each calls a plain function that owns its transaction.

They are shared tasks, so they bind to whichever app `agents.celery_app.create_app` built (tests run their own).
Every message they send carries `expires=` (agents.enqueue.celery_enqueue).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import Task, shared_task

from agents import enqueue as queue
from agents.campaign_report import write_weekly_report
from agents.dispatcher import dispatch_once
from agents.lead_scorer.retrain import retrain
from agents.quote_expiry import expire_due_quotes
from agents.runtime.executor import execute_run
from agents.schedules import schedule_agent as schedule_runs_now
from agents.sweeper import sweep as sweep_runs
from core.services.approvals import check_sla


@shared_task(bind=True, name=queue.RUN_AGENT)
def run_agent(self: Task, run_id: int) -> str:
    """Claim-and-run; a redelivered message carries the same task id, so it may take over its own run.

    A run put back in the queue after a lost database connection gets a new message, delayed by its retry
    delay; if Redis refuses it, the run stays queued and the sweeper sends it later."""
    outcome = execute_run(run_id, task_id=self.request.id)
    if outcome.retry_in_s is not None:
        queue.enqueue_all([run_id], queue.celery_enqueue(self.app, countdown_s=outcome.retry_in_s))
    return outcome.status


@shared_task(bind=True, name=queue.DISPATCH_OUTBOX)
def dispatch_outbox(self: Task) -> dict[str, Any]:
    result = dispatch_once(queue.celery_enqueue(self.app))
    return {"events": result.events, "runs": len(result.run_ids), "enqueued": result.enqueued}


@shared_task(bind=True, name=queue.SCHEDULE_AGENT)
def schedule_agent(self: Task, name: str) -> dict[str, Any]:
    result = schedule_runs_now(name, queue.celery_enqueue(self.app))
    return {"agent": name, "slot": result.slot, "runs": len(result.run_ids), "enqueued": result.enqueued}


@shared_task(name=queue.CHECK_APPROVALS)
def check_approvals() -> dict[str, Any]:
    return asdict(check_sla())


@shared_task(bind=True, name=queue.SWEEP)
def sweep(self: Task) -> dict[str, Any]:
    result = sweep_runs(queue.celery_enqueue(self.app))
    return {"failed": result.failed, "requeued": result.requeued, "enqueued": result.enqueued}


@shared_task(name=queue.RETRAIN_LEAD_MODEL)
def retrain_lead_model() -> dict[str, Any]:
    return retrain()


@shared_task(name=queue.EXPIRE_QUOTES)
def expire_quotes() -> dict[str, Any]:
    return expire_due_quotes()


@shared_task(name=queue.CAMPAIGN_REPORT)
def campaign_report() -> dict[str, Any]:
    return write_weekly_report()
