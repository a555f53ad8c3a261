"""What flows through the Quote Follow-up graph."""

from __future__ import annotations

from typing import Any, TypedDict


class FollowupState(TypedDict, total=False):
    inputs: dict[str, Any]
    task_id: int
    draft: dict[str, Any]
    review: dict[str, Any]
