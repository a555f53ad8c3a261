"""SQL for prompt versions, their labels and the label history (used by prompts.registry)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, aliased

from core.models import PromptLabel, PromptLabelEvent, PromptVersion


def add_version(session: Session, **fields: Any) -> PromptVersion:
    row = PromptVersion(**fields)
    session.add(row)
    session.flush()
    return row


def get_version(session: Session, prompt_id: str, version: int) -> PromptVersion | None:
    return session.scalars(select(PromptVersion).where(PromptVersion.prompt_id == prompt_id,
                                                       PromptVersion.version == version)).one_or_none()


def version_by_id(session: Session, version_id: int) -> PromptVersion:
    return session.get_one(PromptVersion, version_id)


def version_by_hash(session: Session, prompt_id: str, content_hash: str) -> PromptVersion | None:
    return session.scalars(select(PromptVersion).where(PromptVersion.prompt_id == prompt_id,
                                                       PromptVersion.content_hash == content_hash)).one_or_none()


def max_version(session: Session, prompt_id: str) -> int:
    """0 when the prompt is unknown."""
    stmt = select(func.coalesce(func.max(PromptVersion.version), 0)).where(PromptVersion.prompt_id == prompt_id)
    return int(session.scalar(stmt) or 0)


def versions(session: Session, prompt_id: str) -> Sequence[PromptVersion]:
    return session.scalars(select(PromptVersion).where(PromptVersion.prompt_id == prompt_id)
                           .order_by(PromptVersion.version)).all()


def get_label(session: Session, prompt_id: str, label: str) -> PromptLabel | None:
    return session.get(PromptLabel, (prompt_id, label))


def labelled_version(session: Session, prompt_id: str, label: str) -> PromptVersion | None:
    stmt = (select(PromptVersion).join(PromptLabel, PromptLabel.version_id == PromptVersion.id)
            .where(PromptLabel.prompt_id == prompt_id, PromptLabel.label == label))
    return session.scalars(stmt).one_or_none()


def set_label(session: Session, prompt_id: str, label: str, version_id: int, actor: str) -> PromptLabel:
    row = get_label(session, prompt_id, label)
    if row is None:
        row = PromptLabel(prompt_id=prompt_id, label=label, version_id=version_id, updated_by=actor)
        session.add(row)
    else:
        row.version_id, row.updated_by = version_id, actor
    session.flush()
    return row


def delete_label(session: Session, prompt_id: str, label: str) -> None:
    session.execute(delete(PromptLabel).where(PromptLabel.prompt_id == prompt_id, PromptLabel.label == label))
    session.expire_all()


def add_label_event(session: Session, **fields: Any) -> PromptLabelEvent:
    row = PromptLabelEvent(**fields)
    session.add(row)
    session.flush()
    return row


def label_events(session: Session, prompt_id: str, label: str) -> Sequence[PromptLabelEvent]:
    """Oldest first."""
    return session.scalars(select(PromptLabelEvent).where(PromptLabelEvent.prompt_id == prompt_id,
                                                          PromptLabelEvent.label == label)
                           .order_by(PromptLabelEvent.id)).all()


@dataclass(frozen=True)
class PromptSummary:
    prompt_id: str
    latest: int
    production: int | None
    staging: int | None
    purpose: str
    description: str


def summaries(session: Session) -> list[PromptSummary]:
    """One row per prompt: latest version and the versions its labels point at, in one query."""
    prod, stag = aliased(PromptLabel), aliased(PromptLabel)
    prod_v, stag_v = aliased(PromptVersion), aliased(PromptVersion)
    latest = (select(PromptVersion.prompt_id, func.max(PromptVersion.version).label("latest"))
              .group_by(PromptVersion.prompt_id).subquery())
    stmt = (select(latest.c.prompt_id, latest.c.latest, prod_v.version, stag_v.version, PromptVersion.purpose,
                   PromptVersion.description)
            .join(PromptVersion, (PromptVersion.prompt_id == latest.c.prompt_id)
                  & (PromptVersion.version == latest.c.latest))
            .outerjoin(prod, (prod.prompt_id == latest.c.prompt_id) & (prod.label == "production"))
            .outerjoin(prod_v, prod_v.id == prod.version_id)
            .outerjoin(stag, (stag.prompt_id == latest.c.prompt_id) & (stag.label == "staging"))
            .outerjoin(stag_v, stag_v.id == stag.version_id)
            .order_by(latest.c.prompt_id))
    return [PromptSummary(r[0], r[1], r[2], r[3], r[4], r[5] or "") for r in session.execute(stmt)]
