"""What flows through the renewals graphs."""

from __future__ import annotations

from typing import Any, TypedDict


class RenewalState(TypedDict, total=False):
    inputs: dict[str, Any]
    renewal: dict[str, Any]
    extended_to: str | None
