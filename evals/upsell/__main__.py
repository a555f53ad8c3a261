"""`salesagents eval run upsell|expansion [--json]`: the scenario suite's figures for one detector.

Runs in a throwaway database (created, migrated, dropped) with the settings' thresholds; no model calls (the
detectors' decisions and texts are deterministic).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from agents.runtime.checkpoint import setup_checkpointer
from core.config import get_settings
from core.db.throwaway import throwaway_database
from core.errors import CrmError
from evals.upsell.suite import UpsellResult, as_json, run

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def _print(result: UpsellResult, console: Console) -> None:
    console.print(f"[bold]{result.suite}[/]: {result.accounts} scenario accounts on {NOW:%Y-%m-%d}, two runs each; "
                  f"run outcomes {result.runs}; model calls {result.llm_calls}")
    table = Table(title="Signals (from the detector's gathered inputs)")
    for column in ("signal", "expected", "detected", "precision", "recall"):
        table.add_column(column, justify="left" if column == "signal" else "right")
    rows = [*result.signals.items(), ("suggestion written", result.suggestions), ("deal proposed", result.proposals)]
    for name, pr in rows:
        table.add_row(name, str(int(pr["expected"])), str(int(pr["predicted"])), f"{pr['precision']:.3f}",
                      f"{pr['recall']:.3f}")
    console.print(table)
    console.print(f"suggestions written by the repeated run: {result.repeated_run_suggestions}; deals created by "
                  f"accepting the proposals: {result.accepted_deals}; second accepts refused: "
                  f"{result.second_accept_refused}")
    for line in result.mismatches:
        console.print(f"[red]mismatch[/] {line}", markup=True)
    console.print("exactly the expected signals and proposals, no duplicates" if result.ok
                  else "[red]NOT the expected outputs[/]")


def main(argv: list[str] | None = None, kind: str = "upsell") -> int:
    parser = argparse.ArgumentParser(prog=f"salesagents eval run {kind}", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    try:
        with throwaway_database(f"eval_{kind}", prepare=setup_checkpointer) as (_url, engine):
            result = run(engine, NOW, get_settings(), kind)
    except CrmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(as_json(result))
    else:
        _print(result, Console())
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
