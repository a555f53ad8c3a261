"""Errors a user can act on: each names the field or row at fault; entry points turn them into messages."""

from __future__ import annotations


class CrmError(Exception):
    """Base for expected failures: shown to the user as a message, never as a stack trace."""


class NotFound(CrmError):
    def __init__(self, entity: str, key: object) -> None:
        super().__init__(f"{entity} {key!r} not found")
        self.entity, self.key = entity, key


class InvalidInput(CrmError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class Conflict(CrmError):
    """A state transition that the current state forbids (e.g. converting a lead twice); `field`, when given,
    names the input that ran into the state (e.g. a payment's amount on a paid invoice)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
