"""Hand-built deals (cases.jsonl) with timelines and the flags each must get, built into a database.

Each case: stage, `created_days_ago`, `stage_days` (days in the current stage), `close_in_days` (expected close
relative to today; null: none) or `close_changes` ([from, to, days_ago]: the close date's history, from/to in
days relative to today), `activities` ([days_ago, "dm" | "user" | "none"]: with the account's decision maker,
an ordinary user, or no contact), `tasks` ([due_in_days, "open" | "done"]), `scheduled_in_days` (meetings
booked ahead), `expected` (flag codes). Stage norms come from WON_HISTORY: six won deals went through
Prospect, Demo and Proposal (p75 6.8, 11.8 and 19.5 days), only two through Negotiation (so its rot_days, 21,
is the norm); two lost deals that idled 60 days in Demo must not count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Account, Contact, Deal, Stage, User
from core.models.enums import ActivityKind, BuyingRole, Role, TaskStatus
from core.repositories import pipeline as pipeline_repo
from core.services import deals as deal_service
from core.services import engagement

CASES = Path(__file__).with_name("cases.jsonl")
# Days in (Prospect, Demo, Proposal[, Negotiation]) of each won deal of the history.
WON_HISTORY = ((5, 10, 14, 7), (7, 12, 18, 9), (3, 8, 20), (10, 15, 25), (4, 9, 12), (6, 11, 16))
LOST_HISTORY = ((3, 60), (4, 60))
SETTINGS = {"deal_coach_no_activity_days": 14, "deal_coach_push_threshold": 2,
            "deal_coach_decision_maker_from_position": 2, "deal_coach_norm_quantile": 0.75,
            "deal_coach_norm_min_samples": 5}


@dataclass(frozen=True)
class Case:
    name: str
    stage: str
    created_days_ago: int
    stage_days: int
    expected: frozenset[str]
    close_in_days: int | None = None
    close_changes: tuple[tuple[int | None, int, int], ...] = ()
    activities: tuple[tuple[int, str], ...] = ()
    tasks: tuple[tuple[int, str], ...] = ()
    scheduled_in_days: tuple[int, ...] = ()


def load_cases(path: Path = CASES) -> list[Case]:
    cases = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        raw: dict[str, Any] = json.loads(line)
        try:
            cases.append(Case(
                name=raw["name"], stage=raw["stage"], created_days_ago=int(raw["created_days_ago"]),
                stage_days=int(raw["stage_days"]), expected=frozenset(raw["expected"]),
                close_in_days=raw.get("close_in_days"),
                close_changes=tuple(tuple(c) for c in raw.get("close_changes", [])),  # type: ignore[misc]
                activities=tuple(tuple(a) for a in raw.get("activities", [])),  # type: ignore[misc]
                tasks=tuple(tuple(t) for t in raw.get("tasks", [])),  # type: ignore[misc]
                scheduled_in_days=tuple(raw.get("scheduled_in_days", []))))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path.name} line {n}: {exc}") from exc
    return cases


def _stages(session: Session) -> dict[str, Stage]:
    pipeline = pipeline_repo.default_pipeline(session) or deal_service.create_pipeline(session, "Sales",
                                                                                        is_default=True)
    return {s.name: s for s in pipeline_repo.stages(session, pipeline.id)}


def _history_deal(session: Session, stays: tuple[int, ...], end: str, now: datetime, n: int) -> None:
    stages = _stages(session)
    order = ["Prospect", "Demo", "Proposal", "Negotiation"]
    start = now - timedelta(days=200 + sum(stays))
    deal = deal_service.create_deal(session, name=f"History {end} {n}", amount=Decimal("10000"), now=start)
    at = start
    for i, days in enumerate(stays):
        at += timedelta(days=days)
        if i + 1 < len(stays):
            deal_service.move_stage(session, deal.id, stages[order[i + 1]].id, now=at)
    if end == "won":
        deal_service.close_won(session, deal.id, now=at)
    else:
        deal_service.close_lost(session, deal.id, "no budget", now=at)


def build_history(session: Session, now: datetime) -> None:
    for n, stays in enumerate(WON_HISTORY, start=1):
        _history_deal(session, stays, "won", now, n)
    for n, stays in enumerate(LOST_HISTORY, start=1):
        _history_deal(session, stays, "lost", now, n)


def _day(now: datetime, offset: int | None) -> date | None:
    return None if offset is None else now.date() + timedelta(days=offset)


def build_case(session: Session, case: Case, now: datetime, n: int, owner: User) -> int:
    """One case's account (a decision maker and a user), deal, timeline, tasks and close-date history."""
    stages = _stages(session)
    account = Account(name=f"Scenario {n} Ltd", currency="USD", description=f"Scenario company {n}")
    session.add(account)
    session.flush()
    dm = Contact(account_id=account.id, first_name=f"Dana{n}", last_name="Decider", title="CEO",
                 buying_role=BuyingRole.decision_maker)
    user = Contact(account_id=account.id, first_name=f"Uma{n}", last_name="User", buying_role=BuyingRole.user)
    session.add_all([dm, user])
    session.flush()
    created = now - timedelta(days=case.created_days_ago)
    first_close = case.close_changes[0][0] if case.close_changes else case.close_in_days
    deal = deal_service.create_deal(session, name=f"Scenario deal {n}", amount=Decimal(1000 * n), account_id=account.id,
                                    owner_id=owner.id, expected_close_date=_day(now, first_close), now=created)
    session.get(Deal, deal.id).created_at = created  # type: ignore[union-attr]
    if case.stage != "Prospect":
        deal_service.move_stage(session, deal.id, stages[case.stage].id, now=now - timedelta(days=case.stage_days))
    for _old, new, days_ago in case.close_changes:
        deal_service.change_close_date(session, deal.id, _day(now, new), now=now - timedelta(days=days_ago))
    for days_ago, who in case.activities:
        contact = {"dm": dm.id, "user": user.id}.get(who)
        engagement.log_activity(session, kind=ActivityKind.call, subject=f"Call {days_ago} days ago",
                                occurred_at=now - timedelta(days=days_ago), deal_id=deal.id, contact_id=contact,
                                account_id=account.id)
    for in_days in case.scheduled_in_days:
        engagement.log_activity(session, kind=ActivityKind.meeting, subject="Booked meeting",
                                occurred_at=now + timedelta(days=in_days), deal_id=deal.id, account_id=account.id)
    for due_in, status in case.tasks:
        task = engagement.create_task(session, title="Follow up", deal_id=deal.id, assignee_id=owner.id,
                                      due_at=now + timedelta(days=due_in))
        if status == "done":
            task.status = TaskStatus.done
    session.flush()
    return deal.id


def build_all(session: Session, now: datetime, cases: list[Case] | None = None, *, start: int = 1,
              owner_email: str = "coach.rep@example.test") -> dict[int, Case]:
    """History (once per database) plus every case, numbered from `start`; deal id -> case."""
    owner = session.scalars(select(User).where(User.email == owner_email)).first()
    if owner is None:
        owner = User(email=owner_email, full_name="Riley Rep", role=Role.rep)
        session.add(owner)
        session.flush()
    if session.scalars(select(Deal.id).where(Deal.name.like("History %")).limit(1)).first() is None:
        build_history(session, now)
    return {build_case(session, case, now, n, owner): case
            for n, case in enumerate(cases if cases is not None else load_cases(), start=start)}
