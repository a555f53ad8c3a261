"""Admin-only functions (403 for every other role): prompts, evals, users, settings, CSV import.

Evals run in a background thread of the API process with their own transaction (they call models and can take
minutes); GET /evals/jobs/{job_id} reports the job, and its eval run appears in GET /evals/runs when done.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from pydantic import BaseModel, Field

from api.deps import AdminUser, SessionDep, require_roles
from api.routes.common import Limit, LongText, Offset, Out, PathId, Short, Text200
from core.db.engine import session_scope
from core.errors import CrmError, InvalidInput, NotFound
from core.models.enums import Role, SegmentEntity
from core.repositories import api_views
from core.repositories import auth as auth_repo
from core.repositories import evals as eval_repo
from core.repositories import prompts as prompt_repo
from core.services import auth as auth_service

log = logging.getLogger(__name__)
router = APIRouter(tags=["admin"], dependencies=[Depends(require_roles())])
# Admin only: an import writes owners and links across every team, beyond any one person's scope.
imports = APIRouter(tags=["import"], dependencies=[Depends(require_roles())])

PromptId = Short
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class PromptSummaryOut(BaseModel):
    prompt_id: str
    latest: int
    production: int | None
    staging: int | None
    purpose: str
    description: str


class PromptVersionOut(Out):
    id: int
    prompt_id: str
    version: int
    purpose: str
    description: str | None = None
    source: str | None = None
    note: str | None = None
    created_by: str | None = None
    created_at: datetime


class PromptVersionDetail(PromptVersionOut):
    template: str


class PromptIn(BaseModel):
    template: LongText = Field(min_length=1, description="The full file text (front matter + body).")
    note: Text200 | None = None


class PreviewIn(BaseModel):
    inputs: dict[str, Any] = Field(default_factory=dict)


class PreviewOut(BaseModel):
    ref: str
    system: str
    user: str
    fallback: str | None


class DiffOut(BaseModel):
    prompt_id: str
    from_version: int
    to_version: int
    diff: str


class PromoteIn(BaseModel):
    override: bool = Field(default=False, description="Promote despite a failing eval gate (audited).")


class EvalStartIn(BaseModel):
    suite: Short
    prompt_version: int | None = Field(default=None, ge=1, le=1_000_000)
    limit: int | None = Field(default=None, ge=1, le=10_000)
    scripted: bool = False
    note: Text200 | None = None


class EvalJobOut(BaseModel):
    job_id: str
    suite: str
    status: Literal["running", "succeeded", "failed", "skipped"]
    eval_run_id: int | None = None
    error: str | None = None


class EvalRunOut(Out):
    id: int
    suite: str
    mode: str
    status: str
    prompt_refs: list[str]
    model: str
    case_count: int
    passed_count: int
    metrics: dict[str, Any]
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    duration_ms: int
    is_baseline: bool
    started_at: datetime
    finished_at: datetime | None


class CaseResultOut(Out):
    case_id: str
    position: int
    passed: bool
    outcome: str
    fallback: bool
    scores: dict[str, Any]
    comments: dict[str, Any]
    output: str
    label: int | None
    prediction: int | None
    probability: float | None
    error: str | None


class EvalRunDetail(EvalRunOut):
    results: list[CaseResultOut]


class UserIn(BaseModel):
    email: Short = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    full_name: Text200 = Field(min_length=1)
    role: Role
    password: Text200 | None = Field(default=None, min_length=8)
    team_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    manager_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


class UserOut(Out):
    id: int
    email: str
    full_name: str
    role: Role
    team_id: int | None
    manager_id: int | None
    active: bool


class ImportOut(BaseModel):
    entity: str
    rows: int
    imported: int
    rejected: int
    custom_fields_created: list[str]
    seconds: float


@router.get("/prompts", response_model=list[PromptSummaryOut])
def list_prompts(session: SessionDep, user: AdminUser) -> Any:
    return [PromptSummaryOut(**s.__dict__) for s in prompt_repo.summaries(session)]


@router.get("/prompts/{prompt_id}/versions", response_model=list[PromptVersionOut])
def prompt_versions(prompt_id: PromptId, session: SessionDep, user: AdminUser) -> Any:
    rows = prompt_repo.versions(session, prompt_id)
    if not rows:
        raise NotFound("prompt", prompt_id)
    return rows


@router.get("/prompts/{prompt_id}/versions/{version}", response_model=PromptVersionDetail)
def prompt_version(prompt_id: PromptId, version: PathId, session: SessionDep, user: AdminUser) -> Any:
    row = prompt_repo.get_version(session, prompt_id, version)
    if row is None:
        raise NotFound("prompt version", f"{prompt_id}@{version}")
    return row


@router.post("/prompts/{prompt_id}/versions", response_model=PromptVersionDetail, status_code=201)
def create_prompt_version(prompt_id: PromptId, body: PromptIn, session: SessionDep, user: AdminUser) -> Any:
    """The edited text becomes the next version, labelled staging (production moves only by promote)."""
    from prompts import registry

    return registry.create_version(session, prompt_id, body.template, user.actor, note=body.note)


@router.get("/prompts/{prompt_id}/diff", response_model=DiffOut)
def prompt_diff(prompt_id: PromptId, session: SessionDep, user: AdminUser,
                from_version: Annotated[int, Query(ge=1, le=1_000_000)],
                to_version: Annotated[int, Query(ge=1, le=1_000_000)]) -> Any:
    from prompts import registry

    return DiffOut(prompt_id=prompt_id, from_version=from_version, to_version=to_version,
                   diff=registry.diff(session, prompt_id, from_version, to_version))


@router.post("/prompts/{prompt_id}/versions/{version}/preview", response_model=PreviewOut)
def prompt_preview(prompt_id: PromptId, version: PathId, body: PreviewIn, session: SessionDep,
                   user: AdminUser) -> Any:
    """What the model would be sent for these sample inputs (no model call)."""
    from prompts import registry

    p = registry.preview(session, prompt_id, version, body.inputs)
    return PreviewOut(ref=p.ref, system=p.system, user=p.user, fallback=p.fallback)


@router.post("/prompts/{prompt_id}/versions/{version}/promote", response_model=PromptVersionOut)
def prompt_promote(prompt_id: PromptId, version: PathId, session: SessionDep, user: AdminUser,
                   body: PromoteIn | None = None) -> Any:
    from prompts import registry

    return registry.promote_version(session, prompt_id, version, user.actor,
                                    override=bool(body and body.override))


@router.post("/prompts/{prompt_id}/rollback", response_model=PromptVersionOut)
def prompt_rollback(prompt_id: PromptId, session: SessionDep, user: AdminUser) -> Any:
    from prompts import registry

    return registry.rollback(session, prompt_id, user.actor)


def _run_eval_job(app: Any, job_id: str, body: EvalStartIn, actor: str) -> None:
    """Thread body: its own transaction; the job record says how it ended."""
    from evals.base import SuiteUnavailable
    from evals.runner import run_suite

    job = app.state.eval_jobs[job_id]
    try:
        with session_scope(app.state.db.engine) as session:
            run = run_suite(session, body.suite, prompt_version=body.prompt_version, limit=body.limit,
                            scripted=body.scripted, note=body.note, actor=actor,
                            settings=app.state.settings)
            session.flush()
            run_id = run.id
        job.update(status="succeeded", eval_run_id=run_id)
    except SuiteUnavailable as exc:
        job.update(status="skipped", error=str(exc))
    except CrmError as exc:
        job.update(status="failed", error=str(exc))
    except Exception as exc:  # the thread must record every failure; the log has the trace
        log.exception("eval job %s failed", job_id)
        job.update(status="failed", error=type(exc).__name__)


@router.post("/evals/runs", response_model=EvalJobOut, status_code=202)
def start_eval(body: EvalStartIn, request: Request, user: AdminUser) -> Any:
    """Start a suite in the background; poll GET /evals/jobs/{job_id}."""
    from evals.suites import suite_ids

    if body.suite not in suite_ids():
        raise InvalidInput("suite", f"unknown suite {body.suite!r}; known: {', '.join(suite_ids())}")
    job_id = uuid.uuid4().hex
    jobs: dict[str, dict[str, Any]] = request.app.state.eval_jobs
    jobs[job_id] = {"job_id": job_id, "suite": body.suite, "status": "running"}
    thread = threading.Thread(target=_run_eval_job, args=(request.app, job_id, body, user.actor),
                              name=f"eval-{job_id[:8]}", daemon=True)
    thread.start()
    request.app.state.eval_threads[job_id] = thread
    return EvalJobOut(**jobs[job_id])


@router.get("/evals/jobs/{job_id}", response_model=EvalJobOut)
def eval_job(job_id: Short, request: Request, user: AdminUser) -> Any:
    job = request.app.state.eval_jobs.get(job_id)
    if job is None:
        raise NotFound("eval job", job_id)
    return EvalJobOut(**job)


@router.get("/evals/suites", response_model=list[str])
def eval_suites(user: AdminUser) -> Any:
    from evals.suites import suite_ids

    return suite_ids()


@router.get("/evals/runs", response_model=list[EvalRunOut])
def list_eval_runs(session: SessionDep, user: AdminUser, suite: Short | None = None, limit: Limit = 50,
                   offset: Offset = 0) -> Any:
    return api_views.eval_runs(session, suite=suite, limit=limit, offset=offset)


@router.get("/evals/runs/{run_id}", response_model=EvalRunDetail)
def get_eval_run(run_id: PathId, session: SessionDep, user: AdminUser) -> Any:
    run = eval_repo.get_run(session, run_id)
    if run is None:
        raise NotFound("eval run", run_id)
    results = [CaseResultOut.model_validate(r) for r in eval_repo.case_results(session, run_id)]
    return EvalRunDetail(**EvalRunOut.model_validate(run).model_dump(), results=results)


@router.get("/users", response_model=list[UserOut])
def list_users(session: SessionDep, user: AdminUser) -> Any:
    return auth_repo.list_users(session)


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, session: SessionDep, user: AdminUser) -> Any:
    return auth_service.create_user(session, email=body.email, full_name=body.full_name, role=body.role,
                                    password=body.password, team_id=body.team_id, manager_id=body.manager_id,
                                    actor=user.actor)


@router.get("/settings", response_model=dict[str, Any])
def get_settings_view(request: Request, user: AdminUser) -> Any:
    """The effective settings with every secret masked."""
    data = request.app.state.settings.model_dump(mode="json")
    for key in list(data):
        if any(word in key for word in ("password", "api_key", "secret", "token")) or key.endswith("_url"):
            data[key] = "***" if data[key] else data[key]
    return data


@imports.post("/imports/{entity}", response_model=ImportOut)
def import_csv(entity: Literal["lead", "account", "contact", "deal"], session: SessionDep, user: AdminUser,
               file: Annotated[UploadFile, File(description="CSV file with a header row")],
               mapping: Annotated[list[Text200] | None, Form(description="COLUMN=field pairs (repeat the field)")]
               = None) -> Any:
    """Import a CSV (admins): the whole file is validated first; any bad row rejects it (422
    listing the rows), nothing half-imported. Same importer as `salesagents import`."""
    from core.services.importing import import_csv as run_import
    from core.services.importing import parse_mappings

    parsed = parse_mappings(mapping or [])
    with tempfile.TemporaryDirectory(prefix="salesagents-import-") as tmp:
        path = Path(tmp) / "upload.csv"
        size = 0
        with path.open("wb") as out:
            while chunk := file.file.read(1 << 20):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise InvalidInput("file", f"larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
                out.write(chunk)
        if size == 0:
            raise InvalidInput("file", "is empty")
        result = run_import(session, SegmentEntity(entity), path, parsed, actor=user.actor,
                            now=datetime.now(UTC))
    return ImportOut(entity=entity, rows=result.rows, imported=result.imported, rejected=result.rejected,
                     custom_fields_created=list(result.custom_fields_created), seconds=round(result.seconds, 3))
