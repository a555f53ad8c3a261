"""upsell.v1 / expansion.v1: build the scenario accounts, run the detector through the agent runtime twice, and
measure each signal's precision and recall, suggestions, proposals, accepted deals and duplicates.

Signal figures come from the detector's own gather (the inputs every run decides on); the end-to-end figures from
what the runs wrote: a suggestion where an opportunity signal is expected, a proposed deal where the scenario
says strong, nothing new on the repeated run, and exactly one deal per accepted proposal (a second accept is
refused).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from agents import registry
from agents.expansion_detector import agent_specs as expansion_specs
from agents.runtime import runs
from agents.runtime.executor import execute_run
from agents.upsell_detector import agent_specs as upsell_specs
from agents.upsell_detector.nodes import AGENTS, evaluate
from core.config import Settings
from core.db.engine import session_scope
from core.errors import Conflict
from core.models import Deal, LlmCall, Suggestion, User
from core.services import suggestions
from evals.upsell.scenarios import MANAGER_EMAIL, Built, build_all, load
from tools.upsell.signals import PAYMENT_HEALTH, SIGNALS, thresholds


@dataclass
class UpsellResult:
    suite: str
    accounts: int
    signals: dict[str, dict[str, float]]
    suggestions: dict[str, float]
    proposals: dict[str, float]
    runs: dict[str, int]
    repeated_run_suggestions: int
    llm_calls: int
    accepted_deals: int
    second_accept_refused: int
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.mismatches and self.repeated_run_suggestions == 0 and self.llm_calls == 0
                and self.accepted_deals == self.proposals["predicted"] == self.second_accept_refused)


def _pr(expected: set[int], predicted: set[int]) -> dict[str, float]:
    hits = len(expected & predicted)
    return {"precision": hits / len(predicted) if predicted else 1.0,
            "recall": hits / len(expected) if expected else 1.0,
            "expected": len(expected), "predicted": len(predicted)}


def _round(engine: Engine, agent: str, account_ids: list[int], now: datetime, settings: Settings) -> list[str]:
    with session_scope(engine) as session:
        run_ids = []
        for account_id in account_ids:
            run = runs.create_run(session, agent, "manual", "account", account_id)
            assert run is not None
            run_ids.append(run.id)
    return [execute_run(run_id, now=now, engine=engine, settings=settings).status for run_id in run_ids]


def _count(engine: Engine, agent: str) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Suggestion).where(Suggestion.agent == agent)) or 0)


def run(engine: Engine, now: datetime, settings: Settings, kind: str) -> UpsellResult:
    """The whole suite for one detector kind on `engine` (a fresh database; it commits)."""
    agent = AGENTS[kind]
    with session_scope(engine) as session:
        built = [b for b in build_all(session, now, load()) if b.case.role == "case"]
    by_id: dict[int, Built] = {b.account_id: b for b in built}
    t = thresholds(settings)
    detected: dict[int, set[str]] = {}
    with session_scope(engine) as session:
        for account_id in by_id:
            detected[account_id] = set(evaluate(session, kind, account_id, now, t)["signals"])
    names = SIGNALS[kind]
    signal_pr = {name: _pr({a for a, b in by_id.items() if name in b.case.expected},
                           {a for a, found in detected.items() if name in found}) for name in names}
    specs = [s for s in (*upsell_specs(), *expansion_specs()) if s.name not in {x.name for x in registry.all_specs()}]
    for spec in specs:
        registry.register(spec)
    try:
        statuses = _round(engine, agent, sorted(by_id), now, settings)
        first = _count(engine, agent)
        statuses += _round(engine, agent, sorted(by_id), now, settings)
        repeated = _count(engine, agent) - first
    finally:
        for spec in specs:
            registry.unregister(spec.name)
    with session_scope(engine) as session:
        rows = session.scalars(select(Suggestion).where(Suggestion.agent == agent)).all()
        suggested = {r.subject_id for r in rows}
        proposed = {r.subject_id: r.id for r in rows if "proposal" in r.evidence}
        llm_calls = int(session.scalar(select(func.count()).select_from(LlmCall).where(LlmCall.agent == agent)) or 0)
        manager_id = session.scalar(select(User.id).where(User.email == MANAGER_EMAIL))
    assert manager_id is not None
    refused = 0
    for suggestion_id in proposed.values():
        with session_scope(engine) as session:
            suggestions.accept(session, suggestion_id, manager_id, now=now)
        try:
            with session_scope(engine) as session:
                suggestions.accept(session, suggestion_id, manager_id, now=now)
        except Conflict:
            refused += 1
    with session_scope(engine) as session:
        deals = int(session.scalar(select(func.count()).select_from(Deal)
                                   .where(Deal.external_id.like("suggestion:%"))) or 0)
    opportunity = [n for n in names if n != PAYMENT_HEALTH]
    want_suggestion = {a for a, b in by_id.items() if b.case.expected & set(opportunity)}
    want_proposal = {a for a, b in by_id.items() if kind in b.case.strong}
    mismatches = []
    for account_id, b in sorted(by_id.items()):
        want, got = b.case.expected & set(names), detected[account_id]
        if want != got:
            mismatches.append(f"{b.case.name}: expected {sorted(want)}, detected {sorted(got)}")
        if (account_id in want_proposal) != (account_id in proposed):
            mismatches.append(f"{b.case.name}: proposal expected {account_id in want_proposal}, "
                              f"written {account_id in proposed}")
    return UpsellResult(
        suite=f"{kind}.v1", accounts=len(by_id), signals=signal_pr, suggestions=_pr(want_suggestion, suggested),
        proposals=_pr(want_proposal, set(proposed)), runs=dict(Counter(statuses)), repeated_run_suggestions=repeated,
        llm_calls=llm_calls, accepted_deals=deals, second_accept_refused=refused, mismatches=mismatches)


def as_json(result: UpsellResult) -> str:
    return json.dumps(asdict(result) | {"ok": result.ok}, indent=2)
