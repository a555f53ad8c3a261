"""Embeddings: the local and remote embedders, the incremental job, similarity search and its index use."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
import typer
from sqlalchemy import delete, event, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli import embed as embed_cli
from core.config import Settings
from core.db.engine import session_scope
from core.errors import InvalidInput
from core.llm.embeddings import (
    LOCAL_MODEL,
    EmbeddingError,
    LocalEmbedder,
    RemoteEmbedder,
    get_embedder,
    load_local_model,
)
from core.models import NpsResponse, TextEmbedding
from core.models.enums import ActivityKind
from core.repositories import embeddings as repo
from core.seeding import generator
from core.services.embedding_job import SourceCounts, index_texts, run_embedding_job, search
from tests import factories as f

COMPLAINTS = (
    "We were billed twice for the same invoice this month and finance wants the money back.",
    "The Android app crashes every time it syncs contacts offline.",
    "Support took five days to answer our P1 ticket about SSO.",
    "Reports time out once we pass 10,000 deals.",
    "Gmail sync keeps breaking and reps have stopped logging emails.",
    "Onboarding was excellent; our CSM knew our business.",
    "Duplicate contacts after every import; data quality is getting worse.",
    "The pipeline view saves our team hours every week.",
)


@pytest.fixture(scope="session")
def local_embedder() -> LocalEmbedder:
    """Loads the bundled model once for the whole test session."""
    load_local_model()
    return LocalEmbedder()


@dataclass(frozen=True)
class Renamed:
    """The local model under another name: to the job, a model change."""

    inner: LocalEmbedder
    model: str = "all-MiniLM-L6-v2-renamed"
    dims: int = 384

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self.inner.embed(texts)


def _cos(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# --- the local embedder ---------------------------------------------------------------------------------


def test_local_embedder_gives_unit_384_dim_vectors_offline(local_embedder: LocalEmbedder) -> None:
    import os

    billing, billed, crash = local_embedder.embed(
        ["The invoice was charged twice", "We were billed two times for one invoice", "The mobile app crashes"])
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert local_embedder.model == LOCAL_MODEL and local_embedder.dims == 384
    assert len(billing) == 384 and math.isclose(math.sqrt(_cos(billing, billing)), 1.0, abs_tol=1e-4)
    assert _cos(billing, billed) > _cos(billing, crash) + 0.2
    assert load_local_model() is load_local_model()
    assert local_embedder.embed([]) == []


def test_blank_texts_are_refused_with_their_position(local_embedder: LocalEmbedder) -> None:
    with pytest.raises(InvalidInput, match=r"texts: text 1 is empty"):
        local_embedder.embed(["fine", "   "])


def test_default_embedder_is_local_and_a_base_url_makes_it_remote() -> None:
    assert isinstance(get_embedder(Settings(embedding_base_url=None)), LocalEmbedder)
    remote = get_embedder(Settings(embedding_base_url="https://api.example/v1", embedding_model="te-3-small",
                                   llm_timeout_s=7, llm_max_attempts=2))
    assert isinstance(remote, RemoteEmbedder)
    assert (remote.model, remote.dims, remote.timeout_s, remote.max_attempts) == ("te-3-small", 384, 7, 2)


# --- the remote embedder: contract over httpx.MockTransport ------------------------------------------------


def _vector(seed: int, dims: int = 384) -> list[float]:
    return [math.sin(seed * 7.0 + i) for i in range(dims)]


def _remote(handler: Callable[[httpx.Request], httpx.Response], attempts: int = 3) -> RemoteEmbedder:
    return RemoteEmbedder(base_url="https://embed.example/v1/", api_key="sk-test", model="text-embedding-3-small",
                          timeout_s=2.5, max_attempts=attempts, sleep=lambda _s: None,
                          http_client=httpx.Client(transport=httpx.MockTransport(handler)))


def _ok(request: httpx.Request, dims: int = 384) -> httpx.Response:
    inputs = json.loads(request.content)["input"]
    data = [{"object": "embedding", "index": i, "embedding": _vector(i, dims)} for i in range(len(inputs))]
    return httpx.Response(200, json={"object": "list", "data": list(reversed(data)), "model": "text-embedding-3-small",
                                     "usage": {"prompt_tokens": 5, "total_tokens": 5}})


def test_remote_request_asks_for_384_dimensions_and_orders_by_index() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _ok(request)

    vectors = _remote(handler).embed(["first text", "second text"])
    [request] = seen
    assert request.method == "POST" and str(request.url) == "https://embed.example/v1/embeddings"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert json.loads(request.content) == {"model": "text-embedding-3-small", "input": ["first text", "second text"],
                                           "dimensions": 384, "encoding_format": "float"}
    assert request.extensions["timeout"]["read"] == 2.5
    assert vectors == [_vector(0), _vector(1)]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_remote_retries_rate_limits_and_server_errors(status: int) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, json={"error": {"message": "busy"}}) if len(calls) == 1 else _ok(request)

    assert len(_remote(handler).embed(["a text"])[0]) == 384
    assert len(calls) == 2


def test_remote_does_not_retry_a_bad_request_and_names_the_cause() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400, json={"error": {"message": "This model does not support dimensions"}})

    with pytest.raises(EmbeddingError, match=r"text-embedding-3-small .* HTTP 400 This model does not support"):
        _remote(handler).embed(["a text"])
    assert len(calls) == 1


def test_remote_timeouts_are_retried_then_reported() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(EmbeddingError, match=r"failed after 3 attempt\(s\): ReadTimeout"):
        _remote(handler).embed(["a text"])
    assert len(calls) == 3


def test_remote_vectors_of_the_wrong_width_are_refused() -> None:
    with pytest.raises(EmbeddingError, match="returned 1536 dimensions, expected 384"):
        _remote(lambda request: _ok(request, dims=1536)).embed(["a text"])


# --- the incremental job ---------------------------------------------------------------------------------


def _crm(session: Session) -> dict[str, int]:
    """Two accounts with a description each, five activities (three embeddable) and three NPS answers (two)."""
    a = f.account(session, description="Acme makes industrial pumps for water utilities in Germany.")
    b = f.account(session, description="Beta Retail runs forty grocery stores and an online shop.")
    f.account(session, description="   ")
    contact = f.contact(session, account_id=b.id)
    deal = f.deal(session, account_id=a.id)
    note = f.activity(session, kind=ActivityKind.note, account_id=a.id,
                      body="Champion left; new CFO questions the renewal.")
    email = f.activity(session, kind=ActivityKind.email, deal_id=deal.id, body="Sent the revised quote with 10% off.")
    call = f.activity(session, kind=ActivityKind.call, contact_id=contact.id,
                      body="Asked about SSO and the API limits.")
    f.activity(session, kind=ActivityKind.meeting, account_id=a.id, body="Quarterly business review.")
    f.activity(session, kind=ActivityKind.call, account_id=a.id, body=None)
    angry = f.nps(session, a.id, 2, comment=COMPLAINTS[0])
    happy = f.nps(session, b.id, 10, comment=COMPLAINTS[5])
    f.nps(session, b.id, 8, comment=None)
    return {"a": a.id, "b": b.id, "note": note.id, "email": email.id, "call": call.id, "deal": deal.id,
            "angry": angry.id, "happy": happy.id}


def _stored(session: Session, source: str) -> dict[int, TextEmbedding]:
    rows = session.scalars(select(TextEmbedding).where(TextEmbedding.source == source)).all()
    return {r.entity_id: r for r in rows}


def test_job_embeds_new_texts_then_nothing_on_a_second_run(session: Session, local_embedder: LocalEmbedder) -> None:
    ids = _crm(session)
    first = run_embedding_job(session, local_embedder, batch_size=2)
    assert first == {"account_description": SourceCounts(2, 0, 0), "activity_note": SourceCounts(3, 0, 0),
                     "nps_comment": SourceCounts(2, 0, 0)}
    notes = _stored(session, "activity_note")
    assert set(notes) == {ids["note"], ids["email"], ids["call"]}
    # An activity linked only through its deal or its contact is filed under that account.
    assert {n.entity_id: n.account_id for n in notes.values()} == {
        ids["note"]: ids["a"], ids["email"]: ids["a"], ids["call"]: ids["b"]}
    assert all(n.model == LOCAL_MODEL and len(n.embedding) == 384 for n in notes.values())

    second = run_embedding_job(session, local_embedder)
    assert second == {"account_description": SourceCounts(0, 2, 0), "activity_note": SourceCounts(0, 3, 0),
                      "nps_comment": SourceCounts(0, 2, 0)}


def test_job_reembeds_changed_texts_and_removes_vectors_of_deleted_ones(
        session: Session, local_embedder: LocalEmbedder) -> None:
    ids = _crm(session)
    run_embedding_job(session, local_embedder)
    before = _stored(session, "nps_comment")[ids["angry"]]
    old_vector, old_hash = list(before.embedding), before.content_hash

    session.get(NpsResponse, ids["angry"]).comment = "Renewal price went up 20% without any warning."  # type: ignore[union-attr]
    session.execute(delete(NpsResponse).where(NpsResponse.id == ids["happy"]))
    session.execute(text("UPDATE accounts SET description = NULL WHERE id = :id"), {"id": ids["b"]})
    session.flush()

    counts = run_embedding_job(session, local_embedder, sources=["nps_comment", "account_description"])
    assert counts == {"nps_comment": SourceCounts(1, 0, 1), "account_description": SourceCounts(0, 1, 1)}
    session.expire_all()
    after = _stored(session, "nps_comment")
    assert set(after) == {ids["angry"]}
    assert after[ids["angry"]].content_hash == repo.content_hash("Renewal price went up 20% without any warning.")
    assert after[ids["angry"]].content_hash != old_hash
    assert _cos(after[ids["angry"]].embedding, old_vector) < 0.9
    assert set(_stored(session, "account_description")) == {ids["a"]}


def test_a_new_model_reembeds_everything(session: Session, local_embedder: LocalEmbedder) -> None:
    _crm(session)
    run_embedding_job(session, local_embedder)
    renamed = Renamed(local_embedder)
    counts = run_embedding_job(session, renamed, sources=["activity_note"])
    assert counts == {"activity_note": SourceCounts(3, 0, 0)}
    assert {r.model for r in _stored(session, "activity_note").values()} == {renamed.model}


def test_moving_an_activity_to_another_account_moves_its_vector(
        session: Session, local_embedder: LocalEmbedder) -> None:
    ids = _crm(session)
    run_embedding_job(session, local_embedder, sources=["activity_note"])
    session.execute(text("UPDATE activities SET account_id = :b WHERE id = :id"), {"b": ids["b"], "id": ids["note"]})
    counts = run_embedding_job(session, local_embedder, sources=["activity_note"])
    assert counts["activity_note"] == SourceCounts(0, 3, 0)
    session.expire_all()
    assert _stored(session, "activity_note")[ids["note"]].account_id == ids["b"]


def test_job_input_errors_name_the_field(session: Session, local_embedder: LocalEmbedder) -> None:
    with pytest.raises(InvalidInput, match="source: unknown source 'tweets'"):
        run_embedding_job(session, local_embedder, sources=["tweets"])
    with pytest.raises(InvalidInput, match="source: 'reply' texts are written by their own flow"):
        run_embedding_job(session, local_embedder, sources=["reply"])
    with pytest.raises(InvalidInput, match="batch_size: must be between 1 and 2048, got 0"):
        run_embedding_job(session, local_embedder, batch_size=0)
    with pytest.raises(InvalidInput, match="sources: name at least one"):
        run_embedding_job(session, local_embedder, sources=[])


# --- similarity search -----------------------------------------------------------------------------------


def test_search_finds_the_billing_complaint(session: Session, local_embedder: LocalEmbedder) -> None:
    accounts = [f.account(session) for _ in range(2)]
    by_text = {c: f.nps(session, accounts[i % 2].id, 3, comment=c).id for i, c in enumerate(COMPLAINTS)}
    run_embedding_job(session, local_embedder, sources=["nps_comment"])

    hits = search(session, local_embedder, "nps_comment", "invoice was charged twice", k=3)
    assert [h.entity_id for h in hits][0] == by_text[COMPLAINTS[0]]
    assert hits[0].text == COMPLAINTS[0] and hits[0].account_id == accounts[0].id
    assert hits[0].distance < hits[1].distance <= hits[2].distance
    assert 0 < hits[0].similarity <= 1

    crash = search(session, local_embedder, "nps_comment", "mobile application keeps crashing", k=1)
    assert crash[0].text == COMPLAINTS[1]

    only_b = search(session, local_embedder, "nps_comment", "invoice was charged twice", k=10,
                    account_id=accounts[1].id)
    assert len(only_b) == 4 and {h.account_id for h in only_b} == {accounts[1].id}


def test_search_ignores_vectors_of_another_model(session: Session, local_embedder: LocalEmbedder) -> None:
    account = f.account(session)
    f.nps(session, account.id, 3, comment=COMPLAINTS[0])
    run_embedding_job(session, Renamed(local_embedder), sources=["nps_comment"])
    assert search(session, local_embedder, "nps_comment", "charged twice", k=5) == []


def test_search_input_errors_name_the_field(session: Session, local_embedder: LocalEmbedder) -> None:
    with pytest.raises(InvalidInput, match="text: search text is empty"):
        search(session, local_embedder, "nps_comment", "  ", k=3)
    with pytest.raises(InvalidInput, match="k: must be between 1 and 1000, got 0"):
        search(session, local_embedder, "nps_comment", "refund", k=0)
    with pytest.raises(InvalidInput, match="source: unknown source"):
        search(session, local_embedder, "emails", "refund", k=3)


def test_replies_are_indexed_and_searched_generically(session: Session, local_embedder: LocalEmbedder) -> None:
    account = f.account(session)
    replies = [(101, account.id, "Thanks for flagging the double charge; we have refunded the duplicate invoice."),
               (102, account.id, "Glad the onboarding went well, see you at the QBR.")]
    assert index_texts(session, local_embedder, "reply", replies) == 2
    assert index_texts(session, local_embedder, "reply", replies) == 0
    assert index_texts(session, local_embedder, "reply", [(102, account.id, "Changed text.")]) == 1
    hits = search(session, local_embedder, "reply", "customer was billed twice", k=2)
    assert [h.entity_id for h in hits] == [101, 102] and hits[0].text is None
    assert repo.delete_entities(session, "reply", [101]) == 1
    assert repo.count_embedded(session, "reply") == 1


# --- index use -------------------------------------------------------------------------------------------


@pytest.fixture
def captured(session: Session) -> Iterator[list[tuple[str, dict[str, object]]]]:
    """The SQL and parameters the driver really receives."""
    statements: list[tuple[str, dict[str, object]]] = []
    conn = session.connection()

    def listen(_c: object, _cursor: object, statement: str, parameters: dict[str, object], *_a: object) -> None:
        statements.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", listen)
    yield statements
    event.remove(conn, "before_cursor_execute", listen)


def _generic_plan(session: Session, statement: str) -> str:
    """EXPLAIN (GENERIC_PLAN): the plan a prepared statement gets once PostgreSQL stops looking at values."""
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"${numbers.setdefault(match[1], len(numbers) + 1)}"

    numbered = re.sub(r"%\((\w+)\)s", number, statement)
    plan = session.connection().exec_driver_sql("EXPLAIN (GENERIC_PLAN, COSTS OFF) " + numbered)
    return "\n".join(plan.scalars())


def test_similarity_query_uses_the_partial_hnsw_index_even_as_a_generic_plan(
        session: Session, captured: list[tuple[str, dict[str, object]]]) -> None:
    account = f.account(session)
    repo.upsert(session, "nps_comment", "m", [repo.EmbeddingRow(i, account.id, "h", _vector(i)) for i in range(1500)])
    session.execute(text("ANALYZE text_embeddings"))
    # On 1,500 rows a scan plus sort may cost less; the question is whether the partial index CAN serve the
    # ordered query, so every other way to produce the order is priced out.
    session.execute(text("SET LOCAL enable_seqscan = off"))
    session.execute(text("SET LOCAL enable_sort = off"))

    assert len(repo.similar(session, "nps_comment", _vector(3), 5)) == 5
    sql, params = captured[-1]
    assert "source = 'nps_comment'" in sql and "LIMIT 5" in sql
    custom = "\n".join(session.connection().exec_driver_sql("EXPLAIN (COSTS OFF) " + sql, params).scalars())
    assert "Index Scan using ix_text_embeddings_hnsw_nps_comment" in custom
    assert "Index Scan using ix_text_embeddings_hnsw_nps_comment" in _generic_plan(session, sql)
    # The same query with the source as a parameter: a generic plan cannot use any partial index.
    assert "ix_text_embeddings_hnsw" not in _generic_plan(session, sql.replace("'nps_comment'", "%(source)s"))


# --- the CLI ---------------------------------------------------------------------------------------------


def test_cli_embeds_a_seeded_crm_then_finds_nothing_new(scratch_db: object, local_embedder: LocalEmbedder) -> None:
    with session_scope() as s:
        generator.seed(s, 8, 5, datetime(2026, 3, 1, tzinfo=UTC))
    app = typer.Typer()
    app.command()(embed_cli.embed)
    runner = CliRunner()

    first = runner.invoke(app, ["--source", "account_description", "--source", "nps_comment", "--batch-size", "16"])
    assert first.exit_code == 0, first.output
    assert "account_description" in first.output and "activity_note" not in first.output
    with session_scope() as s:
        assert repo.count_embedded(s, "account_description") == 8
        assert repo.count_embedded(s, "nps_comment") == repo.count_texts(s, "nps_comment") > 0

    again = runner.invoke(app, ["-s", "account_description"])
    assert again.exit_code == 0, again.output
    assert re.search(r"account_description\s*│\s*0\s*│\s*8\s*│\s*0", again.output), again.output

    bad = runner.invoke(app, ["-s", "tweets"])
    assert isinstance(bad.exception, InvalidInput)
