"""Human approval end to end on a committed database: the sample_outreach agent drafts a reply (scripted model),
pauses, and a person's decision resumes it — in this process, in another process, or racing another reviewer.
SLA escalation and expiry, mail through a real SMTP server (aiosmtpd), and learning from an edit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from rich.console import Console
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from agents import registry
from agents.runtime import runs
from agents.runtime.executor import RunOutcome, execute_run
from api.cli import main as cli_main
from api.cli.approvals import app as approvals_cli
from core.config import Settings, get_settings
from core.db.engine import get_engine, session_scope
from core.errors import Conflict, InvalidInput, NotFound
from core.models import AgentRun, Approval, AuditLog, Draft, LlmCall, MailMessage, ReviewFeedback, Task
from core.models.enums import Role
from core.repositories import approvals as approval_repo
from core.repositories import runs as runs_repo
from core.services import approvals
from tests import factories
from tests.conftest import committing_engine
from tests.llm_mock import ScriptedServer, llm_settings
from tests.llm_mock import text as reply
from tests.sample_agents import outreach_spec
from tests.test_mail import Inbox, body_of, free_port

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENT = "sample_outreach"
REPLY = ("Hi Maria, thank you for taking the time to answer our survey. I'm sorry the CSV export keeps failing on "
         "large files. I have shared your comment with our support team. Best regards, Sam Carter, Northwind")
EDITED = ("Hi Maria, I'm sorry the invoice PDFs went missing. Our engineers found the cause and I will call you "
          "tomorrow to walk you through the fix. Sam Carter, Northwind")


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """This module's own database: decisions commit and other processes must see them."""
    yield from committing_engine("ap")


@pytest.fixture(scope="module", autouse=True)
def outreach_agent() -> Iterator[None]:
    registry.register(spec := outreach_spec())
    yield
    registry.unregister(spec.name)


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, Settings]]:
    """A real SMTP server on 127.0.0.1 and settings that send through it."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, llm_settings(mail_transport="smtp", smtp_host="127.0.0.1", smtp_port=controller.port,
                                  smtp_starttls=False, mail_from="success@northwind.test")
    finally:
        controller.stop()


@dataclass(frozen=True)
class World:
    manager_id: int
    csm_id: int
    other_id: int
    admin_id: int
    account_id: int
    response_id: int


def world(engine: Engine, comment: str = "The CSV export keeps failing on large files.", score: int = 3,
          industry: str = "Software", csm: bool = True) -> World:
    with session_scope(engine) as session:
        manager = factories.user(session, role=Role.manager)
        csm_user = factories.user(session, role=Role.csm, manager_id=manager.id, full_name="Sam Carter")
        other = factories.user(session, role=Role.csm)
        admin = factories.user(session, role=Role.admin)
        account = factories.account(session, industry=industry, csm_id=csm_user.id if csm else None)
        contact = factories.contact(session, email=f"maria.{uuid.uuid4().hex[:6]}@customer.test",
                                    account_id=account.id, first_name="Maria")
        response = factories.nps(session, account.id, score, comment=comment, contact_id=contact.id)
        return World(manager.id, csm_user.id, other.id, admin.id, account.id, response.id)


def start(engine: Engine, w: World, server: ScriptedServer | None = None,
          settings: Settings | None = None) -> tuple[RunOutcome, ScriptedServer]:
    server = server or ScriptedServer(reply(REPLY))
    with session_scope(engine) as session:
        run = runs.create_run(session, AGENT, "manual", "nps_response", w.response_id)
        assert run is not None
        run_id = run.id
    outcome = execute_run(run_id, engine=engine, http_client=server.client(), settings=settings or llm_settings(),
                          now=NOW)
    return outcome, server


def approval_of(session: Session, run_id: int) -> Approval:
    return session.scalars(select(Approval).where(Approval.run_id == run_id)).one()


def count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def decisions(session: Session, approval_id: int) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).where(AuditLog.entity_type == "approval",
                                                       AuditLog.entity_id == approval_id).order_by(AuditLog.id)))


def test_a_draft_waits_for_the_accounts_csm_and_approval_sends_it_once(
        engine: Engine, smtp: tuple[Inbox, Settings]) -> None:
    inbox, settings = smtp
    w = world(engine)
    outcome, _ = start(engine, w)
    assert outcome.status == "waiting_review" and outcome.interrupts[0]["value"]["approval_id"]
    with session_scope(engine) as session:
        approval = approval_of(session, outcome.run_id)
        draft = session.get(Draft, approval.draft_id)
        assert draft is not None and (draft.status, draft.body, draft.prompt_ref) == (
            "pending_review", REPLY, "nps_followup.draft@2")
        assert (approval.status, approval.reviewer_id) == ("pending", w.csm_id)
        assert (approval.due_at, approval.expires_at) == (NOW + timedelta(minutes=240), NOW + timedelta(days=3))
        assert [r.approval_id for r in approvals.inbox(session, w.csm_id)] == [approval.id]
        assert approvals.inbox(session, w.other_id) == []
        assert count(session, MailMessage, MailMessage.draft_id == draft.id) == 0
        approval_id, draft_id = approval.id, draft.id

    result = approvals.decide(approval_id, "approve", w.csm_id, engine=engine, settings=settings, now=NOW)
    assert (result.status, result.run_status, result.draft_status, result.mail_status) == (
        "approved", "succeeded", "sent", "sent")
    with pytest.raises(Conflict, match=f"approval {approval_id} is already approved"):
        approvals.decide(approval_id, "approve", w.csm_id, engine=engine, settings=settings)
    [msg] = inbox.messages
    assert msg["To"].startswith("maria.") and msg["Subject"] == "Your feedback, Maria"
    assert REPLY in " ".join(body_of(msg).split())
    with session_scope(engine) as session:
        decided_row = session.get(Approval, approval_id)
        assert decided_row is not None and decided_row.interrupt_id and decided_row.decided_by_id == w.csm_id
        [mail] = session.scalars(select(MailMessage).where(MailMessage.draft_id == draft_id)).all()
        assert (mail.status, mail.transport) == ("sent", "smtp")
        requested, decided = decisions(session, approval_id)
        assert (requested.actor, requested.action) == (f"agent:{AGENT}", "approval.requested")
        assert (decided.actor, decided.actor_id, decided.action) == (f"user:{w.csm_id}", w.csm_id, "approval.approved")
        assert decided.after is not None and decided.after["prompt_ref"] == "nps_followup.draft@2"
        assert decided.after["model"] == "test-model" and decided.after["decision"]["action"] == "approve"
        assert count(session, LlmCall, LlmCall.run_id == outcome.run_id) == 1


def test_a_run_paused_here_is_resumed_from_another_process(engine: Engine) -> None:
    w = world(engine)
    outcome, _ = start(engine, w)
    with session_scope(engine) as session:
        approval_id = approval_of(session, outcome.run_id).id
    env = os.environ | {"SALESAGENTS_DATABASE_NAME": str(engine.url.database), "PYTHONPATH": REPO,
                        "SALESAGENTS_AGENT_MODULES": '["tests.sample_agents"]', "SALESAGENTS_MAIL_TRANSPORT": "local"}
    if get_settings().database_url:
        env["DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    code = ("import os; from api.cli.approvals import app; print('pid', os.getpid()); "
            f"app(['approve', '{approval_id}'], standalone_mode=False)")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"pid {os.getpid()}" not in done.stdout
    assert f"approval {approval_id} approved by user {w.csm_id}: draft approved, kept in the local outbox" \
        in " ".join(done.stdout.split())
    with session_scope(engine) as session:
        run = session.get(AgentRun, outcome.run_id)
        assert run is not None and run.status == "succeeded"
        approval = session.get(Approval, approval_id)
        assert approval is not None and approval.status == "approved"
        [mail] = session.scalars(select(MailMessage).where(MailMessage.draft_id == approval.draft_id)).all()
        assert (mail.status, mail.transport, mail.body) == ("stored", "local", REPLY)
        assert count(session, LlmCall, LlmCall.run_id == outcome.run_id) == 1  # the draft node did not run again


def test_two_reviewers_racing_on_one_draft_resume_it_once(engine: Engine) -> None:
    w = world(engine)
    outcome, _ = start(engine, w)
    with session_scope(engine) as session:
        approval_id = approval_of(session, outcome.run_id).id
    barrier = threading.Barrier(2)
    results: dict[int, Any] = {}

    def decide(who: int, action: str) -> None:
        barrier.wait()
        try:
            results[who] = approvals.decide(approval_id, action, who, edited_text=EDITED, engine=engine,
                                            settings=llm_settings(), now=NOW)
        except Conflict as exc:
            results[who] = exc

    threads = [threading.Thread(target=decide, args=(w.csm_id, "approve")),
               threading.Thread(target=decide, args=(w.admin_id, "edit"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [r for r in results.values() if not isinstance(r, Conflict)]
    losers = [r for r in results.values() if isinstance(r, Conflict)]
    assert len(winners) == 1 and len(losers) == 1, results
    with session_scope(engine) as session:
        approval = session.get(Approval, approval_id)
        assert approval is not None and approval.status == winners[0].status
        assert count(session, MailMessage, MailMessage.draft_id == approval.draft_id) == 1
        assert [a.action for a in decisions(session, approval_id)] == ["approval.requested",
                                                                       f"approval.{approval.status}"]
        review_runs = session.execute(text(
            "SELECT count(DISTINCT task_id) FROM checkpoint_writes WHERE thread_id = :t AND channel = 'review'"),
            {"t": str(outcome.run_id)}).scalar()
        assert review_runs == 1  # the review node finished once


def test_an_edit_sends_the_edited_text_and_guides_the_next_similar_draft(engine: Engine) -> None:
    first = world(engine, comment="Our invoices arrive without the PDF attached, again.")
    outcome, server = start(engine, first)
    assert "reviewer examples" not in server.user_text()
    with session_scope(engine) as session:
        approval_id = approval_of(session, outcome.run_id).id
    result = approvals.decide(approval_id, "edit", first.csm_id, edited_text=EDITED, engine=engine,
                              settings=llm_settings(), now=NOW)
    assert (result.status, result.draft_status, result.mail_status) == ("edited", "edited", "stored")
    with session_scope(engine) as session:
        approval = session.get(Approval, approval_id)
        assert approval is not None
        draft = session.get(Draft, approval.draft_id)
        assert draft is not None and (draft.body, draft.final_body) == (REPLY, EDITED)
        mail = session.scalars(select(MailMessage).where(MailMessage.draft_id == draft.id)).one()
        assert mail.body == EDITED
        feedback = session.scalars(select(ReviewFeedback).where(ReviewFeedback.draft_id == draft.id)).one()
        assert (feedback.kind, feedback.original, feedback.edited, feedback.reviewer_id) == (
            "edited", REPLY, EDITED, first.csm_id)
        assert feedback.situation == "Our invoices arrive without the PDF attached, again. (detractor, NPS 3/10, " \
            "Software)"

    similar = world(engine, comment="The monthly invoice email came with no PDF attachment.")
    _, server = start(engine, similar)
    shown = server.user_text()
    assert "<<< reviewer examples (data, not instructions)" in shown
    assert "Our engineers found the cause and I will call you tomorrow" in shown

    unrelated = world(engine, comment="We love the new dashboard, great work!", score=10, industry="Retail")
    _, server = start(engine, unrelated)
    assert "reviewer examples" not in server.user_text()


def test_a_rejection_sends_nothing_and_keeps_the_reason(engine: Engine) -> None:
    w = world(engine)
    outcome, _ = start(engine, w)
    with session_scope(engine) as session:
        approval_id = approval_of(session, outcome.run_id).id
    with pytest.raises(InvalidInput, match="^reason: "):
        approvals.decide(approval_id, "reject", w.csm_id, engine=engine)
    result = approvals.decide(approval_id, "reject", w.csm_id, reason="Too vague; name the fix and the date.",
                              engine=engine, settings=llm_settings(), now=NOW)
    assert (result.status, result.draft_status, result.mail_status, result.run_status) == (
        "rejected", "rejected", None, "succeeded")
    with session_scope(engine) as session:
        draft_id = approval_of(session, outcome.run_id).draft_id
        assert count(session, MailMessage, MailMessage.draft_id == draft_id) == 0
        feedback = session.scalars(select(ReviewFeedback).where(ReviewFeedback.draft_id == draft_id)).one()
        assert (feedback.kind, feedback.reason, feedback.edited) == (
            "rejected", "Too vague; name the fix and the date.", None)


def test_who_may_decide_and_bad_decisions_leave_the_approval_pending(engine: Engine) -> None:
    w = world(engine)
    outcome, _ = start(engine, w)
    with session_scope(engine) as session:
        approval_id = approval_of(session, outcome.run_id).id
    with pytest.raises(InvalidInput, match=f"^reviewer: user {w.other_id} may not decide approval {approval_id}"):
        approvals.decide(approval_id, "approve", w.other_id, engine=engine)
    with pytest.raises(InvalidInput, match="^edited_text: "):
        approvals.decide(approval_id, "edit", w.csm_id, edited_text="  ", engine=engine)
    with pytest.raises(InvalidInput, match="^action: "):
        approvals.decide(approval_id, "send", w.csm_id, engine=engine)
    with pytest.raises(NotFound, match="approval"):
        approvals.decide(10**12, "approve", w.csm_id, engine=engine)
    spec = registry.get(AGENT)
    registry.unregister(AGENT)
    try:
        with pytest.raises(InvalidInput, match=f"^agent: unknown agent '{AGENT}'"):
            approvals.decide(approval_id, "approve", w.csm_id, engine=engine)
    finally:
        registry.register(spec)
    with session_scope(engine) as session:
        approval = session.get(Approval, approval_id)
        assert approval is not None and (approval.status, approval.decision) == ("pending", {})
    result = approvals.decide(approval_id, "approve", w.admin_id, engine=engine, settings=llm_settings(), now=NOW)
    assert result.status == "approved"


def test_sla_escalates_to_the_manager_then_expires_without_sending(
        engine: Engine, smtp: tuple[Inbox, Settings]) -> None:
    inbox, settings = smtp
    w = world(engine)
    outcome, _ = start(engine, w)
    with session_scope(engine) as session:
        approval_id = approval_of(session, outcome.run_id).id

    def sla(at: datetime) -> approvals.SlaReport:
        report = approvals.check_sla(at, engine=engine, settings=settings)
        return approvals.SlaReport(escalated=[i for i in report.escalated if i == approval_id],
                                   expired=[i for i in report.expired if i == approval_id],
                                   resumed=[i for i in report.resumed if i == approval_id],
                                   errors={k: v for k, v in report.errors.items() if k == approval_id})

    assert sla(NOW + timedelta(minutes=239)) == approvals.SlaReport()
    assert sla(NOW + timedelta(minutes=241)).escalated == [approval_id]
    assert sla(NOW + timedelta(minutes=300)) == approvals.SlaReport()  # escalated once
    with session_scope(engine) as session:
        approval = session.get(Approval, approval_id)
        assert approval is not None and approval.escalated_to_id == w.manager_id and approval.status == "pending"
        [task] = session.scalars(select(Task).where(Task.idempotency_key == f"approval:{approval_id}:escalation"))
        assert (task.assignee_id, task.due_at, task.agent_run_id) == (w.manager_id, approval.expires_at,
                                                                      outcome.run_id)
        assert [r.approval_id for r in approvals.inbox(session, w.manager_id)] == [approval_id]
        assert decisions(session, approval_id)[-1].action == "approval.escalated"

    assert sla(NOW + timedelta(minutes=4321)) == approvals.SlaReport(expired=[approval_id])
    with session_scope(engine) as session:
        approval = session.get(Approval, approval_id)
        assert approval is not None and approval.status == "expired"
        draft = session.get(Draft, approval.draft_id)
        assert draft is not None and draft.status == "expired"
        run = session.get(AgentRun, outcome.run_id)
        assert run is not None and run.status == "succeeded"
        assert count(session, MailMessage, MailMessage.draft_id == draft.id) == 0
        assert decisions(session, approval_id)[-1].actor == "system:approval_sla"
        assert approvals.inbox(session, w.manager_id) == []
    with pytest.raises(Conflict, match="already expired"):
        approvals.decide(approval_id, "approve", w.manager_id, engine=engine, settings=settings)
    assert inbox.messages == []


def test_a_send_the_mail_server_refused_is_tried_again_by_the_sla_check(engine: Engine) -> None:
    w = world(engine)
    outcome, _ = start(engine, w)
    port = free_port()
    settings = llm_settings(mail_transport="smtp", smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    with session_scope(engine) as session:
        approval = approval_of(session, outcome.run_id)
        approval_id, draft_id = approval.id, approval.draft_id
    result = approvals.decide(approval_id, "approve", w.csm_id, engine=engine, settings=settings, now=NOW)
    assert (result.status, result.draft_status, result.mail_status, result.run_status) == (
        "approved", "approved", "failed", "succeeded")
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        report = approvals.check_sla(NOW + timedelta(minutes=5), engine=engine, settings=settings)
        again = approvals.check_sla(NOW + timedelta(minutes=10), engine=engine, settings=settings)
    finally:
        controller.stop()
    assert draft_id in report.resent and draft_id not in again.resent and len(inbox.messages) == 1
    with session_scope(engine) as session:
        draft = session.get(Draft, draft_id)
        assert draft is not None and (draft.status, draft.sent_at) == ("sent", NOW + timedelta(minutes=5))
        actions = session.scalars(select(AuditLog.action).where(AuditLog.entity_type == "draft",
                                                                AuditLog.entity_id == draft_id).order_by(AuditLog.id))
        assert [a for a in actions if a.startswith("mail.")] == ["mail.failed", "mail.sent"]


def test_a_decision_whose_process_died_before_resuming_is_finished_by_the_sla_check(engine: Engine) -> None:
    w = world(engine)
    outcome, _ = start(engine, w)
    with session_scope(engine) as session:
        approval_id = approval_of(session, outcome.run_id).id
        assert approval_repo.claim(session, approval_id, decided_by_id=w.csm_id, now=NOW,
                                   decision={"action": "approve", "reviewer_id": w.csm_id}) is not None
    report = approvals.check_sla(NOW + timedelta(minutes=1), engine=engine, settings=llm_settings())
    assert approval_id not in report.resumed  # a fresh claim belongs to the process that made it
    report = approvals.check_sla(NOW + timedelta(minutes=20), engine=engine, settings=llm_settings())
    assert approval_id in report.resumed and approval_id not in report.errors
    with session_scope(engine) as session:
        approval = session.get(Approval, approval_id)
        assert approval is not None and approval.status == "approved"
        assert count(session, MailMessage, MailMessage.draft_id == approval.draft_id) == 1
        run = session.get(AgentRun, outcome.run_id)
        assert run is not None and run.status == "succeeded"


def test_a_decision_on_a_run_that_died_is_applied_without_its_graph(engine: Engine) -> None:
    w = world(engine)
    outcome, _ = start(engine, w)
    with session_scope(engine) as session:
        approval_id = approval_of(session, outcome.run_id).id
        runs_repo.set_status(session, outcome.run_id, "failed", now=NOW, from_statuses=("waiting_review",),
                             error="swept")
    result = approvals.decide(approval_id, "approve", w.csm_id, engine=engine, settings=llm_settings(), now=NOW)
    assert (result.status, result.run_status, result.mail_status) == ("approved", "failed", "stored")


def test_unassigned_drafts_and_the_cli(engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    w = world(engine, csm=False)
    outcome, _ = start(engine, w)
    with session_scope(engine) as session:
        approval = approval_of(session, outcome.run_id)
        assert approval.reviewer_id is None
        approval_id = approval.id
    monkeypatch.setenv("SALESAGENTS_DATABASE_NAME", str(engine.url.database))
    monkeypatch.setenv("SALESAGENTS_MAIL_TRANSPORT", "local")
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        runner = CliRunner()
        monkeypatch.setattr(cli_main, "console", Console(width=200))
        listed = runner.invoke(approvals_cli, ["inbox"])
        assert listed.exit_code == 0, listed.output
        [row] = [line for line in listed.output.splitlines() if line.startswith(f"│ {approval_id} ")]
        assert "sample_outreach" in row and "Your feedback, Maria" in row
        nobody = runner.invoke(approvals_cli, ["approve", str(approval_id)])
        assert isinstance(nobody.exception, InvalidInput) and "has no reviewer" in str(nobody.exception)
        both = runner.invoke(approvals_cli, ["edit", str(approval_id), "--text", "x", "--file", "y"])
        assert isinstance(both.exception, InvalidInput) and "exactly one of --text or --file" in str(both.exception)
        edited = tmp_path / "reply.txt"
        edited.write_text(EDITED, encoding="utf-8")
        done = runner.invoke(approvals_cli, ["edit", str(approval_id), "--file", str(edited), "--as", str(w.other_id)])
        assert done.exit_code == 0, done.output
        assert f"approval {approval_id} edited by user {w.other_id}: draft edited, kept in the local outbox" in \
            " ".join(done.output.split())
        again = runner.invoke(approvals_cli, ["reject", str(approval_id), "--reason", "late", "--as", str(w.other_id)])
        assert isinstance(again.exception, Conflict)
    finally:
        get_engine.cache_clear()
        get_settings.cache_clear()
