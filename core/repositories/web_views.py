"""Reads the web pages need beyond the JSON API's: latest agent scores per subject, a deal's timeline, the
Kanban columns, usage per agent and day, pass rates per prompt version. Every function that returns customer
data takes a scope clause from core/repositories/scoping.py, so a page shows exactly what the API would."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Date, cast, func, literal, select
from sqlalchemy.orm import Session

from core.models import (
    Account,
    Activity,
    AgentRun,
    AgentScore,
    Approval,
    Deal,
    Draft,
    LlmCall,
    NpsResponse,
    Quote,
    Task,
    User,
)
from core.models.enums import DealStatus, TaskStatus
from core.models.evals import EvalRun


def user_names(session: Session, user_ids: Sequence[int | None]) -> dict[int, str]:
    """Display names for owner/reviewer columns (names of colleagues are not customer data)."""
    ids = sorted({i for i in user_ids if i is not None})
    if not ids:
        return {}
    return {uid: name for uid, name in session.execute(select(User.id, User.full_name).where(User.id.in_(ids)))}


def account_names(session: Session, scope: ColumnElement[bool], account_ids: Sequence[int | None]) -> dict[int, str]:
    ids = sorted({i for i in account_ids if i is not None})
    if not ids:
        return {}
    stmt = select(Account.id, Account.name).where(Account.id.in_(ids), scope)
    return {aid: name for aid, name in session.execute(stmt)}


def deal_names(session: Session, scope: ColumnElement[bool], deal_ids: Sequence[int | None]) -> dict[int, str]:
    ids = sorted({i for i in deal_ids if i is not None})
    if not ids:
        return {}
    stmt = select(Deal.id, Deal.name).where(Deal.id.in_(ids), scope)
    return {did: name for did, name in session.execute(stmt)}


def board_deals(session: Session, scope: ColumnElement[bool], pipeline_id: int, limit: int = 600) -> Sequence[Deal]:
    """Open deals of one pipeline in scope, biggest first (the Kanban columns are cut from this list)."""
    stmt = (select(Deal).where(scope, Deal.pipeline_id == pipeline_id, Deal.status == DealStatus.open)
            .order_by(Deal.amount.desc(), Deal.id).limit(limit))
    return session.scalars(stmt).all()


def latest_scores(session: Session, scope: ColumnElement[bool], subject_type: str, subject_ids: Sequence[int],
                  purpose: str | None = None) -> dict[tuple[int, str], AgentScore]:
    """The newest score per (subject, purpose) for these subjects, in scope."""
    if not subject_ids:
        return {}
    newest = (select(func.max(AgentScore.id))
              .where(scope, AgentScore.subject_type == subject_type, AgentScore.subject_id.in_(list(subject_ids)))
              .group_by(AgentScore.subject_id, AgentScore.purpose))
    if purpose is not None:
        newest = newest.where(AgentScore.purpose == purpose)
    stmt = select(AgentScore).where(AgentScore.id.in_(newest))
    return {(row.subject_id, row.purpose): row for row in session.scalars(stmt)}


def score_history(session: Session, scope: ColumnElement[bool], subject_type: str, subject_id: int, purpose: str,
                  limit: int = 60) -> list[AgentScore]:
    """Oldest first, for a chart."""
    stmt = (select(AgentScore).where(scope, AgentScore.subject_type == subject_type,
                                     AgentScore.subject_id == subject_id, AgentScore.purpose == purpose)
            .order_by(AgentScore.id.desc()).limit(limit))
    return list(reversed(session.scalars(stmt).all()))


def deal_timeline(session: Session, scope: ColumnElement[bool], deal_id: int, limit: int = 50) -> Sequence[Activity]:
    stmt = (select(Activity).where(scope, Activity.deal_id == deal_id)
            .order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(limit))
    return session.scalars(stmt).all()


def deal_tasks(session: Session, scope: ColumnElement[bool], deal_id: int) -> Sequence[Task]:
    stmt = select(Task).where(scope, Task.deal_id == deal_id).order_by(Task.status, Task.due_at.asc().nulls_last())
    return session.scalars(stmt).all()


def my_tasks(session: Session, scope: ColumnElement[bool], user_id: int, *, open_only: bool) -> Sequence[Task]:
    stmt = select(Task).where(scope, Task.assignee_id == user_id)
    if open_only:
        stmt = stmt.where(Task.status.in_([TaskStatus.open, TaskStatus.in_progress]))
    return session.scalars(stmt.order_by(Task.due_at.asc().nulls_last(), Task.id).limit(200)).all()


def count(session: Session, model: type, scope: ColumnElement[bool], *filters: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(scope, *filters)) or 0)


def inbox(session: Session, scope: ColumnElement[bool], statuses: Sequence[str], limit: int = 100
          ) -> list[tuple[Approval, Draft]]:
    stmt = (select(Approval, Draft).join(Draft, Draft.id == Approval.draft_id)
            .where(scope, Approval.status.in_(list(statuses)))
            .order_by(Approval.due_at if "pending" in statuses else Approval.decided_at.desc().nulls_last(),
                      Approval.id).limit(limit))
    return [(a, d) for a, d in session.execute(stmt)]


@dataclass(frozen=True)
class UsageRow:
    day: date
    agent: str
    runs: int
    failed: int
    input_tokens: int
    output_tokens: int
    llm_calls: int
    cost_usd: float


def usage_by_agent_day(session: Session, scope: ColumnElement[bool], days: int = 30) -> list[UsageRow]:
    """Runs, tokens and model cost per agent and day (queue day), newest day first."""
    cost = (select(LlmCall.run_id, func.sum(LlmCall.cost_usd).label("cost"))
            .where(LlmCall.run_id.is_not(None)).group_by(LlmCall.run_id).subquery())
    day = cast(AgentRun.queued_at, Date)
    stmt = (select(day, AgentRun.agent, func.count(), func.count().filter(AgentRun.status == "failed"),
                   func.sum(AgentRun.input_tokens), func.sum(AgentRun.output_tokens), func.sum(AgentRun.llm_calls),
                   func.coalesce(func.sum(cost.c.cost), 0))
            .outerjoin(cost, cost.c.run_id == AgentRun.id).where(scope)
            .where(AgentRun.queued_at >= func.now() - func.make_interval(0, 0, 0, days))
            .group_by(day, AgentRun.agent).order_by(day.desc(), AgentRun.agent))
    return [UsageRow(d, a, int(n), int(f), int(i or 0), int(o or 0), int(c or 0), float(usd))
            for d, a, n, f, i, o, c, usd in session.execute(stmt)]


def recent_runs(session: Session, scope: ColumnElement[bool], *, agent: str | None, limit: int = 100
                ) -> list[tuple[AgentRun, float]]:
    cost = (select(LlmCall.run_id, func.sum(LlmCall.cost_usd).label("cost"))
            .where(LlmCall.run_id.is_not(None)).group_by(LlmCall.run_id).subquery())
    stmt = (select(AgentRun, func.coalesce(cost.c.cost, 0)).outerjoin(cost, cost.c.run_id == AgentRun.id)
            .where(scope))
    if agent:
        stmt = stmt.where(AgentRun.agent == agent)
    return [(run, float(c)) for run, c in session.execute(stmt.order_by(AgentRun.id.desc()).limit(limit))]


def agent_names(session: Session, scope: ColumnElement[bool]) -> list[str]:
    return list(session.scalars(select(AgentRun.agent).where(scope).distinct().order_by(AgentRun.agent)))


def eval_runs(session: Session, *, suite: str | None = None, limit: int = 200) -> Sequence[EvalRun]:
    stmt = select(EvalRun)
    if suite:
        stmt = stmt.where(EvalRun.suite == suite)
    return session.scalars(stmt.order_by(EvalRun.id.desc()).limit(limit)).all()


def latest_prompt_inputs(session: Session, prompt_id: str) -> dict[str, Any] | None:
    """Real sample data for a prompt preview: the inputs recorded with its newest draft, if any."""
    stmt = (select(Draft.context).where(Draft.prompt_ref.like(f"{prompt_id}@%"),
                                        Draft.context.has_key("prompt_inputs"))
            .order_by(Draft.id.desc()).limit(1))
    context = session.scalar(stmt)
    inputs = (context or {}).get("prompt_inputs")
    return dict(inputs) if isinstance(inputs, dict) else None


def nps_response(session: Session, response_id: int, scope: ColumnElement[bool]) -> NpsResponse | None:
    """The survey answer a draft replies to, only if its account is in scope."""
    stmt = (select(NpsResponse).join(Account, Account.id == NpsResponse.account_id)
            .where(NpsResponse.id == response_id, scope))
    return session.scalar(stmt)


def quote_account_id(session: Session, quote_id: int, scope: ColumnElement[bool]) -> int | None:
    return session.scalar(select(Quote.account_id).where(Quote.id == quote_id, scope))


def demo_users(session: Session) -> list[tuple[str, User, int]]:
    """Per role, the active user with the most to show (rep: open deals, manager: people, CSM: accounts;
    admin: the first), with that count: whom `make demo` signs you in as."""
    from sqlalchemy.orm import aliased

    from core.models.enums import Role

    report = aliased(User)
    measures: dict[Role, Any] = {
        Role.rep: select(func.count()).where(Deal.owner_id == User.id, Deal.status == DealStatus.open),
        Role.manager: select(func.count()).select_from(report).where(
            (report.manager_id == User.id) | ((report.team_id == User.team_id) & (report.id != User.id))),
        Role.csm: select(func.count()).where(Account.csm_id == User.id),
        Role.admin: select(literal(0)),
    }
    out: list[tuple[str, User, int]] = []
    for role, measure in measures.items():
        n = measure.scalar_subquery().label("n")
        row = session.execute(select(User, n).where(User.role == role, User.active)
                              .order_by(n.desc(), User.id).limit(1)).first()
        if row is not None:
            out.append((role.value, row[0], int(row[1])))
    return out
