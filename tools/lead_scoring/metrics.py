"""Held-out quality of a probability model: ranking (AUC), accuracy of the probabilities (Brier), calibration."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score


def auc(labels: np.ndarray, probs: np.ndarray) -> float:
    return float(roc_auc_score(labels, probs))


def brier(labels: np.ndarray, probs: np.ndarray) -> float:
    return float(brier_score_loss(labels, probs))


def summary(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    return {"auc": round(auc(labels, probs), 4), "brier": round(brier(labels, probs), 4), "rows": int(len(labels)),
            "positive_rate": round(float(np.mean(labels)), 4)}


def calibration_table(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Per score band (0-10, 10-20, ...): how many leads, the mean predicted and the observed conversion rate."""
    table = []
    edges = np.linspace(0.0, 1.0, bins + 1)
    for k in range(bins):
        upper = probs <= edges[k + 1] if k == bins - 1 else probs < edges[k + 1]
        mask = (probs >= edges[k]) & upper
        n = int(mask.sum())
        table.append({"band": f"{int(edges[k] * 100)}-{int(edges[k + 1] * 100)}", "leads": n,
                      "predicted": round(float(probs[mask].mean()), 4) if n else None,
                      "observed": round(float(labels[mask].mean()), 4) if n else None})
    return table


def not_worse(new: dict[str, float], old: dict[str, float], tolerance: float = 0.005) -> bool:
    """Promotion rule: on the same held-out rows, AUC not lower and Brier not higher beyond a small tolerance."""
    return new["auc"] >= old["auc"] - tolerance and new["brier"] <= old["brier"] + tolerance
