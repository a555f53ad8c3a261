"""The default industry taxonomy and the size band rules, kept here so the labeler and its eval agree."""

from __future__ import annotations

from decimal import Decimal

from core.errors import InvalidInput
from core.models.enums import SizeBand

DEFAULT_SECTORS: tuple[str, ...] = (
    "Basic Materials", "Communication Services", "Consumer Cyclical", "Consumer Defensive", "Energy",
    "Financial Services", "Healthcare", "Industrials", "Real Estate", "Technology", "Utilities",
)

# Same cut points as the demo seed (core/seeding/accounts.py): below 200 people smb, below 2000 mid market.
EMPLOYEE_BANDS: tuple[tuple[int, SizeBand], ...] = ((200, SizeBand.smb), (2000, SizeBand.mid_market))
# Revenue is used only when the head count is unknown: below $50M smb, below $1B mid market.
REVENUE_BANDS: tuple[tuple[Decimal, SizeBand], ...] = (
    (Decimal(50_000_000), SizeBand.smb), (Decimal(1_000_000_000), SizeBand.mid_market))


def size_band(employees: int | None, annual_revenue: Decimal | float | int | None = None) -> SizeBand | None:
    """Head count decides; revenue only when employees are unknown; neither known -> no band."""
    if employees is not None:
        if employees < 0:
            raise InvalidInput("employees", f"must not be negative, got {employees}")
        return next((band for limit, band in EMPLOYEE_BANDS if employees < limit), SizeBand.enterprise)
    if annual_revenue is not None:
        revenue = Decimal(str(annual_revenue))
        if revenue < 0:
            raise InvalidInput("annual_revenue", f"must not be negative, got {annual_revenue}")
        return next((band for limit, band in REVENUE_BANDS if revenue < limit), SizeBand.enterprise)
    return None


def parse_count(text: str | None, field: str = "employees") -> int | None:
    """A head count as exported by spreadsheets ("21,500", "1.2e5", "" -> None)."""
    cleaned = (text or "").strip().replace(",", "").replace("_", "")
    if not cleaned:
        return None
    try:
        value = float(cleaned)
    except ValueError as exc:
        raise InvalidInput(field, f"{text!r} is not a number") from exc
    if value != value or value < 0:
        raise InvalidInput(field, f"{text!r} is not a non-negative number")
    return int(value)
