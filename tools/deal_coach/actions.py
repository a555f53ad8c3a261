"""The coach's next actions: the schema the model fills, its grounding validator, the deterministic fallback.

The model's answer is validated inside the schema (`grounded_schema`), so `core.llm.structured.extract` gives
it exactly one repair turn naming what was not grounded; a second failure means the fallback actions below,
built from the flags alone and marked as fallback.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, Field, model_validator

from core.llm.guards import GuardContext, check_text
from tools.deal_coach.flags import DealSnapshot, Flag
from tools.deal_coach.grounding import GroundingFacts, due_problem, problems

WORDS = re.compile(r"[^\W\d_]{2,}")


class NextAction(BaseModel):
    """One thing the rep should do on the deal, why, and by when."""

    action: str = Field(min_length=5, max_length=200, description="What the rep should do, one sentence.")
    why: str = Field(min_length=5, max_length=300, description="Why, citing only facts given about the deal.")
    due_date: date = Field(description="By when, as YYYY-MM-DD, from today to 30 days ahead.")


class NextActions(BaseModel):
    """One to three next actions for the rep on one deal, most important first."""

    actions: list[NextAction] = Field(min_length=1, max_length=3)


def grounded_schema(facts: GroundingFacts, guard: GuardContext | None = None) -> type[NextActions]:
    """NextActions whose validation also fails on anything not grounded in this deal's facts (and, with a
    guard, on text the guards reject: repetition loops, echoed instructions, injection markers)."""

    class DealNextActions(NextActions):
        """One to three next actions for the rep on one deal, most important first."""

        @model_validator(mode="after")
        def _grounded(self) -> DealNextActions:
            issues = grounding_issues(self, facts)
            if guard is not None:
                for i, item in enumerate(self.actions, start=1):
                    issues += [f"action {i}: {v.message}" for v in check_text(f"{item.action}. {item.why}", guard)]
            if issues:
                raise ValueError("; ".join(issues))
            return self

    DealNextActions.__name__ = "NextActions"
    return DealNextActions


def quality_issues(value: NextActions, facts: GroundingFacts) -> list[str]:
    """Advice that is grounded but empty: an action that is no sentence, repeated text, or a reason that names
    none of the deal's problems (a small model's typical failures)."""
    issues = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value.actions, start=1):
        if len(WORDS.findall(item.action)) < 2:
            issues.append(f"action {i}: {item.action!r} does not say what the rep should do in words")
        for text in (item.action, item.why):
            key = " ".join(WORDS.findall(text.lower()))
            if key in seen and seen[key] != i:
                issues.append(f"action {i}: repeats the text of action {seen[key]}")
            seen.setdefault(key, i)
        words = set(WORDS.findall(f"{item.action} {item.why}".lower()))
        if facts.topics and not words & facts.topics:
            issues.append(f"action {i}: the reason names none of the deal's problems")
    return issues


def grounding_issues(value: NextActions, facts: GroundingFacts) -> list[str]:
    issues = quality_issues(value, facts)
    for i, item in enumerate(value.actions, start=1):
        bad_due = due_problem(item.due_date, facts)
        if bad_due:
            issues.append(f"action {i}: {bad_due}")
        issues += [f"action {i}: {p}" for p in problems(f"{item.action}. {item.why}", facts, due=item.due_date)]
    return issues


def _contact(deal: DealSnapshot) -> str:
    if deal.decision_makers:
        return str(deal.decision_makers[0]["name"])
    if deal.account_decision_makers:
        return deal.account_decision_makers[0]
    return f"your contact at {deal.account_name}" if deal.account_name else "the customer"


def fallback_actions(deal: DealSnapshot, flags: list[Flag], today: date) -> NextActions:
    """One action per flag (at most three, in FLAGS order), worded from the deal's own facts."""
    e = {f.code: f.evidence for f in flags}
    actions: list[NextAction] = []
    if "no_activity" in e or "no_next_step" in e:
        idle = e.get("no_activity", {}).get("idle_days")
        why = (f"No activity on the deal for {idle} days and no next step planned." if idle is not None
               else "No open task or scheduled meeting is planned for this deal.")
        actions.append(NextAction(action=f"Call {_contact(deal)} and book the next meeting", why=why,
                                  due_date=today + timedelta(days=1)))
    if "close_date_past" in e or "close_date_pushed" in e:
        if "close_date_pushed" in e:
            why = f"The close date was moved later {e['close_date_pushed']['pushes']} times."
        else:
            why = f"The expected close date {e['close_date_past']['expected_close_date']} has passed."
        actions.append(NextAction(action="Confirm with the customer what still blocks the decision and set a "
                                         "realistic close date", why=why, due_date=today + timedelta(days=2)))
    if "stage_overdue" in e:
        ev = e["stage_overdue"]
        actions.append(NextAction(action=f"Agree with the customer the step that moves the deal out of {deal.stage}",
                                  why=f"It has been in {deal.stage} for {ev['days_in_stage']} days; won deals "
                                      f"usually leave it within {ev['norm_days']:.0f} days.",
                                  due_date=today + timedelta(days=3)))
    if "no_decision_maker" in e:
        known = e["no_decision_maker"]["account_decision_makers"]
        who = known[0] if known else "the person who signs off the purchase"
        actions.append(NextAction(action=f"Ask to bring {who} into the next conversation",
                                  why="No activity with a decision maker is logged on this deal.",
                                  due_date=today + timedelta(days=3)))
    if not actions:
        actions.append(NextAction(action="Review the deal and plan the next step", why="The deal was flagged.",
                                  due_date=today + timedelta(days=2)))
    return NextActions(actions=actions[:3])


def render(value: NextActions) -> str:
    """The suggestion's body: one numbered line per action."""
    return "\n".join(f"{i}. {a.action} (by {a.due_date.isoformat()}). Why: {a.why}"
                     for i, a in enumerate(value.actions, start=1))


def as_evidence(value: NextActions) -> list[dict[str, Any]]:
    return [a.model_dump(mode="json") for a in value.actions]
