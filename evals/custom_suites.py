"""Suites that run their own command line (a data set, a model, figures) instead of prompt cases.

`salesagents eval run NAME [args...]` hands the remaining arguments to the module's `main(argv) -> int`.
Adding one: a module with that `main`, and its names (aliases allowed) here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from core.errors import InvalidInput

CUSTOM_SUITES: dict[str, str] = {
    "lead_scorer": "evals.lead_scoring.__main__",
    "lead_scoring.v1": "evals.lead_scoring.__main__",
    "auto_labeler": "evals.auto_labeler.__main__", "auto_labeler.v1": "evals.auto_labeler.__main__",
    "quote_followup": "evals.quote_followup.__main__", "quote_followup.v1": "evals.quote_followup.__main__",
    "health_monitor": "evals.health_monitor.__main__", "health_monitor.v1": "evals.health_monitor.__main__",
    "upsell": "evals.upsell.__main__", "upsell.v1": "evals.upsell.__main__",
    "expansion": "evals.upsell.expansion", "expansion.v1": "evals.upsell.expansion",
    "deal_coach": "evals.deal_coach.__main__", "deal_coach.v1": "evals.deal_coach.__main__",
    "nps_followup": "evals.nps_followup.__main__", "nps_followup.v1": "evals.nps_followup.__main__",
}

# Custom suites that also take the runner's own `--limit N` and `--scripted` (forwarded to them, not refused).
TAKES_RUNNER_OPTIONS: frozenset[str] = frozenset({"nps_followup", "nps_followup.v1"})

Main = Callable[[list[str]], int]


def custom_suite_names() -> list[str]:
    return list(CUSTOM_SUITES)


def is_custom(name: str) -> bool:
    return name in CUSTOM_SUITES


def get_main(name: str) -> Main:
    """The suite's entry point, imported only when that suite runs (heavy dependencies stay unloaded)."""
    module_path = CUSTOM_SUITES.get(name)
    if module_path is None:
        raise InvalidInput("suite", f"unknown custom suite {name!r}; known: {', '.join(CUSTOM_SUITES)}")
    entry = getattr(importlib.import_module(module_path), "main", None)
    if not callable(entry):
        raise InvalidInput("suite", f"{module_path} has no main(argv) for the suite {name!r}")
    return entry  # type: ignore[no-any-return]


def run_custom(name: str, argv: list[str]) -> int:
    return get_main(name)(argv)
