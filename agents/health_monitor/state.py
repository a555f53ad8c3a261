"""What flows through the Health Monitor graph."""

from __future__ import annotations

from typing import Any, TypedDict


class HealthState(TypedDict, total=False):
    inputs: dict[str, Any]
    scored: dict[str, Any]
    summary: dict[str, Any]
    task_id: int
