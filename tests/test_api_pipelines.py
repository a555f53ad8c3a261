"""Admins configure pipelines through the API: create one with its stages, re-weigh a stage (the forecast and the
Deal Coach read the new probability at once), rename and reorder (positions stay 1..n), remove a stage whose deals
move as recorded stage changes, and the rules that keep every pipeline usable (an open, a won and a lost stage)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.models import AuditLog, Deal, DealStageHistory, OutboxEvent, Stage
from core.models.enums import DealStatus, Role, StageKind
from core.repositories import deal_coach as coach_repo
from core.repositories import pipeline as pipeline_repo
from core.services import deals as deal_service
from tests import factories
from tests.api_support import World, app_for, build_world, client_for, error_of
from tests.cli_support import run_cli
from tests.conftest import committing_engine
from tools.deal_coach.forecast import forecast

STAGES = [{"name": "Discovery", "probability": 20, "rot_days": 10},
          {"name": "Trial", "probability": 50, "rot_days": 14},
          {"name": "Signed", "probability": 100, "kind": "won"},
          {"name": "Dropped", "probability": 0, "kind": "lost"}]


def _setup(session: Session) -> tuple[World, Any, Any, dict[str, Any]]:
    world = build_world(session)
    app = app_for(session)
    admin, rep = client_for(app, world.keys["admin"]), client_for(app, world.keys["rep_a"])
    created = admin.post("/pipelines", json={"name": f"Channel {uuid.uuid4().hex[:6]}", "stages": STAGES})
    assert created.status_code == 201, created.text
    return world, admin, rep, created.json()


def _stage(pipeline: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in pipeline["stages"] if s["name"] == name)


def _audits(session: Session, entity_type: str, entity_id: int) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).where(AuditLog.entity_type == entity_type,
                                                       AuditLog.entity_id == entity_id).order_by(AuditLog.id)))


def _deals_in(session: Session, pipeline: dict[str, Any], stage: str, n: int, owner: str) -> list[int]:
    user = factories.user(session, role=Role.rep, full_name=owner)
    return [deal_service.create_deal(session, name=f"{owner} {i}", amount=Decimal("1000"), currency="EUR",
                                     owner_id=user.id, pipeline_id=pipeline["id"],
                                     stage_id=_stage(pipeline, stage)["id"]).id for i in range(n)]


def _weighted(session: Session, owner: str) -> Decimal:
    rows = [r for r in coach_repo.forecast_rows(session) if r["owner_name"] == owner]
    return sum((line.weighted for line in forecast(rows, by="rep", period="month")), Decimal(0))


def test_a_new_pipeline_and_a_probability_change_flow_into_the_forecast(session: Session) -> None:
    world, admin, _rep, pipeline = _setup(session)
    assert [(s["name"], s["position"], s["probability"], s["kind"]) for s in pipeline["stages"]] == [
        ("Discovery", 1, 20, "open"), ("Trial", 2, 50, "open"), ("Signed", 3, 100, "won"), ("Dropped", 4, 0, "lost")]
    assert _stage(pipeline, "Trial")["win_probability"] == "0.50" and _stage(pipeline, "Trial")["rot_days"] == 14
    assert _audits(session, "pipeline", pipeline["id"])[0].after["stages"][1]["name"] == "Trial"
    owner = f"Forecast Rep {uuid.uuid4().hex[:6]}"
    deal_ids = _deals_in(session, pipeline, "Trial", 2, owner)
    assert _weighted(session, owner) == Decimal("1000.00")  # 2 x 1000 x 50%

    trial = _stage(pipeline, "Trial")
    response = admin.patch(f"/pipelines/{pipeline['id']}/stages/{trial['id']}", json={"probability": 80})
    assert response.status_code == 200, response.text
    assert _stage(response.json(), "Trial")["probability"] == 80
    session.expire_all()
    assert _weighted(session, owner) == Decimal("1600.00")  # read from the stage, not a copy on the deal
    assert {r["win_probability"] for r in coach_repo.deal_rows(session, deal_ids)} == {Decimal("0.80")}
    [audit] = _audits(session, "stage", trial["id"])
    assert (audit.action, audit.before["win_probability"], audit.after["win_probability"]) == ("update", "0.50",
                                                                                               "0.80")
    assert audit.actor_id == world.users["admin"]


def test_rename_reorder_and_add_keep_positions_dense(session: Session) -> None:
    _world, admin, rep, pipeline = _setup(session)
    base = f"/pipelines/{pipeline['id']}"
    trial, discovery = _stage(pipeline, "Trial"), _stage(pipeline, "Discovery")
    renamed = admin.patch(f"{base}/stages/{trial['id']}", json={"name": "Pilot", "rot_days": None})
    assert renamed.status_code == 200, renamed.text
    assert _stage(renamed.json(), "Pilot")["rot_days"] is None
    moved = admin.patch(f"{base}/stages/{trial['id']}", json={"position": 1}).json()
    assert [s["name"] for s in moved["stages"]] == ["Pilot", "Discovery", "Signed", "Dropped"]
    assert [s["position"] for s in moved["stages"]] == [1, 2, 3, 4]
    last = admin.patch(f"{base}/stages/{discovery['id']}", json={"position": 99}).json()
    assert [(s["name"], s["position"]) for s in last["stages"]] == [("Pilot", 1), ("Signed", 2), ("Dropped", 3),
                                                                    ("Discovery", 4)]
    added = admin.post(f"{base}/stages", json={"name": "Legal", "probability": 90})
    assert added.status_code == 201, added.text
    assert [s["name"] for s in added.json()["stages"]] == ["Pilot", "Signed", "Dropped", "Discovery", "Legal"]
    placed = admin.post(f"{base}/stages", json={"name": "Intro", "probability": 5, "position": 1}).json()
    assert [(s["name"], s["position"]) for s in placed["stages"]][:2] == [("Intro", 1), ("Pilot", 2)]
    assert [s["position"] for s in placed["stages"]] == [1, 2, 3, 4, 5, 6]
    taken = admin.patch(f"{base}/stages/{trial['id']}", json={"name": "legal"})
    assert taken.status_code == 409 and error_of(taken)["field"] == "name"

    made_default = admin.patch(base, json={"name": "Partner channel", "is_default": True})
    assert made_default.status_code == 200, made_default.text
    listed = rep.get("/pipelines").json()
    assert [p["name"] for p in listed if p["is_default"]] == ["Partner channel"]
    assert [a.action for a in _audits(session, "stage", trial["id"])] == ["update", "update"]
    assert _audits(session, "pipeline", pipeline["id"])[-1].after == {"name": "Partner channel", "is_default": True}


def test_removing_a_stage_with_deals_needs_move_to_and_moves_them_as_stage_changes(session: Session) -> None:
    world, admin, rep, pipeline = _setup(session)
    base = f"/pipelines/{pipeline['id']}"
    trial, discovery = _stage(pipeline, "Trial"), _stage(pipeline, "Discovery")
    deal_ids = _deals_in(session, pipeline, "Trial", 2, f"Mover {uuid.uuid4().hex[:6]}")

    refused = admin.delete(f"{base}/stages/{trial['id']}")
    assert refused.status_code == 422 and error_of(refused)["field"] == "move_to"
    assert "2 deal(s)" in error_of(refused)["message"]
    wrong_kind = admin.delete(f"{base}/stages/{trial['id']}", params={"move_to": _stage(pipeline, "Signed")["id"]})
    assert wrong_kind.status_code == 422 and error_of(wrong_kind)["field"] == "move_to"
    session.expire_all()
    assert {session.get(Deal, d).stage_id for d in deal_ids} == {trial["id"]}  # type: ignore[union-attr]

    removed = admin.delete(f"{base}/stages/{trial['id']}", params={"move_to": discovery["id"]})
    assert removed.status_code == 200, removed.text
    body = removed.json()
    assert body["moved_deal_ids"] == deal_ids and body["archived"] is True and body["move_to"] == discovery["id"]
    assert [(s["name"], s["position"]) for s in body["pipeline"]["stages"]] == [("Discovery", 1), ("Signed", 2),
                                                                                ("Dropped", 3)]
    assert "Trial" not in [s["name"] for p in rep.get("/pipelines").json() for s in p["stages"]]
    session.expire_all()
    for deal_id in deal_ids:
        deal = session.get(Deal, deal_id)
        assert deal is not None and deal.stage_id == discovery["id"] and deal.status is DealStatus.open
        history = session.scalars(select(DealStageHistory).where(DealStageHistory.deal_id == deal_id)
                                  .order_by(DealStageHistory.id)).all()
        assert [(h.stage_id, h.left_at is None) for h in history] == [(trial["id"], False), (discovery["id"], True)]
        assert history[1].changed_by_id == world.users["admin"]
        [audit] = [a for a in _audits(session, "deal", deal_id) if a.action == "stage"]
        assert audit.before["stage_id"] == trial["id"] and audit.after["stage_id"] == discovery["id"]
        [event] = session.scalars(select(OutboxEvent).where(OutboxEvent.topic == "deal.stage_changed",
                                                            OutboxEvent.aggregate_id == deal_id)).all()
        assert event.payload == {"from_stage_id": trial["id"], "to_stage_id": discovery["id"], "status": "open",
                                 "reason": "stage_removed"}
    archived = session.get(Stage, trial["id"])
    assert archived is not None and archived.archived_at is not None  # the history still points at it
    [audit] = [a for a in _audits(session, "stage", trial["id"]) if a.action == "delete"]
    assert audit.after == {"archived": True, "moved_deal_ids": deal_ids, "move_to": discovery["id"]}
    # a removed stage is no target for a deal any more, and its name is free again
    refused_move = rep.post(f"/deals/{deal_ids[0]}/stage", json={"stage_id": trial["id"]})
    assert refused_move.status_code in (403, 404, 422)
    again = admin.post(f"{base}/stages", json={"name": "Trial", "probability": 40})
    assert again.status_code == 201, again.text


def test_closed_deals_of_a_removed_won_stage_stay_won_and_unused_stages_are_deleted(session: Session) -> None:
    _world, admin, _rep, pipeline = _setup(session)
    base = f"/pipelines/{pipeline['id']}"
    extra = admin.post(f"{base}/stages", json={"name": "Signed (partner)", "probability": 100, "kind": "won"}).json()
    [deal_id] = _deals_in(session, pipeline, "Trial", 1, f"Closer {uuid.uuid4().hex[:6]}")
    deal_service.close_won(session, deal_id)
    signed = _stage(pipeline, "Signed")
    removed = admin.delete(f"{base}/stages/{signed['id']}",
                           params={"move_to": _stage(extra, "Signed (partner)")["id"]})
    assert removed.status_code == 200, removed.text
    session.expire_all()
    deal = session.get(Deal, deal_id)
    assert deal is not None and deal.status is DealStatus.won
    assert deal.stage_id == _stage(extra, "Signed (partner)")["id"]

    unused = admin.post(f"{base}/stages", json={"name": "Unused", "probability": 30}).json()
    unused_id = _stage(unused, "Unused")["id"]
    gone = admin.delete(f"{base}/stages/{unused_id}")
    assert gone.status_code == 200 and gone.json()["archived"] is False and gone.json()["moved_deal_ids"] == []
    session.expire_all()
    assert session.get(Stage, unused_id) is None


def test_the_last_open_won_and_lost_stages_cannot_be_removed(session: Session) -> None:
    _world, admin, _rep, pipeline = _setup(session)
    base = f"/pipelines/{pipeline['id']}"
    for name, kind in (("Signed", "won"), ("Dropped", "lost")):
        response = admin.delete(f"{base}/stages/{_stage(pipeline, name)['id']}")
        assert response.status_code == 409, response.text
        assert f"only {kind} stage" in error_of(response)["message"]
        assert f"keeps at least one {kind} stage" in error_of(response)["message"]
    assert admin.delete(f"{base}/stages/{_stage(pipeline, 'Discovery')['id']}").status_code == 200
    last_open = admin.delete(f"{base}/stages/{_stage(pipeline, 'Trial')['id']}")
    assert last_open.status_code == 409 and "keeps at least one open stage" in error_of(last_open)["message"]
    assert [s["name"] for s in next(p for p in admin.get("/pipelines").json()
                                    if p["id"] == pipeline["id"])["stages"]] == ["Trial", "Signed", "Dropped"]


def test_only_admins_configure_and_everyone_reads(session: Session) -> None:
    world, _admin, rep, pipeline = _setup(session)
    base = f"/pipelines/{pipeline['id']}"
    trial = _stage(pipeline, "Trial")
    manager = client_for(app_for(session), world.keys["manager_a"])
    for client in (rep, manager):
        for response in (client.post("/pipelines", json={"name": "Mine", "stages": STAGES}),
                         client.patch(base, json={"name": "hijacked"}),
                         client.post(f"{base}/stages", json={"name": "x", "probability": 1}),
                         client.patch(f"{base}/stages/{trial['id']}", json={"probability": 99}),
                         client.delete(f"{base}/stages/{trial['id']}")):
            assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
        assert _stage(next(p for p in client.get("/pipelines").json() if p["id"] == pipeline["id"]),
                      "Trial")["probability"] == 50


def test_validation_errors_name_the_field(session: Session) -> None:
    _world, admin, _rep, pipeline = _setup(session)
    base = f"/pipelines/{pipeline['id']}"
    trial = _stage(pipeline, "Trial")
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("PATCH", f"{base}/stages/{trial['id']}", {"probability": 101}, 422, "probability"),
        ("PATCH", f"{base}/stages/{trial['id']}", {"probability": -1}, 422, "probability"),
        ("PATCH", f"{base}/stages/{trial['id']}", {"rot_days": 0}, 422, "rot_days"),
        ("PATCH", f"{base}/stages/{trial['id']}", {"name": "   "}, 422, "name"),
        ("PATCH", f"{base}/stages/{trial['id']}", {"position": None}, 422, "position"),
        ("POST", f"{base}/stages", {"name": "x", "probability": 101}, 422, "probability"),
        ("POST", "/pipelines", {"name": "P1", "stages": [STAGES[0] | {"probability": 101}, *STAGES[1:]]}, 422,
         "stages.0.probability"),
        ("POST", "/pipelines", {"name": "P2", "stages": STAGES[:2] + STAGES[3:]}, 422, "stages"),
        ("POST", "/pipelines", {"name": "P3", "stages": [*STAGES, STAGES[0]]}, 422, "stages[4].name"),
        ("POST", "/pipelines", {"name": pipeline["name"].upper(), "stages": STAGES}, 409, "name"),
        ("PATCH", base, {"is_default": False}, 422, "is_default"),
    ]
    for method, path, body, status, field in cases:
        response = admin.request(method, path, json=body)
        assert response.status_code == status, (body, response.text)
        assert error_of(response)["field"] == field, (body, response.text)
    missing = admin.patch(f"/pipelines/{pipeline['id']}/stages/{2**62}", json={"probability": 5})
    assert missing.status_code == 404
    session.expire_all()
    assert session.get(Stage, trial["id"]).win_probability == Decimal("0.50")  # type: ignore[union-attr]


def _cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    return run_cli(monkeypatch, *args, columns=200)


def test_cli_set_probability_changes_what_salesagents_forecast_prints(scratch_db: URL,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from core.db.engine import session_scope
    from core.services import pipelines as pipeline_service

    with session_scope() as session:
        pipeline = pipeline_service.create(session, name="Partners", is_default=True, actor="test", actor_id=None,
                                           stages=[pipeline_service.StageInput("Pitch", 25, 7),
                                                   pipeline_service.StageInput("Won", 100, kind=StageKind.won),
                                                   pipeline_service.StageInput("Lost", 0, kind=StageKind.lost)])
        owner = factories.user(session, role=Role.rep, full_name="Cli Rep")
        deal_service.create_deal(session, name="Big one", amount=Decimal("4000"), currency="EUR", owner_id=owner.id,
                                 pipeline_id=pipeline.id)
        pipeline_id = pipeline.id
        pitch_id = next(s.id for s in pipeline_repo.stages(session, pipeline.id) if s.name == "Pitch")

    code, out = _cli(monkeypatch, "pipelines", "show", str(pipeline_id))
    assert code == 0, out
    assert "Pitch" in out and "25%" in out and "open" in out and "won" in out
    code, out = _cli(monkeypatch, "forecast")
    assert code == 0 and "1,000.00" in out, out  # 4000 x 25%
    code, out = _cli(monkeypatch, "pipelines", "set-probability", str(pitch_id), "60")
    assert code == 0 and "now 60%" in out, out
    code, out = _cli(monkeypatch, "forecast")
    assert code == 0 and "2,400.00" in out and "1,000.00" not in out, out
    code, out = _cli(monkeypatch, "pipelines", "set-probability", str(pitch_id), "101")
    assert code == 2 and "probability" in out, out
    code, out = _cli(monkeypatch, "pipelines", "list")
    assert code == 0 and "Partners" in out and "Pitch" in out, out
    with session_scope() as session:
        audit = session.scalars(select(AuditLog).where(AuditLog.entity_type == "stage",
                                                       AuditLog.entity_id == pitch_id)).one()
        assert (audit.actor, audit.after["win_probability"]) == ("cli", "0.60")


@pytest.fixture(scope="module")
def race_engine() -> Iterator[Engine]:
    yield from committing_engine("pipelinerace")


def test_a_deal_dragged_into_a_stage_being_removed_waits_and_is_refused(race_engine: Engine) -> None:
    """The move waits for the removal's lock on the stage, then sees it archived: no deal lands in a hidden stage."""
    from core.db.engine import session_scope
    from core.services import pipelines as pipeline_service

    with session_scope(race_engine) as session:
        pipeline = pipeline_service.create(session, name="Race", actor="test", actor_id=None, stages=[
            pipeline_service.StageInput("A", 10), pipeline_service.StageInput("B", 30),
            pipeline_service.StageInput("Won", 100, kind=StageKind.won),
            pipeline_service.StageInput("Lost", 0, kind=StageKind.lost)])
        stage = {s.name: s.id for s in pipeline_repo.stages(session, pipeline.id)}
        deal_id = deal_service.create_deal(session, name="Racer", pipeline_id=pipeline.id).id
        deal_service.move_stage(session, deal_id, stage["B"])  # B is in the history now: removing archives it
        deal_service.move_stage(session, deal_id, stage["A"])
        pipeline_id = pipeline.id
    outcome: dict[str, str] = {}

    def drag() -> None:
        try:
            with session_scope(race_engine) as other:
                deal_service.move_stage(other, deal_id, stage["B"])
            outcome["result"] = "moved"
        except InvalidInput as exc:
            outcome["result"] = exc.field

    remover = Session(race_engine)
    try:
        removal = pipeline_service.remove_stage(remover, pipeline_id, stage["B"], move_to=None, actor="test",
                                                actor_id=None)
        assert removal.archived and removal.moved_deal_ids == []
        mover = threading.Thread(target=drag)
        mover.start()
        mover.join(1.0)
        assert mover.is_alive()  # waiting for the stage being removed
        remover.commit()
    finally:
        remover.close()
    mover.join(30)
    assert outcome == {"result": "stage_id"}
    with session_scope(race_engine) as session:
        deal = session.get(Deal, deal_id)
        assert deal is not None and deal.stage_id == stage["A"]
