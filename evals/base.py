"""The shapes every suite shares: a case, an evaluator's result, the evaluator signature, and JSONL case files."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import CrmError, InvalidInput


@dataclass(frozen=True)
class EvalCase:
    """One scenario: the prompt inputs, what good looks like (`reference`), and what a scripted model answers."""

    case_id: str
    inputs: dict[str, Any]
    reference: dict[str, Any] = field(default_factory=dict)
    scripted_reply: str | None = None


@dataclass(frozen=True)
class EvalResult:
    """One evaluator's verdict on one case: `score` in 0..1, None when the check does not apply to the case."""

    key: str
    score: float | None
    comment: str = ""


# (inputs, outputs, reference) -> EvalResult: the one signature of every evaluator, deterministic or judge.
Evaluator = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], EvalResult]


class SuiteUnavailable(CrmError):
    """A suite cannot run here (its data set is missing); runners skip it with this message."""


def read_cases(path: Path) -> list[EvalCase]:
    """Hand-written cases, one JSON object a line: {"id", "inputs", "reference"?, "scripted_reply"?}."""
    cases: list[EvalCase] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(where, f"not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise InvalidInput(where, "expected a JSON object")
        unknown = sorted(set(row) - {"id", "inputs", "reference", "scripted_reply"})
        if unknown:
            raise InvalidInput(f"{where}: {unknown[0]}", "unknown field (id, inputs, reference, scripted_reply)")
        case_id, inputs = row.get("id"), row.get("inputs")
        if not isinstance(case_id, str) or not case_id.strip():
            raise InvalidInput(f"{where}: id", "expected a non-empty string")
        if case_id in seen:
            raise InvalidInput(f"{where}: id", f"{case_id!r} is used twice")
        if not isinstance(inputs, dict):
            raise InvalidInput(f"{where}: inputs", "expected an object of prompt inputs")
        reference = row.get("reference", {})
        if not isinstance(reference, dict):
            raise InvalidInput(f"{where}: reference", "expected an object")
        reply = row.get("scripted_reply")
        if reply is not None and not isinstance(reply, str):
            raise InvalidInput(f"{where}: scripted_reply", "expected a string")
        seen.add(case_id)
        cases.append(EvalCase(case_id, inputs, reference, reply))
    return cases
