"""The segments pages (TestClient on the rolled-back session, like tests/test_web_pages.py): every role lists the
shared segments with the member count of its own scope, a segment's page lists only the members in scope, page
by page; managers and admins preview pasted rules and save them, bad rules show the service's message naming the
rule's path, and a rep's forged save is refused."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Segment
from core.services import auth as auth_service
from core.services import segments as segment_service
from tests import factories
from tests.api_support import World, build_world
from tests.test_web_pages import PASSWORD, _email, no_trace, signed_in
from web.pages import segments as segment_pages


@pytest.fixture
def world(session: Session) -> World:
    w = build_world(session)
    for name in w.users:
        auth_service.set_password(session, _email(session, w, name), PASSWORD)
    return w


def _count_cell(text: str, segment_id: int) -> int:
    match = re.search(rf'data-testid="count-{segment_id}">(\d+)<', text)
    assert match, text[:1500]
    return int(match.group(1))


def _members(text: str) -> list[str]:
    return re.findall(r'<tr data-testid="member-row">(.*?)</tr>', text, re.S)


def test_the_list_counts_and_the_members_are_those_in_the_viewers_scope(session: Session, world: World) -> None:
    a, a2, b = world.sides["a"], world.sides["a2"], world.sides["b"]
    everyone = segment_service.create_segment(session, name=f"all contacts {a.marker}", entity="contact",
                                              rules={"field": "first_name", "op": "in",
                                                     "value": [a.marker, a2.marker, b.marker]})
    expected = {"rep_a": (1, 0, 1), "manager_a": (1, 0, 2), "rep_b": (0, 1, 1), "admin": (1, 1, 3)}
    for name, (own_a, own_b, total) in expected.items():
        client, _ = signed_in(session, world, name)
        listing = client.get("/app/segments")
        assert listing.status_code == 200 and 'href="/app/segments"' in listing.text  # in the navigation
        counts = (_count_cell(listing.text, a.segment_id), _count_cell(listing.text, b.segment_id),
                  _count_cell(listing.text, everyone.id))
        assert counts == (own_a, own_b, total), name
        page = client.get(f"/app/segments/{everyone.id}")
        assert page.status_code == 200
        no_trace(page)
        rows = _members(page.text)
        assert len(rows) == total and f'data-testid="member-total">{total}<' in page.text, name
        shown = " ".join(rows)  # the rules (also on the page) name every marker; the member rows only those in scope
        assert (a.marker in shown) == (own_a == 1) and (b.marker in shown) == (own_b == 1), name
    assert signed_in(session, world, "rep_a")[0].get("/app/segments/999999999").status_code == 404


def test_members_come_page_by_page(session: Session, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    a = world.sides["a"]
    for n in range(2):
        factories.contact(session, email=f"extra{n}.{a.marker.lower()}@contact.test", account_id=a.account_id,
                          owner_id=world.users["rep_a"], first_name=f"{a.marker}x{n}")
    monkeypatch.setattr(segment_pages, "PAGE_SIZE", 2)
    client, _ = signed_in(session, world, "rep_a")
    first = client.get(f"/app/segments/{a.segment_id}")
    assert len(_members(first.text)) == 2 and "Page 1 of 2" in first.text and 'href="?page=2"' in first.text
    second = client.get(f"/app/segments/{a.segment_id}?page=2")
    assert len(_members(second.text)) == 1 and 'href="?page=1"' in second.text
    assert set(_members(first.text)).isdisjoint(_members(second.text))
    assert client.get(f"/app/segments/{a.segment_id}?page=0").status_code == 422


def test_a_manager_previews_and_saves_rules_and_bad_rules_name_their_path(session: Session, world: World) -> None:
    a, b = world.sides["a"], world.sides["b"]
    client, csrf = signed_in(session, world, "manager_a")
    form = client.get("/app/segments/new")
    assert form.status_code == 200 and 'value="save"' in form.text
    rules = {"all": [{"field": "first_name", "op": "in", "value": [a.marker, b.marker]}]}
    base = {"csrf_token": csrf, "name": f"Key people {a.marker}", "entity": "contact"}

    not_json = client.post("/app/segments/new", data={**base, "rules": "{all: [", "action": "preview"})
    assert not_json.status_code == 422
    assert re.search(r'data-testid="form-error">rules: is not valid JSON', not_json.text)
    bad_op = {"all": [{"field": "first_name", "op": "between", "value": 1}]}
    refused = client.post("/app/segments/new", data={**base, "rules": json.dumps(bad_op), "action": "save"})
    assert refused.status_code == 422 and 'data-testid="form-error">rules.all[0]' in refused.text
    assert "between" in refused.text  # the pasted rules come back to be fixed
    no_trace(refused)

    preview = client.post("/app/segments/new", data={**base, "rules": json.dumps(rules), "action": "preview"})
    assert preview.status_code == 200 and 'data-testid="preview-total">1<' in preview.text
    shown = " ".join(re.findall(r'<li data-testid="preview-member">(.*?)</li>', preview.text, re.S))
    assert a.marker in shown and b.marker not in shown  # team B's contact is outside the scope
    assert session.scalar(select(func.count()).select_from(Segment).where(Segment.name == base["name"])) == 0

    saved = client.post("/app/segments/new", data={**base, "rules": json.dumps(rules), "action": "save"},
                        follow_redirects=False)
    assert saved.status_code == 303, saved.text[:500]
    segment = session.scalars(select(Segment).where(Segment.name == base["name"])).one()
    assert segment.created_by_id == world.users["manager_a"]
    assert saved.headers["location"].startswith(f"/app/segments/{segment.id}?msg=")
    assert f"Segment {base['name']} saved" in client.get(saved.headers["location"]).text


def test_a_rep_previews_but_may_not_save(session: Session, world: World) -> None:
    a = world.sides["a"]
    client, csrf = signed_in(session, world, "rep_a")
    form = client.get("/app/segments/new")
    assert form.status_code == 200 and 'value="preview"' in form.text and 'value="save"' not in form.text
    rules = json.dumps({"field": "first_name", "op": "eq", "value": a.marker})
    preview = client.post("/app/segments/new", data={"csrf_token": csrf, "entity": "contact", "rules": rules,
                                                     "action": "preview"})
    assert preview.status_code == 200 and 'data-testid="preview-total">1<' in preview.text
    forged = client.post("/app/segments/new", data={"csrf_token": csrf, "name": "rep list", "entity": "contact",
                                                    "rules": rules, "action": "save"})
    assert forged.status_code == 403
    no_trace(forged)
    assert session.scalar(select(func.count()).select_from(Segment).where(Segment.name == "rep list")) == 0
