"""Guarded text generation: budget check, model call, guards, one repair turn, else the deterministic template.

The caller gets either text that passed every guard or the prompt's fallback template (also checked), never
half-valid model text. Every call writes exactly one ledger row whose outcome says which path was taken.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from langchain_core.messages import BaseMessage, HumanMessage
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import InvalidInput
from core.llm import ledger, retry
from core.llm.factory import ModelConfig, get_chat_model, model_config
from core.llm.guards import GuardContext, Violation, check_text, violations_message

if TYPE_CHECKING:
    from prompts.registry import Prompt

CHARS_PER_TOKEN = 4


class FallbackRejectedError(Exception):
    """The deterministic template itself failed the guards: a bug in the template or the guard context."""


@dataclass(frozen=True)
class GeneratedText:
    text: str
    fallback: bool
    outcome: str  # ok | repaired | fallback | error | over_budget (as in the ledger row)
    prompt_ref: str
    model: str
    violations: list[str]
    attempts: int
    note: str | None = None  # why the template was used, in words for the person reading the draft
    input_tokens: int = 0
    output_tokens: int = 0
    call_id: int | None = field(default=None, compare=False)


def estimate_tokens(messages: Sequence[BaseMessage], max_tokens: int) -> int:
    """An upper-bound guess of what one call spends: prompt at ~4 characters a token plus the full reply cap."""
    chars = sum(len(m.text) for m in messages)
    return math.ceil(chars / CHARS_PER_TOKEN) + max_tokens


def repair_messages(messages: Sequence[BaseMessage], violations: list[Violation]) -> list[BaseMessage]:
    """The original request plus the validator's message, as ONE user turn (the local server is single-turn)."""
    note = violations_message(violations)
    head = list(messages)
    if head and isinstance(head[-1], HumanMessage) and isinstance(head[-1].content, str):
        return [*head[:-1], HumanMessage(content=f"{head[-1].content}\n\n{note}")]
    return [*head, HumanMessage(content=note)]


def _describe(violations: list[Violation]) -> list[str]:
    return [f"{v.rule}: {v.message}" for v in violations]


@dataclass
class _Tally:
    """What the model calls of one generation spent, for the single ledger row."""

    attempts: int = 0
    latency_ms: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def ask(self, cfg: ModelConfig, model: Any, messages: Sequence[BaseMessage],
            sleep: Callable[[float], Any]) -> str:
        try:
            done = retry.invoke_counted(model, messages, cfg, sleep=sleep)
        except retry.ModelCallError as exc:
            self.attempts += exc.attempts
            raise
        self.attempts += done.attempts
        self.latency_ms += done.latency_ms
        usage = done.value.usage_metadata
        if usage:
            self.input_tokens += usage["input_tokens"]
            self.output_tokens += usage["output_tokens"]
        return done.value.text.strip()


def generate_text(session: Session, *, agent: str, prompt: Prompt, inputs: dict[str, Any], guard: GuardContext,
                  run_id: int | None = None, http_client: httpx.Client | None = None, now: datetime | None = None,
                  settings: Settings | None = None, sleep: Callable[[float], Any] = time.sleep) -> GeneratedText:
    """Text for `prompt` that passed `guard`, or its fallback template; one ledger row either way."""
    if prompt.fallback_template is None:
        raise InvalidInput("prompt", f"{prompt.ref} has no fallback template; guarded generation needs one")
    now = now or datetime.now(UTC)
    # A small model often answers by repeating its instructions: the prompt's own wording is never a reply.
    guard = replace(guard, instructions=tuple(dict.fromkeys((*guard.instructions, *prompt.instructions))))
    cfg = model_config(prompt.purpose, settings)
    messages = prompt.messages(**inputs)
    tally = _Tally()
    seen: list[Violation] = []

    def finish(text: str, outcome: str, *, fallback: bool, note: str | None = None) -> GeneratedText:
        row = ledger.record_call(session, agent=agent, purpose=prompt.purpose, prompt_ref=prompt.ref,
                                 model=cfg.label, input_tokens=tally.input_tokens, output_tokens=tally.output_tokens,
                                 latency_ms=tally.latency_ms, attempts=tally.attempts, outcome=outcome, error=note,
                                 run_id=run_id, at=now, settings=settings)
        return GeneratedText(text, fallback, outcome, prompt.ref, cfg.label, _describe(seen), tally.attempts, note,
                             tally.input_tokens, tally.output_tokens, row.id)

    def use_fallback(outcome: str, note: str) -> GeneratedText:
        text = prompt.render_fallback(**inputs).strip()
        bad = check_text(text, guard)
        if bad:
            raise FallbackRejectedError(f"fallback template of {prompt.ref} fails its guards: "
                                        f"{'; '.join(_describe(bad))}")
        return finish(text, outcome, fallback=True, note=f"{note}; the template reply was used")

    def afford(turn: Sequence[BaseMessage]) -> str | None:
        """None when the budget allows one more call, else why not."""
        needed = estimate_tokens(turn, cfg.max_tokens) + tally.input_tokens + tally.output_tokens
        budget = ledger.budget_left(session, agent, run_id, now, settings)
        return None if budget.allows(needed) else budget.describe(needed)

    refused = afford(messages)
    if refused:
        return use_fallback("over_budget", refused)
    model = get_chat_model(prompt.purpose, settings=settings, http_client=http_client)
    try:
        text = tally.ask(cfg, model, messages, sleep)
    except retry.ModelCallError as exc:
        return use_fallback("error", str(exc))
    seen.extend(check_text(text, guard))
    if not seen:
        return finish(text, "ok", fallback=False)

    retry_turn = repair_messages(messages, seen)
    refused = afford(retry_turn)
    if refused:
        return use_fallback("fallback", f"the reply failed its guards and the repair turn was skipped: {refused}")
    try:
        text = tally.ask(cfg, model, retry_turn, sleep)
    except retry.ModelCallError as exc:
        return use_fallback("error", f"the reply failed its guards, then the repair turn failed: {exc}")
    second = check_text(text, guard)
    if not second:
        return finish(text, "repaired", fallback=False)
    seen.extend(second)
    return use_fallback("fallback", "the reply failed its guards twice")
