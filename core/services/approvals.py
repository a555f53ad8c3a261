"""Human approval of drafts: who reviews, deciding (claim first, then resume the paused graph), the SLA, the inbox.

A decision is claimed in its own committed transaction (`pending -> resuming` with the decision stored on the
approval), so of two reviewers racing on one draft exactly one resumes the graph; the other gets Conflict. The
graph's node then applies the stored decision (statuses, reviewer feedback, mail) in one transaction, idempotently.
If the run that waits for the decision is gone (failed, swept), the decision is applied without the graph: a
person's decision is never lost, and an expired draft is never sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from core.config import Settings, get_settings
from core.db.engine import session_scope
from core.errors import Conflict, CrmError, InvalidInput, NotFound
from core.llm.embeddings import Embedder, get_embedder
from core.mail import Mailer, OutgoingMail, get_mailer
from core.models import Approval, Draft
from core.models.enums import Role, TaskPriority, TaskSource
from core.repositories import approvals as repo
from core.repositories import events
from core.repositories import mail as mail_repo
from core.services import engagement, outputs, review_learning
from core.services.outputs import Origin

ACTIONS = {"approve": "approved", "edit": "edited", "reject": "rejected", "expire": "expired"}
SENDS = ("approve", "edit")


@dataclass(frozen=True)
class Applied:
    """What a decision did: the approval's and draft's final statuses and what happened to the mail."""

    approval_id: int
    draft_id: int
    status: str
    draft_status: str
    mail_status: str | None
    feedback_id: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class DecisionResult:
    approval_id: int
    status: str  # the approval's status afterwards (resuming if the graph failed before applying it)
    run_id: int
    run_status: str | None
    draft_status: str
    mail_status: str | None
    error: str | None = None


@dataclass
class SlaReport:
    escalated: list[int] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)  # drafts whose failed send went out this time
    errors: dict[int, str] = field(default_factory=dict)


# --- inside the graph: asking for a review and applying the decision (the caller owns the transaction) -------

def reviewer_for(session: Session, *, account_id: int | None, contact_id: int | None) -> int | None:
    """The account's CSM, else its owner (account manager), else the contact's owner; None: unassigned."""
    account = repo.account_of(session, account_id, contact_id)
    if account is not None and (account.csm_id or account.account_manager_id):
        return account.csm_id or account.account_manager_id
    return repo.contact_owner(session, contact_id)


def request_review(session: Session, origin: Origin, *, now: datetime, settings: Settings | None = None,
                   purpose: str, recipient: str, subject: str, body: str, contact_id: int | None = None,
                   account_id: int | None = None, prompt_ref: str | None = None, model: str | None = None,
                   fallback: bool = False, context: dict[str, Any] | None = None,
                   reviewer_id: int | None = None) -> tuple[Draft, Approval]:
    """The draft (pending_review) and its approval with due and expiry times; the same call again finds both.

    `reviewer_id` names who reviews (e.g. the quote's rep); unset, the account's CSM or owner does (`reviewer_for`).
    """
    OutgoingMail(0, recipient, subject, body).checked()
    s = settings or get_settings()
    draft = outputs.write_draft(session, origin, purpose=purpose, recipient=recipient, subject=subject, body=body,
                                contact_id=contact_id, prompt_ref=prompt_ref, model=model, fallback=fallback,
                                context=context)
    if account_id is None and origin.subject_type == "account":
        account_id = origin.subject_id
    if reviewer_id is None:
        reviewer_id = reviewer_for(session, account_id=account_id, contact_id=contact_id)
    approval, created = repo.insert_once(
        session, draft_id=draft.id, run_id=origin.run_id, reviewer_id=reviewer_id, status="pending",
        due_at=now + timedelta(minutes=s.approval_escalate_after_min),
        expires_at=now + timedelta(minutes=s.approval_expire_after_min))
    if created:
        events.add_audit(session, actor=f"agent:{origin.agent}", action="approval.requested", entity_type="approval",
                         entity_id=approval.id,
                         after={"draft_id": draft.id, "run_id": origin.run_id, "reviewer_id": reviewer_id,
                                "due_at": approval.due_at.isoformat(), "expires_at": approval.expires_at.isoformat(),
                                "prompt_ref": prompt_ref, "model": model})
    elif approval.status == "pending" and approval.run_id != origin.run_id:
        repo.adopt(session, approval.id, origin.run_id)
        approval = repo.get(session, approval.id) or approval
    session.flush()
    return draft, approval


def _send(session: Session, draft: Draft, text: str, mailer: Mailer, now: datetime) -> str:
    """Hand the approved text to the mailer; the draft becomes `sent` only when a mail server accepted it."""
    mail = mailer.send(session, OutgoingMail(draft.id, draft.recipient, draft.subject, text), now)
    if mail.status == "sent":
        draft.status, draft.sent_at = "sent", now
    session.flush()
    return mail.status


def _applied(approval: Approval, draft: Draft, mail_status: str | None, feedback_id: int | None = None,
             note: str | None = None) -> Applied:
    return Applied(approval.id, draft.id, approval.status, draft.status, mail_status, feedback_id, note)


def apply_decision(session: Session, approval_id: int, *, now: datetime, mailer: Mailer,
                   embedder: Embedder | None = None) -> Applied:
    """Carry out the claimed decision once: statuses, reviewer feedback, then the mail (last, so nothing after it
    can roll back a message that already left). Applying it again changes nothing."""
    approval = repo.get(session, approval_id, lock=True)
    if approval is None:
        raise NotFound("approval", approval_id)
    draft = session.get(Draft, approval.draft_id, with_for_update=True, populate_existing=True)
    assert draft is not None
    if approval.status in repo.FINAL:
        mail = mail_repo.for_draft(session, draft.id)
        return _applied(approval, draft, mail.status if mail else None)
    if approval.status != "resuming":
        raise Conflict(f"approval {approval_id} is {approval.status}: it has no decision to apply")
    decision = approval.decision
    action = decision.get("action")
    if action not in ACTIONS:
        raise InvalidInput("action", f"approval {approval_id} holds an unknown decision {action!r}")
    feedback_id, note = None, None
    if action in ("edit", "reject"):
        try:
            feedback = review_learning.record_feedback(
                session, draft=draft, kind=ACTIONS[action], reviewer_id=approval.decided_by_id,
                edited=decision.get("edited_text"), reason=decision.get("reason"), embedder=embedder)
            feedback_id = feedback.id
        except CrmError as exc:  # the decision stands even when the embedding service is down
            note = f"reviewer feedback not recorded: {exc}"
    approval.status = ACTIONS[action]
    draft.status = ACTIONS[action]
    text = draft.body
    if action == "edit":
        text = draft.final_body = decision["edited_text"]
    session.flush()
    mail_status = None
    if action in SENDS:
        mail_status = _send(session, draft, text, mailer, now)
    who = approval.decided_by_id
    events.add_audit(session, actor=f"user:{who}" if who else "system:approval_sla", actor_id=who,
                     action=f"approval.{approval.status}", entity_type="approval", entity_id=approval.id,
                     before={"status": "pending"},
                     after={"decision": decision, "draft_id": draft.id, "run_id": approval.run_id,
                            "agent": draft.agent, "prompt_ref": draft.prompt_ref, "model": draft.model,
                            "draft_status": draft.status, "mail_status": mail_status, "feedback_id": feedback_id,
                            "note": note})
    session.flush()
    return _applied(approval, draft, mail_status, feedback_id, note)


# --- entry points: they own their transactions ----------------------------------------------------------------

def _decision(action: str, reviewer_id: int | None, edited_text: str | None, reason: str | None) -> dict[str, Any]:
    if action not in ("approve", "edit", "reject"):
        raise InvalidInput("action", f"expected approve, edit or reject, got {action!r}")
    if action == "edit" and not (edited_text or "").strip():
        raise InvalidInput("edited_text", "an edit needs the edited text")
    if action == "reject" and not (reason or "").strip():
        raise InvalidInput("reason", "a rejection needs a reason")
    decision: dict[str, Any] = {"action": action, "reviewer_id": reviewer_id}
    if action == "edit":
        decision["edited_text"] = (edited_text or "").strip()
    if reason and reason.strip():
        decision["reason"] = reason.strip()
    return decision


def _check_reviewer(session: Session, approval: Approval, reviewer_id: int) -> None:
    """The assigned reviewer, the manager it escalated to, or an admin may decide; anyone active if unassigned."""
    user = repo.user(session, reviewer_id)
    if user is None or not user.active:
        raise InvalidInput("reviewer", f"user {reviewer_id} does not exist or is inactive")
    allowed = {i for i in (approval.reviewer_id, approval.escalated_to_id) if i is not None}
    if allowed and reviewer_id not in allowed and user.role is not Role.admin:
        raise InvalidInput("reviewer", f"user {reviewer_id} may not decide approval {approval.id}: it is assigned "
                                       f"to user {' or '.join(str(i) for i in sorted(allowed))}")


def decide(approval_id: int, action: str, reviewer_id: int, edited_text: str | None = None,
           reason: str | None = None, *, now: datetime | None = None, engine: Engine | None = None,
           settings: Settings | None = None, http_client: httpx.Client | None = None) -> DecisionResult:
    """Approve, edit or reject a draft: claim the approval (a second decider gets Conflict), then resume the run."""
    now = now or datetime.now(UTC)
    decision = _decision(action, reviewer_id, edited_text, reason)
    with session_scope(engine) as session:
        approval = repo.get(session, approval_id)
        if approval is None:
            raise NotFound("approval", approval_id)
        _check_reviewer(session, approval, reviewer_id)
        if repo.claim(session, approval_id, decided_by_id=reviewer_id, decision=decision, now=now) is None:
            current = repo.get(session, approval_id)
            raise Conflict(f"approval {approval_id} is already {current.status if current else 'gone'}: "
                           "another decision came first")
    return _settle(approval_id, now=now, engine=engine, settings=settings, http_client=http_client,
                   release_on_busy=True)


def _settle(approval_id: int, *, now: datetime, engine: Engine | None, settings: Settings | None,
            http_client: httpx.Client | None, release_on_busy: bool) -> DecisionResult:
    """Take a claimed decision to its end: resume the waiting run, or apply it directly if the run is gone."""
    from agents.runtime.approval import pending_interrupt_id
    from agents.runtime.executor import resume_run

    with session_scope(engine) as session:
        approval = repo.get(session, approval_id)
        assert approval is not None
        run_id, run_status = approval.run_id, repo.run_status(session, approval.run_id)
    if run_status == "waiting_review":
        try:
            interrupt_id = pending_interrupt_id(run_id, approval_id, engine=engine)
        except CrmError:  # e.g. this process does not know the agent: nothing was resumed, the claim is undone
            if release_on_busy:
                with session_scope(engine) as session:
                    repo.release(session, approval_id)
            raise
        if interrupt_id is not None:
            with session_scope(engine) as session:
                repo.set_interrupt(session, approval_id, interrupt_id)
            try:
                outcome = resume_run(run_id, {"approval_id": approval_id}, interrupt_id=interrupt_id, now=now,
                                     engine=engine, settings=settings, http_client=http_client)
            except Conflict:
                return _busy(approval_id, run_id, engine, release_on_busy)
            return _result(approval_id, engine, outcome.status, outcome.error)
    if run_status in ("running", "queued", "waiting_review"):
        return _busy(approval_id, run_id, engine, release_on_busy)
    with session_scope(engine) as session:  # the run is finished: the decision is applied without its graph
        s = settings or get_settings()
        apply_decision(session, approval_id, now=now, mailer=get_mailer(s), embedder=get_embedder(s))
    return _result(approval_id, engine, run_status, None)


def _busy(approval_id: int, run_id: int, engine: Engine | None, release: bool) -> DecisionResult:
    if release:
        with session_scope(engine) as session:
            repo.release(session, approval_id)
        raise Conflict(f"run {run_id} of approval {approval_id} is busy (being resumed or still running); "
                       "the decision was not taken, try again in a moment")
    return _result(approval_id, engine, None, f"run {run_id} is busy; will retry")


def _result(approval_id: int, engine: Engine | None, run_status: str | None, error: str | None) -> DecisionResult:
    with session_scope(engine) as session:
        approval = repo.get(session, approval_id)
        assert approval is not None
        draft = session.get(Draft, approval.draft_id)
        assert draft is not None
        mail = mail_repo.for_draft(session, draft.id)
        return DecisionResult(approval.id, approval.status, approval.run_id,
                              run_status or repo.run_status(session, approval.run_id), draft.status,
                              mail.status if mail else None, error)


def _escalate(session: Session, approval: Approval, now: datetime) -> None:
    reviewer = repo.user(session, approval.reviewer_id) if approval.reviewer_id else None
    manager_id = reviewer.manager_id if reviewer is not None else None
    draft = session.get(Draft, approval.draft_id)
    assert draft is not None
    overdue = int((now - approval.due_at).total_seconds() // 60)
    task = engagement.create_task(
        session, title=f"Overdue review: {draft.subject}"[:255], source=TaskSource.agent,
        agent_run_id=approval.run_id, idempotency_key=f"approval:{approval.id}:escalation",
        description=(f"Draft {draft.id} to {draft.recipient} ({draft.agent}) waits for review by user "
                     f"{approval.reviewer_id or '(unassigned)'} since {approval.created_at:%Y-%m-%d %H:%M} UTC; "
                     f"{overdue} min past due, expires {approval.expires_at:%Y-%m-%d %H:%M} UTC. "
                     f"Decide it with `salesagents approvals approve|edit|reject {approval.id}`."),
        assignee_id=manager_id, due_at=approval.expires_at, priority=TaskPriority.high, contact_id=draft.contact_id)
    repo.mark_escalated(session, approval, manager_id, now)
    events.add_audit(session, actor="system:approval_sla", action="approval.escalated", entity_type="approval",
                     entity_id=approval.id,
                     after={"reviewer_id": approval.reviewer_id, "escalated_to_id": manager_id, "task_id": task.id,
                            "note": None if manager_id else "the reviewer has no manager: the task is unassigned"})


def check_sla(now: datetime | None = None, *, engine: Engine | None = None, settings: Settings | None = None,
              limit: int = 100) -> SlaReport:
    """Escalate overdue approvals to the reviewer's manager, expire the ones past expiry (their graphs finish
    without sending), finish decisions whose deciding process died before resuming, and try refused sends again."""
    now = now or datetime.now(UTC)
    s = settings or get_settings()
    report = SlaReport()
    with session_scope(engine) as session:
        for approval in repo.due_for_escalation(session, now, limit):
            _escalate(session, approval, now)
            report.escalated.append(approval.id)
    with session_scope(engine) as session:
        expiring = repo.past_expiry(session, now, limit)
    for approval_id in expiring:
        with session_scope(engine) as session:
            claimed = repo.claim(session, approval_id, decided_by_id=None, now=now,
                                 decision={"action": "expire", "reviewer_id": None,
                                           "reason": f"not reviewed within {s.approval_expire_after_min} minutes"})
        if claimed is None:  # decided meanwhile
            continue
        report.expired.append(approval_id)
        _finish(report, approval_id, now, engine, s)
    with session_scope(engine) as session:
        stale = repo.stale_claims(session, now - timedelta(seconds=s.run_stuck_after_s), limit)
    for approval_id in stale:
        report.resumed.append(approval_id)
        _finish(report, approval_id, now, engine, s)
    with session_scope(engine) as session:
        failed = mail_repo.failed_sends(session, limit)
    mailer = get_mailer(s)
    for draft_id in failed:
        with session_scope(engine) as session:
            draft = session.get(Draft, draft_id, with_for_update=True)
            if draft is not None and draft.status in ("approved", "edited") and \
                    _send(session, draft, draft.final_body or draft.body, mailer, now) != "failed":
                report.resent.append(draft_id)
    return report


def _finish(report: SlaReport, approval_id: int, now: datetime, engine: Engine | None, settings: Settings) -> None:
    try:
        result = _settle(approval_id, now=now, engine=engine, settings=settings, http_client=None,
                         release_on_busy=False)
        if result.error:
            report.errors[approval_id] = result.error
    except CrmError as exc:
        report.errors[approval_id] = str(exc)


def default_decider(session: Session, approval_id: int) -> int:
    """Who decides when nobody is named: the manager it escalated to, else the assigned reviewer."""
    approval = repo.get(session, approval_id)
    if approval is None:
        raise NotFound("approval", approval_id)
    decider = approval.escalated_to_id or approval.reviewer_id
    if decider is None:
        raise InvalidInput("reviewer", f"approval {approval_id} has no reviewer: name the user who decides")
    return decider


def inbox(session: Session, reviewer_id: int | None) -> list[repo.InboxRow]:
    """What waits for this person (assigned or escalated to them), most urgent first; None: the unassigned."""
    if reviewer_id is not None and repo.user(session, reviewer_id) is None:
        raise NotFound("user", reviewer_id)
    return repo.inbox(session, reviewer_id)
