"""Cell parsing for CSV imports: each parser returns a typed value or raises ValueError with the reason."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from typing import Any

from core.models.enums import CustomFieldType

TRUE_WORDS = frozenset({"yes", "y", "true", "t", "1"})
FALSE_WORDS = frozenset({"no", "n", "false", "f", "0"})
INFER_BOOL_WORDS = frozenset({"yes", "no", "true", "false"})  # 0/1 columns stay numbers when inferred
NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
GROUPED_RE = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MONEY_LIMIT = Decimal(10) ** 12  # Numeric(14, 2)

# Everyday names that ISO 3166 spells differently or leaves ambiguous ("Korea" is two countries).
COUNTRY_ALIASES = {
    "korea": "KR", "south korea": "KR", "north korea": "KP", "uk": "GB", "great britain": "GB",
    "england": "GB", "scotland": "GB", "wales": "GB", "usa": "US", "america": "US", "turkey": "TR",
    "russia": "RU", "vietnam": "VN", "iran": "IR", "syria": "SY", "laos": "LA", "bolivia": "BO",
    "venezuela": "VE", "tanzania": "TZ", "moldova": "MD", "holland": "NL", "uae": "AE",
    "czechia": "CZ", "ivory coast": "CI", "macedonia": "MK", "swaziland": "SZ", "burma": "MM",
}


def clean(raw: str, null_values: frozenset[str]) -> str | None:
    """Trimmed cell text, or None when blank or one of the file's null tokens (e.g. "Select")."""
    value = raw.strip()
    if not value or value.lower() in null_values:
        return None
    return value


def custom_key(column: str) -> str:
    """A header as a snake_case JSONB key: "TotalVisits" -> total_visits, "Do Not Email" -> do_not_email."""
    ascii_text = unicodedata.normalize("NFKD", column).encode("ascii", "ignore").decode()
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", ascii_text)
    key = re.sub(r"[^0-9a-zA-Z]+", "_", spaced).strip("_").lower()[:120].rstrip("_")
    if not key:
        return ""
    return f"c_{key}"[:120] if key[0].isdigit() else key


def parse_text(value: str, max_len: int | None) -> str:
    if max_len is not None and len(value) > max_len:
        raise ValueError(f"is {len(value)} characters long; at most {max_len} fit")
    return value


def parse_email(value: str) -> str:
    if not EMAIL_RE.match(value) or len(value) > 254:
        raise ValueError(f"{value!r} is not an email address")
    return value


def _number_text(value: str) -> str:
    text = value.replace(" ", "")
    return text.replace(",", "") if GROUPED_RE.match(text) else text


def parse_int(value: str, minimum: int | None = None, maximum: int | None = None) -> int:
    text = _number_text(value)
    if not NUMBER_RE.match(text):
        raise ValueError(f"{value!r} is not a whole number")
    number = Decimal(text)
    if number != number.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    result = int(number)
    if minimum is not None and result < minimum:
        raise ValueError(f"{result} is below the minimum {minimum}")
    if maximum is not None and result > maximum:
        raise ValueError(f"{result} is above the maximum {maximum}")
    return result


def parse_decimal(value: str, minimum: Decimal | None = None) -> Decimal:
    text = _number_text(value)
    if not NUMBER_RE.match(text):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not a number") from exc
    if abs(number) >= MONEY_LIMIT:
        raise ValueError(f"{value!r} is too large (at most 12 digits before the point)")
    if minimum is not None and number < minimum:
        raise ValueError(f"{value!r} must not be below {minimum}")
    return number.quantize(Decimal("0.01"))


def parse_bool(value: str) -> bool:
    word = value.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{value!r} is not yes/no, true/false or 1/0")


def parse_date(value: str, date_format: str | None = None) -> date:
    try:
        if date_format:
            return datetime.strptime(value, date_format).date()
        if len(value) > 10:
            return datetime.fromisoformat(value).date()
        return date.fromisoformat(value)
    except ValueError as exc:
        expected = date_format or "YYYY-MM-DD"
        raise ValueError(f"{value!r} is not a date ({expected})") from exc


def parse_datetime(value: str, date_format: str | None = None) -> datetime:
    """Dates become midnight UTC; times without a zone are taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = datetime.combine(parse_date(value, date_format), datetime.min.time())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_enum(value: str, enum_cls: type[StrEnum]) -> StrEnum:
    """Case-insensitive, and "Web Form" or "web-form" both mean web_form."""
    wanted = re.sub(r"[\s\-]+", "_", value.strip().lower())
    for member in enum_cls:
        if wanted in (member.value.lower(), member.name.lower()):
            return member
    allowed = ", ".join(m.value for m in enum_cls)
    raise ValueError(f"{value!r} is not one of: {allowed}")


def parse_currency(value: str) -> str:
    code = value.upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError(f"{value!r} is not a 3-letter currency code")
    return code


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    import pycountry

    names: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            name = getattr(country, attr, None)
            if name:
                names[name.lower()] = country.alpha_2
    return names


@lru_cache(maxsize=4096)
def parse_country(value: str) -> str:
    """ISO 3166 alpha-2 from a code or a name, tolerant of typos ("Philipines") but never of ambiguity."""
    import pycountry

    text = " ".join(value.split())
    lowered = text.lower()
    if lowered in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[lowered]
    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        pass
    names = _country_names()
    close = difflib.get_close_matches(lowered, list(names), n=3, cutoff=0.85)
    codes = {names[c] for c in close}
    if len(codes) == 1:
        return codes.pop()
    try:
        found = {c.alpha_2 for c in pycountry.countries.search_fuzzy(text)}
    except LookupError:
        found = set()
    if len(found) == 1:
        return str(found.pop())
    if found or codes:
        options = ", ".join(sorted(found | codes))
        raise ValueError(f"{value!r} is ambiguous ({options}); use the ISO code")
    raise ValueError(f"{value!r} is not a known country")


def infer_custom_type(values: Iterable[str]) -> CustomFieldType | None:
    """The narrowest type every non-empty value of a column fits; None for a column with no values."""
    seen = False
    could_bool = could_number = could_date = True
    for value in values:
        seen = True
        could_bool = could_bool and value.lower() in INFER_BOOL_WORDS
        could_number = could_number and _is_plain_number(value)
        could_date = could_date and bool(ISO_DATE_RE.match(value)) and _is_date(value)
        if not (could_bool or could_number or could_date):
            return CustomFieldType.text
    if not seen:
        return None
    if could_bool:
        return CustomFieldType.boolean
    if could_number:
        return CustomFieldType.number
    return CustomFieldType.date if could_date else CustomFieldType.text


def _is_plain_number(value: str) -> bool:
    """Numbers with leading zeros ("02134") are codes, not quantities: they stay text."""
    if not NUMBER_RE.match(value):
        return False
    digits = value.lstrip("+-")
    return not (len(digits) > 1 and digits[0] == "0" and digits[1] != ".")


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def custom_parser(data_type: CustomFieldType) -> Callable[[str], Any]:
    """JSON-ready value for a custom field of that type (numbers stay JSON numbers, dates ISO strings)."""
    if data_type is CustomFieldType.boolean:
        return parse_bool
    if data_type is CustomFieldType.number:
        return _json_number
    if data_type is CustomFieldType.date:
        return lambda v: parse_date(v).isoformat()
    return lambda v: v


def _json_number(value: str) -> int | float:
    text = _number_text(value)
    if not NUMBER_RE.match(text):
        raise ValueError(f"{value!r} is not a number")
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    return float(text)
