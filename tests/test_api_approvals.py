"""The approval inbox through the API on a committed database: the sample_outreach agent drafts a reply and
waits; the account's CSM lists it, approves / edits / rejects / bulk-approves over HTTP, and the run resumes.
Another CSM neither sees nor decides it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from api.app import create_app
from core.db.engine import session_scope
from core.models import Draft, MailMessage, NpsResponse, ReviewFeedback
from core.services import auth as auth_service
from tests import factories
from tests.api_support import client_for, error_of
from tests.conftest import committing_engine, registered
from tests.llm_mock import llm_settings
from tests.sample_agents import outreach_spec
from tests.test_approvals import REPLY, approval_of, start, world

COMMENT = "The CSV export keeps failing on large files."


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    yield from committing_engine("apiinbox")


@pytest.fixture(scope="module", autouse=True)
def outreach_agent() -> Iterator[None]:
    yield from registered([outreach_spec()])


def _key(engine: Engine, user_id: int) -> str:
    with session_scope(engine) as session:
        return auth_service.create_api_key(session, user_id, "inbox test")[1]


def _waiting(engine: Engine, w: Any, comment: str | None = None) -> int:
    """A run waiting for review; a new comment makes a new NPS response (the same one would be skipped)."""
    if comment is not None:
        with session_scope(engine) as session:
            first = session.get(NpsResponse, w.response_id)
            assert first is not None
            again = factories.nps(session, w.account_id, 4, comment=comment, contact_id=first.contact_id)
            w = dataclasses.replace(w, response_id=again.id)
    outcome, _ = start(engine, w)
    assert outcome.status == "waiting_review"
    with session_scope(engine) as session:
        return approval_of(session, outcome.run_id).id


def test_the_csm_approves_a_draft_through_the_api(engine: Engine) -> None:
    w = world(engine)
    approval_id = _waiting(engine, w)
    app = create_app(llm_settings(), engine=engine)
    csm, other = client_for(app, _key(engine, w.csm_id)), client_for(app, _key(engine, w.other_id))

    inbox = csm.get("/approvals").json()
    assert [i["approval_id"] for i in inbox] == [approval_id]
    assert inbox[0]["body"] == REPLY and inbox[0]["recipient"].startswith("maria.")
    assert other.get("/approvals").json() == []
    refused = other.post(f"/approvals/{approval_id}/approve")
    assert refused.status_code == 404 and REPLY not in refused.text

    approved = csm.post(f"/approvals/{approval_id}/approve")
    assert approved.status_code == 200, approved.text
    result = approved.json()
    # the default local mail transport keeps the message in mail_messages (stored, not sent over SMTP)
    assert (result["status"], result["run_status"], result["draft_status"], result["mail_status"]) == (
        "approved", "succeeded", "approved", "stored")
    again = csm.post(f"/approvals/{approval_id}/approve")
    assert again.status_code == 409 and error_of(again)["code"] == "conflict"
    assert csm.get("/approvals").json() == []
    assert csm.get("/approvals", params={"status": "approved"}).json()[0]["approval_id"] == approval_id
    with session_scope(engine) as session:
        draft_id = approval_of(session, approved.json()["run_id"]).draft_id
        mails = session.scalars(select(MailMessage).where(MailMessage.draft_id == draft_id)).all()
        assert len(mails) == 1 and mails[0].body.strip().startswith("Hi Maria")


def test_edit_reject_and_bulk_approve_through_the_api(engine: Engine) -> None:
    w = world(engine)
    edited_id, rejected_id, bulk_a, bulk_b = (_waiting(engine, w, COMMENT) for _ in range(4))
    app = create_app(llm_settings(), engine=engine)
    csm = client_for(app, _key(engine, w.csm_id))

    assert csm.post(f"/approvals/{edited_id}/edit", json={"text": ""}).status_code == 422
    edited = csm.post(f"/approvals/{edited_id}/edit", json={"text": "Hi Maria, we fixed the export. Sam"})
    assert edited.status_code == 200 and edited.json()["status"] == "edited", edited.text
    missing_reason = csm.post(f"/approvals/{rejected_id}/reject", json={})
    assert missing_reason.status_code == 422 and error_of(missing_reason)["field"] == "reason"
    rejected = csm.post(f"/approvals/{rejected_id}/reject", json={"reason": "Promises a date we cannot keep"})
    assert rejected.json()["status"] == "rejected"

    bulk = csm.post("/approvals/bulk-approve", json={"approval_ids": [bulk_a, bulk_b, rejected_id, 987654]})
    assert bulk.status_code == 200
    assert [(i["approval_id"], i["ok"]) for i in bulk.json()] == [
        (bulk_a, True), (bulk_b, True), (rejected_id, False), (987654, False)]
    assert [i["error"]["code"] for i in bulk.json()[2:]] == ["conflict", "not_found"]
    with session_scope(engine) as session:
        run_of_edit = approval_of_id(session, edited_id)
        draft = session.get(Draft, run_of_edit)
        assert draft is not None and draft.final_body == "Hi Maria, we fixed the export. Sam"
        feedback = session.scalars(select(ReviewFeedback.kind).where(
            ReviewFeedback.draft_id.in_([run_of_edit, approval_of_id(session, rejected_id)]))).all()
        assert sorted(feedback) == ["edited", "rejected"]


def approval_of_id(session: Any, approval_id: int) -> int:
    from core.models import Approval

    row = session.get(Approval, approval_id)
    assert row is not None
    return int(row.draft_id)


def test_a_decided_draft_is_added_to_its_agents_eval_suite_through_the_api(engine: Engine) -> None:
    w = world(engine)
    pending_id, edited_id = (_waiting(engine, w, f"{COMMENT} ({n})") for n in range(2))
    app = create_app(llm_settings(), engine=engine)
    csm, other = client_for(app, _key(engine, w.csm_id)), client_for(app, _key(engine, w.other_id))
    undecided = csm.post(f"/approvals/{pending_id}/eval-case")
    assert undecided.status_code == 409 and "pending_review" in error_of(undecided)["message"]
    assert csm.post(f"/approvals/{edited_id}/edit", json={"text": "Hi Maria, thanks, we are on it. Sam"}).json()[
        "status"] == "edited"
    suiteless = csm.post(f"/approvals/{edited_id}/eval-case")  # the sample agent has no prompt suite
    assert suiteless.status_code == 422 and error_of(suiteless)["field"] == "draft"
    with session_scope(engine) as session:  # as if the NPS Follow-up agent had drafted it, with its inputs
        draft = session.get(Draft, approval_of_id(session, edited_id))
        assert draft is not None
        draft.agent = "nps_followup"
        draft.context = dict(draft.context) | {"prompt_inputs": {"contact_name": "Maria", "comment": COMMENT}}
    assert other.post(f"/approvals/{edited_id}/eval-case").status_code == 404
    added = csm.post(f"/approvals/{edited_id}/eval-case")
    assert added.status_code == 200, added.text
    assert (added.json()["suite"], added.json()["kind"], added.json()["created"]) == ("nps_reply.v2", "edited", True)
    again = csm.post(f"/approvals/{edited_id}/eval-case").json()
    assert again["created"] is False and again["case_id"] == added.json()["case_id"]
