"""What flows through the Auto-Labeler graph."""

from __future__ import annotations

from typing import Any, TypedDict


class LabelerState(TypedDict, total=False):
    inputs: dict[str, Any]
    account_labels: dict[str, Any]
    contact_labels: dict[str, Any]
    kept: list[str]
    notes: list[str]
