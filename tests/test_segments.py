"""Segments: the Vietnam example among decoys (each failing one rule), ops, fields and validation paths."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.models import Account, CustomFieldDefinition, Segment
from core.models.enums import BuyingRole, CustomFieldType, DealStatus, SegmentEntity, SizeBand, TicketStatus
from core.services import deals as deal_service
from core.services import segments as svc
from tests import factories as f

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
EARLY = NOW - timedelta(days=400)
DAY = timedelta(days=1)

VIETNAM_CONTACTS = {"all": [
    {"field": "account.size_band", "op": "eq", "value": "enterprise"},
    {"field": "account.country", "op": "eq", "value": "VN"},
    {"field": "last_activity_days", "op": "gt", "value": 90},
    {"field": "open_deals", "op": "eq", "value": 0},
]}
VIETNAM_ACCOUNTS = {"all": [
    {"field": "size_band", "op": "eq", "value": "enterprise"},
    {"field": "country", "op": "eq", "value": "VN"},
    {"field": "last_activity_days", "op": "gt", "value": 90},
    {"field": "open_deals", "op": "eq", "value": 0},
]}


def _vn(session: Session, name: str, **kw: Any) -> Account:
    return f.account(session, **({"name": name, "size_band": SizeBand.enterprise, "country": "VN"} | kw))


def _closed_deal(session: Session, account_id: int) -> int:
    d = f.deal(session, account_id=account_id, now=EARLY)
    deal_service.close_won(session, d.id, now=EARLY + DAY)
    return d.id


def _world(session: Session) -> dict[str, Any]:
    """Three matching accounts and one decoy per way to fail; returns accounts and contacts by name."""
    acc: dict[str, Account] = {}
    con: dict[str, int] = {}

    def people(account: str, *names: str) -> None:
        for n in names:
            con[n] = f.contact(session, account_id=acc[account].id).id

    acc["T1"] = _vn(session, "never touched")
    people("T1", "t1a", "t1b")
    f.activity(session, account_id=acc["T1"].id, occurred_at=NOW + 5 * DAY)  # scheduled: not yet activity
    acc["T2"] = _vn(session, "cold, only closed deals")
    people("T2", "t2")
    f.activity(session, contact_id=con["t2"], occurred_at=NOW - 120 * DAY)
    _closed_deal(session, acc["T2"].id)
    lost = f.deal(session, account_id=acc["T2"].id, now=EARLY)
    deal_service.close_lost(session, lost.id, "Budget", now=EARLY + DAY)
    acc["T3"] = _vn(session, "just past 90 days")
    people("T3", "t3")
    f.activity(session, account_id=acc["T3"].id, occurred_at=NOW - 90 * DAY - timedelta(hours=1))

    acc["size"] = _vn(session, "mid market", size_band=SizeBand.mid_market)
    people("size", "d_size")
    acc["country"] = _vn(session, "Thailand", country="TH")
    people("country", "d_country")
    acc["no_country"] = _vn(session, "unknown country", country=None)
    people("no_country", "d_no_country")
    acc["acct_touch"] = _vn(session, "account touched")
    people("acct_touch", "d_acct")
    f.activity(session, account_id=acc["acct_touch"].id, occurred_at=NOW - 10 * DAY)
    acc["colleague"] = _vn(session, "colleague touched")
    people("colleague", "d_colleague", "d_colleague_touched")
    f.activity(session, contact_id=con["d_colleague_touched"], occurred_at=NOW - 30 * DAY)
    acc["deal_touch"] = _vn(session, "deal touched")
    people("deal_touch", "d_deal")
    f.activity(session, deal_id=_closed_deal(session, acc["deal_touch"].id), occurred_at=NOW - 5 * DAY)
    acc["own_touch"] = _vn(session, "contact touched")
    people("own_touch", "d_own")
    f.activity(session, contact_id=con["d_own"], occurred_at=NOW - 89 * DAY)
    acc["boundary"] = _vn(session, "exactly 90 days")
    people("boundary", "d_boundary")
    f.activity(session, account_id=acc["boundary"].id, occurred_at=NOW - 90 * DAY)
    acc["open_deal"] = _vn(session, "open deal")
    people("open_deal", "d_open")
    f.deal(session, account_id=acc["open_deal"].id, now=EARLY)
    con["orphan"] = f.contact(session).id
    return {"acc": acc, "con": con}


def test_vietnam_example_returns_exactly_the_cold_enterprise_contacts(session: Session) -> None:
    w = _world(session)
    result = svc.evaluate(session, rules=VIETNAM_CONTACTS, entity="contact", now=NOW)
    expected = sorted(w["con"][n] for n in ("t1a", "t1b", "t2", "t3"))
    assert result.ids == expected and result.total == 4

    accounts = svc.evaluate(session, rules=VIETNAM_ACCOUNTS, entity=SegmentEntity.account, now=NOW)
    assert accounts.ids == sorted(w["acc"][n].id for n in ("T1", "T2", "T3"))

    # each decoy fails exactly one rule: dropping that rule lets it in
    touched = {"d_acct", "d_colleague", "d_colleague_touched", "d_deal", "d_own", "d_boundary"}
    for i, decoys in enumerate([{"d_size"}, {"d_country", "d_no_country"}, touched, {"d_open"}]):
        rules = {"all": [r for j, r in enumerate(VIETNAM_CONTACTS["all"]) if j != i]}
        ids = set(svc.evaluate(session, rules=rules, entity="contact", now=NOW).ids)
        assert ids == set(expected) | {w["con"][n] for n in decoys}, i


def test_saved_segment_paging_preview_and_counts(session: Session) -> None:
    w = _world(session)
    seg = svc.create_segment(session, name="Enterprise accounts — Vietnam — 90d no activity",
                             entity="contact", rules=VIETNAM_CONTACTS)
    assert seg.rules == VIETNAM_CONTACTS
    expected = sorted(w["con"][n] for n in ("t1a", "t1b", "t2", "t3"))
    page = svc.evaluate(session, seg.id, limit=2, offset=1, now=NOW)
    assert (page.total, page.ids) == (4, expected[1:3])
    assert svc.evaluate(session, seg.id, limit=5, offset=10, now=NOW).ids == []

    preview = svc.preview(session, VIETNAM_CONTACTS, "contact", now=NOW)
    assert preview.population == len(w["con"]) == 15 and preview.total == 4
    # enterprise: all but d_size and the orphan; VN: minus two; cold: minus six; no open deal: minus one
    assert [n for _, n in preview.steps] == [13, 11, 5, 4]
    assert [p for p, _ in preview.steps] == [f"rules.all[{i}]" for i in range(4)]
    assert svc.counts(session, now=NOW)[seg.id] == 4

    with pytest.raises(InvalidInput, match="name"):
        svc.create_segment(session, name=seg.name, entity="contact", rules=VIETNAM_CONTACTS)
    with pytest.raises(NotFound):
        svc.evaluate(session, 10**12)


def test_operators_tags_custom_fields_and_null_semantics(session: Session) -> None:
    session.add(CustomFieldDefinition(entity=SegmentEntity.contact, key="seats", label="Seats",
                                      data_type=CustomFieldType.number))
    a_vn = f.account(session, country="VN", industry="Software", tags=["strategic"])
    a_none = f.account(session, country=None, industry="Retail")
    ana = f.contact(session, email="ana@acme.vn", account_id=a_vn.id, title="VP Sales",
                    buying_role=BuyingRole.decision_maker, tags=["vip", "beta"],
                    custom_fields={"seats": 40, "tier": "gold", "renewal": "2026-09-01"})
    bo = f.contact(session, email="bo@shop.com", account_id=a_none.id, title="Buyer", email_consent=False,
                   buying_role=BuyingRole.user, tags=["beta"],
                   custom_fields={"seats": "12", "tier": "silver"})
    cy = f.contact(session, title=None, custom_fields={"seats": "many"})

    def ids(rules: dict[str, Any], entity: str = "contact") -> set[int]:
        return set(svc.evaluate(session, rules=rules, entity=entity, now=NOW).ids)

    def one(field: str, op: str, value: Any = None) -> set[int]:
        return ids({"field": field, "op": op, "value": value})

    assert one("title", "contains", "vp") == {ana.id}
    assert one("title", "is_null") == {cy.id}
    assert one("buying_role", "in", ["decision_maker", "influencer"]) == {ana.id}
    assert one("buying_role", "ne", "user") == {ana.id, cy.id}
    assert one("email_consent", "eq", False) == {bo.id}
    assert one("email", "contains", "@shop.") == {bo.id}
    assert one("tags", "has", "vip") == {ana.id}
    assert one("tags", "has_any", ["vip", "beta"]) == {ana.id, bo.id}
    assert one("account.tags", "has", "strategic") == {ana.id}
    assert one("account.country", "ne", "VN") == {bo.id, cy.id}
    assert one("account.country", "not_in", ["VN", "TH"]) == {bo.id, cy.id}
    assert ids({"not": {"field": "account.country", "op": "eq", "value": "VN"}}) == {bo.id, cy.id}
    assert one("account.industry", "eq", "Retail") == {bo.id}
    assert one("custom.seats", "gte", 12) == {ana.id, bo.id}  # a numeric string counts, "many" does not
    assert one("custom.seats", "lt", 20.5) == {bo.id}
    assert one("custom.tier", "in", ["gold", "bronze"]) == {ana.id}
    assert one("custom.renewal", "lt", "2026-12-31") == {ana.id}
    assert one("custom.tier", "is_null") == {cy.id}
    assert ids({"any": [{"field": "tags", "op": "has", "value": "vip"},
                        {"field": "email_consent", "op": "eq", "value": False}]}) == {ana.id, bo.id}
    assert ids({"all": []}) >= {ana.id, bo.id, cy.id} and ids({"any": []}) == set()
    assert one("account.employees", "gt", 2.5) == set()


def test_computed_account_signals(session: Session) -> None:
    healthy = f.account(session)
    troubled = f.account(session)
    f.nps(session, healthy.id, 9, responded_at=NOW - 5 * DAY)
    f.nps(session, troubled.id, 10, responded_at=NOW - 50 * DAY)
    f.nps(session, troubled.id, 3, responded_at=NOW - 2 * DAY)
    f.nps(session, troubled.id, 10, responded_at=NOW + DAY)  # after `now`: not yet known
    f.invoice(session, troubled.id, amount=Decimal("500"), paid=Decimal("100"), due_on=date(2026, 5, 1))
    f.invoice(session, healthy.id, amount=Decimal("500"), due_on=date(2026, 7, 1))
    f.ticket(session, troubled.id, status=TicketStatus.pending)
    f.ticket(session, healthy.id, status=TicketStatus.solved)
    f.contract(session, healthy.id, arr=Decimal("50000"))
    for _ in range(3):
        f.deal(session, account_id=healthy.id, now=EARLY)
    detractor = f.contact(session, account_id=healthy.id)
    f.nps(session, healthy.id, 2, contact_id=detractor.id, responded_at=NOW - 9 * DAY)

    def accounts(field: str, op: str, value: Any = None) -> set[int]:
        rules = {"field": field, "op": op, "value": value}
        found = svc.evaluate(session, rules=rules, entity="account", now=NOW).ids
        return set(found) & {healthy.id, troubled.id}

    assert accounts("nps_last", "lte", 6) == {troubled.id}  # its 10 answered after `now` is not yet known
    assert accounts("nps_last", "eq", 9) == {healthy.id}  # the detractor's 2 came earlier than the 9
    assert accounts("ar_overdue", "gt", 399) == {troubled.id}
    assert accounts("ar_overdue", "eq", 0) == {healthy.id}
    assert accounts("open_tickets", "gte", 1) == {troubled.id}
    assert accounts("arr", "gte", 50000) == {healthy.id}
    assert accounts("open_deals", "gt", 2) == {healthy.id}
    assert accounts("open_deals", "lt", 3) == {troubled.id}
    assert accounts("open_deals", "lt", 0) == set() and accounts("open_deals", "lt", 1) == {troubled.id}

    fan = f.contact(session, account_id=troubled.id)
    silent = f.contact(session, account_id=troubled.id)
    f.nps(session, troubled.id, 6, contact_id=fan.id, responded_at=NOW - 90 * DAY)
    f.nps(session, troubled.id, 10, contact_id=fan.id, responded_at=NOW - 3 * DAY)

    def contacts(op: str, value: Any = None) -> list[int]:
        rules = {"field": "nps_last", "op": op, "value": value}
        return svc.evaluate(session, rules=rules, entity="contact", now=NOW).ids

    assert contacts("lt", 7) == [detractor.id]  # the fan's 6 was superseded by a 10
    assert contacts("ne", 10) == [detractor.id, silent.id] and contacts("is_null") == [silent.id]
    assert contacts("not_in", [2, 3]) == [fan.id, silent.id] and contacts("in", [10]) == [fan.id]


def test_contact_activity_scope(session: Session) -> None:
    acc = f.account(session)
    quiet = f.contact(session, account_id=acc.id)
    busy = f.contact(session, account_id=acc.id)
    loner = f.contact(session)
    f.activity(session, contact_id=busy.id, occurred_at=NOW - 5 * DAY)
    f.activity(session, contact_id=loner.id, occurred_at=NOW - 200 * DAY)

    def ids(field: str, op: str, value: Any = None) -> set[int]:
        rules = {"field": field, "op": op, "value": value}
        return set(svc.evaluate(session, rules=rules, entity="contact", now=NOW).ids)

    assert ids("last_activity_days", "lt", 30) == {quiet.id, busy.id}  # a colleague's call counts
    assert ids("own_last_activity_days", "lt", 30) == {busy.id}
    assert ids("own_last_activity_days", "is_null") == {quiet.id}
    assert ids("last_activity_days", "gte", 200) == {loner.id}
    assert ids("last_activity_days", "lte", 199) == {quiet.id, busy.id}
    assert ids("account.last_activity_days", "lt", 30) == {quiet.id, busy.id}


def test_deal_and_lead_segments(session: Session) -> None:
    acc = f.account(session, country="VN")
    stale = f.deal(session, account_id=acc.id, amount=Decimal("9000"), now=NOW - 40 * DAY)
    fresh = f.deal(session, amount=Decimal("100"), now=NOW - DAY)
    f.activity(session, deal_id=fresh.id, occurred_at=NOW - DAY)
    rules = {"all": [{"field": "status", "op": "eq", "value": DealStatus.open.value},
                     {"field": "days_in_stage", "op": "gt", "value": 30},
                     {"field": "stage", "op": "eq", "value": "Prospect"},
                     {"field": "account.country", "op": "eq", "value": "VN"},
                     {"field": "last_activity_days", "op": "is_null"}]}
    assert svc.evaluate(session, rules=rules, entity="deal", now=NOW).ids == [stale.id]
    hot = f.lead(session, country="Vietnam", score=80)
    f.lead(session, country="Vietnam", score=20)
    lead_rules = {"all": [{"field": "score", "op": "gte", "value": 50},
                          {"field": "country", "op": "eq", "value": "Vietnam"}]}
    assert svc.evaluate(session, rules=lead_rules, entity="lead", now=NOW).ids == [hot.id]


@pytest.mark.parametrize(("rules", "field", "message"), [
    ({"all": [*VIETNAM_CONTACTS["all"][:2], {"field": "mood", "op": "eq", "value": 1}]},
     "rules.all[2].field", "unknown field 'mood'"),
    ({"all": [{"field": "title", "op": "like", "value": "x"}]}, "rules.all[0].op", "Input should be"),
    ({"all": [{"field": "title", "op": "gt", "value": "x"}]}, "rules.all[0].op", "does not apply"),
    ({"any": [{"field": "account.size_band", "op": "eq", "value": "huge"}]}, "rules.any[0].value",
     "enterprise"),
    ({"field": "buying_role", "op": "in", "value": ["user", 3]}, "rules.value[1]", "not one of"),
    ({"field": "buying_role", "op": "in", "value": "user"}, "rules.value", "non-empty list"),
    ({"field": "email_consent", "op": "eq", "value": "yes"}, "rules.value", "true or false"),
    ({"field": "title", "op": "is_null", "value": "x"}, "rules.value", "takes no value"),
    ({"field": "title", "op": "eq"}, "rules.value", "needs a value"),
    ({"field": "last_activity_days", "op": "gt", "value": "ninety"}, "rules.value", "number"),
    ({"field": "last_activity_days", "op": "eq", "value": 90}, "rules.op", "does not apply"),
    ({"field": "open_deals", "op": "gt", "value": -1}, "rules.value", ">= 0"),
    ({"field": "created_at", "op": "gt", "value": "last week"}, "rules.value", "ISO date"),
    ({"field": "custom.tier", "op": "gt", "value": "gold"}, "rules.value", "number or an ISO date"),
    ({"field": "account.account.name", "op": "eq", "value": "x"}, "rules.field", "unknown field"),
    ({"not": {"any": [{"op": "eq", "value": 1}]}}, "rules.not.any[0].field", "Field required"),
    ({"all": [{"field": "title", "op": "eq", "value": "x", "extra": 1}]}, "rules.all[0].extra", "Extra"),
    ({"all": "title"}, "rules.all", "list"),
    ({"every": []}, "rules.field", "Field required"),
    ("title = x", "rules", "expected an object"),
])
def test_rule_errors_name_the_path(session: Session, rules: Any, field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        svc.evaluate(session, rules=rules, entity="contact", now=NOW)
    assert err.value.field == field and message in err.value.message


def test_bad_segments_are_not_saved(session: Session) -> None:
    before = session.scalar(select(func.count()).select_from(Segment))
    with pytest.raises(InvalidInput) as err:
        svc.create_segment(session, name="Leads by account", entity="lead",
                           rules={"field": "account.country", "op": "eq", "value": "VN"})
    assert err.value.field == "rules.field"
    with pytest.raises(InvalidInput, match="entity"):
        svc.create_segment(session, name="x", entity="company", rules={"all": []})
    with pytest.raises(InvalidInput, match="limit"):
        svc.evaluate(session, rules={"all": []}, entity="contact", limit=0)
    with pytest.raises(InvalidInput, match="rules"):
        svc.evaluate(session, entity="contact")
    with pytest.raises(InvalidInput, match="rules"):
        svc.create_segment(session, name="deep", entity="contact", rules=_nested(20))
    assert session.scalar(select(func.count()).select_from(Segment)) == before

    seg = svc.create_segment(session, name="VIPs", entity="contact", rules={"field": "tags", "op": "has",
                                                                            "value": "vip"})
    with pytest.raises(InvalidInput, match=r"rules\.op"):
        svc.update_rules(session, seg.id, {"field": "tags", "op": "eq", "value": "vip"})
    assert seg.rules == {"field": "tags", "op": "has", "value": "vip"}


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"field": "title", "op": "is_null"}
    for _ in range(depth):
        node = {"not": node}
    return node
