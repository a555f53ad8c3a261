"""What flows through the NPS Follow-up and survey graphs."""

from __future__ import annotations

from typing import Any, TypedDict


class FollowupState(TypedDict, total=False):
    inputs: dict[str, Any]
    task_id: int
    draft: dict[str, Any]
    review: dict[str, Any]


class SurveyState(TypedDict, total=False):
    inputs: dict[str, Any]
    surveys: list[dict[str, Any]]
