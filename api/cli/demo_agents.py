"""The demo's agent step: every registered agent once, inline, on the seeded CRM, with what each one wrote.

Why inline: a first-time user has no worker running yet, and should see scores, suggestions, tasks and drafts
appear without learning Celery first. Agents that call the model for every subject (`PER_SUBJECT_MODEL`) run on the
first `llm_limit` subjects only (the embedded model writes a few tokens a second); the rest wait for their
schedule. A second demo finds the
same inputs, so those runs are skipped: nothing is written twice and no model is called.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agents import registry
from agents.registry import AgentSpec
from agents.runtime import runs as run_service
from agents.runtime.executor import execute_until_settled
from core.db.engine import session_scope
from core.repositories import nps_followup as nps_repo
from core.services.outputs import outputs_of_run

PER_SUBJECT_MODEL = ("deal_coach", "quote_followup", "nps_followup")
# Dependencies first: the digest lists what the coach just wrote, health feeds nothing else here.
ORDER = ("lead_scorer", "auto_labeler", "health_monitor", "upsell_detector", "expansion_detector", "renewals",
         "nps_survey", "deal_coach", "deal_coach_digest", "quote_followup", "nps_followup")


@dataclass
class AgentReport:
    name: str
    subjects: int
    statuses: Counter[str] = field(default_factory=Counter)
    written: Counter[str] = field(default_factory=Counter)
    llm_calls: int = 0


def _subjects(spec: AgentSpec, now: datetime, llm_limit: int) -> list[int]:
    with session_scope() as session:
        if spec.subjects is not None:
            found = list(spec.subjects(session, now))
        elif spec.name == "nps_followup":  # event-driven: the latest answers stand in for new ones
            found = nps_repo.recent_commented_responses(session, llm_limit)
        else:
            found = []
    return found[:llm_limit] if spec.name in PER_SUBJECT_MODEL else found


def run_agent(spec: AgentSpec, now: datetime, llm_limit: int) -> AgentReport:
    subjects = _subjects(spec, now, llm_limit)
    with session_scope() as session:
        run_ids = [run.id for sid in subjects
                   if (run := run_service.create_run(session, spec.name, "manual", spec.subject_type, sid))]
    report = AgentReport(spec.name, len(subjects))
    for run_id in run_ids:
        outcome = execute_until_settled(run_id)
        report.statuses[outcome.status] += 1
        report.llm_calls += outcome.llm_calls
        with session_scope() as session:
            for kind, rows in outputs_of_run(session, run_id).items():
                report.written[kind] += len(rows)
    return report


def describe(report: AgentReport) -> str:
    runs = ", ".join(f"{n} {status}" for status, n in sorted(report.statuses.items()))
    written = ", ".join(f"{n} {kind}" for kind, n in report.written.items() if n) or "nothing new"
    if not runs:
        return f"{report.name}: no subjects today (runs on its events or schedule)"
    return (f"{report.name}: {report.subjects} subject(s) -> {runs}; wrote {written}; "
            f"{report.llm_calls} model call(s)")


def run_all(llm_limit: int, skip: tuple[str, ...] = ()) -> list[str]:
    """Run every registered agent once; one line per agent saying what it did."""
    now = datetime.now(UTC)
    specs = sorted((s for s in registry.all_specs() if s.name not in skip),
                   key=lambda s: ORDER.index(s.name) if s.name in ORDER else len(ORDER))
    return [describe(run_agent(spec, now, llm_limit)) for spec in specs]
