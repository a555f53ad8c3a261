"""Routing new leads: round-robin over active reps, territory by country code, never re-routing an owned lead."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from agents.lead_scorer import agent_specs
from agents.runtime import runs
from agents.runtime.executor import execute_run
from core.config import Settings, get_settings
from core.db.engine import session_scope
from core.errors import InvalidInput
from core.models import AuditLog, Lead
from core.models.enums import Role
from core.models.identity import Territory
from core.repositories.lead_routing import active_reps
from core.services.lead_routing import country_code, route_lead
from tests import factories
from tests.conftest import committing_engine, registered

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _territory(session: Session, name: str, countries: list[str]) -> Territory:
    territory = Territory(name=name, countries=countries)
    session.add(territory)
    session.flush()
    return territory


def test_round_robin_takes_turns_and_skips_inactive_reps_and_other_roles(session: Session) -> None:
    reps = [factories.user(session).id for _ in range(3)]
    factories.user(session, active=False)
    factories.user(session, role=Role.manager)
    assert active_reps(session) == reps
    owners = [route_lead(session, factories.lead(session).id, "round_robin").owner_id for _ in range(7)]
    assert owners == [reps[0], reps[1], reps[2], reps[0], reps[1], reps[2], reps[0]]
    newcomer = factories.user(session).id
    assert route_lead(session, factories.lead(session).id, "round_robin").owner_id == newcomer  # never had one


def test_an_owned_lead_keeps_its_owner_and_off_assigns_nobody(session: Session) -> None:
    rep, other = factories.user(session).id, factories.user(session).id
    owned = factories.lead(session, owner_id=other)
    routed = route_lead(session, owned.id, "round_robin")
    assert (routed.owner_id, routed.rule) == (other, "already_assigned")
    fresh = factories.lead(session)
    assert route_lead(session, fresh.id, "off").owner_id is None and fresh.owner_id is None
    assert route_lead(session, fresh.id, "round_robin").owner_id == rep
    audit = session.scalars(select(AuditLog).where(AuditLog.entity_type == "lead", AuditLog.entity_id == fresh.id,
                                                   AuditLog.action == "route")).one()
    assert audit.after is not None and audit.after["owner_id"] == rep and audit.after["rule"] == "round_robin"
    with pytest.raises(InvalidInput, match="lead_routing: must be one of off, round_robin, territory"):
        route_lead(session, fresh.id, "random")


def test_territory_routes_by_country_code_and_falls_back_to_all_reps(session: Session) -> None:
    dach, france = _territory(session, "DACH", ["DE", "AT", "CH"]), _territory(session, "France", ["FR"])
    de_1 = factories.user(session, territory_id=dach.id).id
    de_2 = factories.user(session, territory_id=dach.id).id
    fr = factories.user(session, territory_id=france.id).id
    owners = [route_lead(session, factories.lead(session, country=c).id, "territory")
              for c in ("DE", "at", "FR", "CH")]
    assert [(r.owner_id, r.rule) for r in owners] == [(de_1, "territory"), (de_2, "territory"), (fr, "territory"),
                                                     (de_1, "territory")]
    elsewhere = route_lead(session, factories.lead(session, country="Brazil").id, "territory")
    assert elsewhere.rule == "territory_fallback" and elsewhere.owner_id in (de_1, de_2, fr)
    assert country_code(" de ") == "DE" and country_code("Germany") is None and country_code(None) is None


def test_no_reps_leaves_the_lead_unassigned(session: Session) -> None:
    factories.user(session, role=Role.admin)
    routed = route_lead(session, factories.lead(session).id, "round_robin")
    assert (routed.owner_id, routed.rule) == (None, "no_reps")


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    yield from committing_engine("lroute")


@pytest.fixture(scope="module", autouse=True)
def agents() -> Iterator[None]:
    yield from registered(agent_specs())


def test_the_lead_scorer_routes_a_new_unassigned_lead_on_its_run(engine: Engine) -> None:
    settings = Settings(**(get_settings().model_dump() | {"lead_routing": "territory"}))
    with session_scope(engine) as session:
        nordics = _territory(session, "Nordics", ["SE", "NO"])
        factories.user(session)
        seller = factories.user(session, territory_id=nordics.id).id
        lead_id = factories.lead(session, country="SE").id
        run = runs.create_run(session, "lead_scorer", "event", "lead", lead_id)
        assert run is not None
        run_id = run.id
    outcome = execute_run(run_id, now=NOW, engine=engine, settings=settings)
    assert outcome.error is None and outcome.status == "succeeded"
    with session_scope(engine) as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None and lead.owner_id == seller
