"""The auto-labeler eval: any companies CSV, industry from the description by k-fold cross-validation.

Every method sees the same folds (stratified, fixed seed) and the same name-masked texts; embeddings are
computed once. The size band check compares the labeler's band with the band given by the published cut
points for every row with a head count (parsing and edge cases: empty, "21,500", 199/200/1999/2000).
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from core.errors import InvalidInput
from core.llm.embeddings import get_embedder
from tools.auto_labeler.classifier import METHODS, IndustryClassifier, mask_names
from tools.auto_labeler.taxonomy import EMPLOYEE_BANDS, parse_count, size_band

SUITE_ID = "auto_labeler.v1"
SEED = 0
FOLDS = 5


@dataclass
class AutoLabelerResult:
    data: str
    rows: int
    classes: dict[str, int]
    folds: int
    seed: int
    accuracy: dict[str, float]
    macro_f1: dict[str, float]
    size_rows: int = 0
    size_exact: int = 0
    size_missing: int = 0
    size_bands: dict[str, int] = field(default_factory=dict)
    embed_seconds: float = 0.0
    seconds: float = 0.0


def read_rows(path: Path, text_col: str, label_col: str) -> list[dict[str, str]]:
    if not path.is_file():
        raise InvalidInput("data", f"{path} is not a file")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        for name, col in (("text-col", text_col), ("label-col", label_col)):
            if col not in columns:
                raise InvalidInput(name, f"{path.name} has no column {col!r}; columns: {', '.join(columns)}")
        rows = [row for row in reader if (row.get(text_col) or "").strip() and (row.get(label_col) or "").strip()]
    if not rows:
        raise InvalidInput("data", f"{path.name} has no rows with both {text_col!r} and {label_col!r}")
    return rows


def _reference_band(employees: int) -> str:
    """The cut points read as a table, independently of size_band's code path."""
    bands = [band.value for _, band in EMPLOYEE_BANDS]
    for (limit, _), band in zip(EMPLOYEE_BANDS, bands, strict=True):
        if employees < limit:
            return band
    return "enterprise"


def _macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    scores = []
    for label in np.unique(truth):
        tp = float(np.sum((predicted == label) & (truth == label)))
        fp = float(np.sum((predicted == label) & (truth != label)))
        fn = float(np.sum((predicted != label) & (truth == label)))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def run(path: Path, *, text_col: str, label_col: str, mask_cols: tuple[str, ...] = (),
        employees_col: str | None = None, folds: int = FOLDS, seed: int = SEED) -> AutoLabelerResult:
    started = time.monotonic()
    rows = read_rows(path, text_col, label_col)
    texts = [mask_names(row[text_col], [row.get(c) or "" for c in mask_cols]) for row in rows]
    labels = np.asarray([row[label_col].strip() for row in rows])
    counts = Counter(labels.tolist())
    if min(counts.values()) < folds:
        rare = ", ".join(f"{k} ({v})" for k, v in counts.items() if v < folds)
        raise InvalidInput("label-col", f"every label needs at least {folds} rows for {folds}-fold CV: {rare}")
    embed_started = time.monotonic()
    vectors = np.asarray(get_embedder().embed(texts))
    embed_seconds = time.monotonic() - embed_started
    predicted = {method: np.empty(len(rows), dtype=object) for method in METHODS}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(vectors, labels):
        model = IndustryClassifier.fit([texts[i] for i in train], vectors[train], labels[train].tolist())
        test_texts = [texts[i] for i in test]
        for method in METHODS:
            predicted[method][test] = [label for label, _ in model.predict(test_texts, vectors[test], method)]
    result = AutoLabelerResult(
        data=str(path), rows=len(rows), classes=dict(counts.most_common()), folds=folds, seed=seed,
        accuracy={m: round(float(np.mean(predicted[m] == labels)), 4) for m in METHODS},
        macro_f1={m: round(_macro_f1(labels, predicted[m].astype(str)), 4) for m in METHODS},
        embed_seconds=round(embed_seconds, 1))
    if employees_col:
        _size_check(result, rows, employees_col)
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _size_check(result: AutoLabelerResult, rows: list[dict[str, str]], employees_col: str) -> None:
    bands: Counter[str] = Counter()
    for number, row in enumerate(rows, start=2):
        try:
            employees = parse_count(row.get(employees_col), employees_col)
        except InvalidInput as exc:
            raise InvalidInput(employees_col, f"row {number}: {exc.message}") from exc
        if employees is None:
            result.size_missing += 1
            continue
        band = size_band(employees)
        result.size_rows += 1
        result.size_exact += int(band is not None and band.value == _reference_band(employees))
        bands[band.value if band else "none"] += 1
    result.size_bands = dict(bands.most_common())


def as_json(result: AutoLabelerResult) -> dict[str, Any]:
    return dict(result.__dict__)
