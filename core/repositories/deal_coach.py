"""Queries of the Deal Coach: a deal's facts and timeline, learned stage norms, close-date pushes, forecast rows.

Functions take lists of deal ids so the daily sweep reads every open deal in a handful of queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import BigInteger, and_, any_, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from core.models import (
    Account,
    Activity,
    AgentRun,
    AuditLog,
    Contact,
    Deal,
    DealStageHistory,
    Pipeline,
    Stage,
    Suggestion,
    Task,
    Team,
    TextEmbedding,
    User,
)
from core.models.enums import BuyingRole, DealStatus, TaskStatus

CLOSE_DATE_ACTION = "close_date"
OPEN_TASK = (TaskStatus.open, TaskStatus.in_progress)


def _any(ids: Sequence[int]) -> Any:
    """`= ANY(:ids)`: one array parameter however many ids (an IN list stops at 65,535 bound parameters)."""
    return any_(literal(list(ids), type_=ARRAY(BigInteger)))


def deal_rows(session: Session, deal_ids: Sequence[int] | None = None, *,
              open_only: bool = True) -> list[dict[str, Any]]:
    """Deals (open ones, or the given ids) with stage, pipeline, account and owner."""
    stmt = (select(Deal.id, Deal.name, Deal.amount, Deal.currency, Deal.status, Deal.expected_close_date,
                   Deal.owner_id, User.full_name.label("owner_name"), User.team_id, Deal.account_id,
                   Account.name.label("account_name"), Account.industry.label("industry"), Deal.pipeline_id,
                   Pipeline.name.label("pipeline"), Deal.stage_id, Stage.name.label("stage"),
                   Stage.position.label("stage_position"), Stage.win_probability, Stage.rot_days,
                   Deal.stage_entered_at, Deal.created_at, Deal.primary_contact_id)
            .join(Stage, Stage.id == Deal.stage_id)
            .join(Pipeline, Pipeline.id == Deal.pipeline_id)
            .outerjoin(Account, Account.id == Deal.account_id)
            .outerjoin(User, User.id == Deal.owner_id)
            .order_by(Deal.id))
    if deal_ids is not None:
        stmt = stmt.where(Deal.id == _any(deal_ids))
    if open_only:
        stmt = stmt.where(Deal.status == DealStatus.open)
    return [dict(row._mapping) for row in session.execute(stmt)]


def won_stage_stays(session: Session, pipeline_ids: Sequence[int]) -> list[tuple[int, float]]:
    """(stage id, days) of every finished stay of a won deal in a stage before it was won: the stage norms' data."""
    days = func.extract("epoch", DealStageHistory.left_at - DealStageHistory.entered_at) / 86400.0
    stmt = (select(DealStageHistory.stage_id, days)
            .join(Deal, Deal.id == DealStageHistory.deal_id)
            .join(Stage, Stage.id == DealStageHistory.stage_id)
            .where(Deal.status == DealStatus.won, DealStageHistory.left_at.is_not(None),
                   Stage.is_won.is_(False), Stage.is_lost.is_(False), Deal.pipeline_id.in_(list(pipeline_ids))))
    return [(int(stage_id), float(d)) for stage_id, d in session.execute(stmt)]


def stage_rot_days(session: Session, pipeline_ids: Sequence[int]) -> dict[int, int | None]:
    stmt = select(Stage.id, Stage.rot_days).where(Stage.pipeline_id.in_(list(pipeline_ids)))
    return {int(i): r for i, r in session.execute(stmt)}


def last_activity(session: Session, deal_ids: Sequence[int], now: datetime) -> dict[int, tuple[int, datetime]]:
    """deal id -> (activity id, when) of the latest activity on the deal up to now."""
    if not deal_ids:
        return {}
    ranked = (select(Activity.deal_id, Activity.id, Activity.occurred_at,
                     func.row_number().over(partition_by=Activity.deal_id,
                                            order_by=(Activity.occurred_at.desc(), Activity.id.desc())).label("rn"))
              .where(Activity.deal_id == _any(deal_ids), Activity.occurred_at <= now).subquery())
    stmt = select(ranked.c.deal_id, ranked.c.id, ranked.c.occurred_at).where(ranked.c.rn == 1)
    return {int(d): (int(i), at) for d, i, at in session.execute(stmt)}


def activity_counts(session: Session, deal_ids: Sequence[int], now: datetime) -> dict[int, int]:
    if not deal_ids:
        return {}
    stmt = (select(Activity.deal_id, func.count(Activity.id))
            .where(Activity.deal_id == _any(deal_ids), Activity.occurred_at <= now).group_by(Activity.deal_id))
    return {cast(int, d): int(n) for d, n in session.execute(stmt)}


def next_steps(session: Session, deal_ids: Sequence[int], now: datetime,
               exclude_key_prefix: str) -> dict[int, list[dict[str, Any]]]:
    """Open tasks due from now on (not the coach's own) and activities scheduled after now, per deal."""
    if not deal_ids:
        return {}
    found: dict[int, list[dict[str, Any]]] = {}
    tasks = (select(Task.deal_id, Task.id, Task.title, Task.due_at)
             .where(Task.deal_id == _any(deal_ids), Task.status.in_(OPEN_TASK), Task.due_at >= now,
                    or_(Task.idempotency_key.is_(None), ~Task.idempotency_key.like(f"{exclude_key_prefix}%")))
             .order_by(Task.due_at, Task.id))
    for deal_id, task_id, title, due in session.execute(tasks):
        found.setdefault(cast(int, deal_id), []).append({"kind": "task", "id": int(task_id), "title": title, "at": due})
    acts = (select(Activity.deal_id, Activity.id, Activity.subject, Activity.occurred_at)
            .where(Activity.deal_id == _any(deal_ids), Activity.occurred_at > now)
            .order_by(Activity.occurred_at, Activity.id))
    for deal_id, act_id, subject, at in session.execute(acts):
        found.setdefault(cast(int, deal_id), []).append({"kind": "activity", "id": int(act_id), "title": subject,
                                                   "at": at})
    return found


def decision_maker_contacts(session: Session, deal_ids: Sequence[int],
                            now: datetime) -> dict[int, list[dict[str, Any]]]:
    """Decision makers engaged on each deal (an activity with them up to now): name, last date, count."""
    if not deal_ids:
        return {}
    name = func.concat_ws(" ", Contact.first_name, func.nullif(Contact.last_name, ""))
    stmt = (select(Activity.deal_id, Contact.id, name, func.max(Activity.occurred_at), func.count(Activity.id))
            .join(Contact, Contact.id == Activity.contact_id)
            .where(Activity.deal_id == _any(deal_ids), Activity.occurred_at <= now,
                   Contact.buying_role == BuyingRole.decision_maker)
            .group_by(Activity.deal_id, Contact.id, name).order_by(Activity.deal_id, Contact.id))
    found: dict[int, list[dict[str, Any]]] = {}
    for deal_id, contact_id, full, last, count in session.execute(stmt):
        found.setdefault(int(deal_id), []).append({"contact_id": int(contact_id), "name": full, "last": last,
                                                   "activities": int(count)})
    return found


def account_contacts(session: Session, account_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Contacts of each account with their buying role (the people a suggestion may name)."""
    if not account_ids:
        return {}
    stmt = (select(Contact.account_id, Contact.id, Contact.first_name, Contact.last_name, Contact.title,
                   Contact.buying_role)
            .where(Contact.account_id == _any(account_ids)).order_by(Contact.account_id, Contact.id))
    found: dict[int, list[dict[str, Any]]] = {}
    for account_id, contact_id, first, last, title, role in session.execute(stmt):
        found.setdefault(cast(int, account_id), []).append({"id": int(contact_id), "first_name": first,
                                                      "last_name": last or "", "title": title,
                                                      "buying_role": role.value if role is not None else None})
    return found


def close_date_changes(session: Session, deal_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Recorded changes of each deal's expected close date (audit rows written by the deals service), oldest first."""
    if not deal_ids:
        return {}
    stmt = (select(AuditLog.entity_id, AuditLog.before, AuditLog.after, AuditLog.at)
            .where(AuditLog.entity_type == "deal", AuditLog.action == CLOSE_DATE_ACTION,
                   AuditLog.entity_id == _any(deal_ids))
            .order_by(AuditLog.entity_id, AuditLog.at, AuditLog.id))
    found: dict[int, list[dict[str, Any]]] = {}
    for deal_id, before, after, at in session.execute(stmt):
        found.setdefault(int(deal_id), []).append({
            "from": (before or {}).get("expected_close_date"), "to": (after or {}).get("expected_close_date"),
            "at": at})
    return found


def timeline(session: Session, deal_id: int, now: datetime, limit: int = 12) -> list[dict[str, Any]]:
    """The deal's latest activities up to now (newest first) with who took part."""
    name = func.concat_ws(" ", Contact.first_name, func.nullif(Contact.last_name, ""))
    stmt = (select(Activity.id, Activity.kind, Activity.subject, Activity.body, Activity.occurred_at,
                   name.label("contact"), Contact.buying_role, User.full_name.label("user"))
            .outerjoin(Contact, Contact.id == Activity.contact_id)
            .outerjoin(User, User.id == Activity.user_id)
            .where(Activity.deal_id == deal_id, Activity.occurred_at <= now)
            .order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(limit))
    return [dict(row._mapping) for row in session.execute(stmt)]


def stage_path(session: Session, deal_id: int) -> list[dict[str, Any]]:
    stmt = (select(Stage.name, DealStageHistory.entered_at, DealStageHistory.left_at)
            .join(Stage, Stage.id == DealStageHistory.stage_id)
            .where(DealStageHistory.deal_id == deal_id).order_by(DealStageHistory.entered_at, DealStageHistory.id))
    return [dict(row._mapping) for row in session.execute(stmt)]


def won_deals_of_accounts(session: Session, account_ids: Sequence[int], exclude_deal: int,
                          limit: int) -> list[dict[str, Any]]:
    """Won deals of the given accounts (most recent first), with their cycle in days."""
    if not account_ids:
        return []
    cycle = func.extract("epoch", Deal.closed_at - Deal.created_at) / 86400.0
    stmt = (select(Deal.id, Deal.name, Deal.amount, Deal.currency, Deal.account_id,
                   Account.name.label("account_name"), Deal.closed_at, cycle.label("cycle_days"))
            .join(Account, Account.id == Deal.account_id)
            .where(Deal.status == DealStatus.won, Deal.account_id == _any(account_ids), Deal.id != exclude_deal)
            .order_by(Deal.closed_at.desc(), Deal.id.desc()).limit(limit))
    return [dict(row._mapping) for row in session.execute(stmt)]


def coached_hashes(session: Session, agent: str, deal_ids: Sequence[int]) -> dict[int, str]:
    """The input hash of each deal's latest run that produced outputs: unchanged deals are not coached again."""
    if not deal_ids:
        return {}
    ranked = (select(AgentRun.subject_id, AgentRun.input_hash,
                     func.row_number().over(partition_by=AgentRun.subject_id,
                                            order_by=(AgentRun.finished_at.desc().nulls_first(),
                                                      AgentRun.id.desc())).label("rn"))
              .where(AgentRun.agent == agent, AgentRun.subject_type == "deal",
                     AgentRun.subject_id == _any(deal_ids),
                     AgentRun.status.in_(("succeeded", "waiting_review")), AgentRun.input_hash.is_not(None))
              .subquery())
    stmt = select(ranked.c.subject_id, ranked.c.input_hash).where(ranked.c.rn == 1)
    return {int(s): str(h) for s, h in session.execute(stmt)}


def forecast_rows(session: Session) -> list[dict[str, Any]]:
    """Open deals with the fields the forecast groups and weights by: owner, team, amount, stage probability."""
    stmt = (select(Deal.id, Deal.amount, Deal.currency, Deal.expected_close_date, Deal.owner_id,
                   func.coalesce(User.full_name, "unassigned").label("owner_name"),
                   func.coalesce(Team.name, "no team").label("team"), Stage.name.label("stage"),
                   Stage.win_probability)
            .join(Stage, Stage.id == Deal.stage_id)
            .outerjoin(User, User.id == Deal.owner_id)
            .outerjoin(Team, Team.id == User.team_id)
            .where(Deal.status == DealStatus.open).order_by(Deal.id))
    return [dict(row._mapping) for row in session.execute(stmt)]


def reps_with_open_deals(session: Session) -> list[int]:
    stmt = (select(Deal.owner_id).where(Deal.status == DealStatus.open, Deal.owner_id.is_not(None))
            .group_by(Deal.owner_id).order_by(Deal.owner_id))
    return [cast(int, x) for x in session.scalars(stmt)]


def open_deal_ids(session: Session, owner_id: int | None = None) -> list[int]:
    stmt = select(Deal.id).where(Deal.status == DealStatus.open).order_by(Deal.id)
    if owner_id is not None:
        stmt = stmt.where(Deal.owner_id == owner_id)
    return [int(x) for x in session.scalars(stmt)]


def open_suggestions(session: Session, agent: str, deal_ids: Sequence[int]) -> dict[int, int]:
    """deal id -> id of the newest open suggestion the coach wrote on it (the digest links to it)."""
    if not deal_ids:
        return {}
    stmt = (select(Suggestion.subject_id, func.max(Suggestion.id))
            .where(and_(Suggestion.agent == agent, Suggestion.subject_type == "deal",
                        Suggestion.subject_id == _any(deal_ids), Suggestion.status == "open"))
            .group_by(Suggestion.subject_id))
    return {int(d): int(s) for d, s in session.execute(stmt)}


def account_vectors_exist(session: Session) -> bool:
    """Whether any account description is embedded (else the similarity search is skipped, the model unloaded)."""
    stmt = select(TextEmbedding.id).where(TextEmbedding.source == "account_description").limit(1)
    return session.scalar(stmt) is not None


def person_names(session: Session) -> list[str]:
    """Every contact's and user's name in the CRM: the grounding check knows a name when it sees one."""
    contacts = select(func.concat_ws(" ", Contact.first_name, Contact.last_name))
    users = select(User.full_name)
    return [str(n) for n in session.scalars(contacts.union_all(users)) if n]


def account_profile(session: Session, account_id: int | None) -> tuple[str | None, str | None]:
    """(industry, description) of an account: the words the similarity search matches deals by."""
    if account_id is None:
        return None, None
    row = session.execute(select(Account.industry, Account.description).where(Account.id == account_id)).first()
    return (row[0], row[1]) if row else (None, None)


def supersede_open_suggestions(session: Session, agent: str, deal_id: int, keep_id: int,
                               now: datetime) -> list[int]:
    """Close the coach's earlier open suggestions on a deal it just coached again (the rep sees the current one);
    `decided_by_id` stays empty, so no person is said to have dismissed them."""
    stmt = (update(Suggestion)
            .where(Suggestion.agent == agent, Suggestion.subject_type == "deal", Suggestion.subject_id == deal_id,
                   Suggestion.status == "open", Suggestion.id != keep_id)
            .values(status="dismissed", decided_at=now,
                    evidence=Suggestion.evidence.op("||")(func.jsonb_build_object("superseded_by", keep_id)))
            .returning(Suggestion.id))
    return [int(i) for i in session.scalars(stmt)]
