"""What flows through the Deal Coach graphs."""

from __future__ import annotations

from typing import Any, TypedDict


class CoachState(TypedDict, total=False):
    inputs: dict[str, Any]
    advice: dict[str, Any]
    written: dict[str, Any]


class DigestState(TypedDict, total=False):
    inputs: dict[str, Any]
    suggestion_id: int
