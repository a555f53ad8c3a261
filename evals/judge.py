"""Pairwise LLM judge: is the draft better than the reference reply? Runs only when a judge model is configured.

Position bias is real (judges favour the first or the second answer): which reply is shown as A is drawn per
case from a hash of the case, so about half the cases show the draft first and a re-run shows the same order.
The judge sees both replies fenced as data, and answers through structured output (forced function call).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.config import Settings
from core.llm import ledger
from core.llm.factory import model_config
from core.llm.retry import ModelCallError
from core.llm.structured import StructuredOutputError, extract
from evals.base import EvalResult
from prompts.registry import Prompt, parse

JUDGE_FILE = Path(__file__).parent / "templates" / "pairwise_judge.md.j2"
KEY = "judge_win"


class Verdict(BaseModel):
    winner: Literal["A", "B", "tie"] = Field(description='"A", "B" or "tie"')
    reason: str = Field(max_length=300, description="One sentence: why")


def judge_configured(settings: Settings) -> bool:
    """Judging costs a capable model's tokens: only when an admin configured the `judge` purpose."""
    return "judge" in settings.llm_purposes


def judge_prompt() -> Prompt:
    return parse(JUDGE_FILE.read_text(encoding="utf-8"), str(JUDGE_FILE.name))


def draft_goes_first(inputs: dict[str, Any], reference: dict[str, Any], seed: str) -> bool:
    digest = hashlib.sha256(f"{seed}|{inputs.get('comment')}|{reference.get('reply')}".encode()).digest()
    return digest[0] % 2 == 0


class PairwiseJudge:
    """An evaluator `(inputs, outputs, reference) -> EvalResult` scoring 1 (draft wins), 0.5 (tie), 0 (loses)."""

    def __init__(self, session: Session, settings: Settings, *, http_client: httpx.Client | None = None,
                 seed: str = "pairwise") -> None:
        self.session, self.settings, self.http_client, self.seed = session, settings, http_client, seed
        self.prompt = judge_prompt()
        self.model = model_config("judge", settings).label
        self.input_tokens = self.output_tokens = 0
        self.draft_first = 0
        self.calls = 0

    def __call__(self, inputs: dict[str, Any], outputs: dict[str, Any], reference: dict[str, Any]) -> EvalResult:
        reply = reference.get("reply")
        if not reply or not outputs.get("text"):
            return EvalResult(KEY, None, "no reference reply or no draft")
        first = draft_goes_first(inputs, reference, self.seed)
        a, b = (outputs["text"], reply) if first else (reply, outputs["text"])
        messages = self.prompt.messages(review=str(inputs.get("comment", "")), stars=reference.get("stars", 0),
                                        reply_a=a, reply_b=b)
        self.calls += 1
        self.draft_first += first
        try:
            result = extract(Verdict, messages, purpose="judge", http_client=self.http_client, settings=self.settings)
        except (StructuredOutputError, ModelCallError) as exc:
            tokens = (getattr(exc, "input_tokens", 0), getattr(exc, "output_tokens", 0))
            self._record(tokens, "error", getattr(exc, "attempts", 1), str(exc))
            return EvalResult(KEY, None, f"judge failed: {exc}")
        self._record((result.input_tokens, result.output_tokens), result.outcome, result.attempts, None,
                     result.latency_ms)
        draft_label = "A" if first else "B"
        verdict = result.value
        score = 0.5 if verdict.winner == "tie" else float(verdict.winner == draft_label)
        return EvalResult(KEY, score, f"draft was {draft_label}; winner {verdict.winner}: {verdict.reason}")

    def _record(self, tokens: tuple[int, int], outcome: str, attempts: int, error: str | None,
                latency_ms: int = 0) -> None:
        self.input_tokens += tokens[0]
        self.output_tokens += tokens[1]
        ledger.record_call(self.session, agent="evals", purpose="judge", prompt_ref=self.prompt.ref, model=self.model,
                           input_tokens=tokens[0], output_tokens=tokens[1], latency_ms=latency_ms,
                           attempts=max(attempts, 1), outcome=outcome, error=error, settings=self.settings)
