"""What flows through the Upsell and Expansion detector graphs."""

from __future__ import annotations

from typing import Any, TypedDict


class DetectorState(TypedDict, total=False):
    inputs: dict[str, Any]
    suggestion_id: int
