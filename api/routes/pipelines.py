"""Pipelines and their stages: everyone signed in reads them (no customer data); only an admin configures them.

Stage writes answer the whole pipeline, since adding, moving or removing one stage renumbers its siblings.
Probabilities travel as whole percents (`probability`, 0-100); `win_probability` is the same value as the
stored fraction, kept for existing readers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import AdminUser, CurrentUser, SessionDep
from api.routes.common import MAX_ID, Name80, PathId, Short
from core.models import Pipeline, Stage
from core.models.enums import StageKind
from core.repositories import api_views
from core.repositories import pipeline as pipeline_repo
from core.services import pipelines as pipeline_service

router = APIRouter(tags=["pipelines"])

Percent = Annotated[int, Field(ge=0, le=100, description="Win probability in percent, 0-100.")]
RotDays = Annotated[int, Field(ge=1, le=3650, description="Days in the stage after which an open deal rots.")]
Position = Annotated[int, Field(ge=1, le=10_000, description="1-based place on the board; past the end = last.")]


class StageIn(BaseModel):
    name: Name80 = Field(description="Unique within the pipeline.")
    probability: Percent
    rot_days: RotDays | None = None
    kind: StageKind = Field(default=StageKind.open, description="open, won (closes a deal won) or lost.")


class NewStageIn(StageIn):
    position: Position | None = Field(default=None, description=(
        "Where it goes; default: an open stage after the last open one, a won or lost stage last."))


class StagePatch(BaseModel):
    name: Name80 | None = None
    probability: Percent | None = None
    rot_days: RotDays | None = Field(default=None, description="null clears the rot limit.")
    position: Position | None = None


class PipelineIn(BaseModel):
    name: Short = Field(description="Unique among pipelines.")
    is_default: bool = Field(default=False, description="New deals without a pipeline go to the default one.")
    stages: list[StageIn] = Field(max_length=50, description=(
        "In board order; at least one open, one won and one lost stage."))


class PipelinePatch(BaseModel):
    name: Short | None = None
    is_default: bool | None = Field(default=None, description="Only true: the previous default stops being one.")


class StageOut(BaseModel):
    id: int
    name: str
    position: int
    probability: int = Field(description="Win probability in percent.")
    win_probability: Decimal = Field(description="The same as a fraction 0-1.")
    rot_days: int | None
    kind: StageKind
    is_won: bool
    is_lost: bool


class PipelineOut(BaseModel):
    id: int
    name: str
    is_default: bool
    stages: list[StageOut]


class StageRemovalOut(BaseModel):
    stage_id: int
    archived: bool = Field(description="Kept (hidden) because deals passed through it, else deleted.")
    moved_deal_ids: list[int]
    move_to: int | None
    pipeline: PipelineOut


def stage_out(stage: Stage) -> StageOut:
    return StageOut(id=stage.id, name=stage.name, position=stage.position,
                    probability=pipeline_service.percent(stage), win_probability=stage.win_probability,
                    rot_days=stage.rot_days, kind=pipeline_service.kind_of(stage), is_won=stage.is_won,
                    is_lost=stage.is_lost)


def pipeline_out(session: SessionDep, pipeline: Pipeline) -> PipelineOut:
    return PipelineOut(id=pipeline.id, name=pipeline.name, is_default=pipeline.is_default,
                       stages=[stage_out(s) for s in pipeline_repo.stages(session, pipeline.id)])


def _input(stage: StageIn) -> pipeline_service.StageInput:
    return pipeline_service.StageInput(stage.name, stage.probability, stage.rot_days, stage.kind)


@router.get("/pipelines", response_model=list[PipelineOut])
def list_pipelines(session: SessionDep, user: CurrentUser) -> Any:
    """Pipelines and their stages, in board order (public to every signed-in role: no customer data)."""
    return [pipeline_out(session, p) for p in api_views.pipelines(session)]


@router.post("/pipelines", response_model=PipelineOut, status_code=201)
def create_pipeline(body: PipelineIn, session: SessionDep, user: AdminUser) -> Any:
    """Admins only."""
    pipeline = pipeline_service.create(session, name=body.name, stages=[_input(s) for s in body.stages],
                                       is_default=body.is_default, actor=user.actor, actor_id=user.user_id)
    return pipeline_out(session, pipeline)


@router.patch("/pipelines/{pipeline_id}", response_model=PipelineOut)
def update_pipeline(pipeline_id: PathId, body: PipelinePatch, session: SessionDep, user: AdminUser) -> Any:
    """Admins only: rename, or make it the default."""
    pipeline = pipeline_service.update(session, pipeline_id, body.model_dump(exclude_unset=True), actor=user.actor,
                                       actor_id=user.user_id)
    return pipeline_out(session, pipeline)


@router.post("/pipelines/{pipeline_id}/stages", response_model=PipelineOut, status_code=201)
def add_stage(pipeline_id: PathId, body: NewStageIn, session: SessionDep, user: AdminUser) -> Any:
    """Admins only; answers the pipeline with the new stage in place."""
    stage = pipeline_service.add_stage(session, pipeline_id, _input(body), position=body.position,
                                       actor=user.actor, actor_id=user.user_id)
    pipeline = session.get(Pipeline, stage.pipeline_id)
    assert pipeline is not None
    return pipeline_out(session, pipeline)


@router.patch("/pipelines/{pipeline_id}/stages/{stage_id}", response_model=PipelineOut)
def update_stage(pipeline_id: PathId, stage_id: PathId, body: StagePatch, session: SessionDep,
                 user: AdminUser) -> Any:
    """Admins only: rename, re-weigh, set rot days, move; the new probability applies to every deal in the stage
    at once (forecast, Customer 360, the Deal Coach's next run). A stage's kind does not change."""
    stage = pipeline_service.update_stage(session, pipeline_id, stage_id, body.model_dump(exclude_unset=True),
                                          actor=user.actor, actor_id=user.user_id)
    pipeline = session.get(Pipeline, stage.pipeline_id)
    assert pipeline is not None
    return pipeline_out(session, pipeline)


@router.delete("/pipelines/{pipeline_id}/stages/{stage_id}", response_model=StageRemovalOut)
def remove_stage(pipeline_id: PathId, stage_id: PathId, session: SessionDep, user: AdminUser,
                 move_to: Annotated[int | None, Query(ge=1, le=MAX_ID, description=(
                     "Required when deals are in the stage: the stage of the same kind they move to."))] = None
                 ) -> Any:
    """Admins only. The stage's deals move to `move_to` first (each a recorded stage change); the pipeline's last
    open, won or lost stage cannot be removed (409)."""
    removal = pipeline_service.remove_stage(session, pipeline_id, stage_id, move_to=move_to, actor=user.actor,
                                            actor_id=user.user_id)
    pipeline = session.get(Pipeline, pipeline_id)
    assert pipeline is not None
    return StageRemovalOut(stage_id=removal.stage_id, archived=removal.archived,
                           moved_deal_ids=removal.moved_deal_ids, move_to=removal.move_to,
                           pipeline=pipeline_out(session, pipeline))
