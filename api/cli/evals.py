"""`salesagents eval ...`: run suites, compare runs, check the regression gate, list suites and runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from core.errors import InvalidInput

app = typer.Typer(help="Eval suites: run them, compare runs, gate prompt changes.", no_args_is_help=True)

SuiteArg = Annotated[str, typer.Argument(help="Suite id, e.g. injection.v1 (see `salesagents eval list`).",
                                         show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of tables.")]


def _consoles() -> tuple[Any, Any]:
    from api.cli.main import console, err_console

    return console, err_console


@contextmanager
def _progress(label: str) -> Iterator[Any]:
    """A progress bar on stderr (stdout stays clean for --json); yields the runner's progress callback."""
    _, err = _consoles()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), TextColumn("{task.fields[case]}", style="dim"), console=err,
                  transient=False) as bar:
        current: list[Any] = []

        def update(done: int, total: int, case_id: str) -> None:
            if done == 1 or not current:  # a new run starts (the gate runs several)
                current.append(bar.add_task(label, total=total, case=""))
            bar.update(current[-1], completed=done, case=case_id[:40])

        yield update


def metrics_json(run: Any) -> dict[str, Any]:
    """The run's metrics with the identifiers and spend a script needs, snake_case throughout."""
    return {"run_id": run.id, "suite": run.suite, "mode": run.mode, "model": run.model,
            "prompt_refs": list(run.prompt_refs), **run.metrics, "input_tokens": run.input_tokens,
            "output_tokens": run.output_tokens, "cost_usd": float(run.cost_usd),
            "duration_s": round(run.duration_ms / 1000, 3), "report": run.report_path}


def _metrics_table(run: Any) -> Table:
    table = Table(title=f"eval run {run.id}: {run.suite} ({run.mode}, {run.model}, {', '.join(run.prompt_refs)})")
    table.add_column("metric", no_wrap=True)
    table.add_column("value", justify="right")
    for name, value in sorted(run.metrics.items()):
        table.add_row(name, f"{value:.3f}" if isinstance(value, float) else str(value))
    return table


def _run_custom(suite: str, extra: list[str], as_json: bool, refused: dict[str, bool]) -> None:
    """A custom suite parses its own arguments; the prompt-suite options mean nothing to it."""
    from evals.custom_suites import CUSTOM_SUITES, run_custom

    given = [name for name, used in refused.items() if used]
    if given:
        raise InvalidInput(given[0], f"not an option of the custom suite {suite!r}, which takes its own arguments "
                                     f"(`python -m {CUSTOM_SUITES[suite]} --help`)")
    code = run_custom(suite, extra + (["--json"] if as_json else []))
    if code:
        raise typer.Exit(code)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def run(ctx: typer.Context, suite: SuiteArg,
        prompt_version: Annotated[int | None, typer.Option(
            "--prompt-version", help="Prompt version to evaluate (default: production).")] = None,
        model: Annotated[str | None, typer.Option(
            "--model", help="Model name for the prompt's purpose (default: the configured one).")] = None,
        limit: Annotated[int | None, typer.Option("--limit", help="Run only the first N cases.")] = None,
        as_json: JsonOpt = False,
        scripted: Annotated[bool, typer.Option(
            "--scripted", help="Replay each case's scripted reply instead of calling a model (the fast gate).")]
        = False,
        baseline: Annotated[bool, typer.Option(
            "--baseline", help="Mark this run as its suite's baseline for the gate.")] = False,
        note: Annotated[str | None, typer.Option("--note", help="Why this run was made.")] = None) -> None:
    """Run a suite, store its results and write its HTML report; a custom suite (lead_scorer, ...) gets the rest
    of the arguments (e.g. --data FILE --target COLUMN --exclude COL,COL --seed N)."""
    from core.db.engine import session_scope
    from evals.base import SuiteUnavailable
    from evals.custom_suites import TAKES_RUNNER_OPTIONS, custom_suite_names, is_custom
    from evals.runner import run_suite
    from evals.suites import suite_ids

    if is_custom(suite):
        extra = list(ctx.args)
        if suite in TAKES_RUNNER_OPTIONS:
            extra += (["--limit", str(limit)] if limit is not None else []) + (["--scripted"] if scripted else [])
            limit, scripted = None, False
        _run_custom(suite, extra, as_json, {
            "--prompt-version": prompt_version is not None, "--model": model is not None,
            "--limit": limit is not None, "--scripted": scripted, "--baseline": baseline, "--note": note is not None})
        return
    if suite not in suite_ids():
        raise InvalidInput("suite", f"unknown suite {suite!r}; known: {', '.join(suite_ids() + custom_suite_names())}")
    if ctx.args:
        raise InvalidInput("suite", f"unexpected arguments for {suite!r}: {' '.join(ctx.args)}")
    out, err = _consoles()
    try:
        with _progress(suite) as progress, session_scope() as session:
            result = run_suite(session, suite, prompt_version=prompt_version, model=model, limit=limit,
                               scripted=scripted, baseline=baseline, note=note, progress=progress)
    except SuiteUnavailable as exc:
        if as_json:
            typer.echo(json.dumps({"suite": suite, "skipped": str(exc)}))
        err.print(f"[yellow]skipped:[/yellow] {exc}", soft_wrap=True)
        return
    if as_json:
        typer.echo(json.dumps(metrics_json(result)))
        return
    out.print(_metrics_table(result))
    out.print(f"{result.passed_count}/{result.case_count} cases passed · {result.input_tokens:,} in / "
              f"{result.output_tokens:,} out tokens · ${float(result.cost_usd):.4f} · "
              f"{result.duration_ms / 1000:.1f} s", soft_wrap=True)
    out.print(f"report: {result.report_path}", soft_wrap=True)


@app.command()
def compare(run_a: Annotated[int, typer.Argument(help="The earlier run (reference).")],
            run_b: Annotated[int, typer.Argument(help="The later run (candidate).")],
            show: Annotated[int, typer.Option("--show", help="Flipped cases to print side by side.")] = 10,
            as_json: JsonOpt = False) -> None:
    """Metric deltas B - A with 95% bootstrap intervals, cases that flipped, and their outputs side by side."""
    from core.db.engine import session_scope
    from evals.compare import Flip, compare_runs

    out, _ = _consoles()
    with session_scope() as session:
        c = compare_runs(session, run_a, run_b)
        if as_json:
            typer.echo(json.dumps({
                "run_a": c.a.id, "run_b": c.b.id, "paired": bool(c.deltas and c.deltas[0].paired),
                "deltas": {d.metric: {"a": d.a, "b": d.b, "delta": d.delta, "ci_low": d.low, "ci_high": d.high,
                                      "worse": d.worse, "better": d.better} for d in c.deltas},
                "regressed": [f.case_id for f in c.regressed], "fixed": [f.case_id for f in c.fixed],
                "changed_outputs": c.changed_outputs}))
            return
        table = Table(title=f"run {c.a.id} ({', '.join(c.a.prompt_refs)}, {c.a.model}) → run {c.b.id} "
                            f"({', '.join(c.b.prompt_refs)}, {c.b.model})")
        for col in ("metric", "A", "B", "Δ", "95% CI", ""):
            table.add_column(col, justify="left" if col in ("metric", "") else "right", no_wrap=True)
        for d in c.deltas:
            verdict = "[red]worse[/red]" if d.worse else ("[green]better[/green]" if d.better else "")
            ci = f"[{d.low:+.3f}, {d.high:+.3f}]" if d.low is not None and d.high is not None else "-"
            table.add_row(d.metric, _num(d.a), _num(d.b), f"{d.delta:+.3f}" if d.delta is not None else "-", ci,
                          verdict)
        out.print(table)
        pairing = "paired by case" if c.deltas and c.deltas[0].paired else "unpaired (different cases)"
        out.print(f"{len(c.regressed)} regressed, {len(c.fixed)} fixed, {c.changed_outputs} outputs changed "
                  f"({pairing})", soft_wrap=True)
        flips: list[tuple[str, Flip]] = [("regressed", f) for f in c.regressed] + [("fixed", f) for f in c.fixed]
        for kind, f in flips[:show]:
            out.rule(f"{f.case_id} ({kind})")
            side = Table(show_header=True, expand=True)
            side.add_column(f"run {c.a.id}", overflow="fold", ratio=1)
            side.add_column(f"run {c.b.id}", overflow="fold", ratio=1)
            side.add_row(_side(f.a), _side(f.b))
            out.print(side)
        if len(flips) > show:
            out.print(f"... and {len(flips) - show} more flipped cases (--show N)")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _side(row: Any) -> str:
    from evals.compare import Flip

    verdict = "pass" if row.passed else "FAIL: " + "; ".join(Flip.failed_checks(row))[:300]
    return f"{verdict}\n[{row.outcome}] {row.output}"


def parse_versions(values: list[str], prompt_ids: set[str]) -> dict[str, int]:
    """`--prompt-version 2` (the one prompt every gated suite uses) or `--prompt-version nps_followup.draft@2`."""
    versions: dict[str, int] = {}
    for value in values:
        prompt_id, _, number = value.rpartition("@")
        if not prompt_id:
            if len(prompt_ids) != 1:
                raise InvalidInput("--prompt-version", f"the gated suites use {len(prompt_ids)} prompts; "
                                                       "write PROMPT_ID@VERSION")
            prompt_id = next(iter(prompt_ids))
        if prompt_id not in prompt_ids:
            raise InvalidInput("--prompt-version", f"no gated suite uses prompt {prompt_id!r}")
        if not number.isdigit() or int(number) < 1:
            raise InvalidInput("--prompt-version", f"{value!r}: expected VERSION or PROMPT_ID@VERSION")
        versions[prompt_id] = int(number)
    return versions


@app.command()
def gate(fast: Annotated[bool, typer.Option(
             "--fast", help="Only the scripted, deterministic subset (seconds; what CI runs).")] = False,
         prompt_version: Annotated[list[str] | None, typer.Option(
             "--prompt-version", help="VERSION or PROMPT_ID@VERSION to gate (default: production).")] = None,
         as_json: JsonOpt = False) -> None:
    """Run the gated suites; exit 1 when a metric is below its threshold or significantly below the baseline."""
    from core.db.engine import session_scope
    from evals.gate import load_thresholds, run_gate
    from evals.suites import get_suite

    out, err = _consoles()
    thresholds = load_thresholds()
    versions = parse_versions(prompt_version or [], {get_suite(s).prompt_id for s in thresholds.suites})
    with _progress("gate") as progress, session_scope() as session:
        report = run_gate(session, fast=fast, versions=versions, thresholds=thresholds, progress=progress)
    if as_json:
        typer.echo(json.dumps({"passed": report.passed, "suites": [
            {"suite": s.suite, "mode": s.mode, "run_id": s.run_id, "prompt_refs": s.prompt_refs,
             "skipped": s.skipped, "passed": s.passed, "failures": [c.describe() for c in s.checks if not c.ok]}
            for s in report.suites]}))
    else:
        table = Table(title="eval gate" + (" (fast)" if fast else ""))
        for col in ("suite", "mode", "run", "prompt", "result", "failures"):
            table.add_column(col, overflow="fold")
        for s in report.suites:
            result = "[yellow]skipped[/yellow]" if s.skipped else ("[green]pass[/green]" if s.passed
                                                                   else "[red]FAIL[/red]")
            detail = s.skipped or "\n".join(c.describe() for c in s.checks if not c.ok)
            table.add_row(s.suite, s.mode, str(s.run_id or "-"), ", ".join(s.prompt_refs), result, detail)
        out.print(table)
        (out if report.passed else err).print("gate passed" if report.passed else "[red]gate failed[/red]")
    if not report.passed:
        raise typer.Exit(1)


@app.command("list")
def list_suites(runs: Annotated[int, typer.Option("--runs", help="Recent runs to show.")] = 10) -> None:
    """Suites (with whether their cases are available here) and the most recent runs."""
    from core.config import get_settings
    from core.db.engine import session_scope
    from core.repositories.evals import recent_runs
    from evals.base import SuiteUnavailable
    from evals.custom_suites import CUSTOM_SUITES, custom_suite_names
    from evals.suites import get_suite, suite_ids

    out, _ = _consoles()
    settings = get_settings()
    table = Table(title="eval suites")
    for col in ("suite", "prompt", "cases", "description"):
        table.add_column(col, overflow="fold")
    for suite_id in suite_ids():
        suite = get_suite(suite_id)
        try:
            cases = str(len(suite.load_cases(settings)))
        except SuiteUnavailable as exc:
            cases = f"[yellow]unavailable[/yellow]: {exc}"
        table.add_row(suite_id, suite.prompt_id, cases, suite.description)
    for name in custom_suite_names():
        table.add_row(name, "-", "own data", f"custom: {CUSTOM_SUITES[name]} (takes its own arguments)")
    out.print(table)
    with session_scope() as session:
        rows = recent_runs(session, limit=runs)
        history = Table(title="recent runs")
        for col in ("run", "suite", "mode", "model", "prompt", "cases", "pass_rate", "fallback_rate", "baseline",
                    "started"):
            history.add_column(col, overflow="fold")
        for r in rows:
            history.add_row(str(r.id), r.suite, r.mode, r.model, ", ".join(r.prompt_refs), str(r.case_count),
                            _num(r.metrics.get("pass_rate")), _num(r.metrics.get("fallback_rate")),
                            "yes" if r.is_baseline else "", f"{r.started_at:%Y-%m-%d %H:%M}")
    out.print(history if rows else "no runs yet: `salesagents eval run injection.v1`")


@app.command()
def baseline(run_id: Annotated[int, typer.Argument(help="Run to compare later runs of its suite and mode with.")],
             actor: Annotated[str, typer.Option("--actor", help="Who sets it (audited).")] = "admin") -> None:
    """Mark a finished run as the baseline of its suite and mode."""
    from core.db.engine import session_scope
    from evals.compare import get_run
    from evals.runner import mark_baseline

    out, _ = _consoles()
    with session_scope() as session:
        target = get_run(session, run_id)
        mark_baseline(session, target, actor)
        label = f"run {target.id} is the baseline of {target.suite} ({target.mode})"
    out.print(label)


@app.command("add-draft")
def add_draft(draft_id: Annotated[int, typer.Argument(help="A draft a person approved, edited or rejected.")],
              by: Annotated[int | None, typer.Option("--as", help="User id adding the case (audited).")] = None
              ) -> None:
    """Add a reviewed draft to its agent's suite: the situation and the reply a person accepted become a case."""
    from core.db.engine import session_scope
    from core.services.eval_feedback import add_draft_case

    out, _ = _consoles()
    with session_scope() as session:
        added = add_draft_case(session, draft_id, added_by_id=by, actor=f"user:{by}" if by else "cli")
    verb = "added to" if added.created else "already in"
    out.print(f"draft {draft_id} ({added.kind}) {verb} {added.suite} as case {added.case_id}")
