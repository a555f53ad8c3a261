"""Where labels live: `custom_fields["auto_labels"]` of the account or contact, one entry per label.

Shape: `{"auto_labels": {"industry": {"value": "Utilities", "confidence": 0.82, "source": "embedding",
"run_id": 12, "at": "2026-11-26T06:00:00+00:00"}, ...}}`; source is rules, embedding, model or person.
Labels with a CRM column (account.industry, account.size_band, contact.buying_role) are also written there.
A label belongs to a person when its entry says source "person", or when the column holds a value the labeler
did not write (someone typed it): such labels are never overwritten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tools.auto_labeler.rules import Label

KEY = "auto_labels"
PERSON = "person"


def stored_labels(custom_fields: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    labels = (custom_fields or {}).get(KEY)
    return dict(labels) if isinstance(labels, dict) else {}


def set_by_person(stored: dict[str, Any] | None, column_value: str | None) -> bool:
    """A person owns the label: marked so, or the column differs from what the labeler last wrote."""
    if stored is not None and stored.get("source") == PERSON:
        return True
    if column_value is None:
        return False
    return stored is None or stored.get("value") != column_value


def merge(custom_fields: dict[str, Any] | None, columns: dict[str, str | None], proposed: dict[str, Label],
          run_id: int | None, at: datetime) -> tuple[dict[str, Any], dict[str, str]]:
    """New custom_fields and column updates for the labels the labeler may write; unchanged values are kept.

    `columns` maps label names that have a CRM column to that column's current value.
    """
    fields = dict(custom_fields or {})
    labels = stored_labels(fields)
    updates: dict[str, str] = {}
    for name, label in proposed.items():
        stored = labels.get(name)
        if set_by_person(stored, columns.get(name)):
            if stored is None:
                labels[name] = {"value": columns[name], "confidence": 1.0, "source": PERSON, "run_id": None,
                                "at": at.isoformat()}
            continue
        if stored is not None and stored.get("value") == label.value and stored.get("source") == label.source:
            continue
        labels[name] = {"value": label.value, "confidence": round(label.confidence, 4), "source": label.source,
                        "run_id": run_id, "at": at.isoformat()}
        if name in columns and columns[name] != label.value:
            updates[name] = label.value
    fields[KEY] = labels
    return fields, updates
