"""The Lead Scorer's model steps: BANT signals from the lead's notes and emails, and the rep's explanation.

Both are optional (settings.lead_scorer_llm): the score itself never depends on a model call. Lead text goes
to the model only through the prompts' `fence` filter; factors are passed as plain one-line text.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from langgraph.runtime import Runtime

from agents.lead_scorer.state import ScorerState
from agents.runtime.context import RunContext
from core.errors import NotFound
from core.llm import ledger, retry
from core.llm.factory import model_config
from core.llm.generate import estimate_tokens, generate_text
from core.llm.guards import GuardContext
from core.llm.structured import StructuredOutputError, extract
from core.models import Lead
from core.repositories import events
from core.repositories import lead_scoring as repo
from core.services import outputs
from prompts.filters import plain
from prompts.registry import read_file, root
from tools.lead_scoring.bant import COLUMNS, BantSignals, column_values, note_texts, source_hash, writable
from tools.lead_scoring.features import raw_features

EXPLAIN = "explain"


def bant_source(session: Any, lead_id: int) -> str | None:
    """For gather: which texts the signals would come from (None when the lead has none)."""
    texts = repo.lead_texts(session, lead_id)
    return source_hash(texts) if texts else None


def agent_written_bant(record: dict[str, Any]) -> frozenset[str]:
    """BANT columns whose value is still what this agent wrote (a person's later edit makes it theirs again)."""
    bant = (record.get("custom") or {}).get("bant")
    if not isinstance(bant, dict):
        return frozenset()
    written, values = set(bant.get("written") or []), dict(bant.get("values") or {})
    fields = record.get("fields") or {}
    return frozenset(c for c in COLUMNS if c in written and c in values and _comparable(fields.get(c)) == values[c])


def _comparable(value: Any) -> Any:
    """The same value before and after a round trip through the database (Decimal 50000.0 vs 50000.00)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float | Decimal):
        return float(value)
    return str(value)


def _lead(session: Any, lead_id: int) -> Lead:
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise NotFound("lead", lead_id)
    return lead


def extract_bant(state: ScorerState, runtime: Runtime[RunContext]) -> ScorerState:
    """Read BANT from texts not read before; fill the lead's bant_* columns and rescore on the new features."""
    ctx, inputs = runtime.context, state["inputs"]
    if not ctx.settings.lead_scorer_llm or not inputs.get("bant_source"):
        return {}
    with ctx.transaction() as session:
        lead = _lead(session, inputs["lead_id"])
        previous = dict((lead.custom_fields or {}).get("bant") or {})
        if previous.get("source") == inputs["bant_source"]:
            return {}
        texts = repo.lead_texts(session, lead.id)
        prompt = read_file(root() / "lead_scorer" / "bant.md.j2")
        messages = prompt.messages(notes=note_texts(texts))
        cfg = model_config(prompt.purpose, ctx.settings)

        def record(outcome: str, *, tokens: tuple[int, int] = (0, 0), attempts: int = 0, latency_ms: int = 0,
                   error: str | None = None) -> None:
            ledger.record_call(session, agent=ctx.agent, purpose=prompt.purpose, prompt_ref=prompt.ref,
                               model=cfg.label, input_tokens=tokens[0], output_tokens=tokens[1],
                               latency_ms=latency_ms, attempts=attempts, outcome=outcome, error=error,
                               run_id=ctx.run_id, at=ctx.now, settings=ctx.settings)

        budget = ledger.budget_left(session, ctx.agent, ctx.run_id, ctx.now, ctx.settings)
        needed = estimate_tokens(messages, cfg.max_tokens)
        if not budget.allows(needed):
            record("over_budget", error=budget.describe(needed))
            return {"bant": {"error": budget.describe(needed)}}
        try:
            result = extract(BantSignals, messages, purpose=prompt.purpose, http_client=ctx.http_client,
                             settings=ctx.settings)
        except StructuredOutputError as exc:
            record("error", tokens=(exc.input_tokens, exc.output_tokens), attempts=exc.attempts,
                   latency_ms=exc.latency_ms, error=str(exc))
            return {"bant": {"error": str(exc)}}
        except retry.ModelCallError as exc:
            record("error", attempts=exc.attempts, error=str(exc))
            return {"bant": {"error": str(exc)}}
        record(result.outcome, tokens=(result.input_tokens, result.output_tokens), attempts=result.attempts,
               latency_ms=result.latency_ms)
        owned = list(previous.get("written") or [])
        values = writable(column_values(result.value), {c: getattr(lead, c) for c in COLUMNS}, owned)
        before = {name: getattr(lead, name) for name in values}
        for name, value in values.items():
            setattr(lead, name, value)
        signals = result.value.model_dump() | {"source": inputs["bant_source"], "activity_ids": [i for i, _ in texts],
                                               "written": sorted(set(owned) | set(values)),
                                               "values": {k: _comparable(getattr(lead, k)) for k in COLUMNS},
                                               "prompt_ref": prompt.ref, "model": result.model}
        lead.custom_fields = dict(lead.custom_fields or {}) | {"bant": signals}
        events.add_audit(session, actor=f"agent:{ctx.agent}", action="bant_extracted", entity_type="lead",
                         entity_id=lead.id, before={k: _json(v) for k, v in before.items()},
                         after={k: _json(v) for k, v in values.items()} | {"run_id": ctx.run_id,
                                                                          "prompt_ref": prompt.ref})
        session.flush()
        record_now = repo.lead_records(session, [lead.id])[0]
        features = raw_features(record_now, datetime.fromisoformat(inputs["as_of"]))
    return {"features": features, "bant": signals}


def _json(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | str | int | float) else str(value)


def next_step(band: str, lead: Lead) -> str:
    """The rep's next move from the band and the first BANT gap (need, budget, authority, timeline)."""
    if band == "cold":
        return "keep the lead in nurture and look again when it shows new activity"
    if not lead.bant_need:
        return "ask what problem they want to solve"
    if lead.bant_budget is None:
        return "confirm their budget"
    if lead.bant_authority is None:
        return "find out who decides the purchase"
    if lead.bant_authority is False:
        return "ask to bring the decision maker into the next call"
    if not lead.bant_timeline:
        return "ask when they plan to buy"
    return "book a demo and send a proposal" if band == "hot" else "schedule a discovery call"


def explain(state: ScorerState, runtime: Runtime[RunContext]) -> ScorerState:
    """One or two sentences on why the lead scores what it does (model or template) plus a next step."""
    ctx, inputs = runtime.context, state["inputs"]
    if not ctx.settings.lead_scorer_llm or state.get("skipped") or "score" not in state:
        return {}
    factors = state.get("factors") or {}
    shown = [plain(text, 120) for text in [*factors.get("raising", []), *factors.get("lowering", [])]]
    prompt = read_file(root() / "lead_scorer" / "explain.md.j2")
    with ctx.transaction() as session:
        lead = _lead(session, inputs["lead_id"])
        name = " ".join(part for part in (lead.first_name, lead.last_name) if part) or "Lead"
        generated = generate_text(
            session, agent=ctx.agent, prompt=prompt, run_id=ctx.run_id, http_client=ctx.http_client, now=ctx.now,
            settings=ctx.settings, guard=GuardContext(min_chars=10, max_chars=600),
            inputs={"lead_name": name, "company": lead.company_name or "", "score": state["score"],
                    "band": state["band"], "factors": shown, "notes": note_texts(repo.lead_texts(session, lead.id))})
        step = next_step(state["band"], lead)
        row = outputs.write_suggestion(
            session, ctx.origin, purpose=EXPLAIN, title=f"Why this lead scores {state['score']} ({state['band']})",
            body=f"{generated.text}\nNext step: {step}.",
            evidence={"factors": shown, "next_step": step, "bant": {c: _json(getattr(lead, c)) for c in COLUMNS}},
            prompt_ref=generated.prompt_ref, model=generated.model, fallback=generated.fallback)
    return {"suggestion_id": row.id}
