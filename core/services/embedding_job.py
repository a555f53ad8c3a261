"""The incremental embedding job and similarity search over CRM texts.

The job embeds only texts that are new, changed (content hash differs) or embedded by another model, removes
vectors whose text is gone, and is idempotent: a second run embeds nothing. It flushes, never commits: the
entry point owns the transaction (the CLI commits once per source, so a long run keeps finished sources).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.llm.embeddings import Embedder
from core.repositories import embeddings as repo

DEFAULT_BATCH_SIZE = 64
MAX_BATCH_SIZE = 2048

# (source, texts done so far, texts to embed in this source)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SourceCounts:
    embedded: int
    unchanged: int
    removed: int


@dataclass(frozen=True)
class SearchHit:
    source: str
    entity_id: int
    account_id: int | None
    distance: float
    text: str | None

    @property
    def similarity(self) -> float:
        return 1.0 - self.distance


def _sources(sources: Sequence[str] | None) -> list[str]:
    if sources is None:
        return list(repo.CRM_SOURCES)
    chosen = [repo.check_source(s, crm_only=True) for s in sources]
    if not chosen:
        raise InvalidInput("sources", f"name at least one of {', '.join(repo.CRM_SOURCES)}")
    return list(dict.fromkeys(chosen))


def _embed_source(session: Session, embedder: Embedder, source: str, batch_size: int,
                  progress: Progress | None) -> SourceCounts:
    total = repo.count_texts(session, source)
    pending = repo.pending_ids(session, source, embedder.model)
    done = 0
    if progress:
        progress(source, 0, len(pending))
    for start in range(0, len(pending), batch_size):
        texts = repo.texts_for(session, source, pending[start:start + batch_size])
        vectors = embedder.embed([t.text for t in texts])
        rows = [repo.EmbeddingRow(t.entity_id, t.account_id, t.content_hash, vector)
                for t, vector in zip(texts, vectors, strict=True)]
        repo.upsert(session, source, embedder.model, rows)
        done += len(texts)
        if progress:
            progress(source, min(start + batch_size, len(pending)), len(pending))
    removed = repo.delete_orphans(session, source)
    repo.sync_account_ids(session, source)
    session.flush()
    return SourceCounts(embedded=done, unchanged=total - len(pending), removed=removed)


def run_embedding_job(session: Session, embedder: Embedder, sources: Sequence[str] | None = None,
                      batch_size: int = DEFAULT_BATCH_SIZE,
                      progress: Progress | None = None) -> dict[str, SourceCounts]:
    """Bring the vectors of the chosen CRM sources (default: all) up to date; counts per source."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidInput("batch_size", f"must be between 1 and {MAX_BATCH_SIZE}, got {batch_size}")
    return {source: _embed_source(session, embedder, source, batch_size, progress) for source in _sources(sources)}


def index_texts(session: Session, embedder: Embedder, source: str,
                items: Sequence[tuple[int, int | None, str]]) -> int:
    """Embed texts handed in directly, e.g. approved replies: (entity_id, account_id, text); skips unchanged."""
    repo.check_source(source)
    for entity_id, _account, text in items:
        if not text.strip():
            raise InvalidInput("text", f"{source} {entity_id} has an empty text; only non-blank text can be embedded")
    stored = repo.stored_hashes(session, source, [entity_id for entity_id, _a, _t in items])
    todo = [(entity_id, account_id, text, repo.content_hash(text)) for entity_id, account_id, text in items]
    todo = [t for t in todo if stored.get(t[0]) != (t[3], embedder.model)]
    if not todo:
        return 0
    vectors = embedder.embed([text for _e, _a, text, _h in todo])
    repo.upsert(session, source, embedder.model,
                [repo.EmbeddingRow(e, a, h, v) for (e, a, _t, h), v in zip(todo, vectors, strict=True)])
    session.flush()
    return len(todo)


def search(session: Session, embedder: Embedder, source: str, text: str, k: int = 10,
           account_id: int | None = None) -> list[SearchHit]:
    """The k texts of `source` closest in meaning to `text` (nearest first), optionally within one account."""
    repo.check_source(source)
    repo.check_k(k)
    if not text.strip():
        raise InvalidInput("text", "search text is empty")
    [vector] = embedder.embed([text])
    neighbours = repo.similar(session, source, vector, k, account_id, embedder.model)
    texts = repo.texts_by_id(session, source, [n.entity_id for n in neighbours])
    return [SearchHit(source, n.entity_id, n.account_id, n.distance, texts.get(n.entity_id)) for n in neighbours]
