"""The single retry layer for model calls: SDK retries are off, so transient failures are retried here only.

Retried: HTTP 408, 429 and 5xx, timeouts and connection errors. Not retried: 400, 401, 403, 404 and other
client errors, which fail the same way every time. Waits are jittered exponential (full jitter above a floor)
and honour a server's `Retry-After` header, capped at `WAIT_MAX_S`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
import openai
from langchain_core.exceptions import ModelError
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from core.errors import CrmError
from core.llm.factory import ModelConfig

T = TypeVar("T")
log = logging.getLogger(__name__)

WAIT_MIN_S = 0.5
WAIT_MULTIPLIER_S = 1.0
WAIT_MAX_S = 30.0
RETRYABLE_STATUS = frozenset({408, 429})
# Failures of the model service; anything else (a bug in our code) propagates untouched and is never retried.
# A 200 whose body is not a chat completion (a broken proxy, a truncated answer) is the service's failure too:
# the caller falls back to its template instead of failing the run.
MODEL_ERRORS = (openai.OpenAIError, ModelError, httpx.HTTPError, UnicodeDecodeError, json.JSONDecodeError)


class ModelCallError(CrmError):
    """A model call that failed for good (non-retryable, or retries used up); names the model and the cause."""

    def __init__(self, cfg: ModelConfig, attempts: int, cause: BaseException) -> None:
        detail = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        super().__init__(f"model {cfg.label} ({cfg.purpose}) failed after {attempts} attempt(s): "
                         f"{type(cause).__name__}: {detail}")
        self.attempts, self.cause, self.retryable = attempts, cause, is_retryable(cause)


@dataclass(frozen=True)
class Called(Generic[T]):
    value: T
    attempts: int
    latency_ms: int


def is_retryable(exc: BaseException) -> bool:
    """Transient failures only: a retry of a malformed or unauthorised request would fail the same way."""
    if getattr(exc, "is_retryable", False):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError | httpx.TransportError)


def retry_after_s(exc: BaseException | None) -> float | None:
    """Seconds a server asked us to wait (`Retry-After: <seconds>`), when it said so."""
    response = getattr(exc, "response", None)
    if not isinstance(response, httpx.Response):
        return None
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


class _Wait:
    """Jittered exponential wait, raised to the server's Retry-After when it gave one, never above the cap."""

    def __init__(self) -> None:
        self.jitter = wait_random_exponential(multiplier=WAIT_MULTIPLIER_S, min=WAIT_MIN_S, max=WAIT_MAX_S)

    def __call__(self, state: RetryCallState) -> float:
        wait = self.jitter(state)
        asked = retry_after_s(state.outcome.exception() if state.outcome else None)
        return min(max(wait, asked or 0.0), WAIT_MAX_S)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning("model call attempt %d failed (%s); retrying in %.1f s", state.attempt_number,
                type(exc).__name__, wait)


def call(fn: Callable[[], T], cfg: ModelConfig, *, sleep: Callable[[float], Any] = time.sleep) -> Called[T]:
    """Run `fn` with the retry policy; `sleep` is injectable so tests check the waits without waiting."""
    retrying = Retrying(stop=stop_after_attempt(max(1, cfg.max_attempts)), wait=_Wait(),
                        retry=retry_if_exception(is_retryable), sleep=sleep, before_sleep=_log_retry,
                        reraise=True)
    attempts = 0
    started = time.perf_counter()

    def attempt() -> T:
        nonlocal attempts
        attempts += 1
        return fn()

    try:
        value = retrying(attempt)
    except MODEL_ERRORS as exc:
        raise ModelCallError(cfg, attempts, exc) from exc
    return Called(value, attempts, int((time.perf_counter() - started) * 1000))


def invoke_counted(model: BaseChatModel | Runnable[Any, Any], messages: Sequence[BaseMessage], cfg: ModelConfig,
                   *, sleep: Callable[[float], Any] = time.sleep) -> Called[AIMessage]:
    """One chat call with retries, plus how many attempts and how long it took (for the ledger)."""
    done = call(lambda: model.invoke(list(messages)), cfg, sleep=sleep)
    if not isinstance(done.value, AIMessage):
        raise TypeError(f"expected an AIMessage from {cfg.label}, got {type(done.value).__name__}")
    return Called(done.value, done.attempts, done.latency_ms)


def invoke(model: BaseChatModel | Runnable[Any, Any], messages: Sequence[BaseMessage], cfg: ModelConfig,
           *, sleep: Callable[[float], Any] = time.sleep) -> AIMessage:
    """One chat call with retries on retryable errors only; raises ModelCallError when it fails for good."""
    return invoke_counted(model, messages, cfg, sleep=sleep).value
