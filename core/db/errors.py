"""Turn database refusals into one readable sentence naming the table, constraint and offending values."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError


def describe(exc: DBAPIError) -> str:
    diag = getattr(exc.orig, "diag", None)
    if isinstance(exc, IntegrityError) and diag is not None:
        parts = [f"table {diag.table_name}" if diag.table_name else "",
                 f"column {diag.column_name}" if diag.column_name else "",
                 f"constraint {diag.constraint_name}" if diag.constraint_name else ""]
        where = ", ".join(p for p in parts if p)
        detail = diag.message_detail or diag.message_primary or str(exc.orig)
        return f"the database refused the change ({where}): {detail}"
    if isinstance(exc, OperationalError):
        return f"the database is unreachable: {str(exc.orig).strip().splitlines()[0]}"
    first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    return f"database error: {first}"
