"""`salesagents eval run quote_followup [--drafts template|model] [--json]`: the scenario suite's figures.

Runs in a throwaway database (created, migrated, dropped). `--drafts template` (default) writes the nudges'
text from the prompt's fallback template (a zero token budget: no model calls, fast and deterministic); with
`model` the configured model drafts them (guarded, template on failure). Which quotes are nudged does not
depend on the model.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from agents.runtime.checkpoint import setup_checkpointer
from core.db.throwaway import throwaway_database
from core.errors import CrmError
from evals.quote_followup.suite import SUITE_ID, QuoteFollowupResult, as_json, run, suite_settings
from tools.quote_followup.selection import AGENT

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def _print(result: QuoteFollowupResult, console: Console) -> None:
    console.print(f"[bold]{SUITE_ID}[/]: {result.scenarios} quotes, two runs on {NOW:%Y-%m-%d} (daily sweep; "
                  f"then every quote again after {result.approved} approvals); run outcomes {result.runs}, "
                  f"drafting calls by outcome {result.llm_outcomes}, "
                  f"{result.mail_stored} approved nudges handed to the mailer")
    table = Table(title="Expected vs. written actions")
    for column in ("action", "expected", "written", "precision", "recall"):
        table.add_column(column, justify="right" if column != "action" else "left")
    for name, pr in (("nudge (draft for approval)", result.nudges), ("task for the rep", result.tasks),
                     ("escalation (high-priority task)", result.escalations)):
        table.add_row(name, str(int(pr["expected"])), str(int(pr["predicted"])), f"{pr['precision']:.3f}",
                      f"{pr['recall']:.3f}")
    console.print(table)
    console.print(f"nudges in the expected window: {result.window_accuracy:.3f}")
    console.print(f"duplicates (beyond one per quote and window): {result.duplicates}; outputs written by the "
                  f"repeated run: {result.repeated_run_outputs}; quotes still due after the runs: "
                  f"{result.due_after_runs}")
    for line in result.mismatches:
        console.print(f"[red]mismatch[/] {line}")
    ok = (not result.mismatches and result.duplicates == 0 and result.repeated_run_outputs == 0)
    console.print("exactly the expected nudges, no duplicates" if ok else "[red]NOT the expected actions[/]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="salesagents eval run quote_followup", description=__doc__)
    parser.add_argument("--drafts", choices=("template", "model"), default="template")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        with suite_settings() as settings, throwaway_database("eval_qf", prepare=setup_checkpointer) as (_u, engine):
            if args.drafts == "template":
                settings = settings.model_copy(update={"llm_budgets": {AGENT: {"per_run": 0}}})
            result = run(engine, NOW, settings)
    except CrmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(as_json(result))
    else:
        _print(result, Console())
    ok = not result.mismatches and result.duplicates == 0 and result.repeated_run_outputs == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
