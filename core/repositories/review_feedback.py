"""SQL for reviewer feedback: one row per reviewed draft, searched by cosine distance of its situation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.models import ReviewFeedback
from core.repositories.embeddings import tune_search


def insert_once(session: Session, **fields: Any) -> tuple[ReviewFeedback, bool]:
    """(row, created): a draft gets one feedback row however often its decision is applied."""
    stmt = (insert(ReviewFeedback).values(**fields).on_conflict_do_nothing(index_elements=["draft_id"])
            .returning(ReviewFeedback.id))
    new_id = session.execute(stmt).scalar()
    row = session.get(ReviewFeedback, new_id) if new_id is not None else by_draft(session, fields["draft_id"])
    assert row is not None
    return row, new_id is not None


def by_draft(session: Session, draft_id: int) -> ReviewFeedback | None:
    return session.scalars(select(ReviewFeedback).where(ReviewFeedback.draft_id == draft_id)).first()


def nearest(session: Session, agent: str, vector: Sequence[float], model: str, kinds: Sequence[str],
            k: int) -> list[tuple[ReviewFeedback, float]]:
    """The k feedback rows of `agent` closest to `vector`, embedded by the same model, nearest first."""
    distance = ReviewFeedback.embedding.cosine_distance(list(vector))
    stmt = (select(ReviewFeedback, distance.label("distance"))
            .where(ReviewFeedback.agent == agent, ReviewFeedback.model == model,
                   ReviewFeedback.kind.in_(tuple(kinds)))
            .order_by(distance, ReviewFeedback.id.desc()).limit(k))
    tune_search(session, k)
    return [(row, float(dist)) for row, dist in session.execute(stmt).all()]
