"""Which failures of a run are worth another try: the database connection went away under it.

A failover, a PgBouncer restart or `pg_terminate_backend` cuts the worker's pooled connection and the LangGraph
checkpointer's; the next try gets fresh ones (pre-ping, a new saver) and continues from the last checkpoint. Any
other error (a bug, bad data, a refused write) would fail the same way again, so it fails the run at once.
Lock conflicts (serialization failures, deadlocks) are transient too: PostgreSQL asks the client to retry them.
"""

from __future__ import annotations

import psycopg
from sqlalchemy import exc as sa_exc

_MAX_CHAIN = 8  # how far along __cause__ / __context__ to look (LangGraph and SQLAlchemy wrap driver errors)


def is_transient(error: BaseException) -> bool:
    """True when the error, or one it was raised from, is a lost connection or a conflict PostgreSQL says to
    retry. `psycopg.OperationalError` covers both (connection lost, `SerializationFailure`, `DeadlockDetected`)."""
    seen: BaseException | None = error
    for _ in range(_MAX_CHAIN):
        if seen is None:
            return False
        if isinstance(seen, sa_exc.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, (sa_exc.OperationalError, psycopg.OperationalError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def retry_delay(settings_delay_s: float, attempt: int) -> float:
    """The wait before try `attempt + 1`: the configured delay, doubled per earlier retry."""
    return settings_delay_s * 2 ** max(0, attempt - 1)
