"""Token and cost ledger: one row per guarded model call, and the per-agent budgets computed from it.

Budgets count input plus output tokens, per run (`run_id`) and per UTC day. They are checked before a call
against an estimate of what the call may spend, so an agent degrades to its template instead of overrunning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from core.config import Settings, get_settings
from core.errors import InvalidInput
from core.models import LlmCall
from core.repositories import llm_calls

OUTCOMES = ("ok", "repaired", "fallback", "error", "over_budget")
BUDGET_KEYS = ("per_run", "per_day")
MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class Budget:
    per_run: int
    per_day: int
    per_run_left: int
    per_day_left: int

    def allows(self, tokens: int) -> bool:
        return tokens <= self.per_run_left and tokens <= self.per_day_left

    def describe(self, tokens: int) -> str:
        """Why a call of about `tokens` tokens is refused, in words an operator can act on."""
        parts = []
        if tokens > self.per_run_left:
            parts.append(f"run budget {self.per_run_left:,} of {self.per_run:,} tokens left")
        if tokens > self.per_day_left:
            parts.append(f"day budget {self.per_day_left:,} of {self.per_day:,} tokens left")
        return f"over budget: the call needs about {tokens:,} tokens; " + ", ".join(parts)


@dataclass(frozen=True)
class UsageRow:
    day: date
    agent: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    ok: int
    repaired: int
    fallback: int
    error: int
    over_budget: int
    latency_ms: int


def _price(model: str, settings: Settings) -> tuple[Decimal, Decimal]:
    """USD per million tokens [input, output]; the local model and unpriced models cost nothing."""
    entry = settings.llm_prices.get(model) or settings.llm_prices.get(model.removesuffix("@local"))
    if entry is None:
        return Decimal(0), Decimal(0)
    if len(entry) != 2 or any(not isinstance(p, int | float) or p < 0 for p in entry):
        raise InvalidInput("llm_prices", f"{model}: expected [input, output] USD per million tokens, got {entry!r}")
    return Decimal(str(entry[0])), Decimal(str(entry[1]))


def cost_usd(model: str, input_tokens: int, output_tokens: int, settings: Settings | None = None) -> Decimal:
    price_in, price_out = _price(model, settings or get_settings())
    return ((price_in * input_tokens + price_out * output_tokens) / Decimal(1_000_000)).quantize(MICRO)


def limits(agent: str, settings: Settings | None = None) -> tuple[int, int]:
    """(tokens per run, tokens per day) for an agent: its own entry in llm_budgets, else the defaults."""
    s = settings or get_settings()
    own = s.llm_budgets.get(agent, {})
    unknown = sorted(set(own) - set(BUDGET_KEYS))
    if unknown:
        raise InvalidInput("llm_budgets", f"{agent}: unknown key(s) {', '.join(unknown)}; use per_run, per_day")
    per_run, per_day = (int(own.get("per_run", s.llm_default_budget_per_run)),
                        int(own.get("per_day", s.llm_default_budget_per_day)))
    if per_run < 0 or per_day < 0:
        raise InvalidInput("llm_budgets", f"{agent}: budgets must be >= 0 tokens")
    return per_run, per_day


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The UTC day holding `now`: budgets reset at midnight UTC whatever the server's time zone."""
    if now.tzinfo is None:
        raise InvalidInput("now", "must be timezone-aware")
    start = datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def budget_left(session: Session, agent: str, run_id: int | None, now: datetime,
                settings: Settings | None = None) -> Budget:
    """Tokens the agent may still spend in this run and today; a call without a run is a run of its own."""
    per_run, per_day = limits(agent, settings)
    start, end = day_bounds(now)
    day_used = llm_calls.tokens_used(session, agent, since=start, until=end)
    run_used = llm_calls.tokens_used(session, agent, run_id=run_id) if run_id is not None else 0
    return Budget(per_run, per_day, per_run - run_used, per_day - day_used)


def record_call(session: Session, *, agent: str, purpose: str, prompt_ref: str | None, model: str,
                input_tokens: int, output_tokens: int, latency_ms: int, attempts: int, outcome: str,
                error: str | None = None, run_id: int | None = None, at: datetime | None = None,
                settings: Settings | None = None) -> LlmCall:
    """Write one ledger row, priced from settings.llm_prices; `at` keeps the ledger on the caller's clock."""
    if outcome not in OUTCOMES:
        raise InvalidInput("outcome", f"expected one of {', '.join(OUTCOMES)}, got {outcome!r}")
    if min(input_tokens, output_tokens, latency_ms, attempts) < 0:
        raise InvalidInput("llm_call", "tokens, latency and attempts cannot be negative")
    fields: dict[str, object] = dict(
        run_id=run_id, agent=agent, purpose=purpose, prompt_ref=prompt_ref, model=model,
        input_tokens=input_tokens, output_tokens=output_tokens, latency_ms=latency_ms,
        cost_usd=cost_usd(model, input_tokens, output_tokens, settings), attempts=attempts, outcome=outcome,
        error=error)
    if at is not None:
        fields["created_at"] = at
    return llm_calls.add(session, **fields)


def usage_totals(session: Session, since: datetime) -> list[UsageRow]:
    """Calls, tokens, cost and outcomes per UTC day and agent since `since` (newest day first)."""
    return [UsageRow(day=r.day, agent=r.agent, calls=int(r.calls), input_tokens=int(r.input_tokens or 0),
                     output_tokens=int(r.output_tokens or 0), cost_usd=Decimal(r.cost_usd or 0), ok=int(r.ok),
                     repaired=int(r.repaired), fallback=int(r.fallback), error=int(r.error),
                     over_budget=int(r.over_budget), latency_ms=int(r.latency_ms or 0))
            for r in llm_calls.usage_by_agent_day(session, since)]
