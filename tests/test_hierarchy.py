"""Account hierarchy: subtrees, paths, roll-ups checked against hand-computed figures, and cycle rejection."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.models import Account, AuditLog
from core.models.enums import ContractStatus, InvoiceStatus
from core.services import accounts as svc
from core.services import deals as deal_service
from tests import factories as f
from tests import factories_extra as fx

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
EARLIER = NOW - timedelta(days=30)


def _tree(session: Session) -> dict[str, Account]:
    """G > R > {A > {A1 > A1x, A2}, B > B1}, plus an unrelated account U; data in G and U must never count."""
    g = f.account(session, name="G")
    r = f.account(session, name="R", parent_id=g.id)
    a = f.account(session, name="A", parent_id=r.id)
    b = f.account(session, name="B", parent_id=r.id)
    a1 = f.account(session, name="A1", parent_id=a.id)
    a2 = f.account(session, name="A2", parent_id=a.id)
    a1x = f.account(session, name="A1x", parent_id=a1.id)
    b1 = f.account(session, name="B1", parent_id=b.id)
    u = f.account(session, name="U")
    return {"G": g, "R": r, "A": a, "B": b, "A1": a1, "A2": a2, "A1x": a1x, "B1": b1, "U": u}


def _data(session: Session, t: dict[str, Account]) -> None:
    for name, n in {"R": 1, "A": 2, "A1x": 1, "B1": 1, "G": 3, "U": 2}.items():
        for _ in range(n):
            f.contact(session, account_id=t[name].id)
    f.deal(session, now=EARLIER, account_id=t["A1"].id, amount=Decimal("1000"))
    f.deal(session, now=EARLIER, account_id=t["A1x"].id, amount=Decimal("500"), currency="EUR")
    won = f.deal(session, now=EARLIER, account_id=t["B"].id, amount=Decimal("3000"))
    deal_service.close_won(session, won.id, now=NOW)
    lost = f.deal(session, now=EARLIER, account_id=t["A"].id, amount=Decimal("7000"))
    deal_service.close_lost(session, lost.id, "Price", now=NOW)
    f.deal(session, now=EARLIER, account_id=t["U"].id, amount=Decimal("99999"))
    f.deal(session, now=EARLIER, account_id=t["G"].id, amount=Decimal("88888"))

    f.contract(session, t["A2"].id, arr=Decimal("12000"))
    f.contract(session, t["R"].id, arr=Decimal("6000"))
    f.contract(session, t["A1"].id, arr=Decimal("5000"), start_date=date(2025, 1, 1),
               end_date=date(2025, 12, 31))
    f.contract(session, t["B"].id, arr=Decimal("4000"), status=ContractStatus.cancelled)
    f.contract(session, t["G"].id, arr=Decimal("77777"))

    partial = f.invoice(session, t["A1x"].id, amount=Decimal("1000"), due_on=date(2026, 5, 1))
    fx.payment(session, partial.id, Decimal("150"))
    fx.payment(session, partial.id, Decimal("250"))
    f.invoice(session, t["B1"].id, amount=Decimal("500"), due_on=date(2026, 7, 1))
    f.invoice(session, t["A"].id, amount=Decimal("800"), status=InvoiceStatus.void)
    f.invoice(session, t["A2"].id, amount=Decimal("300"), paid=Decimal("300"), status=InvoiceStatus.paid)
    f.invoice(session, t["U"].id, amount=Decimal("4444"))


def test_subtree_and_path_to_root(session: Session) -> None:
    t = _tree(session)
    nodes = svc.subtree(session, t["R"].id)
    assert {(n.name, n.depth) for n in nodes} == {("R", 0), ("A", 1), ("B", 1), ("A1", 2), ("A2", 2),
                                                   ("A1x", 3), ("B1", 2)}
    assert nodes[0].name == "R"
    order = [n.name for n in nodes]
    assert order.index("A1") < order.index("A1x") and order.index("B") < order.index("B1")

    path = svc.path_to_root(session, t["A1x"].id)
    assert [(n.name, n.depth) for n in path] == [("G", 0), ("R", 1), ("A", 2), ("A1", 3), ("A1x", 4)]
    assert [n.name for n in svc.path_to_root(session, t["U"].id)] == ["U"]
    with pytest.raises(NotFound):
        svc.subtree(session, 10**12)


def test_rollup_matches_hand_computed_values(session: Session) -> None:
    t = _tree(session)
    _data(session, t)

    r = svc.rollup(session, t["R"].id, now=NOW)
    assert (r.accounts, r.contacts, r.open_deals, r.won_deals) == (7, 5, 2, 1)
    assert r.open_deal_amount == {"USD": Decimal("1000"), "EUR": Decimal("500")}
    assert r.won_amount == {"USD": Decimal("3000")}
    assert r.active_contracts == 2 and r.arr == {"USD": Decimal("18000")}
    assert r.open_invoices == 2 and r.ar_balance == {"USD": Decimal("1100")}
    assert r.overdue_invoices == 1 and r.ar_overdue == {"USD": Decimal("600")}

    a = svc.rollup(session, t["A"].id, now=NOW)
    assert (a.accounts, a.contacts, a.open_deals, a.won_deals) == (4, 3, 2, 0)
    assert a.won_amount == {} and a.arr == {"USD": Decimal("12000")}
    assert a.ar_balance == {"USD": Decimal("600")} and a.ar_overdue == {"USD": Decimal("600")}

    leaf = svc.rollup(session, t["B1"].id, now=NOW)
    assert (leaf.accounts, leaf.contacts, leaf.open_deals) == (1, 1, 0)
    assert leaf.ar_balance == {"USD": Decimal("500")} and leaf.ar_overdue == {}

    per_node = svc.subtree_rollups(session, t["R"].id, now=NOW)
    assert set(per_node) == {t[k].id for k in ("R", "A", "B", "A1", "A2", "A1x", "B1")}
    assert per_node[t["R"].id] == r and per_node[t["A"].id] == a and per_node[t["B1"].id] == leaf
    a1 = per_node[t["A1"].id]
    assert (a1.accounts, a1.contacts, a1.open_deals) == (2, 1, 2) and a1.arr == {}
    assert per_node[t["B"].id].won_amount == {"USD": Decimal("3000")}


def test_set_parent_rejects_cycles_and_audits_moves(session: Session) -> None:
    t = _tree(session)
    with pytest.raises(InvalidInput) as err:
        svc.set_parent(session, t["R"].id, t["A1x"].id)
    assert err.value.field == "parent_id" and "cycle" in err.value.message
    with pytest.raises(InvalidInput, match="parent_id"):
        svc.set_parent(session, t["A"].id, t["A"].id)
    with pytest.raises(InvalidInput, match="parent_id"):
        svc.set_parent(session, t["A"].id, 10**12)
    with pytest.raises(NotFound):
        svc.set_parent(session, 10**12, t["A"].id)
    session.refresh(t["R"])
    assert t["R"].parent_id == t["G"].id

    svc.set_parent(session, t["A1"].id, t["B1"].id, actor="ana")
    assert {n.name: n.depth for n in svc.subtree(session, t["B"].id)} == {"B": 0, "B1": 1, "A1": 2, "A1x": 3}
    audit = session.scalars(select(AuditLog).where(AuditLog.entity_type == "account",
                                                   AuditLog.entity_id == t["A1"].id)).one()
    assert (audit.actor, audit.before) == ("ana", {"parent_id": t["A"].id})
    assert audit.after == {"parent_id": t["B1"].id}

    svc.set_parent(session, t["R"].id, None)
    assert [n.name for n in svc.path_to_root(session, t["A1x"].id)] == ["R", "B", "B1", "A1", "A1x"]


def test_queries_terminate_on_cyclic_data_written_behind_the_service(session: Session) -> None:
    x = f.account(session, name="X")
    y = f.account(session, name="Y", parent_id=x.id)
    session.execute(update(Account).where(Account.id == x.id).values(parent_id=y.id))
    assert {n.name for n in svc.subtree(session, x.id)} == {"X", "Y"}
    assert [n.name for n in svc.path_to_root(session, x.id)] == ["Y", "X"]
    assert svc.rollup(session, y.id, now=NOW).accounts == 2


def test_unlimited_depth(session: Session) -> None:
    ids = fx.account_chain(session, 300)
    nodes = svc.subtree(session, ids[0])
    assert len(nodes) == 300 and nodes[-1].depth == 299
    assert len(svc.path_to_root(session, ids[-1])) == 300
    with pytest.raises(InvalidInput, match="parent_id"):
        svc.set_parent(session, ids[0], ids[-1])
