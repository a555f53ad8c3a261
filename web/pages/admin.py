"""Admin pages: the prompt editor (versions, diff, preview on sample data, promote / roll back), eval runs with
charts (pass rates per prompt version, ROC and calibration for scores), and the agent runs log with tokens and
cost per agent and day. Prompt changes go through prompts/registry.py, like `salesagents prompts` and the API."""

from __future__ import annotations

import json
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.routes.common import PathId, Short
from core.errors import CrmError, InvalidInput, NotFound
from core.models import AgentRun
from core.models.enums import Role
from core.repositories import api_views, scoping, web_views
from core.repositories import evals as eval_repo
from core.repositories import prompts as prompt_repo
from core.repositories.scoping import Principal
from evals.metrics import calibration_bins, roc_points
from evals.report import bar_chart, histogram, line_chart
from web.common import FormDep, form_text, message_of, page_user, render, status_of

router = APIRouter(prefix="/app/admin", include_in_schema=False)
Admin = Annotated[Principal, Depends(page_user(Role.admin))]
VersionQ = Annotated[int | None, Query(ge=1, le=1_000_000)]


def _sample_inputs(session: Session, prompt_id: str, inputs: tuple[str, ...]) -> dict[str, Any]:
    """Real inputs recorded with the prompt's newest draft when there is one, else a placeholder per input."""
    recorded = web_views.latest_prompt_inputs(session, prompt_id)
    if recorded is not None and set(recorded) == set(inputs):
        return recorded
    placeholders: dict[str, Any] = {
        "contact_name": "Maria Lopez", "account_name": "Northwind Traders", "score": 6, "language": "en",
        "comment": "The CSV export keeps failing on large files.", "sender_name": "Sam Carter",
        "company_name": "salesagents", "examples": "", "facts": "Plan: Pro, 40 seats, renews in 45 days"}
    return {name: placeholders.get(name, f"sample {name.replace('_', ' ')}") for name in inputs}


def _prompt_context(session: Session, prompt_id: str, version: int | None, diff_from: int | None,
                    diff_to: int | None) -> dict[str, Any]:
    from prompts import registry

    versions = list(prompt_repo.versions(session, prompt_id))
    if not versions:
        raise NotFound("prompt", prompt_id)
    summary = next((s for s in prompt_repo.summaries(session) if s.prompt_id == prompt_id), None)
    chosen = version or (summary.latest if summary else versions[-1].version)
    row = prompt_repo.get_version(session, prompt_id, chosen)
    if row is None:
        raise NotFound("prompt version", f"{prompt_id}@{chosen}")
    prompt = registry.from_row(row)
    diff_text = None
    if diff_from and diff_to:
        diff_text = registry.diff(session, prompt_id, diff_from, diff_to)
    return {"prompt_id": prompt_id, "versions": sorted(versions, key=lambda v: -v.version), "summary": summary,
            "row": row, "prompt": prompt, "template": row.template, "note": "", "error": None,
            "diff_from": diff_from or max(1, chosen - 1), "diff_to": diff_to or chosen, "diff": diff_text,
            "sample": json.dumps(_sample_inputs(session, prompt_id, prompt.inputs), indent=2, ensure_ascii=False,
                                 default=str)}


@router.get("/prompts", response_class=HTMLResponse)
def prompts(request: Request, session: SessionDep, user: Admin) -> Response:
    return render(request, "admin_prompts.html", {"prompts": prompt_repo.summaries(session)})


@router.get("/prompts/{prompt_id}", response_class=HTMLResponse)
def prompt_page(prompt_id: Short, request: Request, session: SessionDep, user: Admin, v: VersionQ = None,
                diff_from: VersionQ = None, diff_to: VersionQ = None) -> Response:
    return render(request, "admin_prompt.html", _prompt_context(session, prompt_id, v, diff_from, diff_to))


@router.post("/prompts/{prompt_id}/versions", response_class=HTMLResponse)
def new_version(prompt_id: Short, request: Request, form: FormDep, session: SessionDep, user: Admin) -> Response:
    """The edited text becomes the next version, labelled staging; a template that does not parse re-renders
    the editor with the error and the text kept."""
    from prompts import registry

    template = form.get("template") if isinstance(form.get("template"), str) else ""
    try:
        text = form_text(form, "template")
        note = form_text(form, "note", required=False, max_len=200) or None
        row = registry.create_version(session, prompt_id, text, user.actor, note=note)
    except CrmError as exc:
        session.rollback()
        ctx = _prompt_context(session, prompt_id, None, None, None)
        ctx.update(template=template, error=message_of(exc))
        return render(request, "admin_prompt.html", ctx, status_code=status_of(exc))
    return RedirectResponse(f"/app/admin/prompts/{prompt_id}?v={row.version}&msg=Saved+as+version+{row.version}",
                            status_code=303)


@router.post("/prompts/{prompt_id}/versions/{version}/preview", response_class=HTMLResponse)
def preview(prompt_id: Short, version: PathId, request: Request, form: FormDep, session: SessionDep,
            user: Admin) -> Response:
    """What the model would be sent for these inputs (no model call); htmx swaps the result in."""
    from prompts import registry

    try:
        raw = form_text(form, "inputs")
        try:
            inputs = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidInput("inputs", f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
        if not isinstance(inputs, dict):
            raise InvalidInput("inputs", "must be a JSON object of input name to value")
        shown = registry.preview(session, prompt_id, version, inputs)
    except CrmError as exc:
        return render(request, "_error.html", {"message": message_of(exc)}, status_code=status_of(exc))
    return render(request, "_preview.html", {"p": shown})


@router.post("/prompts/{prompt_id}/versions/{version}/promote", response_class=HTMLResponse)
def promote(prompt_id: Short, version: PathId, request: Request, form: FormDep, session: SessionDep,
            user: Admin) -> Response:
    """Production label to this version, if its eval gate passes (or the admin ticks override: audited)."""
    from prompts import registry

    try:
        registry.promote_version(session, prompt_id, version, user.actor, override=form.get("override") == "1")
    except CrmError as exc:
        session.rollback()
        ctx = _prompt_context(session, prompt_id, version, None, None)
        ctx["error"] = message_of(exc)
        return render(request, "admin_prompt.html", ctx, status_code=status_of(exc))
    return RedirectResponse(f"/app/admin/prompts/{prompt_id}?v={version}&msg=Version+{version}+is+production",
                            status_code=303)


@router.post("/prompts/{prompt_id}/rollback", response_class=HTMLResponse)
def rollback(prompt_id: Short, request: Request, session: SessionDep, user: Admin) -> Response:
    from prompts import registry

    try:
        row = registry.rollback(session, prompt_id, user.actor)
    except CrmError as exc:
        session.rollback()
        ctx = _prompt_context(session, prompt_id, None, None, None)
        ctx["error"] = message_of(exc)
        return render(request, "admin_prompt.html", ctx, status_code=status_of(exc))
    return RedirectResponse(f"/app/admin/prompts/{prompt_id}?v={row.version}&msg=Rolled+back+to+version+"
                            f"{row.version}", status_code=303)


def pass_rate_chart(runs: list[Any]) -> str:
    """The newest pass rate of every (suite, prompt versions) pair: how each prompt version fares."""
    seen: dict[tuple[str, str], float] = {}
    for run in runs:  # newest first
        key = (run.suite, ", ".join(run.prompt_refs) or "no prompt")
        if key not in seen and "pass_rate" in (run.metrics or {}):
            seen[key] = float(run.metrics["pass_rate"])
    items = [(f"{suite} · {refs}"[:60], rate, None) for (suite, refs), rate in sorted(seen.items())]
    return bar_chart("Pass rate per prompt version (newest run of each)", items, width=760)


@router.get("/evals", response_class=HTMLResponse)
def evals(request: Request, session: SessionDep, user: Admin, suite: Short | None = None) -> Response:
    runs = list(web_views.eval_runs(session, suite=suite or None))
    suites = sorted({r.suite for r in web_views.eval_runs(session)})
    return render(request, "admin_evals.html", {"runs": runs, "suite": suite or "", "suites": suites,
                                                "chart": pass_rate_chart(runs)})


@router.get("/evals/{run_id}", response_class=HTMLResponse)
def eval_run(run_id: PathId, request: Request, session: SessionDep, user: Admin) -> Response:
    """Metrics, charts (ROC and calibration when the suite scores probabilities) and the cases, failures first."""
    run = eval_repo.get_run(session, run_id)
    if run is None:
        raise NotFound("eval run", run_id)
    rows = list(eval_repo.case_results(session, run_id))
    metrics = run.metrics or {}
    rates = [(k, float(v)) for k, v in sorted(metrics.items())
             if (k == "pass_rate" or k.endswith("_rate") or k in ("accuracy", "precision", "recall", "f1", "auc"))
             and isinstance(v, int | float) and 0 <= float(v) <= 1]
    charts = [bar_chart("Rates", [(k, v, None) for k, v in rates])]
    outcomes = Counter(r.outcome for r in rows)
    charts.append(bar_chart("Outcomes (share of cases)",
                            [(o, n / max(1, len(rows)), None) for o, n in outcomes.most_common()]))
    scored = [(float(r.probability), int(r.label)) for r in rows if r.probability is not None and r.label is not None]
    if scored:
        probs, labels = [p for p, _ in scored], [y for _, y in scored]
        if len(set(labels)) == 2:
            charts.append(line_chart("ROC", roc_points(probs, labels), "false positive rate", "true positive rate"))
        bins = calibration_bins(probs, labels)
        charts.append(line_chart("Calibration", [(p, y) for p, y, _ in bins], "predicted probability",
                                 "observed share", sizes=[n for _, _, n in bins]))
        charts.append(histogram("Predicted probabilities", probs, bins=10, x_label="probability", low=0, high=1))
    ordered = sorted(rows, key=lambda r: (r.passed, r.position))[:300]
    history = [r for r in web_views.eval_runs(session, suite=run.suite, limit=30)]
    return render(request, "admin_eval.html", {"run": run, "rows": ordered, "total": len(rows),
                                               "charts": [c for c in charts if c],
                                               "metrics": sorted(metrics.items()),
                                               "history_chart": pass_rate_chart(history)})


@router.get("/runs", response_class=HTMLResponse)
def runs(request: Request, session: SessionDep, user: Admin, agent: Short | None = None) -> Response:
    """Tokens and cost per agent and day (last 30 days), and the latest runs."""
    scope = scoping.clause(user, AgentRun)
    usage = web_views.usage_by_agent_day(session, scope)
    totals: dict[str, dict[str, float]] = {}
    for u in usage:
        t = totals.setdefault(u.agent, {"runs": 0, "tokens": 0, "cost": 0.0})
        t["runs"] += u.runs
        t["tokens"] += u.input_tokens + u.output_tokens
        t["cost"] += u.cost_usd
    peak = max((t["tokens"] for t in totals.values()), default=0) or 1
    chart = bar_chart("Tokens per agent, last 30 days (share of the busiest)",
                      [(a, t["tokens"] / peak, None) for a, t in sorted(totals.items())])
    recent = web_views.recent_runs(session, scope, agent=agent or None, limit=50)
    return render(request, "admin_runs.html", {"usage": usage, "totals": totals, "chart": chart, "recent": recent,
                                               "agents": web_views.agent_names(session, scope),
                                               "agent": agent or ""})


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_detail(run_id: PathId, request: Request, session: SessionDep, user: Admin) -> Response:
    run = scoping.get_visible(session, user, AgentRun, run_id)
    steps = api_views.run_llm_calls(session, run_id)
    outputs = api_views.run_outputs(session, run_id)
    return render(request, "admin_run.html", {"run": run, "steps": steps, "outputs": outputs,
                                              "cost": sum(float(s.cost_usd) for s in steps)})
