"""Regression gate: thresholds per suite and mode (evals/thresholds.yaml) plus significant drops vs the baseline.

`salesagents eval gate --fast` runs the `scripted` sections (deterministic, seconds: CI runs it); without
`--fast` the `model` sections run too, on the configured or local model. Prompt promotion calls
`promotion_failures`: a version whose gate fails cannot become production unless an admin overrides (audited).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import InvalidInput
from core.models import EvalRun
from core.repositories import evals as repo
from evals.base import SuiteUnavailable
from evals.metrics import case_scores as to_scores
from evals.metrics import compare, direction
from evals.runner import Progress, run_suite
from evals.suites import get_suite, suite_ids

THRESHOLDS_FILE = Path(__file__).with_name("thresholds.yaml")
MODES = ("scripted", "model")


@dataclass(frozen=True)
class ModeSpec:
    limit: int | None
    minimum: dict[str, float]
    maximum: dict[str, float]


@dataclass(frozen=True)
class Significance:
    confidence: float = 0.95
    resamples: int = 1000
    min_drop: float = 0.05


@dataclass(frozen=True)
class Thresholds:
    significance: Significance
    suites: dict[str, dict[str, ModeSpec]]


@dataclass(frozen=True)
class Check:
    metric: str
    kind: str  # min | max | baseline | missing
    value: float | None
    limit: float | None
    ok: bool
    detail: str = ""

    def describe(self) -> str:
        if self.kind == "missing":
            return f"{self.metric}: not produced by the run"
        if self.kind == "baseline":
            return f"{self.metric}: {self.detail}"
        sign = "≥" if self.kind == "min" else "≤"
        return f"{self.metric} = {self.value:.3f}, must be {sign} {self.limit}"


@dataclass
class SuiteGate:
    suite: str
    mode: str
    run_id: int | None = None
    prompt_refs: list[str] = field(default_factory=list)
    skipped: str | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    def failures(self) -> list[str]:
        return [f"{self.suite} ({self.mode}, run {self.run_id}): {c.describe()}" for c in self.checks if not c.ok]


@dataclass
class GateReport:
    suites: list[SuiteGate] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.suites)

    def failures(self) -> list[str]:
        return [f for s in self.suites for f in s.failures()]


def _numbers(where: str, value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, int | float) and
                                              not isinstance(v, bool) for k, v in value.items()):
        raise InvalidInput(where, "expected metric: number pairs, e.g. {pass_rate: 1.0}")
    return {k: float(v) for k, v in value.items()}


def load_thresholds(path: Path | None = None) -> Thresholds:
    """Parse and validate thresholds.yaml; errors name the file and the key at fault."""
    path = path or THRESHOLDS_FILE
    name = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(name, f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(name, "expected the keys significance and suites")
    sig = data.get("significance") or {}
    if not isinstance(sig, dict) or set(sig) - {"confidence", "resamples", "min_drop"}:
        raise InvalidInput(f"{name}: significance", "allowed keys: confidence, resamples, min_drop")
    significance = Significance(float(sig.get("confidence", 0.95)), int(sig.get("resamples", 1000)),
                                float(sig.get("min_drop", 0.05)))
    if not 0.5 < significance.confidence < 1 or significance.resamples < 100 or significance.min_drop < 0:
        raise InvalidInput(f"{name}: significance", "confidence in (0.5, 1), resamples >= 100, min_drop >= 0")
    suites: dict[str, dict[str, ModeSpec]] = {}
    raw_suites = data.get("suites") or {}
    if not isinstance(raw_suites, dict):
        raise InvalidInput(f"{name}: suites", "expected suite ids as keys")
    known = suite_ids()
    for suite_id, modes in raw_suites.items():
        where = f"{name}: suites.{suite_id}"
        if suite_id not in known:
            raise InvalidInput(where, f"unknown suite (known: {', '.join(known)})")
        if not isinstance(modes, dict) or not modes or set(modes) - set(MODES):
            raise InvalidInput(where, f"expected one or both of {', '.join(MODES)}")
        suites[suite_id] = {}
        for mode, spec in modes.items():
            at = f"{where}.{mode}"
            if not isinstance(spec, dict) or set(spec) - {"limit", "min", "max"}:
                raise InvalidInput(at, "allowed keys: limit, min, max")
            limit = spec.get("limit")
            if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
                raise InvalidInput(f"{at}.limit", "expected a whole number from 1, or null for all cases")
            suites[suite_id][mode] = ModeSpec(limit, _numbers(f"{at}.min", spec.get("min")),
                                              _numbers(f"{at}.max", spec.get("max")))
    return Thresholds(significance, suites)


def thresholds_for(suite: str, mode: str, thresholds: Thresholds | None = None) -> dict[str, tuple[float | None,
                                                                                               float | None]]:
    """metric -> (min, max) of a suite and mode, for reports."""
    spec = (thresholds or load_thresholds()).suites.get(suite, {}).get(mode)
    if spec is None:
        return {}
    names = set(spec.minimum) | set(spec.maximum)
    return {n: (spec.minimum.get(n), spec.maximum.get(n)) for n in names}


def evaluate_run(session: Session, run: EvalRun, thresholds: Thresholds) -> list[Check]:
    """Threshold checks, then significant drops against the suite's baseline run of the same mode."""
    checks: list[Check] = []
    spec = thresholds.suites.get(run.suite, {}).get(run.mode)
    metrics = run.metrics
    if spec is not None:
        for metric, low in sorted(spec.minimum.items()):
            value = metrics.get(metric)
            checks.append(Check(metric, "missing", None, low, False) if value is None else
                          Check(metric, "min", float(value), low, float(value) >= low))
        for metric, high in sorted(spec.maximum.items()):
            value = metrics.get(metric)
            checks.append(Check(metric, "missing", None, high, False) if value is None else
                          Check(metric, "max", float(value), high, float(value) <= high))
    baseline = repo.baseline_run(session, run.suite, run.mode)
    if baseline is not None and baseline.id != run.id:
        sig = thresholds.significance
        deltas = compare(to_scores(repo.case_results(session, baseline.id)), to_scores(repo.case_results(session,
                                                                                                         run.id)),
                         resamples=sig.resamples, confidence=sig.confidence)
        for d in deltas:
            if d.delta is None or d.low is None or d.high is None or direction(d.metric) == 0:
                continue
            drop = -d.delta * direction(d.metric)
            bad = d.worse and drop >= sig.min_drop
            checks.append(Check(d.metric, "baseline", d.b, d.a, not bad,
                                f"{d.b:.3f} vs baseline run {baseline.id} {d.a:.3f} (Δ {d.delta:+.3f}, "
                                f"{sig.confidence:.0%} CI [{d.low:+.3f}, {d.high:+.3f}])"))
    return checks


def run_gate(session: Session, *, fast: bool, versions: dict[str, int] | None = None,
             settings: Settings | None = None, thresholds: Thresholds | None = None,
             reports_dir: Path | None = None, write_report: bool = True, actor: str = "gate",
             progress: Progress | None = None) -> GateReport:
    """Run every gated suite (scripted sections; model sections too unless `fast`) and check each run."""
    thresholds = thresholds or load_thresholds()
    versions = versions or {}
    report = GateReport()
    for suite_id, modes in thresholds.suites.items():
        suite = get_suite(suite_id)
        for mode in MODES:
            spec = modes.get(mode)
            if spec is None or (fast and mode != "scripted"):
                continue
            gate = SuiteGate(suite_id, mode)
            try:
                run = run_suite(session, suite_id, prompt_version=versions.get(suite.prompt_id), limit=spec.limit,
                                scripted=mode == "scripted", settings=settings, reports_dir=reports_dir,
                                write_report=write_report, actor=actor, note="gate", progress=progress)
            except SuiteUnavailable as exc:
                gate.skipped = str(exc)
                report.suites.append(gate)
                continue
            gate.run_id, gate.prompt_refs = run.id, list(run.prompt_refs)
            gate.checks = evaluate_run(session, run, thresholds)
            report.suites.append(gate)
    return report


def promotion_failures(session: Session, prompt_id: str, version: int, settings: Settings | None = None,
                       thresholds: Thresholds | None = None) -> list[str]:
    """Why `prompt_id@version` may not become production: its fast gate now, and its latest stored model run."""
    thresholds = thresholds or load_thresholds()
    failures: list[str] = []
    for suite_id, modes in thresholds.suites.items():
        if get_suite(suite_id).prompt_id != prompt_id:
            continue
        if "scripted" in modes:
            try:
                run = run_suite(session, suite_id, prompt_version=version, limit=modes["scripted"].limit,
                                scripted=True, settings=settings, write_report=False, actor="promotion",
                                note=f"promotion gate of {prompt_id}@{version}")
            except SuiteUnavailable:
                run = None
            if run is not None:
                failures += SuiteGate(suite_id, "scripted", run.id, checks=evaluate_run(session, run,
                                                                                        thresholds)).failures()
        if "model" in modes:
            latest = repo.latest_run_for_prompt(session, suite_id, "model", f"{prompt_id}@{version}")
            if latest is not None:
                failures += SuiteGate(suite_id, "model", latest.id, checks=evaluate_run(session, latest,
                                                                                        thresholds)).failures()
    return failures
