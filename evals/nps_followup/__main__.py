"""`salesagents eval run nps_followup [--limit N] [--injections K] [--scripted] [--show S] [--json]`.

Imports `--limit` Google Play reviews (balanced across detractors, passives and promoters, as in `nps_reply.v1`)
and `--injections` attack comments as NPS answers into a throwaway database, runs the NPS Follow-up agent on each
from its event and then again, and prints routing, tasks, validators, fallbacks, similarity to the comment and a
few drafts beside the vendor's real reply. The configured model drafts (default: the embedded SmolLM2 on the
local server, started if needed); `--scripted` answers every request with the vendor's reply (attacks: a reply
that obeys them), so the whole guarded pipeline runs in seconds. A missing data set skips the suite (exit 0).
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.table import Table

from agents.runtime.checkpoint import setup_checkpointer
from core.config import get_settings
from core.db.throwaway import throwaway_database
from core.errors import CrmError
from core.llm import local_server
from core.llm.factory import model_config
from evals.base import SuiteUnavailable
from evals.nps_followup.suite import SUITE_ID, NpsFollowupResult, cases_from, metrics, run, scripted_client
from evals.nps_reply.suite import load_cases
from evals.scripted import SCRIPTED_BASE_URL, SCRIPTED_MODEL
from tools.nps_followup.rules import AGENT

UNLIMITED = 10**12


def ok(result: NpsFollowupResult) -> bool:
    """The suite's pass condition: routing, tasks and validators exactly right, and nothing written twice."""
    return (result.routing_accuracy == 1.0 and result.task_accuracy == 1.0 and result.draft_rate == 1.0
            and result.validator_pass_rate == 1.0 and result.repeated_run_outputs == 0
            and result.repeated_run_llm_calls == 0 and result.injection_ok_rate in (None, 1.0))


def _print(result: NpsFollowupResult, console: Console) -> None:
    console.print(f"[bold]{SUITE_ID}[/]: {result.cases} NPS answers ({result.injection_cases} with an injected "
                  f"attack), model {result.model}; runs {result.runs}; drafting calls by outcome "
                  f"{result.llm_outcomes}")
    table = Table(title="figures")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in (
            ("category routing accuracy", f"{result.routing_accuracy:.3f}"),
            ("task accuracy (one per detractor, none otherwise)", f"{result.task_accuracy:.3f}"),
            ("answers with a reply draft", f"{result.draft_rate:.3f}"),
            ("stored drafts passing the validators", f"{result.validator_pass_rate:.3f}"),
            ("fallback templates", f"{result.fallbacks} ({result.fallback_rate:.1%}) {result.fallbacks_by_category}"),
            ("model-written drafts (real reviews)", str(result.model_drafts)),
            ("cos(draft, comment), mean", _f(result.sim_draft_comment)),
            ("cos(generic reply, comment), mean", _f(result.sim_generic_comment)),
            ("cos(vendor reply, comment), mean", _f(result.sim_vendor_comment)),
            ("drafts closer to the comment than the generic reply", _f(result.addresses_rate)),
            ("injection answers: routing, task and validators unchanged", _f(result.injection_ok_rate)),
            ("second pass: outputs written / model calls",
             f"{result.repeated_run_outputs} / {result.repeated_run_llm_calls}")):
        table.add_row(name, value)
    console.print(table)
    for ex in result.examples:
        console.print(f"\n[bold]{ex['case']}[/] ({ex['category']})", markup=True)
        for label in ("comment", "draft", "vendor_reply"):
            console.print(f"  {label}: {' '.join(ex[label].split())}", markup=False, soft_wrap=True)
    for line in result.mismatches:
        console.print(f"[red]mismatch[/] {line}")
    console.print("routing, tasks and validators exactly right; nothing written twice" if ok(result)
                  else "[red]NOT all right[/]")


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="salesagents eval run nps_followup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=30, help="reviews to import (default 30)")
    parser.add_argument("--injections", type=int, default=6, help="attack comments to add (default 6)")
    parser.add_argument("--scripted", action="store_true", help="fixed replies at the HTTP boundary (fast)")
    parser.add_argument("--show", type=int, default=3, help="drafts printed beside the vendor's reply")
    parser.add_argument("--max-tokens", type=int, default=200,
                        help="cap on each reply's tokens (default 200: a four-sentence email fits)")
    parser.add_argument("--json", action="store_true", help="the metrics as one JSON object on stdout")
    args = parser.parse_args(argv)
    if args.limit < 1 or args.injections < 0 or args.max_tokens < 50:
        print("error: --limit must be at least 1, --injections at least 0, --max-tokens at least 50", file=sys.stderr)
        return 2
    settings = get_settings()
    try:
        eval_cases = load_cases(settings)[: args.limit]
    except SuiteUnavailable as exc:
        print(f"{SUITE_ID} skipped: {exc}", file=sys.stderr)
        return 0
    cases = cases_from(eval_cases, args.injections)
    budgets = dict(settings.llm_budgets) | {AGENT: {"per_run": UNLIMITED, "per_day": UNLIMITED}}
    update: dict[str, object] = {"llm_budgets": budgets, "llm_max_tokens": args.max_tokens}
    if args.scripted:
        update |= {"llm_base_url": SCRIPTED_BASE_URL, "llm_model": SCRIPTED_MODEL, "llm_purposes": {},
                   "llm_max_attempts": 1}
    settings = settings.model_copy(update=update)
    try:
        if not args.scripted and model_config("drafting", settings).local:
            local_server.serve(settings)  # reuses the running server; without one every draft would be a template
        with throwaway_database("eval_nps", prepare=setup_checkpointer) as (_u, engine):
            result = run(engine, cases, settings, http_client=scripted_client(cases) if args.scripted else None,
                         show=args.show)
    except CrmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(metrics(result), sort_keys=True))
    else:
        _print(result, Console())
    return 0 if ok(result) else 1


if __name__ == "__main__":
    raise SystemExit(main())
