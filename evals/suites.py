"""The suite registry: versioned ids (`<name>.v<N>`) mapped to their modules, loaded on first use.

A suite's cases or evaluators change meaning only under a new id (`injection.v2`), so stored runs of one id
stay comparable. Adding a suite: a package `evals/<name>/` with `suite.py` exposing `SUITE`, and a line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.config import Settings
from core.errors import InvalidInput
from core.llm.guards import GuardContext
from evals.base import EvalCase, Evaluator

MODULES = {
    "injection.v1": "evals.injection.suite",
    "nps_reply.v1": "evals.nps_reply.suite",
    "nps_reply.v2": "evals.nps_reply.suite_v2",
}

# (case, outputs, scripted) -> (label, prediction, probability) for suites that classify something.
Classifier = Callable[[EvalCase, dict[str, Any], bool], tuple[int | None, int | None, float | None]]


@dataclass(frozen=True)
class Suite:
    suite_id: str
    prompt_id: str
    description: str
    load_cases: Callable[[Settings], list[EvalCase]]
    guard: Callable[[EvalCase], GuardContext]
    evaluators: tuple[Evaluator, ...]
    pass_keys: tuple[str, ...]
    classify: Classifier | None = None
    judged: bool = False  # compared with the reference reply by the pairwise judge when one is configured


def suite_ids() -> list[str]:
    return list(MODULES)


def get_suite(suite_id: str) -> Suite:
    module = MODULES.get(suite_id)
    if module is None:
        raise InvalidInput("suite", f"unknown suite {suite_id!r}; known: {', '.join(MODULES)}")
    suite = importlib.import_module(module).SUITE
    if not isinstance(suite, Suite) or suite.suite_id != suite_id:
        raise InvalidInput("suite", f"{module}.SUITE is not the suite {suite_id!r}")
    return suite
