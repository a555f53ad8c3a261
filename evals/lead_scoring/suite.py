"""lead_scoring.v1: import a leads CSV with the product's importer, train on 70 %, measure on a stratified 30 %.

The same code path a customer's export takes, with no per-data-set tuning: the target column and the columns
that leak the outcome are the only inputs. Columns whose values are all distinct are identifiers (the first
becomes `external_id`, others are ignored); every other column becomes a custom field and a feature.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.repositories import lead_scoring as repo
from core.services.import_parsing import custom_key
from core.services.importing import IGNORE, import_csv
from tools.lead_scoring import metrics, training
from tools.lead_scoring.features import raw_features
from tools.lead_scoring.model import NaiveBayesScorer

SUITE_ID = "lead_scoring.v1"
HOLDOUT = 0.3
SEED = 42
DEFAULT_TARGET = "Converted"
DEFAULT_EXCLUDE = ("Tags", "Lead Quality")
TRUE = {"1", "1.0", "true", "yes", "y", "converted", "won"}
FALSE = {"0", "0.0", "false", "no", "n", "not converted", "lost"}


@dataclass
class LeadScoringResult:
    data: str
    target: str
    excluded: list[str]
    rows: int
    train_rows: int
    test_rows: int
    positive_rate: float
    model_kind: str
    model: dict[str, float]
    baseline: dict[str, float]
    calibration: list[dict[str, Any]]
    baseline_calibration: list[dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)


def _label(value: Any, row: int) -> int:
    if isinstance(value, bool):
        return int(value)
    text = str(value).strip().lower() if value is not None else ""
    if text in TRUE:
        return 1
    if text in FALSE:
        return 0
    raise InvalidInput(f"row {row}: target", f"{value!r} is not a yes/no outcome (1/0, true/false, yes/no)")


def plan_mapping(path: Path, target: str, exclude: list[str]) -> dict[str, str]:
    """Excluded columns ignored; identifier columns (all values distinct) -> external_id (first) or ignored."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise InvalidInput("data", f"{path.name} is empty")
        columns: list[list[str]] = [[] for _ in header]
        for raw in reader:
            for i, value in enumerate(raw[:len(header)]):
                columns[i].append(value)
    for name in [target, *exclude]:
        if name not in header:
            raise InvalidInput("--target" if name == target else "--exclude",
                               f"{path.name} has no column {name!r} (columns: {', '.join(header[:40])})")
    mapping = {name: IGNORE for name in exclude}
    for name, values in zip(header, columns, strict=True):
        if name in mapping or name == target:
            continue
        if values and all(values) and len(set(values)) == len(values):
            mapping[name] = IGNORE if "external_id" in mapping.values() else "external_id"
    return mapping


def run(session: Session, data: Path, *, target: str = DEFAULT_TARGET, exclude: tuple[str, ...] = DEFAULT_EXCLUDE,
        seed: int = SEED, now: datetime | None = None) -> LeadScoringResult:
    """Import, split, train the product's model and the baseline on the same rows, and measure both."""
    now = now or datetime.now(UTC)
    started = time.perf_counter()
    imported = import_csv(session, "lead", data, plan_mapping(data, target, list(exclude)), now=now)
    records = repo.lead_records(session, imported.ids)
    import_s = time.perf_counter() - started
    target_key = custom_key(target)
    labels = np.array([_label(r["custom"].get(target_key), n) for n, r in enumerate(records, start=1)])
    rows = [raw_features(r, now, frozenset({target_key})) for r in records]
    train_idx, test_idx = train_test_split(np.arange(len(rows)), test_size=HOLDOUT, random_state=seed,
                                           stratify=labels)
    train_rows, test_rows = [rows[i] for i in train_idx], [rows[i] for i in test_idx]
    started = time.perf_counter()
    model = training.fit(train_rows, labels[train_idx], seed=seed)
    probs = model.probabilities(test_rows)
    train_s = time.perf_counter() - started
    baseline = NaiveBayesScorer.train(train_rows, labels[train_idx]).probabilities(test_rows)
    y = labels[test_idx]
    return LeadScoringResult(
        data=str(data), target=target, excluded=list(exclude), rows=len(rows), train_rows=len(train_idx),
        test_rows=len(test_idx), positive_rate=round(float(labels.mean()), 4), model_kind=model.kind,
        model=metrics.summary(y, probs), baseline=metrics.summary(y, baseline),
        calibration=metrics.calibration_table(y, probs), baseline_calibration=metrics.calibration_table(y, baseline),
        seconds={"import": round(import_s, 1), "train": round(train_s, 1)})
