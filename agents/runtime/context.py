"""What every node of an agent graph receives through LangGraph's context: the run and a session factory.

Sync nodes run on a thread pool, so a node opens its own short transaction with `ctx.transaction()` instead
of sharing a session across threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy.orm import Session, sessionmaker

from core.config import Settings
from core.db.engine import transaction
from core.errors import InvalidInput
from core.services.outputs import Origin


@dataclass(frozen=True)
class RunContext:
    run_id: int
    agent: str
    subject_type: str
    subject_id: int | None
    input_hash: str
    now: datetime
    session_factory: sessionmaker[Session]
    settings: Settings
    http_client: httpx.Client | None = None  # tests put a MockTransport here; None: the real HTTP client

    @property
    def origin(self) -> Origin:
        """Where this run's outputs come from (their idempotency keys derive from it)."""
        if self.subject_id is None:
            raise InvalidInput("subject_id", f"run {self.run_id} of {self.agent} has no subject to write outputs on")
        return Origin(self.run_id, self.agent, self.subject_type, self.subject_id, self.input_hash)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One committed unit of work for one node (rolled back if the node raises)."""
        with transaction(self.session_factory) as session:
            yield session
