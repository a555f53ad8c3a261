"""Admins configure pipelines: add one, rename it or make it the default; add, rename, reorder, re-weigh and
remove its stages.

Why the rules: every pipeline keeps an open, a won and a lost stage, because a deal is created in an open stage
and closed through `close_won` / `close_lost`; positions stay 1..n so the board and the Deal Coach's
"from stage position N" rule mean the same thing after a reorder. A stage's win probability lives only on the
stage: the forecast, the Customer 360 deal list and the Deal Coach join the stage when they read it, so a new
value applies to every deal in the stage at once (the Deal Coach's `win-probability` scores are records of what
a run said, and the next run writes the new value). A removed stage's deals are moved like any stage change (a
history row, a `deal.stage_changed` event, a `stage` audit row); a stage that deals ever passed through is then
archived, not deleted, so the stage history and the norms learned from it stay true.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput, NotFound
from core.models import Deal, Pipeline, Stage
from core.models.enums import StageKind
from core.repositories import events
from core.repositories import pipeline as repo
from core.services import deals as deal_service
from core.services.snapshot import snapshot

STAGE_FIELDS = ["name", "position", "win_probability", "rot_days", "is_won", "is_lost", "archived_at"]


@dataclass(frozen=True)
class StageInput:
    name: str
    probability: int  # percent, 0-100 (the stage stores a fraction with two decimals)
    rot_days: int | None = None
    kind: StageKind = StageKind.open


def kind_of(stage: Stage) -> StageKind:
    return StageKind.won if stage.is_won else StageKind.lost if stage.is_lost else StageKind.open


def percent(stage: Stage) -> int:
    return int((stage.win_probability * 100).to_integral_value())


def _fraction(field: str, value: int) -> Decimal:
    if isinstance(value, bool) or not 0 <= value <= 100:
        raise InvalidInput(field, "a whole percent from 0 to 100")
    return (Decimal(value) / 100).quantize(Decimal("0.01"))


def _name(field: str, value: str, limit: int) -> str:
    name = " ".join(value.split())
    if not name:
        raise InvalidInput(field, "must not be blank")
    if len(name) > limit:
        raise InvalidInput(field, f"at most {limit} characters")
    return name


def _rot_days(field: str, value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 3650:
        raise InvalidInput(field, "days from 1 to 3650, or null for no rot limit")
    return value


def _check_kinds(kinds: Sequence[StageKind], field: str) -> None:
    missing = [k.value for k in StageKind if k not in kinds]
    if missing:
        raise InvalidInput(field, f"a pipeline needs at least one open, one won and one lost stage "
                                  f"(missing: {', '.join(missing)})")


def _stage_picture(stage: Stage) -> dict[str, Any]:
    return snapshot(stage, STAGE_FIELDS) | {"kind": kind_of(stage).value}


def _locked(session: Session, pipeline_id: int) -> Pipeline:
    pipeline = repo.lock_pipeline(session, pipeline_id)
    if pipeline is None:
        raise NotFound("pipeline", pipeline_id)
    return pipeline


def _live_stage(session: Session, pipeline: Pipeline, stage_id: int, *, exclusive: bool = False) -> Stage:
    stage = repo.lock_stage(session, stage_id, exclusive=True) if exclusive else session.get(Stage, stage_id)
    if stage is None or stage.pipeline_id != pipeline.id or stage.archived_at is not None:
        raise NotFound("stage", stage_id)
    return stage


def _unique_name(stages: Sequence[Stage], name: str, field: str, *, other_than: int | None = None) -> None:
    if any(s.name.lower() == name.lower() and s.id != other_than for s in stages):
        raise Conflict(f"the pipeline already has a stage named {name!r}", field=field)


def create(session: Session, *, name: str, stages: Sequence[StageInput], is_default: bool = False,
           actor: str, actor_id: int | None) -> Pipeline:
    """A new pipeline with its stages in the given order."""
    name = _name("name", name, 120)
    if repo.pipeline_named(session, name) is not None:
        raise Conflict(f"a pipeline named {name!r} already exists", field="name")
    specs: list[deal_service.StageSpec] = []
    seen: set[str] = set()
    for n, s in enumerate(stages):
        stage_name = _name(f"stages[{n}].name", s.name, 80)
        if stage_name.lower() in seen:
            raise InvalidInput(f"stages[{n}].name", f"{stage_name!r} is listed twice")
        seen.add(stage_name.lower())
        specs.append(deal_service.StageSpec(stage_name, _fraction(f"stages[{n}].probability", s.probability),
                                            rot_days=_rot_days(f"stages[{n}].rot_days", s.rot_days),
                                            is_won=s.kind is StageKind.won, is_lost=s.kind is StageKind.lost))
    _check_kinds([s.kind for s in stages], "stages")
    pipeline = deal_service.create_pipeline(session, name, specs, is_default=is_default)
    if is_default:
        repo.clear_default(session, pipeline.id)
    events.add_audit(session, actor=actor, actor_id=actor_id, action="create", entity_type="pipeline",
                     entity_id=pipeline.id, after={"name": name, "is_default": is_default,
                                                   "stages": [_stage_picture(s) for s in
                                                              repo.stages(session, pipeline.id)]})
    session.flush()
    return pipeline


def update(session: Session, pipeline_id: int, changes: Mapping[str, Any], *, actor: str,
           actor_id: int | None) -> Pipeline:
    """Rename, or make it the default (the previous default stops being one)."""
    pipeline = _locked(session, pipeline_id)
    before = snapshot(pipeline, ["name", "is_default"])
    if changes.get("name") is not None:
        name = _name("name", changes["name"], 120)
        other = repo.pipeline_named(session, name)
        if other is not None and other.id != pipeline.id:
            raise Conflict(f"a pipeline named {name!r} already exists", field="name")
        pipeline.name = name
    if "is_default" in changes:
        if changes["is_default"] is not True:
            raise InvalidInput("is_default", "only true: make another pipeline the default instead")
        repo.clear_default(session, pipeline.id)
        pipeline.is_default = True
    session.flush()
    after = snapshot(pipeline, ["name", "is_default"])
    if after != before:
        events.add_audit(session, actor=actor, actor_id=actor_id, action="update", entity_type="pipeline",
                         entity_id=pipeline.id, before=before, after=after)
    return pipeline


def _place(live: list[Stage], stage: Stage, position: int | None, field: str) -> list[Stage]:
    """The live stages with `stage` at `position` (1-based; beyond the end means last)."""
    others = [s for s in live if s.id != stage.id]
    if position is None:
        return others + [stage]
    if position < 1:
        raise InvalidInput(field, "a position from 1")
    index = min(position, len(others) + 1) - 1
    return others[:index] + [stage] + others[index:]


def add_stage(session: Session, pipeline_id: int, spec: StageInput, *, position: int | None = None,
              actor: str, actor_id: int | None) -> Stage:
    """A new stage; without a position an open stage goes after the last open one, won/lost ones at the end."""
    pipeline = _locked(session, pipeline_id)
    live = list(repo.stages(session, pipeline.id))
    name = _name("name", spec.name, 80)
    _unique_name(live, name, "name")
    stage = Stage(pipeline_id=pipeline.id, name=name, position=len(live) + 1,
                  win_probability=_fraction("probability", spec.probability),
                  rot_days=_rot_days("rot_days", spec.rot_days), is_won=spec.kind is StageKind.won,
                  is_lost=spec.kind is StageKind.lost)
    session.add(stage)
    session.flush()
    if position is None and spec.kind is StageKind.open:
        open_positions = [n for n, s in enumerate(live, start=1) if kind_of(s) is StageKind.open]
        position = (open_positions[-1] + 1) if open_positions else 1
    repo.renumber(session, _place(live, stage, position, "position"))
    events.add_audit(session, actor=actor, actor_id=actor_id, action="create", entity_type="stage",
                     entity_id=stage.id, after=_stage_picture(stage) | {"pipeline_id": pipeline.id})
    session.flush()
    return stage


def update_stage(session: Session, pipeline_id: int, stage_id: int, changes: Mapping[str, Any], *, actor: str,
                 actor_id: int | None) -> Stage:
    """Rename, re-weigh (probability in percent), set the rot days (null: none) or move to another position.
    A stage's kind does not change: its deals' won/lost status was decided by entering it."""
    pipeline = _locked(session, pipeline_id)
    stage = _live_stage(session, pipeline, stage_id)
    live = list(repo.stages(session, pipeline.id))
    before = _stage_picture(stage)
    for key in ("name", "probability", "position"):
        if key in changes and changes[key] is None:
            raise InvalidInput(key, "must not be null")
    if "name" in changes:
        name = _name("name", changes["name"], 80)
        _unique_name(live, name, "name", other_than=stage.id)
        stage.name = name
    if "probability" in changes:
        stage.win_probability = _fraction("probability", changes["probability"])
    if "rot_days" in changes:
        stage.rot_days = _rot_days("rot_days", changes["rot_days"])
    session.flush()
    if "position" in changes and changes["position"] != stage.position:
        repo.renumber(session, _place(live, stage, changes["position"], "position"))
    after = _stage_picture(stage)
    if after != before:
        events.add_audit(session, actor=actor, actor_id=actor_id, action="update", entity_type="stage",
                         entity_id=stage.id, before=before, after=after)
    return stage


@dataclass(frozen=True)
class Removal:
    stage_id: int
    archived: bool  # kept for the stage history, hidden from the board; else deleted
    moved_deal_ids: list[int]
    move_to: int | None


def _guard_last_of_kind(live: Sequence[Stage], stage: Stage) -> None:
    kind = kind_of(stage)
    if sum(1 for s in live if kind_of(s) is kind) > 1:
        return
    rule = {StageKind.won: "a pipeline keeps at least one won stage (deals are closed won into it)",
            StageKind.lost: "a pipeline keeps at least one lost stage (deals are closed lost into it)",
            StageKind.open: "a pipeline keeps at least one open stage (new deals start in it)"}[kind]
    raise Conflict(f"stage {stage.name!r} is the pipeline's only {kind.value} stage: {rule}", field="stage_id")


def remove_stage(session: Session, pipeline_id: int, stage_id: int, *, move_to: int | None, actor: str,
                 actor_id: int | None, now: datetime | None = None) -> Removal:
    """Remove a stage; its deals (open or closed) first move to `move_to`, a live stage of the same kind, so
    no deal changes status because a stage went away. All in the caller's transaction."""
    now = now or datetime.now(UTC)
    pipeline = _locked(session, pipeline_id)
    stage = _live_stage(session, pipeline, stage_id, exclusive=True)
    live = list(repo.stages(session, pipeline.id))
    _guard_last_of_kind(live, stage)
    deal_ids = repo.deal_ids_in_stage(session, stage.id)
    target: Stage | None = None
    if move_to is not None:
        target = next((s for s in live if s.id == move_to and s.id != stage.id), None)
        if target is None:
            raise InvalidInput("move_to", f"stage {move_to} is not another stage of pipeline {pipeline.name!r}")
        if kind_of(target) is not kind_of(stage):
            raise InvalidInput("move_to", f"stage {target.name!r} is {kind_of(target).value}; the deals of a "
                                          f"{kind_of(stage).value} stage move to another {kind_of(stage).value} one")
    elif deal_ids:
        raise InvalidInput("move_to", f"{len(deal_ids)} deal(s) are in stage {stage.name!r}: give move_to, the "
                                      f"stage they move to")
    for deal_id in deal_ids:
        deal = session.get(Deal, deal_id)
        assert deal is not None and target is not None
        deal_service.record_stage_change(session, deal, target, actor=actor, actor_id=actor_id, now=now,
                                         reason="stage_removed")
    before = _stage_picture(stage)
    archived = repo.stage_is_referenced(session, stage.id)
    if archived:
        stage.archived_at = now
    else:
        session.delete(stage)
    session.flush()
    repo.renumber(session, [s for s in live if s.id != stage.id])
    events.add_audit(session, actor=actor, actor_id=actor_id, action="delete", entity_type="stage",
                     entity_id=stage_id, before=before,
                     after={"archived": archived, "moved_deal_ids": deal_ids, "move_to": move_to})
    session.flush()
    return Removal(stage_id, archived, deal_ids, move_to if deal_ids else None)


def set_probability(session: Session, stage_id: int, probability: int, *, actor: str,
                    actor_id: int | None = None) -> Stage:
    """The operator's shortcut (`salesagents pipelines set-probability`): a stage known by its id alone."""
    stage = session.get(Stage, stage_id)
    if stage is None or stage.archived_at is not None:
        raise NotFound("stage", stage_id)
    return update_stage(session, stage.pipeline_id, stage_id, {"probability": probability}, actor=actor,
                        actor_id=actor_id)
