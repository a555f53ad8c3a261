"""What flows through the Payment Reminders graph."""

from __future__ import annotations

from typing import Any, TypedDict


class ReminderState(TypedDict, total=False):
    inputs: dict[str, Any]
    task_id: int
    review: dict[str, Any]
