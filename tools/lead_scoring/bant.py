"""BANT signals (budget, authority, need, timeline) from a lead's notes and emails, read by the model.

The text reaches the model only fenced as data (prompts/lead_scorer/bant.md.j2). The answer is validated
against bounded fields; its numeric and categorical parts become the lead's bant_* columns, which the scoring
model uses as features. Columns a person filled in are never overwritten.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

Timeline = Literal["now", "this_quarter", "this_year", "later", "unknown"]
COLUMNS = ("bant_budget", "bant_authority", "bant_need", "bant_timeline")


class BantSignals(BaseModel):
    """What the lead's own words say about budget, authority, need and timeline; empty when they say nothing."""

    budget: str = Field(default="", max_length=160, description="What the text says about budget; empty if nothing.")
    budget_amount: float | None = Field(default=None, ge=0, le=1e11,
                                        description="The budget as a plain number if one is stated, else null.")
    authority: str = Field(default="", max_length=160, description="Who decides the purchase; empty if unknown.")
    decision_maker: bool | None = Field(default=None, description="true if the writer decides the purchase, false if "
                                                                 "someone else does, null if unknown.")
    need: str = Field(default="", max_length=300, description="The problem they want solved; empty if unknown.")
    timeline: Timeline = Field(default="unknown", description="When they intend to buy.")


def source_hash(texts: Sequence[tuple[int, str]]) -> str:
    """The (activity id, text) pairs the signals come from: unchanged texts are never read twice."""
    return hashlib.sha256(json.dumps(sorted(texts), ensure_ascii=False).encode()).hexdigest()[:16]


def note_texts(texts: Sequence[tuple[int, str]]) -> list[str]:
    return [text for _, text in texts]


def column_values(signals: BantSignals) -> dict[str, Any]:
    """The lead columns these signals fill (only what the text actually said)."""
    values: dict[str, Any] = {}
    if signals.budget_amount is not None:
        values["bant_budget"] = Decimal(str(round(signals.budget_amount, 2)))
    if signals.decision_maker is not None:
        values["bant_authority"] = signals.decision_maker
    if signals.need.strip():
        values["bant_need"] = signals.need.strip()
    if signals.timeline != "unknown":
        values["bant_timeline"] = signals.timeline
    return values


def writable(values: dict[str, Any], current: dict[str, Any], owned: Sequence[str]) -> dict[str, Any]:
    """Fill empty columns and the ones this agent wrote before; a value a person set stays."""
    return {name: value for name, value in values.items() if current.get(name) is None or name in owned}
