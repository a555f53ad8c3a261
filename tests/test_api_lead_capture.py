"""Web-form lead capture: UTM fields kept, duplicates by email (leads, contacts) and fuzzy name (pg_trgm), one
answer whatever is known, and the per-IP token bucket (429 with Retry-After)."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.ratelimit import SharedTokenBucket, TokenBucket
from core.models import Activity, Lead
from core.repositories import lead_capture
from tests import factories
from tests.api_support import app_for, client_for, error_of
from tests.celery_support import BrokerSpace
from tests.llm_mock import llm_settings

pytest_plugins = ("tests.celery_fixtures",)  # broker: a Redis key space of this test's own


def _form(**kw: Any) -> dict[str, Any]:
    return {"first_name": "Maria", "last_name": "Gonzalez", "company_name": "Acme Robotics",
            "utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring"} | kw


def _leads(session: Session, email: str) -> list[Lead]:
    return list(session.scalars(select(Lead).where(Lead.email == email)))


def test_a_new_lead_keeps_its_utm_fields(session: Session) -> None:
    client = client_for(app_for(session))
    response = client.post("/public/leads", json=_form(email="maria.new@acme.test", form="pricing",
                                                       message="Need a quote for 50 seats"))
    assert response.status_code == 202 and response.json() == {"status": "received"}
    (lead,) = _leads(session, "maria.new@acme.test")
    assert (lead.source.value, lead.source_detail, lead.utm_source, lead.utm_medium, lead.utm_campaign) == (
        "web_form", "pricing", "google", "cpc", "spring")
    note = session.scalars(select(Activity).where(Activity.lead_id == lead.id)).one()
    assert note.body == "Need a quote for 50 seats"


def test_same_email_as_a_lead_adds_to_that_lead_instead_of_a_duplicate(session: Session) -> None:
    existing = factories.lead(session, email="dup@acme.test", first_name="Dana", last_name="Up")
    client = client_for(app_for(session))
    response = client.post("/public/leads", json=_form(email="DUP@acme.test", message="second try"))
    assert response.status_code == 202 and response.json() == {"status": "received"}  # same answer: no leak
    assert [x.id for x in _leads(session, "dup@acme.test")] == [existing.id]
    notes = session.scalars(select(Activity.body).where(Activity.lead_id == existing.id)).all()
    assert notes == ["second try"]


def test_a_contacts_email_or_a_similar_name_is_flagged_for_the_rep(session: Session) -> None:
    contact = factories.contact(session, email="known@customer.test", first_name="Known", last_name="Person")
    similar = factories.lead(session, first_name="Jonathan", last_name="Smithers", email="js@old.test",
                             company_name="Smithers Ltd")
    client = client_for(app_for(session))
    client.post("/public/leads", json=_form(email="known@customer.test", first_name="K", last_name="P"))
    (flagged,) = _leads(session, "known@customer.test")
    assert flagged.custom_fields["possible_duplicates"] == [
        {"kind": "contact", "id": contact.id, "reason": "email", "similarity": 1.0}]
    client.post("/public/leads", json=_form(email="jon@new.test", first_name="Jonathon", last_name="Smithers",
                                            company_name="Smithers Ltd."))
    (fuzzy,) = _leads(session, "jon@new.test")
    (dup,) = fuzzy.custom_fields["possible_duplicates"]
    assert (dup["kind"], dup["id"], dup["reason"]) == ("lead", similar.id, "name") and 0.6 <= dup["similarity"] < 1
    unrelated = lead_capture.find_duplicates(session, email="zz@zz.test", first_name="Quentin",
                                             last_name="Zebulon", company_name=None)
    assert unrelated == []


def test_form_input_errors_are_422_naming_the_field(session: Session) -> None:
    client = client_for(app_for(session))
    empty = client.post("/public/leads", json={"first_name": "Only"})
    assert empty.status_code == 422 and error_of(empty)["field"] == "email"
    bad = client.post("/public/leads", json={"email": "nope"})
    assert bad.status_code == 422 and error_of(bad)["field"] == "email"


def test_the_per_ip_limit_refuses_the_burst_overflow_with_retry_after(session: Session) -> None:
    app = app_for(session, llm_settings(public_leads_per_minute=1, public_leads_burst=3))
    limiter = app.state.lead_capture_limiter
    assert (limiter.rate, limiter.burst) == (1 / 60, 3)  # from the settings
    app.state.lead_capture_limiter = TokenBucket(limiter.rate, limiter.burst, clock=lambda: 0.0)  # no refill
    client = client_for(app)
    codes = [client.post("/public/leads", json=_form(email=f"burst{i}@acme.test")).status_code for i in range(5)]
    assert codes == [202, 202, 202, 429, 429]
    refused = client.post("/public/leads", json=_form(email="later@acme.test"))
    assert error_of(refused)["code"] == "rate_limited" and int(refused.headers["retry-after"]) >= 1
    assert _leads(session, "later@acme.test") == []
    assert "salesagents_public_leads_rate_limited_total 3.0" in client.get("/metrics").text


def test_token_bucket_refills_at_its_rate_per_key() -> None:
    now = [0.0]
    bucket = TokenBucket(rate_per_s=0.5, burst=2, clock=lambda: now[0])
    assert [bucket.take("a"), bucket.take("a")] == [0.0, 0.0]
    assert bucket.take("a") == 2.0  # one token takes 2 s at 0.5/s
    assert bucket.take("b") == 0.0  # another IP has its own bucket
    now[0] = 2.0
    assert bucket.take("a") == 0.0
    assert bucket.take("a") > 0


def test_a_shared_limit_holds_across_api_processes(session: Session, broker: BrokerSpace) -> None:
    """Two apps (two API processes) with rate_limit_shared on: one bucket per IP in Redis, not one per process."""
    settings = llm_settings(public_leads_per_minute=0.01, public_leads_burst=3, rate_limit_shared=True,
                            broker_url=broker.url, broker_key_prefix=broker.prefix)
    first, second = client_for(app_for(session, settings)), client_for(app_for(session, settings))
    assert isinstance(first.app.state.lead_capture_limiter, SharedTokenBucket)
    codes = [(first if i % 2 else second).post("/public/leads", json=_form(email=f"shared{i}@acme.test")).status_code
             for i in range(5)]
    assert codes == [202, 202, 202, 429, 429]  # in-process buckets would have let all five through
    assert len(list(redis.Redis.from_url(broker.url).scan_iter(match=f"{broker.prefix}salesagents:ratelimit:*"))) == 1


def test_the_shared_bucket_refills_on_redis_time_per_key(broker: BrokerSpace) -> None:
    bucket = SharedTokenBucket(broker.url, "t", rate_per_s=20.0, burst=1, prefix=broker.prefix)
    try:
        assert bucket.take("a") == 0.0
        wait = bucket.take("a")
        assert 0 < wait <= 0.05  # one token takes 1/20 s
        assert bucket.take("b") == 0.0  # another IP has its own bucket
        time.sleep(wait + 0.02)
        assert bucket.take("a") == 0.0
    finally:
        bucket.close()


def test_an_unreachable_redis_falls_back_to_the_process_bucket(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    bucket = SharedTokenBucket("redis://127.0.0.1:1/0", "t", rate_per_s=0.5, burst=2, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="api.ratelimit"):
        assert [bucket.take("a"), bucket.take("a"), bucket.take("a")] == [0.0, 0.0, 2.0]  # still limited
    assert sum("Redis unreachable" in r.getMessage() for r in caplog.records) == 1  # then it stops trying a while
