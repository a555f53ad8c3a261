"""The orders pages (TestClient on the rolled-back session, like tests/test_web_pages.py): each role lists only
the sales orders in its scope, an order's page shows its lines and links to its deal and account, and another
team's order answers 404 without revealing it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.orm import Session

from core.services import auth as auth_service
from core.services import quotes as quote_service
from tests.api_support import World, build_world
from tests.test_web_pages import PASSWORD, _email, no_trace, signed_in
from web.pages import orders as order_pages


@pytest.fixture
def world(session: Session) -> World:
    w = build_world(session)
    for name in w.users:
        auth_service.set_password(session, _email(session, w, name), PASSWORD)
    return w


def _listed(text: str, world: World) -> set[str]:
    """Which sides' orders the list shows (by the marker in each order's number)."""
    rows = " ".join(re.findall(r'<tr data-testid="order-\d+">(.*?)</tr>', text, re.S))
    return {side for side, s in world.sides.items() if f"SO-{s.marker}" in rows}


def test_each_role_lists_only_the_orders_in_its_scope(session: Session, world: World) -> None:
    expected = {"rep_a": {"a"}, "rep_a2": {"a2"}, "manager_a": {"a", "a2"}, "csm_a": {"a", "a2"},
                "rep_b": {"b"}, "manager_b": {"b"}, "csm_b": {"b"}, "admin": {"a", "a2", "b"}}
    for name, sides in expected.items():
        client, _ = signed_in(session, world, name)
        page = client.get("/app/orders")
        assert page.status_code == 200, (name, page.text[:500])
        no_trace(page)
        assert 'href="/app/orders"' in page.text  # in the navigation
        assert _listed(page.text, world) == sides, name
        for side in {"a", "a2", "b"} - sides:
            assert world.sides[side].marker not in page.text, (name, side)


def test_an_order_page_shows_its_lines_and_links_to_its_deal_and_account(session: Session, world: World) -> None:
    a = world.sides["a"]
    quote_service.send_quote(session, a.quote_id)
    order = quote_service.accept_quote(session, a.quote_id)
    client, _ = signed_in(session, world, "rep_a")
    listing = client.get("/app/orders")
    row = re.search(rf'<tr data-testid="order-{order.id}">(.*?)</tr>', listing.text, re.S)
    assert row is not None, listing.text[:2000]
    assert f'href="/app/orders/{order.id}"' in row.group(1) and f">{order.number}<" in row.group(1)
    assert f'href="/app/deals/{a.deal_id}">{a.marker} Deal<' in row.group(1)
    assert f'href="/app/accounts/{a.account_id}">{a.marker} Account<' in row.group(1)
    assert "200.00 USD" in row.group(1) and "confirmed" in row.group(1)

    page = client.get(f"/app/orders/{order.id}")
    assert page.status_code == 200
    no_trace(page)
    assert 'data-testid="deal-link"' in page.text and f'href="/app/deals/{a.deal_id}"' in page.text
    assert f'href="/app/accounts/{a.account_id}"' in page.text
    lines = re.findall(r'<tr data-testid="line">(.*?)</tr>', page.text, re.S)
    assert len(lines) == 1
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", lines[0])
    assert cells == ["1", f"{a.marker} seats", "2", "100.00", "0%", "200.00 USD"]
    # the order made straight on the account (no deal) says so
    plain = client.get(f"/app/orders/{a.order_id}")
    assert plain.status_code == 200 and "no deal" in plain.text and "This order has no lines." in plain.text

    filtered = client.get(f"/app/orders?deal_id={a.deal_id}")
    assert f'data-testid="order-{order.id}"' in filtered.text
    assert f'data-testid="order-{a.order_id}"' not in filtered.text


def test_another_teams_order_is_not_found(session: Session, world: World) -> None:
    a, b = world.sides["a"], world.sides["b"]
    for name in ("rep_b", "manager_b", "csm_b", "rep_a2"):
        client, _ = signed_in(session, world, name)
        hidden = client.get(f"/app/orders/{a.order_id}")
        assert hidden.status_code == 404, name
        no_trace(hidden)
        assert a.marker not in hidden.text
    own = signed_in(session, world, "rep_b")[0].get(f"/app/orders/{b.order_id}")
    assert own.status_code == 200 and f"SO-{b.marker}" in own.text
    assert signed_in(session, world, "admin")[0].get("/app/orders/999999999").status_code == 404


def test_orders_come_page_by_page(session: Session, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    a = world.sides["a"]
    quote_service.send_quote(session, a.quote_id)
    newest = quote_service.accept_quote(session, a.quote_id)
    monkeypatch.setattr(order_pages, "PAGE_SIZE", 1)
    client, _ = signed_in(session, world, "rep_a")
    first = client.get("/app/orders")
    assert f'data-testid="order-{newest.id}"' in first.text and 'href="?page=2"' in first.text
    second = client.get("/app/orders?page=2")
    assert f'data-testid="order-{a.order_id}"' in second.text and 'href="?page=1"' in second.text
    assert 'href="?page=3"' not in second.text
    assert client.get("/app/orders?page=0").status_code == 422
