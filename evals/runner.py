"""Run one suite: draft every case through guarded generation, score it, store the run and write its report.

The caller owns the transaction (CLI command, gate, test): a run is stored whole or not at all. Model calls
are booked in the ledger under the agent `evals`; unless an admin set `llm_budgets.evals`, an eval run has no
token budget of its own (it is an explicit admin action, bounded by `--limit`), so budget refusals cannot
quietly turn drafts into templates and skew the metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session

from core.config import Settings, get_settings
from core.errors import CrmError, InvalidInput
from core.llm import ledger, local_server
from core.llm.factory import model_config
from core.llm.generate import FallbackRejectedError, generate_text
from core.models import EvalCaseResult, EvalRun
from core.repositories import evals as repo
from core.repositories.events import add_audit
from core.services import eval_feedback
from evals import scripted as scripted_model
from evals.base import EvalCase, EvalResult, Evaluator
from evals.judge import PairwiseJudge, judge_configured
from evals.metrics import CaseScore, compute
from evals.suites import Suite, get_suite
from prompts.registry import Prompt, load_prompt, load_version

AGENT = "evals"
UNLIMITED_TOKENS = 10**12
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class CaseRecord:
    """One case's outputs and verdicts, before it becomes a stored row."""

    case: EvalCase
    outputs: dict[str, Any]
    results: list[EvalResult]
    passed: bool
    label: int | None
    prediction: int | None
    probability: float | None
    latency_ms: int

    def score(self) -> CaseScore:
        return CaseScore(self.case.case_id, self.passed, self.outputs["outcome"],
                         {r.key: r.score for r in self.results}, len(self.outputs["text"]), self.label,
                         self.prediction, self.probability)


def run_settings(settings: Settings, *, purpose: str, scripted: bool, model: str | None) -> Settings:
    """The settings a run uses: the scripted server or a model override for the prompt's purpose, and a budget."""
    budgets = dict(settings.llm_budgets)
    budgets.setdefault(AGENT, {"per_run": UNLIMITED_TOKENS, "per_day": UNLIMITED_TOKENS})
    update: dict[str, Any] = {"llm_budgets": budgets}
    if scripted:
        update |= {"llm_base_url": scripted_model.SCRIPTED_BASE_URL, "llm_model": scripted_model.SCRIPTED_MODEL,
                   "llm_purposes": {}, "llm_max_attempts": 1}
    elif model:
        purposes = {k: dict(v) for k, v in settings.llm_purposes.items()}
        purposes[purpose] = {**purposes.get(purpose, {}), "model": model}
        update["llm_purposes"] = purposes
    return settings.model_copy(update=update)


def load_suite_prompt(session: Session, prompt_id: str, version: int | None) -> Prompt:
    if version is not None:
        return load_version(session, prompt_id, version)
    return load_prompt(session, prompt_id, "production")


def draft(session: Session, prompt: Prompt, case: EvalCase, suite: Suite, settings: Settings,
          http_client: httpx.Client | None) -> dict[str, Any]:
    """The case through generate_text, recorded as evaluator `outputs`; a case that cannot run is an exception."""
    guard = suite.guard(case)
    outputs: dict[str, Any] = {"text": "", "outcome": "exception", "fallback": False, "violations": [],
                               "guard": guard, "system": None, "user": None, "error": None, "input_tokens": 0,
                               "output_tokens": 0, "call_id": None}
    # Cases carry every input the suite's prompt versions know; each version gets the ones it declares.
    inputs = {k: v for k, v in case.inputs.items() if k in prompt.inputs}
    try:
        system, user = prompt.messages(**inputs)
        outputs["system"], outputs["user"] = system.text, user.text
        result = generate_text(session, agent=AGENT, prompt=prompt, inputs=inputs, guard=guard,
                               http_client=http_client, settings=settings)
    except (CrmError, FallbackRejectedError) as exc:
        outputs["error"] = str(exc)
        return outputs
    outputs.update(text=result.text, outcome=result.outcome, fallback=result.fallback,
                   violations=list(result.violations), input_tokens=result.input_tokens,
                   output_tokens=result.output_tokens, call_id=result.call_id, note=result.note)
    return outputs


def evaluate(suite: Suite, case: EvalCase, outputs: dict[str, Any], evaluators: list[Evaluator]) -> list[EvalResult]:
    results = [ev(case.inputs, outputs, case.reference) for ev in evaluators]
    keys = [r.key for r in results]
    if len(set(keys)) != len(keys):
        raise InvalidInput(suite.suite_id, f"two evaluators report the same key: {keys}")
    return results


def passed(suite: Suite, outputs: dict[str, Any], results: list[EvalResult]) -> bool:
    """Every pass check that applies scored 1 (checks that do not apply, score None, are ignored)."""
    if outputs["outcome"] == "exception":
        return False
    return all(r.score is None or r.score >= 1.0 for r in results if r.key in suite.pass_keys)


def reviewed_cases(session: Session, suite_id: str) -> list[EvalCase]:
    """Drafts people approved, edited or rejected and added to this suite (first, so `--limit` keeps them)."""
    return [EvalCase(row.case_id, dict(row.inputs), dict(row.reference), row.scripted_reply)
            for row in eval_feedback.cases_of(session, suite_id)]


def run_suite(session: Session, suite_id: str, *, prompt_version: int | None = None, model: str | None = None,
              limit: int | None = None, scripted: bool = False, settings: Settings | None = None,
              http_client: httpx.Client | None = None, judge_http_client: httpx.Client | None = None,
              reports_dir: Path | None = None, write_report: bool = True, baseline: bool = False,
              actor: str = "cli", note: str | None = None, progress: Progress | None = None) -> EvalRun:
    """Run a suite and store it; raises SuiteUnavailable when its data set is missing (nothing is written)."""
    base = settings or get_settings()
    if limit is not None and limit < 1:
        raise InvalidInput("--limit", f"must be at least 1, got {limit}")
    if scripted and model:
        raise InvalidInput("--model", "a scripted run has no model to choose")
    suite = get_suite(suite_id)
    cases = reviewed_cases(session, suite_id) + suite.load_cases(base)
    if limit is not None:
        cases = cases[:limit]
    prompt = load_suite_prompt(session, suite.prompt_id, prompt_version)
    s = run_settings(base, purpose=prompt.purpose, scripted=scripted, model=model)
    evaluators: list[Evaluator] = list(suite.evaluators)
    judge = None
    if suite.judged and not scripted and judge_configured(s):
        judge = PairwiseJudge(session, s, http_client=judge_http_client)
        evaluators.append(judge)
    cfg = model_config(prompt.purpose, s)
    if not scripted and (cfg.local or (judge is not None and model_config("judge", s).local)) and http_client is None:
        local_server.serve(s)  # reuses the running server; without one every case would quietly be a template
    model_label = cfg.label
    run = repo.add_run(session, suite=suite.suite_id, mode="scripted" if scripted else "model",
                       prompt_refs=[prompt.ref] + ([judge.prompt.ref] if judge else []), model=model_label,
                       judge_model=judge.model if judge else None, case_limit=limit, created_by=actor, note=note)
    started = time.perf_counter()
    records: list[CaseRecord] = []
    rows: list[EvalCaseResult] = []
    for position, case in enumerate(cases):
        t0 = time.perf_counter()
        client = scripted_model.client(case.scripted_reply) if scripted else http_client
        outputs = draft(session, prompt, case, suite, s, client)
        results = evaluate(suite, case, outputs, evaluators)
        label, prediction, probability = suite.classify(case, outputs, scripted) if suite.classify else (None,) * 3
        record = CaseRecord(case, outputs, results, passed(suite, outputs, results), label, prediction,
                            probability, int((time.perf_counter() - t0) * 1000))
        records.append(record)
        rows.append(_store(session, run, position, record))
        if progress:
            progress(position + 1, len(cases), case.case_id)
    session.flush()
    draft_in = sum(r.outputs["input_tokens"] for r in records)
    draft_out = sum(r.outputs["output_tokens"] for r in records)
    cost = ledger.cost_usd(model_label, draft_in, draft_out, s)
    if judge:
        cost += ledger.cost_usd(judge.model, judge.input_tokens, judge.output_tokens, s)
        draft_in, draft_out = draft_in + judge.input_tokens, draft_out + judge.output_tokens
    run.metrics = compute([r.score() for r in records])
    run.case_count, run.passed_count = len(records), sum(r.passed for r in records)
    run.input_tokens, run.output_tokens, run.cost_usd = draft_in, draft_out, Decimal(cost)
    run.duration_ms = int((time.perf_counter() - started) * 1000)
    run.status, run.finished_at = "done", datetime.now(UTC)
    session.flush()
    if baseline:
        mark_baseline(session, run, actor)
    if write_report:
        from evals import report

        run.report_path = str(report.write_report(session, run, rows, reports_dir or base.data_dir / "reports"))
        session.flush()
    return run


def _store(session: Session, run: EvalRun, position: int, record: CaseRecord) -> EvalCaseResult:
    out = record.outputs
    return repo.add_case_result(
        session, run_id=run.id, case_id=record.case.case_id, position=position, passed=record.passed,
        outcome=out["outcome"], fallback=bool(out["fallback"]), scores={r.key: r.score for r in record.results},
        comments={r.key: r.comment for r in record.results if r.comment}, inputs=record.case.inputs,
        reference=record.case.reference, output=out["text"], label=record.label, prediction=record.prediction,
        probability=record.probability, input_tokens=out["input_tokens"], output_tokens=out["output_tokens"],
        latency_ms=record.latency_ms, llm_call_id=out["call_id"], error=out["error"])


def mark_baseline(session: Session, run: EvalRun, actor: str) -> None:
    """The run the gate compares later runs of its suite and mode against; the change is audited."""
    if run.status != "done":
        raise InvalidInput("run", f"run {run.id} has not finished")
    previous = repo.set_baseline(session, run)
    add_audit(session, actor=actor, action="eval.baseline", entity_type="eval_run", entity_id=run.id,
              before={"baseline_run": previous.id if previous else None},
              after={"baseline_run": run.id, "suite": run.suite, "mode": run.mode})
    session.flush()
