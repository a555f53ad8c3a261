"""Checks that a record a write points at belongs to the same account (a ticket's contact, a contract's deal)."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.models import Contact, Deal

Ref = TypeVar("Ref", Contact, Deal)


def ensure_of_account(session: Session, model: type[Ref], object_id: int | None,
                      account_id: int) -> None:
    """Nothing to check for None; a missing id is 404, another account's is 422 naming `<noun>_id`."""
    if object_id is None:
        return
    noun = model.__tablename__.removesuffix("s")
    row = session.get(model, object_id)
    if row is None:
        raise NotFound(noun, object_id)
    if row.account_id != account_id:
        raise InvalidInput(f"{noun}_id", f"{noun} {object_id} is not a {noun} of account {account_id}")
