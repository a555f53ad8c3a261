"""`salesagents eval run deal_coach [--advice scripted|model] [--deals N] [--datasets DIR] [--json]`.

Scenarios and grounding run in a throwaway database (created, migrated, dropped). `--advice scripted` (default)
answers with a fixed mix of grounded and ungrounded replies at the HTTP boundary; `model` asks the
configured model (the local SmolLM2 by default: slow, one call at a time). The forecast part reads
settings.datasets_dir/maven_crm_sales_opportunities and is skipped, saying so, when it is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agents.runtime.checkpoint import setup_checkpointer
from core.config import Settings, get_settings
from core.db.throwaway import throwaway_database
from core.errors import CrmError
from evals.deal_coach.scenarios import SETTINGS
from evals.deal_coach.suite import (
    MAVEN,
    SUITE_ID,
    DealCoachResult,
    as_json,
    flag_scores,
    forecast_rows,
    grounding_check,
    load_maven,
    scripted_model,
)
from tools.deal_coach.flags import FLAGS

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@contextmanager
def suite_settings() -> Iterator[Settings]:
    """The suite's thresholds (env, as an operator sets them), restored afterwards; no similarity search."""
    values = SETTINGS | {"deal_coach_similar_deals": 0}
    names = {key: f"SALESAGENTS_{key.upper()}" for key in values}
    saved = {env: os.environ.get(env) for env in names.values()}
    for key, env in names.items():
        os.environ[env] = str(values[key])
    get_settings.cache_clear()
    try:
        yield get_settings()
    finally:
        for env, old in saved.items():
            if old is None:
                os.environ.pop(env, None)
            else:
                os.environ[env] = old
        get_settings.cache_clear()


def _print(result: DealCoachResult, console: Console) -> None:
    table = Table(title=f"{SUITE_ID} (a): stall flags on {result.scenarios} hand-built deals")
    for column in ("flag", "expected", "flagged", "precision", "recall"):
        table.add_column(column, justify="left" if column == "flag" else "right")
    for code in FLAGS:
        pr = result.flags[code]
        table.add_row(code, str(int(pr["expected"])), str(int(pr["predicted"])), f"{pr['precision']:.3f}",
                      f"{pr['recall']:.3f}")
    console.print(table)
    for line in result.mismatches:
        console.print(f"[red]mismatch[/] {line}")
    if result.forecast_skipped:
        console.print(f"(b) forecast skipped: {result.forecast_skipped}")
    else:
        table = Table(title="(b) won value in the next 90 days from the deals open at each cutoff (Maven CRM)")
        for column in ("cutoff", "open deals", "actual", "stage-weighted", "error", "age-aware", "error"):
            table.add_column(column, justify="right")
        for row in result.forecast:
            table.add_row(row.cutoff, str(row.open_deals), f"{row.actual:,.0f}", f"{row.stage_weighted:,.0f}",
                          f"{row.stage_error:+.1%}", f"{row.age_aware:,.0f}", f"{row.age_error:+.1%}")
        console.print(table)
        console.print(f"mean absolute percentage error: stage-weighted {result.forecast_mape['stage_weighted']:.1%}, "
                      f"age-aware {result.forecast_mape['age_aware']:.1%}")
    g = result.grounding
    console.print(f"(c) grounding: {g['suggestions']} suggestions, {g['grounded_rate']:.3f} cite only the deal's "
                  f"facts; "
                  f"model answers accepted {g['model_grounded']} ({g['model_grounded_rate']:.3f} of calls), "
                  f"fallbacks {g['fallback']}; ledger outcomes {g['llm_outcomes']}; runs {g['runs']}")
    for body in g["samples"]:
        console.print(f"model advice kept: {body}", soft_wrap=True)
    for line in g["failures"]:
        console.print(f"[red]ungrounded[/] {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="salesagents eval run deal_coach", description=__doc__)
    parser.add_argument("--advice", choices=("scripted", "model"), default="scripted")
    parser.add_argument("--datasets", type=Path, default=None, help="Data sets folder (default: settings).")
    parser.add_argument("--deals", type=int, default=None,
                        help="Grounding part: coach only the first N flagged deals (a slow local model).")
    parser.add_argument("--json", action="store_true", help="Print the figures as one JSON object.")
    args = parser.parse_args(argv)
    try:
        with suite_settings() as settings, throwaway_database("eval_dc", prepare=setup_checkpointer) as (_u, engine):
            built, scores, mismatches = flag_scores(engine, NOW, settings)
            result = DealCoachResult(scenarios=len(built), flags=scores, mismatches=mismatches)
            http_client = None
            if args.advice == "scripted":
                http_client, _asked = scripted_model(NOW.date())
                settings = settings.model_copy(update={"llm_base_url": "http://scripted-model.invalid/v1",
                                                       "llm_model": "scripted", "llm_purposes": {},
                                                       "llm_budgets": {}})
            result.grounding = grounding_check(engine, built, NOW, settings, http_client, args.deals)
    except CrmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    folder = (args.datasets or get_settings().datasets_dir) / MAVEN
    if (folder / "sales_pipeline.csv").is_file():
        result.forecast = forecast_rows(load_maven(folder))
        n = len(result.forecast)
        result.forecast_mape = {"stage_weighted": sum(abs(r.stage_error) for r in result.forecast) / n,
                                "age_aware": sum(abs(r.age_error) for r in result.forecast) / n}
    else:
        result.forecast_skipped = f"{folder} has no sales_pipeline.csv (set SALESAGENTS_DATASETS_DIR)"
    if args.json:
        print(as_json(result))
    else:
        _print(result, Console(width=max(Console().width, 120)))
    ok = not result.mismatches and result.grounding.get("grounded_rate") == 1.0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
