"""Structured output that works on small local and large remote models alike.

`method="function_calling"` is used because the llama.cpp server forces a grammar-constrained tool call with
it (its `json_schema` mode answers HTTP 500), and OpenAI supports it too. A reply that fails validation gets
ONE repair turn; it is single-turn (the request plus a note holding the bad output and the errors) because
the local server answers HTTP 500 to a conversation holding an assistant tool-call message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import httpx
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ValidationError

from core.config import Settings
from core.errors import CrmError
from core.llm import retry
from core.llm.factory import get_chat_model, model_config

T = TypeVar("T", bound=BaseModel)


class StructuredOutputError(CrmError):
    """The model's output failed validation twice; the caller decides (template, skip, ask a person)."""

    def __init__(self, raw: str, errors: str, *, schema: str = "output", attempts: int = 0,
                 input_tokens: int = 0, output_tokens: int = 0, latency_ms: int = 0, model: str = "") -> None:
        super().__init__(f"{schema}: model output failed validation after a repair turn: {errors}")
        self.raw, self.errors, self.attempts = raw, errors, attempts
        self.input_tokens, self.output_tokens, self.latency_ms, self.model = (
            input_tokens, output_tokens, latency_ms, model)


@dataclass(frozen=True)
class StructuredResult(Generic[T]):
    value: T
    raw: str
    attempts: int
    outcome: Literal["ok", "repaired"]
    input_tokens: int
    output_tokens: int
    model: str
    latency_ms: int = 0


@dataclass(frozen=True)
class _Try:
    parsed: Any
    raw: str
    errors: str
    input_tokens: int
    output_tokens: int


def format_errors(error: BaseException | None, schema: type[BaseModel]) -> str:
    """Validation errors as short `field: problem (got value)` lines a small model can act on."""
    if error is None:
        return f"the answer did not call the {schema.__name__} function"
    if isinstance(error, ValidationError):
        lines = []
        for item in error.errors(include_url=False):
            where = ".".join(str(part) for part in item["loc"]) or schema.__name__
            got = f" (got {item['input']!r})" if item["type"] != "missing" else ""
            lines.append(f"{where}: {item['msg']}{got}")
        return "; ".join(lines)
    return str(error).splitlines()[0]


def raw_output(message: AIMessage) -> str:
    """What the model actually produced: the tool-call arguments (valid or not), else its text."""
    for call in message.tool_calls:
        return json.dumps(call["args"], ensure_ascii=False)
    for bad in message.invalid_tool_calls:
        return bad.get("args") or ""
    return message.text


def repair_messages(messages: Sequence[BaseMessage], schema: type[BaseModel], raw: str,
                    errors: str) -> list[BaseMessage]:
    """The original request with a note appended to its last user message: one turn, no tool messages."""
    note = (f"\n\nYour previous answer was rejected.\nPrevious answer:\n{raw or '(empty)'}\n"
            f"Problems:\n{errors}\nCall the {schema.__name__} function again with arguments that fix every "
            f"problem and keep everything else the same.")
    head = list(messages)
    if head and isinstance(head[-1], HumanMessage) and isinstance(head[-1].content, str):
        return [*head[:-1], HumanMessage(content=head[-1].content + note)]
    return [*head, HumanMessage(content=note.lstrip())]


def _usage(message: AIMessage | None) -> tuple[int, int]:
    usage = message.usage_metadata if message is not None else None
    return (usage["input_tokens"], usage["output_tokens"]) if usage else (0, 0)


def extract(schema: type[T], messages: Sequence[BaseMessage], *, purpose: str = "extraction",
            http_client: httpx.Client | None = None, settings: Settings | None = None,
            sleep: Callable[[float], Any] = time.sleep) -> StructuredResult[T]:
    """Ask for `schema` as a forced function call; validate, repair once, else raise StructuredOutputError."""
    cfg = model_config(purpose, settings)
    model = get_chat_model(purpose, settings=settings, http_client=http_client)
    runnable = model.with_structured_output(schema, method="function_calling", include_raw=True)
    attempts = latency_ms = 0

    def ask(turn: Sequence[BaseMessage]) -> _Try:
        nonlocal attempts, latency_ms
        try:
            done = retry.call(lambda: runnable.invoke(list(turn)), cfg, sleep=sleep)
        except retry.ModelCallError as exc:
            attempts += exc.attempts
            raise
        attempts += done.attempts
        latency_ms += done.latency_ms
        out: dict[str, Any] = done.value
        message = out.get("raw")
        raw = raw_output(message) if isinstance(message, AIMessage) else ""
        tokens_in, tokens_out = _usage(message if isinstance(message, AIMessage) else None)
        parsed = out.get("parsed")
        errors = "" if isinstance(parsed, schema) else format_errors(out.get("parsing_error"), schema)
        return _Try(parsed if isinstance(parsed, schema) else None, raw, errors, tokens_in, tokens_out)

    first = ask(messages)
    if first.parsed is not None:
        return StructuredResult(first.parsed, first.raw, attempts, "ok", first.input_tokens, first.output_tokens,
                                cfg.label, latency_ms)
    second = ask(repair_messages(messages, schema, first.raw, first.errors))
    tokens_in, tokens_out = first.input_tokens + second.input_tokens, first.output_tokens + second.output_tokens
    if second.parsed is not None:
        return StructuredResult(second.parsed, second.raw, attempts, "repaired", tokens_in, tokens_out, cfg.label,
                                latency_ms)
    raise StructuredOutputError(second.raw, second.errors, schema=schema.__name__, attempts=attempts,
                                input_tokens=tokens_in, output_tokens=tokens_out, latency_ms=latency_ms,
                                model=cfg.label)
