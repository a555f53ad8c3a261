"""Health rate signals: product mix and payment method scored by the retention of past accounts that held the
same product / paid the same way, learned from the CRM's own renewal history (factory-built data)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import InvalidInput
from core.models import Payment, SalesOrder, SalesOrderLine
from core.models.enums import Lifecycle, OrderStatus
from core.repositories import health as repo
from tests import factories as f
from tests.health_data import customer
from tools.health import learning
from tools.health.scoring import Weights, score, weights_from
from tools.health.signals import SIGNAL_NAMES

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def _facts(session: Session, account_id: int, now: datetime = NOW) -> dict:
    return repo.account_facts(session, account_id, now, repo.feature_catalog_size(session))


def _pay(session: Session, account_id: int, method: str, on: datetime) -> None:
    invoice = f.invoice(session, account_id, issued_on=on.date() - timedelta(days=10), due_on=on.date())
    session.add(Payment(invoice_id=invoice.id, amount=invoice.amount, paid_on=on.date() - timedelta(days=2),
                        method=method))
    session.flush()


def _order(session: Session, account_id: int, product_name: str, at: datetime,
           status: OrderStatus = OrderStatus.confirmed) -> None:
    product = f.product(session, name=product_name)
    order = SalesOrder(number=f"SO-H3-{f._n()}", account_id=account_id, currency="USD", total=Decimal("50"),
                       status=status, ordered_at=at)
    session.add(order)
    session.flush()
    session.add(SalesOrderLine(order_id=order.id, position=1, product_id=product.id, description=product_name,
                               quantity=Decimal(1), unit_price=Decimal("50"), line_total=Decimal("50")))
    session.flush()


def test_the_crm_facts_name_the_products_held_and_the_payment_methods_used(session: Session) -> None:
    built = customer(session, NOW)
    _pay(session, built.account_id, "check", NOW - timedelta(days=20))
    _pay(session, built.account_id, "card", NOW - timedelta(days=500))  # older than a year: not on file
    _order(session, built.account_id, "Security add-on", NOW - timedelta(days=40))
    _order(session, built.account_id, "Old add-on", NOW - timedelta(days=400))  # older than a year
    _order(session, built.account_id, "Cancelled add-on", NOW - timedelta(days=5), OrderStatus.cancelled)
    _order(session, built.account_id, "Future add-on", NOW + timedelta(days=5))  # not yet ordered as of NOW
    facts = _facts(session, built.account_id)
    assert facts["products"] == ["Pro", "Security add-on"]  # the plan in force and the product ordered this year
    assert facts["finance"]["payment_methods"] == ["bank_transfer", "check"]


def test_retention_per_category_is_smoothed_toward_the_overall_rate() -> None:
    rows = [{"products": ["Fiber", "Phone"], "finance": {"payment_methods": ["check"]}}] * 4 + \
           [{"products": ["DSL", "Phone"], "finance": {"payment_methods": ["card"]}}] * 6
    churned = np.array([1, 1, 1, 0] + [0, 0, 0, 0, 0, 1])
    rates = learning.category_rates(rows, churned, k=2)
    mix, pay = rates["contract.product_mix"], rates["finance.payment_method"]
    assert mix.overall == pay.overall == 0.6
    assert mix.counts == {"DSL": 6, "Fiber": 4, "Phone": 10}
    assert mix.rates["Fiber"] == pytest.approx((1 + 2 * 0.6) / (4 + 2), abs=1e-4)
    assert mix.rates["DSL"] == pytest.approx((5 + 2 * 0.6) / (6 + 2), abs=1e-4)
    assert pay.rates == {"card": mix.rates["DSL"], "check": mix.rates["Fiber"]}
    with pytest.raises(InvalidInput, match="10 accounts but 3 outcomes"):
        learning.category_rates(rows, churned[:3])


def test_rate_signals_explain_the_score_and_are_left_out_until_learned() -> None:
    rows = [{"products": ["Fiber", "Phone"], "finance": {"payment_methods": ["check"]}}] * 4 + \
           [{"products": ["DSL", "Phone"], "finance": {"payment_methods": ["card"]}}] * 6
    rates = learning.category_rates(rows, np.array([1, 1, 1, 0] + [0] * 5 + [1]), k=0)
    facts = _plain_facts() | {"products": ["Phone", "Fiber"]}
    facts["finance"]["payment_methods"] = ["check"]
    weights = Weights(dict.fromkeys(SIGNAL_NAMES, 0.0) | {"contract.product_mix": 1.0, "finance.payment_method": 1.0,
                                                          "engagement.contacts": 1.0}, "learned v1", rates=rates)
    health = score(facts, weights, ar_scale=100)
    mix, pay = health.signals["contract.product_mix"], health.signals["finance.payment_method"]
    assert mix["text"] == "holds Fiber (retention 25% among past customers and 1 more, mean 42%)"
    assert mix["sub_score"] == pytest.approx((0.25 + 0.6) / 2, abs=1e-4)
    assert pay["text"] == "pays by check (retention 25% among past customers)" and pay["sub_score"] == 0.25
    assert health.score == round(100 * (0.425 + 0.25 + 1.0) / 3)
    unknown = facts | {"products": ["Satellite"]}  # no past account held it: the overall rate
    assert score(unknown, weights, 100).signals["contract.product_mix"]["sub_score"] == 0.6
    # Configured weights: no learned rates, the rate signals weigh nothing and are not reported missing.
    configured = weights_from(Settings().health_weights)
    assert configured.by_signal["contract.product_mix"] == configured.by_signal["finance.payment_method"] == 0
    plain = score(facts, configured, 100)
    assert "contract.product_mix" not in plain.signals and "contract.product_mix" not in plain.missing
    assert plain.score == score(_plain_facts(), configured, 100).score
    no_history = score(facts, Weights(weights.by_signal, "learned v1"), 100)  # weights but no rates stored
    assert "contract.product_mix" in no_history.missing and list(no_history.signals) == ["engagement.contacts"]


def _plain_facts() -> dict:
    return {"features_available": 0, "usage": [],
            "support": {"open_tickets": 0, "sla_breaches_90d": None, "satisfaction_avg": None,
                        "satisfaction_count": 0, "new_tickets_7d": 0},
            "finance": {"open_ar": 0.0, "overdue_invoices": 0, "overdue_ar": 0.0, "max_days_overdue": None,
                        "invoices_due_12m": 0, "paid_on_time_12m": 0, "payments_12m": 0,
                        "autopay_payments_12m": 0},
            "engagement": {"meetings_90d": None, "nps_latest": None, "contacts": 3},
            "contract": {"in_force": 0, "arr": 0.0, "seat_limit": None, "days_to_renewal": None,
                         "auto_renew": False, "term_months": None, "tenure_months": None}}


def _history(session: Session, now: datetime = NOW) -> None:
    """30 renewals, a third churned: churners held the Legacy plan and paid by check; else all look the same."""
    decision = now - timedelta(days=120)
    for i in range(30):
        churn = i % 3 == 0
        built = customer(session, decision, days_to_renewal=90, tenure_days=275,
                         lifecycle=Lifecycle.churned if churn else Lifecycle.customer)
        session.get_one(repo.Contract, _contract_id(session, built.account_id)).plan = "Legacy" if churn else "Pro"
        _pay(session, built.account_id, "check" if churn else "card", decision - timedelta(days=5))
        if not churn:
            end = now.date() - timedelta(days=30)
            f.contract(session, built.account_id, start_date=end + timedelta(days=1),
                       end_date=end + timedelta(days=365))
    session.flush()


def test_learning_from_renewal_history_stores_the_rates_and_scores_with_them(session: Session) -> None:
    _history(session)
    settings = Settings(health_use_learned_weights=True)
    outcome = learning.learn_and_store(session, NOW, settings)
    assert outcome.promoted
    assert outcome.weights["contract.product_mix"] + outcome.weights["finance.payment_method"] > 0.5
    stored = json.loads(learning.latest_weights(session)[1].artifact)["rates"]  # type: ignore[index]
    assert stored["contract.product_mix"]["counts"] == {"Legacy": 10, "Pro": 20}
    assert stored["contract.product_mix"]["rates"]["Legacy"] < 0.5 < stored["contract.product_mix"]["rates"]["Pro"]
    assert stored["finance.payment_method"]["rates"]["check"] == stored["contract.product_mix"]["rates"]["Legacy"]
    active = learning.current_weights(session, settings)
    assert active.rates["finance.payment_method"].counts["card"] == 20
    risky = customer(session, NOW)
    session.get_one(repo.Contract, _contract_id(session, risky.account_id)).plan = "Legacy"
    _pay(session, risky.account_id, "check", NOW - timedelta(days=3))
    session.flush()
    health = score(_facts(session, risky.account_id), active, settings.health_ar_scale)
    legacy = stored["contract.product_mix"]["rates"]["Legacy"]
    assert health.signals["contract.product_mix"]["text"] == (
        f"holds Legacy (retention {legacy:.0%} among past customers)")


def test_the_admin_sees_the_learned_retention_per_product_and_payment_method(scratch_db: object) -> None:
    from typer.testing import CliRunner

    from api.cli import health as health_cli
    from core.db.engine import session_scope

    with session_scope() as session:
        _history(session, datetime.now(UTC))
    shown = CliRunner().invoke(health_cli.app, ["weights", "--learn"])
    assert shown.exit_code == 0, shown.output
    assert "contract.product_mix" in shown.output and "finance.payment_method" in shown.output
    text = " ".join(shown.output.split())
    assert "Retention learned per product (past accounts; overall 67%): Legacy " in text and "Pro " in text
    assert "Retention learned per payment method (past accounts; overall 67%): bank_transfer 67% (30), card " in text


def _contract_id(session: Session, account_id: int) -> int:
    from sqlalchemy import select

    return int(session.scalars(select(repo.Contract.id).where(repo.Contract.account_id == account_id)).one())
