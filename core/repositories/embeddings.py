"""SQL for text embeddings: which CRM texts need (re-)embedding, upserts, orphan removal, nearest neighbours.

Each source has one partial HNSW index (`WHERE source = '<source>'`). PostgreSQL only uses a partial index
when it can prove the predicate at plan time, so every query here writes the source as an inline literal,
never as a bound parameter: psycopg prepares a statement after five runs, and PostgreSQL may then switch to a
generic plan that cannot see the value (a full scan and sort of every vector). The search LIMIT is inlined
for the same reason: HNSW is only chosen for a known, small LIMIT.

Content hashes are sha256 of the UTF-8 text, computed by PostgreSQL for CRM texts (so unchanged rows are
skipped without shipping their text) and by `content_hash()` in Python for texts handed in directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, delete, exists, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.models import Account, Activity, Contact, Deal, NpsResponse, TextEmbedding
from core.models.enums import ActivityKind
from core.models.llm import EMBEDDING_SOURCES

# Sources whose texts live in CRM tables; `reply` (approved replies) is written by its own flow.
CRM_SOURCES = ("account_description", "activity_note", "nps_comment")
ACTIVITY_KINDS = (ActivityKind.note, ActivityKind.email, ActivityKind.call)
MAX_K = 1000
HNSW_EF_SEARCH_DEFAULT = 40


@dataclass(frozen=True)
class SourceText:
    entity_id: int
    account_id: int | None
    text: str
    content_hash: str


@dataclass(frozen=True)
class EmbeddingRow:
    entity_id: int
    account_id: int | None
    content_hash: str
    vector: list[float]


@dataclass(frozen=True)
class Neighbour:
    entity_id: int
    account_id: int | None
    distance: float


def content_hash(text: str) -> str:
    """Same value as the SQL `_sql_hash` so texts hashed in either place compare equal."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sql_hash(column: ColumnElement[str]) -> ColumnElement[str]:
    return func.encode(func.sha256(func.convert_to(column, "UTF8")), "hex")


def check_source(source: str, *, crm_only: bool = False) -> str:
    if source not in EMBEDDING_SOURCES:
        raise InvalidInput("source", f"unknown source {source!r}; expected one of {', '.join(EMBEDDING_SOURCES)}")
    if crm_only and source not in CRM_SOURCES:
        raise InvalidInput("source", f"{source!r} texts are written by their own flow, not read from the CRM; "
                                     f"expected one of {', '.join(CRM_SOURCES)}")
    return source


def _source_literal(source: str) -> ColumnElement[str]:
    """The source rendered inline (see module docstring), after checking it is a known source."""
    return literal(check_source(source), literal_execute=True)


def _source_texts(source: str) -> Select[*tuple[Any, ...]]:
    """(entity_id, account_id, text) of every non-blank text of one CRM source."""
    check_source(source, crm_only=True)
    if source == "account_description":
        return (select(Account.id.label("entity_id"), Account.id.label("account_id"),
                       Account.description.label("text"))
                .where(func.btrim(Account.description) != ""))
    if source == "activity_note":
        return (select(Activity.id.label("entity_id"),
                       func.coalesce(Activity.account_id, Deal.account_id, Contact.account_id).label("account_id"),
                       Activity.body.label("text"))
                .outerjoin(Deal, Deal.id == Activity.deal_id)
                .outerjoin(Contact, Contact.id == Activity.contact_id)
                .where(Activity.kind.in_(ACTIVITY_KINDS), func.btrim(Activity.body) != ""))
    return (select(NpsResponse.id.label("entity_id"), NpsResponse.account_id.label("account_id"),
                   NpsResponse.comment.label("text"))
            .where(func.btrim(NpsResponse.comment) != ""))


def count_texts(session: Session, source: str) -> int:
    texts = _source_texts(source).subquery()
    return session.scalar(select(func.count()).select_from(texts)) or 0


def pending_ids(session: Session, source: str, model: str) -> list[int]:
    """Ids of texts never embedded, changed since (hash differs), or embedded by another model."""
    texts = _source_texts(source).subquery()
    te = TextEmbedding
    stmt = (select(texts.c.entity_id)
            .outerjoin(te, and_(te.source == _source_literal(source), te.entity_id == texts.c.entity_id))
            .where(or_(te.id.is_(None), te.content_hash != _sql_hash(texts.c.text), te.model != model))
            .order_by(texts.c.entity_id))
    return list(session.scalars(stmt))


def texts_for(session: Session, source: str, entity_ids: Sequence[int]) -> list[SourceText]:
    """The current text and hash of the given entities (blank or deleted ones are simply absent)."""
    if not entity_ids:
        return []
    texts = _source_texts(source).subquery()
    stmt = (select(texts.c.entity_id, texts.c.account_id, texts.c.text, _sql_hash(texts.c.text))
            .where(texts.c.entity_id.in_(list(entity_ids)))
            .order_by(texts.c.entity_id))
    return [SourceText(*row) for row in session.execute(stmt)]


def stored_hashes(session: Session, source: str, entity_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """entity_id -> (content_hash, model) of what is stored, for callers that hash their own texts."""
    if not entity_ids:
        return {}
    te = TextEmbedding
    stmt = select(te.entity_id, te.content_hash, te.model).where(
        te.source == _source_literal(source), te.entity_id.in_(list(entity_ids)))
    return {entity_id: (digest, model) for entity_id, digest, model in session.execute(stmt)}


def upsert(session: Session, source: str, model: str, rows: Sequence[EmbeddingRow]) -> int:
    """Insert or replace one vector per (source, entity); works for every source, `reply` included."""
    if not rows:
        return 0
    check_source(source)
    stmt = insert(TextEmbedding).values([
        {"source": source, "entity_id": r.entity_id, "account_id": r.account_id, "content_hash": r.content_hash,
         "model": model, "embedding": r.vector} for r in rows])
    stmt = stmt.on_conflict_do_update(
        constraint="uq_text_embeddings_source_entity",
        set_={"account_id": stmt.excluded.account_id, "content_hash": stmt.excluded.content_hash,
              "model": stmt.excluded.model, "embedding": stmt.excluded.embedding, "embedded_at": func.now()})
    session.execute(stmt)
    return len(rows)


def delete_entities(session: Session, source: str, entity_ids: Sequence[int]) -> int:
    """Remove the vectors of entities that no longer exist (for sources without a CRM text query)."""
    if not entity_ids:
        return 0
    te = TextEmbedding
    result = session.execute(delete(te).where(te.source == _source_literal(source), te.entity_id.in_(list(entity_ids))))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def delete_orphans(session: Session, source: str) -> int:
    """Vectors whose text was deleted or blanked: kept, they would surface in searches as ghosts."""
    texts = _source_texts(source).subquery()
    te = TextEmbedding
    stmt = delete(te).where(te.source == _source_literal(source),
                            ~exists(select(1).select_from(texts).where(texts.c.entity_id == te.entity_id)))
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def sync_account_ids(session: Session, source: str) -> int:
    """An activity moved to another account keeps its vector but must follow for account-filtered searches."""
    texts = _source_texts(source).subquery()
    te = TextEmbedding
    stmt = (update(te)
            .where(te.source == _source_literal(source), te.entity_id == texts.c.entity_id,
                   te.account_id.is_distinct_from(texts.c.account_id))
            .values(account_id=texts.c.account_id))
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def count_embedded(session: Session, source: str) -> int:
    te = TextEmbedding
    return session.scalar(select(func.count()).select_from(te).where(te.source == _source_literal(source))) or 0


def check_k(k: int) -> int:
    if not 1 <= k <= MAX_K:
        raise InvalidInput("k", f"must be between 1 and {MAX_K}, got {k}")
    return k


def similar_statement(source: str, vector: Sequence[float], k: int, account_id: int | None = None,
                      model: str | None = None) -> Select[*tuple[Any, ...]]:
    """Nearest first by cosine distance; the inline source literal lets the partial HNSW index serve it.

    `model` keeps out vectors of another model (not comparable) until the job has re-embedded them.
    """
    te = TextEmbedding
    distance = te.embedding.cosine_distance(list(vector))
    stmt = (select(te.entity_id, te.account_id, distance.label("distance"))
            .where(te.source == _source_literal(source))
            .order_by(distance)
            .limit(bindparam("k", check_k(k), literal_execute=True)))
    if account_id is not None:
        stmt = stmt.where(te.account_id == account_id)
    if model is not None:
        stmt = stmt.where(te.model == model)
    return stmt


def tune_search(session: Session, k: int) -> None:
    """HNSW yields ef_search candidates before filters: widen it for large k, keep scanning when filtered."""
    session.execute(select(func.set_config("hnsw.ef_search", str(max(k, HNSW_EF_SEARCH_DEFAULT)), True),
                           func.set_config("hnsw.iterative_scan", "strict_order", True)))


def similar(session: Session, source: str, vector: Sequence[float], k: int, account_id: int | None = None,
            model: str | None = None) -> list[Neighbour]:
    """The k stored texts of `source` closest to `vector`, optionally within one account (transaction-local)."""
    stmt = similar_statement(source, vector, k, account_id, model)
    tune_search(session, k)
    return [Neighbour(entity_id, acc, float(distance)) for entity_id, acc, distance in session.execute(stmt)]


def texts_by_id(session: Session, source: str, entity_ids: Sequence[int]) -> dict[int, str]:
    """Current texts for search hits; empty for sources without a CRM text query."""
    if source not in CRM_SOURCES or not entity_ids:
        return {}
    return {t.entity_id: t.text for t in texts_for(session, source, entity_ids)}
