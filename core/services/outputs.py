"""Agent outputs (scores, suggestions, tasks, drafts), each written once per agent, subject, purpose and input.

A re-run or a redelivered message on the same input finds the row its key already made instead of adding a
duplicate; every output actually written gets an audit row naming the agent, its run, prompt and model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.models import AgentScore, Draft, Suggestion, Task
from core.models.enums import TaskSource
from core.repositories import events
from core.repositories import outputs as repo
from core.repositories import tasks as task_repo
from core.services import engagement
from core.services.snapshot import jsonable, snapshot

KEY_MAX = 200


@dataclass(frozen=True)
class Origin:
    """Who writes an output: the run, its agent and subject, and the hash of the inputs it decided on."""

    run_id: int
    agent: str
    subject_type: str
    subject_id: int
    input_hash: str

    def key(self, purpose: str) -> str:
        if not purpose or ":" in purpose:
            raise InvalidInput("purpose", f"must be non-empty without ':' (got {purpose!r})")
        key = f"{self.agent}:{self.subject_type}:{self.subject_id}:{purpose}:{self.input_hash}"
        if len(key) > KEY_MAX:
            raise InvalidInput("purpose", f"idempotency key longer than {KEY_MAX} characters: {key!r}")
        return key

    def columns(self, purpose: str) -> dict[str, Any]:
        return {"run_id": self.run_id, "agent": self.agent, "subject_type": self.subject_type,
                "subject_id": self.subject_id, "idempotency_key": self.key(purpose)}


def _audit(session: Session, origin: Origin, entity_type: str, entity_id: int, after: dict[str, Any],
           prompt_ref: str | None, model: str | None) -> None:
    events.add_audit(session, actor=f"agent:{origin.agent}", action="agent_output", entity_type=entity_type,
                     entity_id=entity_id,
                     after=jsonable(after) | {"run_id": origin.run_id, "prompt_ref": prompt_ref, "model": model})


def write_score(session: Session, origin: Origin, *, purpose: str, score: Decimal | float | int,
                band: str | None = None, factors: dict[str, Any] | None = None,
                model: str | None = None) -> AgentScore:
    """A score with the factors that explain it; `model` names the scoring model (deterministic or trained)."""
    value = Decimal(str(score))
    if not value.is_finite() or abs(value) >= 10_000:
        raise InvalidInput("score", f"must be a finite number below 10000, got {score!r}")
    row, created = repo.insert_once(session, AgentScore, **origin.columns(purpose), purpose=purpose, score=value,
                                    band=band, factors=jsonable(factors or {}), model=model)
    if created:
        _audit(session, origin, "agent_score", row.id, snapshot(row, ["purpose", "score", "band", "factors"]),
               None, model)
    return row


def write_suggestion(session: Session, origin: Origin, *, purpose: str, title: str, body: str,
                     evidence: dict[str, Any] | None = None, prompt_ref: str | None = None,
                     model: str | None = None, fallback: bool = False) -> Suggestion:
    """A suggestion for a person on the subject (lead, deal or account), open until accepted or dismissed."""
    if not title.strip():
        raise InvalidInput("title", "a suggestion needs a title")
    if not body.strip():
        raise InvalidInput("body", "a suggestion needs a body")
    row, created = repo.insert_once(session, Suggestion, **origin.columns(purpose), title=title.strip()[:255],
                                    body=body.strip(), evidence=jsonable(evidence or {}), prompt_ref=prompt_ref,
                                    model=model, fallback=fallback)
    if created:
        _audit(session, origin, "suggestion", row.id, snapshot(row, ["title", "body", "evidence", "fallback"]),
               prompt_ref, model)
    return row


def write_task(session: Session, origin: Origin, *, purpose: str, title: str, assignee_id: int | None = None,
               due_at: datetime | None = None, description: str | None = None,
               prompt_ref: str | None = None, model: str | None = None, **links: Any) -> Task:
    """A task for a person, created by the agent's run (source=agent) through the engagement service."""
    if not title.strip():
        raise InvalidInput("title", "a task needs a title")
    key = origin.key(purpose)
    existed = task_repo.by_idempotency_key(session, key) is not None
    task = engagement.create_task(session, title=title.strip()[:255], source=TaskSource.agent, idempotency_key=key,
                                  agent_run_id=origin.run_id, assignee_id=assignee_id, due_at=due_at,
                                  description=description, **links)
    if not existed:
        _audit(session, origin, "task", task.id,
               snapshot(task, ["title", "assignee_id", "due_at", "lead_id", "contact_id", "account_id", "deal_id"]),
               prompt_ref, model)
    return task


def write_draft(session: Session, origin: Origin, *, purpose: str, recipient: str, subject: str, body: str,
                channel: str = "email", contact_id: int | None = None, prompt_ref: str | None = None,
                model: str | None = None, fallback: bool = False,
                context: dict[str, Any] | None = None) -> Draft:
    """A message awaiting review (pending_review): nothing leaves the company before a person approves it."""
    if "@" not in recipient:
        raise InvalidInput("recipient", f"{recipient!r} is not an email address")
    if not subject.strip():
        raise InvalidInput("subject", "a draft needs a subject")
    if not body.strip():
        raise InvalidInput("body", "a draft needs a body")
    row, created = repo.insert_once(session, Draft, **origin.columns(purpose), channel=channel, contact_id=contact_id,
                                    recipient=recipient.strip(), subject=subject.strip()[:255], body=body.strip(),
                                    status="pending_review", prompt_ref=prompt_ref, model=model, fallback=fallback,
                                    context=jsonable(context or {}))
    if created:
        _audit(session, origin, "draft", row.id,
               snapshot(row, ["channel", "recipient", "subject", "body", "status", "fallback"]), prompt_ref, model)
    return row


def outputs_of_run(session: Session, run_id: int) -> dict[str, Sequence[Any]]:
    return repo.of_run(session, run_id)
