"""Stall flags: pure rules over one deal's snapshot, each flag with the evidence a rep can check.

- `stage_overdue`: longer in the current stage than its norm (norms.py).
- `no_activity`: no activity on the deal for `no_activity_days` (counting from its creation if it has none).
- `close_date_past`: the expected close date is before today.
- `no_next_step`: no open task due from now on (the coach's own tasks do not count) and no scheduled activity.
- `close_date_pushed`: the expected close date was moved later at least `push_threshold` times.
- `no_decision_maker`: from stage position `decision_maker_from_position` on, no activity with a contact whose
  buying role is decision maker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tools.deal_coach.norms import StageNorm

FLAGS = ("stage_overdue", "no_activity", "close_date_past", "no_next_step", "close_date_pushed",
         "no_decision_maker")


# Words that name each flag's problem: advice whose text names none of its deal's problems is off the point.
TOPICS: dict[str, frozenset[str]] = {
    "stage_overdue": frozenset({"stage", "stuck", "stalled", "long", "days", "weeks", "move", "moves", "advance"}),
    "no_activity": frozenset({"activity", "activities", "contact", "contacted", "quiet", "silent", "silence",
                              "touch", "days", "weeks", "call", "email", "meeting", "talked", "heard"}),
    "close_date_past": frozenset({"close", "closing", "date", "passed", "overdue", "late", "slipped"}),
    "no_next_step": frozenset({"next", "step", "planned", "plan", "task", "scheduled", "meeting", "booked"}),
    "close_date_pushed": frozenset({"close", "closing", "date", "pushed", "moved", "delayed", "slipped",
                                    "postponed", "later"}),
    "no_decision_maker": frozenset({"decision", "decides", "maker", "buyer", "sign", "signs", "approver",
                                    "approve", "budget", "owner", "executive"}),
}


@dataclass(frozen=True)
class Thresholds:
    no_activity_days: int = 14
    push_threshold: int = 2
    decision_maker_from_position: int = 2


@dataclass(frozen=True)
class DealSnapshot:
    """What the rules read about one open deal (loaded by tools.deal_coach.facts)."""

    deal_id: int
    name: str
    account_id: int | None
    account_name: str | None
    owner_id: int | None
    owner_name: str | None
    pipeline_id: int
    stage_id: int
    stage: str
    stage_position: int
    win_probability: Decimal
    amount: Decimal
    currency: str
    stage_entered_at: datetime
    created_at: datetime
    expected_close_date: date | None
    last_activity_id: int | None = None
    last_activity_at: datetime | None = None
    activities: int = 0
    next_steps: list[dict[str, Any]] = field(default_factory=list)
    decision_makers: list[dict[str, Any]] = field(default_factory=list)  # engaged: name, last, activities
    account_decision_makers: list[str] = field(default_factory=list)  # names with that role on the account
    close_date_changes: list[dict[str, Any]] = field(default_factory=list)  # from, to, at

    def facts(self) -> dict[str, Any]:
        """The deal's facts that do not move with the clock: their change is what re-coaches a deal."""
        return {"deal_id": self.deal_id, "stage_id": self.stage_id, "amount": str(self.amount),
                "currency": self.currency, "owner_id": self.owner_id,
                "expected_close_date": self.expected_close_date, "last_activity_id": self.last_activity_id,
                "next_steps": sorted(f"{s['kind']}:{s['id']}" for s in self.next_steps),
                "decision_makers": sorted(d["contact_id"] for d in self.decision_makers),
                "close_date_changes": len(self.close_date_changes)}


@dataclass(frozen=True)
class Flag:
    code: str
    message: str
    evidence: dict[str, Any]


def _day(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def pushes(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The changes that moved a set close date later (clearing or setting a first date is no push)."""
    found = []
    for change in changes:
        old, new = change.get("from"), change.get("to")
        if old and new and date.fromisoformat(str(new)) > date.fromisoformat(str(old)):
            found.append(change)
    return found


def detect(deal: DealSnapshot, norm: StageNorm, now: datetime, thresholds: Thresholds) -> list[Flag]:
    """Every flag that applies to the deal now, in FLAGS order, with its evidence."""
    today = now.date()
    flags: list[Flag] = []
    days_in_stage = (now - deal.stage_entered_at).days
    if norm.days is not None and days_in_stage > norm.days:
        flags.append(Flag("stage_overdue", f"{days_in_stage} days in {deal.stage}; norm {norm.describe()}",
                          {"stage": deal.stage, "entered": _day(deal.stage_entered_at).isoformat(),
                           "days_in_stage": days_in_stage, "norm_days": norm.days, "norm_source": norm.source,
                           "won_samples": norm.samples}))
    since = deal.last_activity_at or deal.created_at
    idle = (now - since).days
    if idle >= thresholds.no_activity_days:
        if deal.last_activity_at is not None:
            message = f"no activity for {idle} days (last on {_day(since).isoformat()})"
        else:
            message = f"no activity at all since the deal was created on {_day(since).isoformat()} ({idle} days)"
        flags.append(Flag("no_activity", message,
                          {"last_activity": _day(deal.last_activity_at).isoformat() if deal.last_activity_at
                           else None, "created": _day(deal.created_at).isoformat(), "idle_days": idle,
                           "threshold_days": thresholds.no_activity_days, "activities": deal.activities}))
    if deal.expected_close_date is not None and deal.expected_close_date < today:
        late = (today - deal.expected_close_date).days
        flags.append(Flag("close_date_past",
                          f"expected close date {deal.expected_close_date.isoformat()} passed {late} days ago",
                          {"expected_close_date": deal.expected_close_date.isoformat(), "days_past": late}))
    if not deal.next_steps:
        flags.append(Flag("no_next_step", "no open task or scheduled activity ahead",
                          {"open_future_tasks": 0, "scheduled_activities": 0,
                           "last_activity": _day(deal.last_activity_at).isoformat() if deal.last_activity_at
                           else None}))
    pushed = pushes(deal.close_date_changes)
    if len(pushed) >= thresholds.push_threshold:
        first, last = date.fromisoformat(str(pushed[0]["from"])), date.fromisoformat(str(pushed[-1]["to"]))
        flags.append(Flag("close_date_pushed",
                          f"close date moved later {len(pushed)} times, from {first.isoformat()} to "
                          f"{last.isoformat()}",
                          {"pushes": len(pushed), "days_pushed": (last - first).days,
                           "changes": [{"from": str(c["from"]), "to": str(c["to"]), "on": _day(c["at"]).isoformat()}
                                       for c in pushed]}))
    if deal.stage_position >= thresholds.decision_maker_from_position and not deal.decision_makers:
        known = deal.account_decision_makers
        message = ("no activity with a decision maker" + (f" ({', '.join(known)} on the account not engaged)"
                                                          if known else " (none known on the account)"))
        flags.append(Flag("no_decision_maker", message,
                          {"activities": deal.activities, "account_decision_makers": known}))
    return flags
