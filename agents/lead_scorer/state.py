"""What flows through the Lead Scorer graph."""

from __future__ import annotations

from typing import Any, TypedDict


class ScorerState(TypedDict, total=False):
    inputs: dict[str, Any]
    model: str | None
    score: int
    band: str
    factors: dict[str, Any]
    skipped: str
    routing: dict[str, Any]
    features: dict[str, Any]
    bant: dict[str, Any]
    suggestion_id: int
