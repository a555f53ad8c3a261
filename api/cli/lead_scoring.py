"""`salesagents scoring train` (a new lead-scoring version from the closed leads) and `scoring models` (versions)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from core.db.engine import session_scope
from core.repositories import lead_scoring as repo
from tools.lead_scoring import training

app = typer.Typer(help="Lead-scoring models: train a new version, list versions.", no_args_is_help=True)


@app.command()
def train() -> None:
    """Train on the closed leads; the new version is promoted only if not worse on held-out leads."""
    from api.cli.main import console

    with session_scope() as session:
        outcome = training.train_and_store(session, datetime.now(UTC))
    verdict = "promoted" if outcome.promoted else "not promoted (worse than the current version)"
    current = outcome.compared_with
    versus = f"; current version AUC {current['auc']:.4f}, Brier {current['brier']:.4f}" if current else ""
    console.print(f"{training.MODEL_NAME} v{outcome.version} ({outcome.kind}): held-out AUC "
                    f"{outcome.metrics['auc']:.4f}, Brier {outcome.metrics['brier']:.4f} on "
                    f"{outcome.metrics['rows']} leads{versus}: {verdict}")


@app.command()
def models() -> None:
    """Every stored version with its held-out metrics and status."""
    from api.cli.main import console

    table = Table(title=f"{training.MODEL_NAME} versions")
    for column in ("version", "kind", "status", "AUC", "Brier", "held out", "trained on", "date"):
        table.add_column(column)
    with session_scope() as session:
        for row in repo.model_versions(session, training.MODEL_NAME):
            table.add_row(str(row.version), row.kind, row.status, f"{row.metrics.get('auc', 0):.4f}",
                          f"{row.metrics.get('brier', 0):.4f}", str(row.metrics.get("rows", "")),
                          str(row.training_rows), f"{row.trained_at:%Y-%m-%d}")
    console.print(table)
