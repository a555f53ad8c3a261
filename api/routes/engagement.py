"""Activities (the timeline) and tasks (the to-do list): scoped like the objects they hang on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from api.deps import CurrentUser, SessionDep
from api.routes.accounts import check_assignable, check_ref
from api.routes.common import Limit, LongText, Name, Offset, Out, PathId, RefId
from core.errors import InvalidInput
from core.models import Account, Activity, Contact, Deal, Lead, Task
from core.models.enums import ActivityKind, TaskPriority, TaskSource, TaskStatus
from core.repositories import scoping
from core.repositories.scoping import Principal
from core.services import engagement
from core.services.updates import update_fields

router = APIRouter(tags=["activities & tasks"])


class Links(BaseModel):
    lead_id: RefId | None = None
    contact_id: RefId | None = None
    account_id: RefId | None = None
    deal_id: RefId | None = None


def _check_links(session: SessionDep, user: Principal, links: Links) -> None:
    for model, value in ((Lead, links.lead_id), (Contact, links.contact_id), (Account, links.account_id),
                         (Deal, links.deal_id)):
        check_ref(session, user, model, value)


class ActivityIn(Links):
    kind: ActivityKind
    subject: Name
    body: LongText | None = None
    occurred_at: datetime | None = None


class ActivityOut(Out):
    id: int
    kind: ActivityKind
    subject: str
    body: str | None
    occurred_at: datetime
    lead_id: int | None
    contact_id: int | None
    account_id: int | None
    deal_id: int | None
    user_id: int | None


class TaskIn(Links):
    title: Name
    description: LongText | None = None
    assignee_id: RefId | None = None
    due_at: datetime | None = None
    priority: TaskPriority = TaskPriority.normal


class TaskPatch(BaseModel):
    title: Name | None = None
    description: LongText | None = None
    assignee_id: RefId | None = None
    due_at: datetime | None = None
    priority: TaskPriority | None = None
    status: TaskStatus | None = None


class TaskOut(Out):
    id: int
    title: str
    description: str | None
    assignee_id: int | None
    due_at: datetime | None
    priority: TaskPriority
    status: TaskStatus
    source: TaskSource
    agent_run_id: int | None
    lead_id: int | None
    contact_id: int | None
    account_id: int | None
    deal_id: int | None
    completed_at: datetime | None
    created_at: datetime


@router.get("/activities", response_model=list[ActivityOut])
def list_activities(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
                    lead_id: RefId | None = None, deal_id: RefId | None = None, account_id: RefId | None = None,
                    contact_id: RefId | None = None) -> Any:
    """The timeline, newest first; filter by the object it hangs on."""
    filters = [c for c in (Activity.lead_id == lead_id if lead_id else None,
                           Activity.deal_id == deal_id if deal_id else None,
                           Activity.account_id == account_id if account_id else None,
                           Activity.contact_id == contact_id if contact_id else None) if c is not None]
    return scoping.list_visible(session, user, Activity, filters=filters, order_by=Activity.occurred_at.desc(),
                                limit=limit, offset=offset)


@router.post("/activities", response_model=ActivityOut, status_code=201)
def create_activity(body: ActivityIn, session: SessionDep, user: CurrentUser) -> Any:
    _check_links(session, user, body)
    return engagement.log_activity(session, kind=body.kind, subject=body.subject, body=body.body,
                                   occurred_at=body.occurred_at, user_id=user.user_id,
                                   **body.model_dump(include={"lead_id", "contact_id", "account_id", "deal_id"}))


@router.get("/activities/{activity_id}", response_model=ActivityOut)
def get_activity(activity_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    return scoping.get_visible(session, user, Activity, activity_id)


@router.delete("/activities/{activity_id}", status_code=204)
def delete_activity(activity_id: PathId, session: SessionDep, user: CurrentUser) -> Response:
    session.delete(scoping.get_visible(session, user, Activity, activity_id))
    session.flush()
    return Response(status_code=204)


@router.get("/tasks", response_model=list[TaskOut])
def list_tasks(session: SessionDep, user: CurrentUser, limit: Limit = 50, offset: Offset = 0,
               status: TaskStatus | None = None, mine: bool = False) -> Any:
    """Tasks in scope, soonest due first; `mine=true` for the caller's own to-do list."""
    filters = [c for c in (Task.status == status if status else None,
                           Task.assignee_id == user.user_id if mine else None) if c is not None]
    return scoping.list_visible(session, user, Task, filters=filters,
                                order_by=(Task.due_at.asc().nulls_last(), Task.id), limit=limit, offset=offset)


@router.post("/tasks", response_model=TaskOut, status_code=201)
def create_task(body: TaskIn, session: SessionDep, user: CurrentUser) -> Any:
    _check_links(session, user, body)
    assignee = body.assignee_id if body.assignee_id is not None else user.user_id
    check_assignable(session, user, "assignee_id", assignee)
    task = engagement.create_task(session, title=body.title, description=body.description, assignee_id=assignee,
                                  due_at=body.due_at, priority=body.priority, created_by_id=user.user_id,
                                  **body.model_dump(include={"lead_id", "contact_id", "account_id", "deal_id"}))
    session.refresh(task)
    return task


@router.get("/tasks/{task_id}", response_model=TaskOut)
def get_task(task_id: PathId, session: SessionDep, user: CurrentUser) -> Any:
    return scoping.get_visible(session, user, Task, task_id)


@router.patch("/tasks/{task_id}", response_model=TaskOut)
def update_task(task_id: PathId, body: TaskPatch, session: SessionDep, user: CurrentUser) -> Any:
    task = scoping.get_visible(session, user, Task, task_id, lock=True)
    changes = body.model_dump(exclude_unset=True)
    for key in ("title", "priority", "status"):
        if key in changes and changes[key] is None:
            raise InvalidInput(key, "must not be null")
    check_assignable(session, user, "assignee_id", changes.get("assignee_id"))
    if "status" in changes:
        done = changes["status"] in (TaskStatus.done, TaskStatus.cancelled)
        changes["completed_at"] = (task.completed_at or datetime.now(UTC)) if done else None
    update_fields(session, task, changes, entity_type="task", actor=user.actor, actor_id=user.user_id)
    session.refresh(task)
    return task


@router.delete("/tasks/{task_id}", status_code=204)
def delete_task(task_id: PathId, session: SessionDep, user: CurrentUser) -> Response:
    session.delete(scoping.get_visible(session, user, Task, task_id))
    session.flush()
    return Response(status_code=204)
