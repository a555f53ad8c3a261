"""The model's say on an account's industry, asked only when similar labeled accounts leave the labeler unsure.

The answer is a forced function call whose one field is a Literal of the taxonomy: the model cannot invent an
industry. The description reaches it only fenced as data. The label's confidence is a fixed MODEL_CONFIDENCE
(a model gives no calibrated probability); its source is "model".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, create_model
from sqlalchemy.orm import Session

from agents.runtime.context import RunContext
from core.llm import ledger, retry
from core.llm.factory import model_config
from core.llm.generate import estimate_tokens
from core.llm.structured import StructuredOutputError, extract
from prompts.registry import read_file, root
from tools.auto_labeler.rules import Label

MODEL_CONFIDENCE = 0.5


def choice_schema(industries: list[str]) -> type[BaseModel]:
    """IndustryChoice with `industry` restricted to the taxonomy (an enum in the function's JSON schema)."""
    field: Any = (Literal[tuple(industries)], Field(description="One industry from the list."))  # type: ignore[valid-type]
    return create_model("IndustryChoice", industry=field)


def model_industry(session: Session, ctx: RunContext, description: str, industries: list[str],
                   candidates: list[str]) -> tuple[Label | None, str]:
    """(label, note): the model's pick from the taxonomy, or why there is none (budget, invalid answer, error)."""
    prompt = read_file(root() / "auto_labeler" / "industry.md.j2")
    messages = prompt.messages(description=description, industries=industries, candidates=candidates)
    cfg = model_config(prompt.purpose, ctx.settings)

    def record(outcome: str, *, tokens: tuple[int, int] = (0, 0), attempts: int = 0, latency_ms: int = 0,
               error: str | None = None) -> None:
        ledger.record_call(session, agent=ctx.agent, purpose=prompt.purpose, prompt_ref=prompt.ref, model=cfg.label,
                           input_tokens=tokens[0], output_tokens=tokens[1], latency_ms=latency_ms, attempts=attempts,
                           outcome=outcome, error=error, run_id=ctx.run_id, at=ctx.now, settings=ctx.settings)

    budget = ledger.budget_left(session, ctx.agent, ctx.run_id, ctx.now, ctx.settings)
    needed = estimate_tokens(messages, cfg.max_tokens)
    if not budget.allows(needed):
        record("over_budget", error=budget.describe(needed))
        return None, f"industry: model not asked ({budget.describe(needed)})"
    try:
        result = extract(choice_schema(industries), messages, purpose=prompt.purpose, http_client=ctx.http_client,
                         settings=ctx.settings)
    except StructuredOutputError as exc:
        record("error", tokens=(exc.input_tokens, exc.output_tokens), attempts=exc.attempts,
               latency_ms=exc.latency_ms, error=str(exc))
        return None, f"industry: the model's answer was invalid ({exc})"
    except retry.ModelCallError as exc:
        record("error", attempts=exc.attempts, error=str(exc))
        return None, f"industry: the model failed ({exc})"
    record(result.outcome, tokens=(result.input_tokens, result.output_tokens), attempts=result.attempts,
           latency_ms=result.latency_ms)
    value = str(result.value.industry)  # type: ignore[attr-defined]
    return Label(value, MODEL_CONFIDENCE, "model"), f"industry: {value} chosen by the model ({prompt.ref})"
