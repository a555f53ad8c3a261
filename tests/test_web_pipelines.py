"""The admin's pipeline page through the real app: every form reaches core/services/pipelines.py (the deal page,
the forecast and the Kanban board read the change at once), refused values re-render the page with the message
naming the field and write nothing, and only admins get the page or may post its forms."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import AuditLog, Deal, Pipeline, Stage
from core.models.enums import DealStatus, Role, StageKind
from core.repositories import deal_coach as coach_repo
from core.repositories import pipeline as pipeline_repo
from core.services import deals as deal_service
from core.services import pipelines as pipeline_service
from tests import factories
from tests.api_support import World
from tests.test_web_pages import no_trace, signed_in
from tests.test_web_pages import world as world  # noqa: F401  (the fixture, signed-in users with passwords)
from web.pages.admin_pipelines import parse_stage_lines

PAGE = "/app/admin/pipelines"
STAGES = [pipeline_service.StageInput("Discovery", 20, 10), pipeline_service.StageInput("Trial", 50, 14),
          pipeline_service.StageInput("Signed", 100, None, StageKind.won),
          pipeline_service.StageInput("Dropped", 0, None, StageKind.lost)]


def _pipeline(session: Session, world: World) -> Pipeline:
    return pipeline_service.create(session, name=f"Channel {uuid.uuid4().hex[:6]}", stages=STAGES, actor="test",
                                   actor_id=world.users["admin"])


def _names(session: Session, pipeline_id: int) -> list[tuple[str, int]]:
    session.expire_all()
    return [(s.name, s.position) for s in pipeline_repo.stages(session, pipeline_id)]


def _stage(session: Session, pipeline_id: int, name: str) -> Stage:
    return next(s for s in pipeline_repo.stages(session, pipeline_id) if s.name == name)


def _audit_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.entity_type.in_(["stage", "pipeline"]))) or 0)


def _row(page: str, stage_id: int) -> str:
    match = re.search(rf'data-testid="stage-row-{stage_id}">(.*?)</tr>', page, re.S)
    assert match, page[:500]
    return match.group(1)


def _post(client: TestClient, csrf: str, path: str, **data: str) -> Any:
    return client.post(path, data={"csrf_token": csrf, **data}, follow_redirects=False)


def test_a_probability_change_reaches_the_deal_page_the_forecast_and_the_board(session: Session,
                                                                                world: World) -> None:
    a = world.sides["a"]
    deal = session.get(Deal, a.deal_id)
    assert deal is not None
    stage = session.get(Stage, deal.stage_id)
    assert stage is not None and stage.win_probability != Decimal("0.77")
    admin, csrf = signed_in(session, world, "admin")
    page = admin.get(PAGE)
    assert page.status_code == 200 and 'href="/app/admin/pipelines"' in page.text
    assert f'value="{pipeline_service.percent(stage)}"' in _row(page.text, stage.id)
    opened = re.search(rf'data-testid="open-deals-{stage.id}">(\d+)<', page.text)
    assert opened and int(opened.group(1)) >= 1  # deal a is open in it

    new_name = f"{stage.name} renamed"
    saved = admin.post(f"{PAGE}/{stage.pipeline_id}/stages/{stage.id}",
                       data={"csrf_token": csrf, "name": new_name, "probability": "77",
                             "rot_days": "9", "position": str(stage.position)}, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"].startswith(f"{PAGE}?msg=Stage+")
    flash = admin.get(saved.headers["location"])
    assert 'class="flash"' in flash.text and f"Stage {new_name} saved" in flash.text
    session.expire_all()
    stage = session.get(Stage, deal.stage_id)
    assert stage is not None
    assert (stage.win_probability, stage.rot_days, stage.name) == (Decimal("0.77"), 9, new_name)

    rep, _ = signed_in(session, world, "rep_a")
    deal_page = rep.get(f"/app/deals/{a.deal_id}")
    assert "stage probability 77%" in deal_page.text and f"{stage.name}</div>" in deal_page.text
    [row] = [r for r in coach_repo.forecast_rows(session) if r["id"] == a.deal_id]
    assert row["win_probability"] == Decimal("0.77") and row["stage"] == stage.name
    board = rep.get(f"/app/pipeline?pipeline_id={stage.pipeline_id}")
    assert f'data-stage-name="{stage.name}"' in board.text


def test_reorder_and_add_a_stage_keep_positions_dense(session: Session, world: World) -> None:
    pipeline = _pipeline(session, world)
    trial = _stage(session, pipeline.id, "Trial")
    admin, csrf = signed_in(session, world, "admin")
    first = _post(admin, csrf, f"{PAGE}/{pipeline.id}/stages/{trial.id}", name="Trial", probability="50",
                  rot_days="14", position="1")
    assert first.status_code == 303
    assert _names(session, pipeline.id) == [("Trial", 1), ("Discovery", 2), ("Signed", 3), ("Dropped", 4)]
    cleared = _post(admin, csrf, f"{PAGE}/{pipeline.id}/stages/{trial.id}", name="Trial", probability="50",
                    rot_days="", position="")
    assert cleared.status_code == 303
    session.expire_all()
    assert session.get(Stage, trial.id).rot_days is None  # type: ignore[union-attr]

    added = _post(admin, csrf, f"{PAGE}/{pipeline.id}/stages", name="Legal", kind="open", probability="90",
                  rot_days="7", position="")
    assert added.status_code == 303
    assert _names(session, pipeline.id) == [("Trial", 1), ("Discovery", 2), ("Legal", 3), ("Signed", 4),
                                            ("Dropped", 5)]
    placed = _post(admin, csrf, f"{PAGE}/{pipeline.id}/stages", name="Intro", kind="open", probability="5",
                   rot_days="", position="1")
    assert placed.status_code == 303
    assert [n for n, _ in _names(session, pipeline.id)][:2] == ["Intro", "Trial"]
    legal = _stage(session, pipeline.id, "Legal")
    assert (legal.win_probability, legal.rot_days, legal.is_won, legal.is_lost) == (Decimal("0.90"), 7, False,
                                                                                    False)
    taken = _post(admin, csrf, f"{PAGE}/{pipeline.id}/stages", name="legal", kind="open", probability="10")
    assert taken.status_code == 409 and "already has a stage named" in taken.text
    assert 'value="legal"' in taken.text  # what was typed comes back
    no_trace(taken)
    assert len(_names(session, pipeline.id)) == 6


def test_removing_a_stage_with_deals_needs_a_target_and_moves_them(session: Session, world: World) -> None:
    pipeline = _pipeline(session, world)
    trial, discovery = _stage(session, pipeline.id, "Trial"), _stage(session, pipeline.id, "Discovery")
    owner = factories.user(session, role=Role.rep, full_name=f"Mover {uuid.uuid4().hex[:6]}")
    deal_ids = [deal_service.create_deal(session, name=f"Move {i}", amount=Decimal("1000"), currency="EUR",
                                         owner_id=owner.id, pipeline_id=pipeline.id, stage_id=trial.id).id
                for i in range(2)]
    admin, csrf = signed_in(session, world, "admin")
    row = _row(admin.get(PAGE).text, trial.id)
    assert 'data-testid="open-deals-' in row and f'data-testid="open-deals-{trial.id}">2<' in row
    options = re.findall(r'<option value="(\d+)">', row)
    assert options == [str(discovery.id)]  # same-kind stages only: not the won or lost one
    before = _audit_count(session)

    refused = _post(admin, csrf, f"{PAGE}/{pipeline.id}/stages/{trial.id}/remove", move_to="")
    assert refused.status_code == 422
    assert "move_to: 2 deal(s) are in stage" in refused.text
    no_trace(refused)
    wrong_kind = _post(admin, csrf, f"{PAGE}/{pipeline.id}/stages/{trial.id}/remove",
                       move_to=str(_stage(session, pipeline.id, "Signed").id))
    assert wrong_kind.status_code == 422 and "move_to: stage" in wrong_kind.text
    session.expire_all()
    assert {session.get(Deal, d).stage_id for d in deal_ids} == {trial.id}  # type: ignore[union-attr]
    assert _audit_count(session) == before

    removed = _post(admin, csrf, f"{PAGE}/{pipeline.id}/stages/{trial.id}/remove", move_to=str(discovery.id))
    assert removed.status_code == 303
    assert "2+deal%28s%29+moved" in removed.headers["location"]
    assert _names(session, pipeline.id) == [("Discovery", 1), ("Signed", 2), ("Dropped", 3)]
    for deal_id in deal_ids:
        deal = session.get(Deal, deal_id)
        assert deal is not None and deal.stage_id == discovery.id and deal.status is DealStatus.open
    assert session.get(Stage, trial.id).archived_at is not None  # type: ignore[union-attr]

    unused = _post(admin, csrf, f"{PAGE}/{pipeline.id}/stages", name="Unused", kind="open", probability="30")
    assert unused.status_code == 303
    unused_id = _stage(session, pipeline.id, "Unused").id
    assert '<select name="move_to"' not in _row(admin.get(PAGE).text, unused_id)  # no deals: nothing to ask
    gone = _post(admin, csrf, f"{PAGE}/{pipeline.id}/stages/{unused_id}/remove")
    assert gone.status_code == 303
    session.expire_all()
    assert session.get(Stage, unused_id) is None


def test_removing_the_only_won_stage_shows_the_conflict_on_the_page(session: Session, world: World) -> None:
    pipeline = _pipeline(session, world)
    signed = _stage(session, pipeline.id, "Signed")
    admin, csrf = signed_in(session, world, "admin")
    before = _audit_count(session)
    refused = _post(admin, csrf, f"{PAGE}/{pipeline.id}/stages/{signed.id}/remove")
    assert refused.status_code == 409
    text = refused.text
    assert 'data-testid="form-error"' in text and "only won stage" in text and "keeps at least one won stage" in text
    assert f'data-testid="stage-row-{signed.id}"' in text  # the page itself, not a bare error page
    no_trace(refused)
    assert ("Signed", 3) in _names(session, pipeline.id) and _audit_count(session) == before


def test_probability_150_names_the_field_and_writes_nothing(session: Session, world: World) -> None:
    pipeline = _pipeline(session, world)
    trial = _stage(session, pipeline.id, "Trial")
    admin, csrf = signed_in(session, world, "admin")
    before = _audit_count(session)
    for value, message in (("150", "probability: a whole percent from 0 to 100"),
                           ("-1", "probability: a whole percent from 0 to 100"),
                           ("fifty", "probability: must be a whole number"),
                           ("", "probability: must not be null")):
        refused = _post(admin, csrf, f"{PAGE}/{pipeline.id}/stages/{trial.id}", name="Trial renamed",
                        probability=value, rot_days="3", position="1")
        assert refused.status_code == 422, (value, refused.text[:300])
        text = refused.text
        assert message in text, value
        assert f'value="{value}"' in _row(text, trial.id) and 'value="Trial renamed"' in _row(text, trial.id)
        no_trace(refused)
    added = _post(admin, csrf, f"{PAGE}/{pipeline.id}/stages", name="Late", kind="open", probability="150")
    assert added.status_code == 422 and "probability: a whole percent" in added.text
    bad_rot = _post(admin, csrf, f"{PAGE}/{pipeline.id}/stages", name="Late", kind="open", probability="10",
                    rot_days="0")
    assert bad_rot.status_code == 422 and "rot_days: days from 1 to 3650" in bad_rot.text
    bad_kind = _post(admin, csrf, f"{PAGE}/{pipeline.id}/stages", name="Late", kind="maybe", probability="10")
    assert bad_kind.status_code == 422 and "kind: must be one of" in bad_kind.text
    session.expire_all()
    trial = _stage(session, pipeline.id, "Trial")
    assert (trial.win_probability, trial.rot_days, trial.position) == (Decimal("0.50"), 14, 2)
    assert _names(session, pipeline.id) == [("Discovery", 1), ("Trial", 2), ("Signed", 3), ("Dropped", 4)]
    assert _audit_count(session) == before


def test_create_a_pipeline_then_rename_it_and_make_it_the_default(session: Session, world: World) -> None:
    admin, csrf = signed_in(session, world, "admin")
    name = f"Partners {uuid.uuid4().hex[:6]}"
    lines = "Intro, open, 10, 14\nDeal room, Inc, open, 60\nSigned, won, 100\nDropped, lost, 0"
    bad = _post(admin, csrf, PAGE, name=name, stages=lines.replace("60", "150"))
    assert bad.status_code == 422 and "stages[1].probability: a whole percent" in bad.text
    assert "Deal room, Inc, open, 150" in bad.text  # the typed lines come back
    no_won = _post(admin, csrf, PAGE, name=name, stages="Intro, open, 10\nDropped, lost, 0")
    assert no_won.status_code == 422 and "missing: won" in no_won.text
    short = _post(admin, csrf, PAGE, name=name, stages="Intro, 10")
    assert short.status_code == 422 and "stages[0]: line 1 must read" in short.text
    assert session.scalar(select(Pipeline).where(Pipeline.name == name)) is None

    created = _post(admin, csrf, PAGE, name=name, stages=lines)
    assert created.status_code == 303, created.text
    pipeline = session.scalar(select(Pipeline).where(Pipeline.name == name))
    assert pipeline is not None and not pipeline.is_default
    stages = list(pipeline_repo.stages(session, pipeline.id))
    assert [(s.name, pipeline_service.kind_of(s).value, pipeline_service.percent(s), s.rot_days) for s in stages] == [
        ("Intro", "open", 10, 14), ("Deal room, Inc", "open", 60, None), ("Signed", "won", 100, None),
        ("Dropped", "lost", 0, None)]
    taken = _post(admin, csrf, PAGE, name=name.upper(), stages=lines)
    assert taken.status_code == 409 and "already exists" in taken.text

    renamed = _post(admin, csrf, f"{PAGE}/{pipeline.id}", name=f"{name} EU", is_default="1")
    assert renamed.status_code == 303
    session.expire_all()
    defaults = session.scalars(select(Pipeline).where(Pipeline.is_default)).all()
    assert [p.id for p in defaults] == [pipeline.id] and defaults[0].name == f"{name} EU"
    blank = _post(admin, csrf, f"{PAGE}/{pipeline.id}", name=" ")
    assert blank.status_code == 422 and "name: is required" in blank.text
    missing = _post(admin, csrf, f"{PAGE}/999999999", name="Nobody")
    assert missing.status_code == 404
    no_trace(missing)


@pytest.mark.parametrize("name", ["rep_a", "manager_a", "csm_a"])
def test_other_roles_get_403_on_the_page_and_on_forged_posts(session: Session, world: World, name: str) -> None:
    pipeline = _pipeline(session, world)
    trial = _stage(session, pipeline.id, "Trial")
    client, csrf = signed_in(session, world, name)
    page = client.get(PAGE, follow_redirects=False)
    assert page.status_code == 403 and "Trial" not in page.text
    no_trace(page)
    assert 'href="/app/admin/pipelines"' not in client.get("/app/").text
    before = _audit_count(session)
    base = f"{PAGE}/{pipeline.id}"
    for path, data in ((PAGE, {"name": "Forged", "stages": "A, open, 1\nB, won, 100\nC, lost, 0"}),
                       (base, {"name": "Forged", "is_default": "1"}),
                       (f"{base}/stages", {"name": "Forged", "kind": "open", "probability": "5"}),
                       (f"{base}/stages/{trial.id}", {"name": "Forged", "probability": "99"}),
                       (f"{base}/stages/{trial.id}/remove", {"move_to": ""})):
        forged = _post(client, csrf, path, **data)
        assert forged.status_code == 403, (path, forged.status_code)
        no_trace(forged)
    assert _names(session, pipeline.id) == [("Discovery", 1), ("Trial", 2), ("Signed", 3), ("Dropped", 4)]
    assert _audit_count(session) == before
    assert session.scalar(select(Pipeline).where(Pipeline.name == "Forged")) is None


def test_stage_lines_parse_names_with_commas_and_name_the_line() -> None:
    parsed = parse_stage_lines("\n A, B, open, 20, 7 \n\nWon, WON, 100\nLost, lost, 0, \n")
    assert [(s.name, s.kind, s.probability, s.rot_days) for s in parsed] == [
        ("A, B", StageKind.open, 20, 7), ("Won", StageKind.won, 100, None), ("Lost", StageKind.lost, 0, None)]
    from core.errors import InvalidInput

    for text, field in (("A, open, x", "stages[0].probability"), ("A, open, 1, 2.5", "stages[0].rot_days"),
                        ("A, open, 1\nB, shut, 2", "stages[1].kind"), ("A, open,", "stages[0].probability")):
        with pytest.raises(InvalidInput) as caught:
            parse_stage_lines(text)
        assert caught.value.field == field, text
