"""Compare two runs of one suite: metric deltas with bootstrap intervals, flipped cases, outputs side by side."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.models import EvalCaseResult, EvalRun
from core.repositories import evals as repo
from evals.metrics import Delta, case_scores, compare


@dataclass(frozen=True)
class Flip:
    """A case that passed in one run and failed in the other."""

    case_id: str
    a: EvalCaseResult
    b: EvalCaseResult

    @staticmethod
    def failed_checks(row: EvalCaseResult) -> list[str]:
        return [f"{k}: {row.comments.get(k, '')}".strip() for k, v in row.scores.items() if v is not None and v < 1]


@dataclass(frozen=True)
class Comparison:
    a: EvalRun
    b: EvalRun
    deltas: list[Delta]
    regressed: list[Flip]  # passed in A, failed in B
    fixed: list[Flip]  # failed in A, passed in B
    changed_outputs: int
    only_a: list[str]
    only_b: list[str]


def get_run(session: Session, run_id: int) -> EvalRun:
    run = repo.get_run(session, run_id)
    if run is None or run.status != "done":
        raise NotFound("eval run", run_id)
    return run


def compare_runs(session: Session, run_a: int, run_b: int, *, resamples: int = 1000,
                 confidence: float = 0.95) -> Comparison:
    a, b = get_run(session, run_a), get_run(session, run_b)
    if a.suite != b.suite:
        raise InvalidInput("RUN_B", f"run {b.id} is of suite {b.suite}, run {a.id} of {a.suite}: compare runs of "
                                    "one suite")
    rows_a, rows_b = repo.case_results(session, a.id), repo.case_results(session, b.id)
    deltas = compare(case_scores(rows_a), case_scores(rows_b), resamples=resamples, confidence=confidence)
    by_a = {r.case_id: r for r in rows_a}
    by_b = {r.case_id: r for r in rows_b}
    both = [c for c in by_a if c in by_b]
    regressed = [Flip(c, by_a[c], by_b[c]) for c in both if by_a[c].passed and not by_b[c].passed]
    fixed = [Flip(c, by_a[c], by_b[c]) for c in both if not by_a[c].passed and by_b[c].passed]
    changed = sum(by_a[c].output != by_b[c].output for c in both)
    return Comparison(a, b, deltas, regressed, fixed, changed, [c for c in by_a if c not in by_b],
                      [c for c in by_b if c not in by_a])
