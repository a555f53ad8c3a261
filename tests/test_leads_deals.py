"""Lead conversion, stage history and the outbox rows they write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput
from core.models import ContactEmail, OutboxEvent
from core.models.enums import DealStatus, LeadStatus
from core.repositories import events
from core.repositories import pipeline as pipeline_repo
from core.services import deals as deal_service
from core.services import leads as lead_service
from tests import factories as f


def test_lead_conversion_carries_everything_over(session: Session) -> None:
    rep = f.user(session)
    lead = f.lead(session, company_name="Acme VN", email="ana@acme.vn", phone="+84 1",
                  industry="Software", owner_id=rep.id, bant_budget=Decimal("25000"), tags=["hot"])
    result = lead_service.convert_lead(session, lead.id)

    assert result.account.name == "Acme VN" and result.account.industry == "Software"
    assert result.account.tags == ["hot"]
    assert result.contact.account_id == result.account.id and result.contact.first_name == lead.first_name
    emails = session.scalars(select(ContactEmail.email).where(ContactEmail.contact_id == result.contact.id)).all()
    assert emails == ["ana@acme.vn"]
    assert result.deal is not None and result.deal.amount == Decimal("25000")
    assert result.deal.owner_id == rep.id and result.deal.lead_id == lead.id
    assert lead.status is LeadStatus.qualified and lead.converted_deal_id == result.deal.id
    topics = [e.topic for e in events.events_for(session, "lead", lead.id)]
    assert topics == ["lead.created", "lead.converted"]
    [created] = events.events_for(session, "contact", result.contact.id)
    assert created.payload == {"from_lead": lead.id, "account_id": result.account.id}  # the labeler needs the account


def test_lead_cannot_be_converted_twice_or_when_disqualified(session: Session) -> None:
    lead = f.lead(session)
    lead_service.convert_lead(session, lead.id, create_deal=False)
    with pytest.raises(Conflict):
        lead_service.convert_lead(session, lead.id)
    other = f.lead(session)
    with pytest.raises(InvalidInput, match="disqualified_reason"):
        lead_service.change_status(session, other.id, LeadStatus.disqualified)
    lead_service.change_status(session, other.id, LeadStatus.disqualified, reason="No budget")
    with pytest.raises(Conflict):
        lead_service.convert_lead(session, other.id)


def test_stage_history_records_each_stay(session: Session) -> None:
    t0 = datetime(2026, 10, 1, tzinfo=UTC)
    d = f.deal(session, now=t0)
    stages = pipeline_repo.stages(session, d.pipeline_id)
    deal_service.move_stage(session, d.id, stages[1].id, now=t0 + timedelta(days=3))
    deal_service.move_stage(session, d.id, stages[2].id, now=t0 + timedelta(days=10))
    with pytest.raises(InvalidInput, match="lost_reason"):
        deal_service.close_lost(session, d.id, reason="")
    deal_service.close_lost(session, d.id, reason="Price", competitor="Rival", now=t0 + timedelta(days=12))

    history = pipeline_repo.stage_history(session, d.id)
    assert [h.stage_id for h in history] == [stages[0].id, stages[1].id, stages[2].id, stages[5].id]
    assert [(h.left_at - h.entered_at).days for h in history[:-1]] == [3, 7, 2]
    assert history[-1].left_at is None
    assert d.status is DealStatus.lost and d.lost_reason == "Price" and d.competitor == "Rival"
    with pytest.raises(Conflict):
        deal_service.move_stage(session, d.id, stages[1].id)


def test_rotting_deals_use_the_stage_threshold(session: Session) -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    fresh = f.deal(session, now=now - timedelta(days=3))
    stale = f.deal(session, now=now - timedelta(days=40))
    rotting = {d.id: days for d, _stage, days in pipeline_repo.rotting_deals(session, now)}
    assert stale.id in rotting and rotting[stale.id] == 40
    assert fresh.id not in rotting


def test_outbox_rows_roll_back_with_the_business_change(session: Session) -> None:
    before = session.scalar(select(OutboxEvent.id).order_by(OutboxEvent.id.desc()).limit(1)) or 0
    savepoint = session.begin_nested()
    f.lead(session, email="gone@example.test")
    assert session.scalars(select(OutboxEvent).where(OutboxEvent.id > before)).all()
    savepoint.rollback()
    assert session.scalars(select(OutboxEvent).where(OutboxEvent.id > before)).all() == []


def test_outbox_commits_exactly_with_the_entry_points_transaction(scratch_db) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func

    from core.db.engine import get_engine, session_scope
    from core.models import Lead

    class Boom(Exception):
        pass

    with pytest.raises(Boom), session_scope() as s:
        lead_service.create_lead(s, email="rolled@back.test")
        raise Boom
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Lead)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxEvent)) == 0
        lead = lead_service.create_lead(s, email="kept@example.test")
    with session_scope() as s:
        [event] = s.scalars(select(OutboxEvent)).all()
        assert (event.topic, event.aggregate_id) == ("lead.created", lead.id)
    get_engine().dispose()
