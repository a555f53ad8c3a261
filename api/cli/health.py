"""`salesagents health show ACCOUNT_ID` (score, band, factors, history) and `health weights [--learn]`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from core.config import get_settings
from core.db.engine import session_scope
from core.errors import NotFound
from core.repositories import lead_scoring as models_repo
from tools.health import learning
from tools.health.api import current_health, health_history
from tools.health.assess import assess
from tools.health.scoring import band_of, curve_words, settings_weights
from tools.health.signals import CATEGORIES, SIGNALS

app = typer.Typer(help="Customer health: an account's score and history; the weights and learning them.",
                  no_args_is_help=True)


@app.command()
def show(account_id: int, history: Annotated[int, typer.Option(help="How many past scores to list.")] = 10) -> None:
    """The account's latest stored health (or, never scored, its health computed now), factors and history."""
    from api.cli.main import console

    now = datetime.now(UTC)
    with session_scope() as session:
        latest = current_health(session, account_id)
        if latest is None:
            fresh = assess(session, account_id, now, get_settings())
            if fresh["score"] is None:
                raise NotFound("health data for account", account_id)
            score, factors = fresh["score"], fresh["factors"]
            band_text: str | None = band_of(score)
            console.print(f"[bold]{fresh['account_name']}[/]: not scored by the Health Monitor yet; computed now")
        else:
            score, band_text, factors = latest.score, latest.band, latest.factors
            console.print(f"[bold]account {account_id}[/]: scored {latest.scored_at:%Y-%m-%d %H:%M} UTC")
        past = health_history(session, account_id, limit=history)
    console.print(f"Health [bold]{score}[/] ({band_text}); weights: {factors.get('weights_source', 'settings')}")
    change = factors.get("diff") or {}
    if change.get("summary"):
        console.print(f"Change: {change['summary']}")
    table = Table(title="Factors (points earned and lost per signal)")
    for column in ("signal", "value", "sub-score", "weight", "points", "lost"):
        table.add_column(column, justify="right" if column not in ("signal", "value") else "left")
    stored = factors.get("signals", {})
    categories = factors.get("categories", {})
    for category in CATEGORIES:
        if category in categories:
            c = categories[category]
            table.add_row(f"[bold]{category}[/]", "", f"{c['sub_score']:.2f}", f"{c['weight']:.0%}",
                          f"{c['points']:.1f}", f"{100 * c['weight'] - c['points']:.1f}")
        for sig_def in SIGNALS:
            sig = stored.get(sig_def.name)
            if sig_def.category == category and sig is not None:
                table.add_row(f"  {sig_def.name}", str(sig["text"]), f"{sig['sub_score']:.2f}", f"{sig['weight']:.0%}",
                              f"{sig['points']:.1f}", f"{sig['lost']:.1f}")
    console.print(table)
    if factors.get("missing"):
        console.print("No data: " + ", ".join(factors["missing"]))
    rolled = factors.get("rollup")
    if rolled:
        own = rolled.get("own")
        console.print(f"Roll-up over {len(rolled['children'])} child account(s), weighted by ARR"
                      + (f"; own score {own['score']} ({own['arr_share']:.0%} of ARR)" if own else ""))
        for child in rolled["children"]:
            console.print(f"  {child['name']} (#{child['account_id']}): {child['score']} {child['band']}, "
                          f"{child['arr_share']:.0%} of ARR")
        if rolled["drivers"]:
            console.print("Children driving the score: " + "; ".join(rolled["drivers"]))
    elif factors.get("drivers"):
        console.print("Driving the score: " + "; ".join(factors["drivers"]))
    if past:
        hist = Table(title="History (newest first)")
        for column in ("scored", "score", "band", "change"):
            hist.add_column(column)
        for row in past:
            at = row.factors.get("scored_at") or row.scored_at.isoformat()
            hist.add_row(str(at)[:16], str(row.score), row.band or "",
                         str((row.factors.get("diff") or {}).get("summary", "")))
        console.print(hist)


@app.command()
def weights(learn: Annotated[bool, typer.Option("--learn", help="Learn weights from the CRM's renewal and churn "
                                                                "history first.")] = False) -> None:
    """The weights the score uses now (per category and signal), configured and learned side by side."""
    from api.cli.main import console

    settings = get_settings()
    with session_scope() as session:
        if learn:
            outcome = learning.learn_and_store(session, datetime.now(UTC), settings)
            m = outcome.metrics
            console.print(f"{learning.MODEL_NAME} v{outcome.version}: held-out churn AUC {m['auc']:.4f} "
                          f"(configured weights {m['settings_auc']:.4f}) on {m['rows']} renewals, trained on "
                          f"{m['train_rows']} (churn rate {m['churn_rate']:.1%}; fitted share {m['alpha']:.0%}, "
                          f"configured {1 - m['alpha']:.0%}): "
                          f"{'promoted' if outcome.promoted else 'kept as candidate'}")
        configured = settings_weights(settings)
        found = learning.promoted_weights(session) or learning.latest_weights(session)
        active = learning.current_weights(session, settings)
        versions = models_repo.model_versions(session, learning.MODEL_NAME)
    console.print(f"In use: {active.source}")
    table = Table(title="Health weights")
    for column in ("signal", "configured", found[0].source if found else "learned"):
        table.add_column(column, justify="right" if column != "signal" else "left")
    table.add_column("learned curve (formula sub-score >= edge: points share)")
    for category in CATEGORIES:
        table.add_row(f"[bold]{category}[/]", f"{configured.category(category):.1%}",
                      f"{found[0].category(category):.1%}" if found else "-", "")
        for sig in SIGNALS:
            if sig.category == category:
                table.add_row(f"  {sig.name}", f"{configured.by_signal[sig.name]:.1%}",
                              f"{found[0].by_signal[sig.name]:.1%}" if found else "-",
                              curve_words(found[0].curves.get(sig.name)) if found else "")
    console.print(table)
    for name, learned in (found[0].rates.items() if found else ()):
        noun = next((sig.noun for sig in SIGNALS if sig.name == name), name)
        console.print(f"Retention learned per {noun} (past accounts; overall "
                      f"{learned.overall:.0%}): " + ", ".join(f"{c} {r:.0%} ({learned.counts.get(c, 0)})"
                                                             for c, r in learned.rates.items()))
    if versions:
        console.print("Versions: " + "; ".join(
            f"v{v.version} {v.status} AUC {v.metrics.get('auc', 0):.3f} vs configured "
            f"{v.metrics.get('settings_auc', 0):.3f}" for v in versions))
