"""Benchmark: orchestration overhead of the real agents (run wall time minus model time), and model calls and
tokens per run, first run vs an unchanged re-run (which must make zero calls).

Seeds a synthetic CRM (`--accounts`) in a throwaway database, trains the lead model, then for each agent takes
up to `--subjects` of its own subjects (its sweep's subjects, or the seeded leads / NPS answers for the
event-driven ones), runs each through `execute_run` (claim, gather, input hash, LangGraph with Postgres
checkpoints, outputs), and runs every subject again with nothing changed. Model time is `agent_runs.model_ms`
(the ledger's latency of the run's model calls). The model is the embedded local model (`--model local`) or a
scripted one at the HTTP boundary (`--model scripted`: every call answered at once, so model time is ~0 and the
answers, which are not tailored to the guards, may be repaired or fall back to the templates).
Run: `.venv/bin/python -m benchmarks.bench_agents [--accounts 60 --subjects 5 --model local]`.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from agents import registry
from agents.runtime import runs
from agents.runtime.checkpoint import setup_checkpointer
from agents.runtime.executor import execute_run
from benchmarks.common import Figure, percentile, scripted_client, throwaway_database
from core.config import Settings, get_settings
from core.db.engine import session_scope
from core.llm import local_server
from core.llm.embeddings import get_embedder
from core.models import AgentRun, Lead, NpsResponse
from core.seeding.generator import seed
from tools.lead_scoring import training

console = Console(width=180)
NAME = "agents"
NOW = datetime(2026, 11, 2, 8, tzinfo=UTC)
AGENTS = ("lead_scorer", "quote_followup", "deal_coach", "health_monitor", "nps_followup")
QUICK = ["--accounts", "40", "--subjects", "3", "--model", "scripted"]
FULL = ["--accounts", "60", "--subjects", "3", "--model", "scripted"]
SCRIPTED_TEXT = ("Thank you for your time. Could we book a short call next week to agree on the next step "
                 "together?")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, default=60, help="seeded CRM size")
    p.add_argument("--subjects", type=int, default=4, help="subjects per agent")
    p.add_argument("--model", choices=("local", "scripted"), default="local")
    p.add_argument("--agents", default=",".join(AGENTS), help="comma-separated agents to measure")
    return p


def _instance(schema: dict[str, Any], defs: dict[str, Any], today: date) -> Any:
    """A minimal value of a JSON schema: what a scripted model fills a forced tool call with."""
    if "$ref" in schema:
        return _instance(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, today)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return _instance(options[0], defs, today)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _instance(props[name], defs, today) for name in schema.get("required", list(props))}
    if kind == "array":
        return [_instance(schema.get("items", {}), defs, today) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if schema.get("format") == "date":
        return (today + timedelta(days=2)).isoformat()
    return SCRIPTED_TEXT


def scripted_answer(body: dict[str, Any]) -> dict[str, Any] | str:
    if not body.get("tools"):
        return SCRIPTED_TEXT
    params = body["tools"][0]["function"].get("parameters", {})
    return _instance(params, params.get("$defs", {}), NOW.date())  # type: ignore[no-any-return]


def _settings(model: str) -> Settings:
    base = get_settings().model_copy(update={"lead_scorer_llm": True, "llm_budgets": {}})
    if model == "local":
        return base.model_copy(update={"llm_base_url": None, "llm_model": None, "llm_purposes": {}})
    return base.model_copy(update={"llm_base_url": "http://scripted-model.invalid/v1", "llm_model": "scripted",
                                   "llm_purposes": {}, "llm_max_attempts": 1})


def subjects(session: Session, agent: str, limit: int) -> list[int]:
    """The agent's own sweep subjects; the seeded open leads / NPS answers for the event-driven ones."""
    if agent == "lead_scorer":
        return list(session.scalars(select(Lead.id).where(Lead.converted_at.is_(None)).order_by(Lead.id)
                                    .limit(limit)))
    if agent == "nps_followup":
        return list(session.scalars(select(NpsResponse.id).where(NpsResponse.comment.is_not(None))
                                    .order_by(NpsResponse.score, NpsResponse.id).limit(limit)))
    spec = registry.get(agent)
    if spec.subjects is None:
        raise RuntimeError(f"{agent} has no subjects function")
    return spec.subjects(session, NOW)[:limit]


@dataclass
class Measured:
    agent: str
    subjects: int
    first: list[dict[str, Any]]
    second: list[dict[str, Any]]
    third: list[dict[str, Any]]


def _run_all(engine: Engine, agent: str, ids: list[int], settings: Settings,
             client: httpx.Client | None) -> list[dict[str, Any]]:
    spec = registry.get(agent)
    with session_scope(engine) as session:
        run_ids = [r.id for r in (runs.create_run(session, agent, "manual", spec.subject_type, i) for i in ids) if r]
    rows = []
    for run_id in run_ids:
        outcome = execute_run(run_id, now=NOW, engine=engine, settings=settings, http_client=client)
        with Session(engine) as session:
            run = session.get_one(AgentRun, run_id)
            rows.append({"status": outcome.status, "wall_ms": outcome.duration_ms, "model_ms": run.model_ms,
                         "calls": run.llm_calls, "tokens": run.input_tokens + run.output_tokens,
                         "error": outcome.error})
    return rows


def measure(engine: Engine, agents: list[str], limit: int, settings: Settings,
            client: httpx.Client | None) -> list[Measured]:
    found = []
    for agent in agents:
        with Session(engine) as session:
            ids = subjects(session, agent, limit)
        first = _run_all(engine, agent, ids, settings, client)
        second = _run_all(engine, agent, ids, settings, client)
        third = _run_all(engine, agent, ids, settings, client)
        found.append(Measured(agent, len(ids), first, second, third))
    return found


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.mean(r[key] for r in rows) if rows else 0.0


def _overheads(rows: list[dict[str, Any]]) -> list[float]:
    return [float(r["wall_ms"] - r["model_ms"]) for r in rows]


def run(args: argparse.Namespace) -> list[Figure]:
    settings = _settings(args.model)
    agents = [a for a in args.agents.split(",") if a]
    client = None
    get_embedder(settings).embed(["warm-up"])  # load the embedding model once, as a running worker has it
    if args.model == "local":
        local_server.serve(settings)
    else:
        client, _calls = scripted_client(scripted_answer)
    with throwaway_database("agents") as (url, engine):
        setup_checkpointer(url)
        with session_scope(engine) as session:
            seed(session, accounts=args.accounts, seed=7, now=NOW)
            training.train_and_store(session, NOW)
        results = measure(engine, agents, args.subjects, settings, client)
    table = Table(title=f"Agent runs through execute_run ({args.model} model, seeded CRM of {args.accounts} "
                        "accounts): first run vs unchanged re-run")
    for col in ("agent", "runs", "statuses", "wall p50 ms", "model ms mean", "overhead p50 ms", "overhead p95 ms",
                "calls/run", "tokens/run", "re-run statuses", "re-run wall p50 ms", "re-run calls", "3rd run calls"):
        table.add_column(col, justify="left" if col in ("agent", "statuses", "re-run statuses") else "right")
    figures: list[Figure] = []
    for m in results:
        if not m.first:
            table.add_row(m.agent, "0", "no subjects in the seeded CRM", *[""] * 10)
            continue
        statuses = ", ".join(sorted({r["status"] for r in m.first}))
        again = ", ".join(sorted({r["status"] for r in m.second}))
        over, over2 = _overheads(m.first), _overheads(m.second)
        table.add_row(m.agent, str(len(m.first)), statuses, f"{percentile([r['wall_ms'] for r in m.first], 50):,.0f}",
                      f"{_mean(m.first, 'model_ms'):,.0f}", f"{percentile(over, 50):,.0f}",
                      f"{percentile(over, 95):,.0f}", f"{_mean(m.first, 'calls'):.1f}",
                      f"{_mean(m.first, 'tokens'):,.0f}", again,
                      f"{percentile([r['wall_ms'] for r in m.second], 50):,.0f}",
                      str(sum(r["calls"] for r in m.second)), str(sum(r["calls"] for r in m.third)))
        size = f"{len(m.first)} subjects, {args.model} model"
        figures += [
            Figure(NAME, f"{m.agent}: overhead per run (wall - model), p50", percentile(over, 50), "ms",
                   "unchanged re-run, p50", percentile(over2, 50), size,
                   f"model {_mean(m.first, 'model_ms'):,.0f} ms/run"),
            Figure(NAME, f"{m.agent}: model calls per run", _mean(m.first, "calls"), "calls",
                   "unchanged re-run (must be 0)", _mean(m.second, "calls"), size,
                   f"{_mean(m.first, 'tokens'):,.0f} tokens/run first, "
                   f"{_mean(m.second, 'tokens'):,.0f} re-run; 3rd run {sum(r['calls'] for r in m.third)} calls"),
        ]
        errors = {r["error"] for r in m.first + m.second + m.third if r["error"]}
        for error in errors:
            console.print(f"[yellow]{m.agent}: {error}[/yellow]")
    console.print(table)
    return figures


def main() -> None:
    run(parser().parse_args())


if __name__ == "__main__":
    main()
