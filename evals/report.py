"""Self-contained HTML report of one run: metrics, inline SVG charts, and every case with failures first.

One file, no scripts, no external fetches (a Content-Security-Policy forbids them), so it can be mailed or
archived and opens offline. All case text is escaped: it holds prompt-injection attacks by design.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from core.models import EvalCaseResult, EvalRun
from core.repositories import evals as repo
from evals.metrics import calibration_bins, direction, roc_points
from evals.suites import get_suite

OUTCOME_ORDER = ("ok", "repaired", "fallback", "error", "over_budget", "exception")
OUTCOME_COLOURS = {"ok": "#2e7d32", "repaired": "#7cb342", "fallback": "#f9a825", "error": "#e65100",
                   "over_budget": "#6d4c41", "exception": "#c62828"}
ACCENT = "#1565c0"
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1b1b1b;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;margin-bottom:12px} .grid{display:flex;flex-wrap:wrap;gap:16px}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 12px;background:#fafafa}
table{border-collapse:collapse;width:100%} table.cases{table-layout:fixed}
th,td{border-bottom:1px solid #e3e3e3;padding:4px 6px;text-align:left;
vertical-align:top;overflow-wrap:anywhere} th{background:#f1f3f6;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.fail{color:#b71c1c;font-weight:600} .bad{color:#b71c1c} .pass{color:#1b5e20;font-weight:600} .warn{color:#b26a00}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
tr.failed td{background:#fff5f5} .small{font-size:12px;color:#555}
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.3f}"


# --- SVG charts ----------------------------------------------------------------------------------------------

def bar_chart(title: str, items: Sequence[tuple[str, float, float | None]], width: int = 560) -> str:
    """Horizontal bars for values in 0..1, with an optional threshold tick per bar."""
    if not items:
        return ""
    row, left, right = 22, 190, 50
    plot = width - left - right
    height = 34 + row * len(items)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{esc(title)}"><text x="0" y="16" font-size="14" font-weight="600">{esc(title)}</text>']
    for i, (label, value, threshold) in enumerate(items):
        y = 28 + i * row
        w = max(0.0, min(1.0, value)) * plot
        parts.append(f'<text x="{left - 6}" y="{y + 14}" font-size="12" text-anchor="end">{esc(label)}</text>'
                     f'<rect x="{left}" y="{y + 3}" width="{plot}" height="14" fill="#eceff1"/>'
                     f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="14" fill="{ACCENT}"/>'
                     f'<text x="{left + plot + 4}" y="{y + 14}" font-size="12">{value:.2f}</text>')
        if threshold is not None:
            x = left + max(0.0, min(1.0, threshold)) * plot
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + 20}" stroke="#c62828" '
                         f'stroke-width="2"><title>threshold {threshold}</title></line>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(title: str, values: Sequence[float], bins: int = 10, x_label: str = "",
              low: float | None = None, high: float | None = None, width: int = 420, height: int = 220) -> str:
    if not values:
        return ""
    lo = min(values) if low is None else low
    hi = max(values) if high is None else high
    if hi <= lo:
        hi = lo + 1
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int((v - lo) / (hi - lo) * bins)))] += 1
    left, bottom, top = 36, 34, 26
    plot_w, plot_h = width - left - 10, height - top - bottom
    peak = max(counts) or 1
    bw = plot_w / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{esc(title)}"><text x="0" y="16" font-size="14" font-weight="600">{esc(title)}</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#888"/>',
             f'<text x="{left - 4}" y="{top + 10}" font-size="11" text-anchor="end">{peak}</text>',
             f'<text x="{left - 4}" y="{top + plot_h}" font-size="11" text-anchor="end">0</text>']
    for i, c in enumerate(counts):
        h = c / peak * plot_h
        parts.append(f'<rect x="{left + i * bw + 1:.1f}" y="{top + plot_h - h:.1f}" width="{bw - 2:.1f}" '
                     f'height="{h:.1f}" fill="{ACCENT}"><title>{c}</title></rect>')
    parts.append(f'<text x="{left}" y="{height - 16}" font-size="11">{fmt(lo)}</text>'
                 f'<text x="{left + plot_w}" y="{height - 16}" font-size="11" text-anchor="end">{fmt(hi)}</text>'
                 f'<text x="{left + plot_w / 2}" y="{height - 3}" font-size="11" text-anchor="middle">'
                 f'{esc(x_label)}</text></svg>')
    return "".join(parts)


def line_chart(title: str, points: Sequence[tuple[float, float]], x_label: str, y_label: str,
               sizes: Sequence[int] | None = None, width: int = 320, height: int = 300) -> str:
    """A unit-square chart with the diagonal (chance for ROC, perfect calibration for reliability)."""
    if not points:
        return ""
    left, bottom, top, right = 40, 36, 26, 12
    pw, ph = width - left - right, height - top - bottom

    def xy(x: float, y: float) -> tuple[float, float]:
        return left + x * pw, top + (1 - y) * ph

    path = " ".join(f"{'M' if i == 0 else 'L'}{xy(x, y)[0]:.1f},{xy(x, y)[1]:.1f}" for i, (x, y) in enumerate(points))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{esc(title)}"><text x="0" y="16" font-size="14" font-weight="600">{esc(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>',
             f'<line x1="{xy(0, 0)[0]}" y1="{xy(0, 0)[1]}" x2="{xy(1, 1)[0]}" y2="{xy(1, 1)[1]}" stroke="#bbb" '
             'stroke-dasharray="4 3"/>',
             f'<path d="{path}" fill="none" stroke="{ACCENT}" stroke-width="2"/>']
    for i, (x, y) in enumerate(points):
        cx, cy = xy(x, y)
        r = 3 if sizes is None else 2 + min(6, sizes[i] ** 0.5)
        parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{ACCENT}"/>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 6}" font-size="11" text-anchor="middle">{esc(x_label)}'
                 f'</text><text x="12" y="{top + ph / 2}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 12 {top + ph / 2})">{esc(y_label)}</text></svg>')
    return "".join(parts)


# --- the page ------------------------------------------------------------------------------------------------

def _case_score(row: EvalCaseResult) -> float | None:
    scores = [float(v) for v in row.scores.values() if v is not None]
    return sum(scores) / len(scores) if scores else None


def render(run: EvalRun, rows: Sequence[EvalCaseResult], thresholds: dict[str, tuple[float | None, float | None]],
           baseline: EvalRun | None, pass_keys: Sequence[str] = ()) -> str:
    """The page; checks in `pass_keys` decide a case's pass and show in red, the others are informational."""
    m = run.metrics
    keys = sorted({k for r in rows for k in r.scores})
    rates = [(k, float(m[k])) for k in ["pass_rate", *[f"{k}_rate" for k in keys],
                                        "accuracy", "precision", "recall", "f1"] if k in m]

    def threshold_of(name: str) -> float | None:
        low, high = thresholds.get(name, (None, None))
        return low if low is not None else high

    charts = [bar_chart("Pass rates", [(k, v, threshold_of(k)) for k, v in rates])]
    outcomes = Counter(r.outcome for r in rows)
    total = max(1, len(rows))
    charts.append(bar_chart("Outcomes (share of cases)", [(o, outcomes[o] / total, None) for o in OUTCOME_ORDER
                                                           if outcomes[o]]))
    per_case = [s for s in (_case_score(r) for r in rows) if s is not None]
    charts.append(histogram("Case scores (mean of checks)", per_case, bins=10, x_label="score", low=0, high=1))
    charts.append(histogram("Reply length", [len(r.output) for r in rows], bins=12, x_label="characters"))
    for key in keys:
        values = [float(r.scores[key]) for r in rows if r.scores.get(key) is not None]
        if any(v not in (0.0, 1.0) for v in values):
            charts.append(histogram(f"{key} scores", values, bins=10, x_label=key, low=0, high=1))
    scored = [(r.probability, r.label) for r in rows if r.probability is not None and r.label is not None]
    if scored:
        probs, labels = [p for p, _ in scored], [y for _, y in scored]
        charts.append(line_chart("ROC", roc_points(probs, labels), "false positive rate", "true positive rate"))
        bins = calibration_bins(probs, labels)
        charts.append(line_chart("Calibration", [(p, y) for p, y, _ in bins], "predicted probability",
                                 "observed share", sizes=[n for _, _, n in bins]))
        charts.append(histogram("Predicted probabilities", probs, bins=10, x_label="probability", low=0, high=1))

    metric_rows = []
    for name in sorted(k for k in m if k != "cases"):
        low, high = thresholds.get(name, (None, None))
        value = float(m[name])
        bad = (low is not None and value < low) or (high is not None and value > high)
        limit = " ".join(x for x in (f"≥ {low}" if low is not None else "", f"≤ {high}" if high is not None else "")
                         if x)
        base = baseline.metrics.get(name) if baseline is not None else None
        arrow = {1: "higher is better", -1: "lower is better", 0: ""}[direction(name)]
        metric_rows.append(f'<tr><td>{esc(name)} <span class="small">{arrow}</span></td>'
                           f'<td class="num {"fail" if bad else ""}">{fmt(value)}</td><td>{esc(limit)}</td>'
                           f'<td class="num">{fmt(base) if base is not None else "-"}</td></tr>')

    ordered = sorted(rows, key=lambda r: (r.passed, r.position))
    case_rows = []
    for r in ordered:
        failed = [(k in pass_keys, f"{k}: {r.comments.get(k, '')}") for k, v in r.scores.items()
                  if v is not None and v < 1]
        notes = "<br>".join(f'<span class="{"bad" if gating else "small"}">{esc(text)}</span>'
                            for gating, text in sorted(failed, key=lambda f: not f[0]))
        notes = notes or '<span class="small">all checks passed</span>'
        if r.error:
            notes += f'<br><span class="fail">{esc(r.error)}</span>'
        reference = r.reference.get("reply") or r.reference.get("attack") or r.reference.get("kind", "")
        case_rows.append(
            f'<tr class="{"" if r.passed else "failed"}"><td class="num">{r.position + 1}</td>'
            f'<td>{esc(r.case_id)}</td><td class="{"pass" if r.passed else "fail"}">'
            f'{"pass" if r.passed else "FAIL"}</td><td>{esc(r.outcome)}</td><td>{notes}</td>'
            f'<td><pre>{esc(r.inputs.get("comment", ""))}</pre></td><td><pre>{esc(r.output)}</pre></td>'
            f'<td><pre>{esc(reference)}</pre></td></tr>')

    confusion = ""
    pairs = [(r.label, r.prediction) for r in rows if r.label is not None and r.prediction is not None]
    if pairs:
        c = Counter(pairs)
        confusion = (f'<div class="card"><b>Confusion</b><table><tr><th></th><th>predicted 1</th>'
                     f'<th>predicted 0</th></tr><tr><th>label 1</th><td class="num">{c[(1, 1)]}</td>'
                     f'<td class="num">{c[(1, 0)]}</td></tr><tr><th>label 0</th><td class="num">{c[(0, 1)]}</td>'
                     f'<td class="num">{c[(0, 0)]}</td></tr></table></div>')

    failed_count = sum(not r.passed for r in rows)
    baseline_note = (f"baseline: run {baseline.id}" if baseline is not None and baseline.id != run.id
                     else ("this run is the baseline" if run.is_baseline else "no baseline"))
    judge = f" (judge {esc(run.judge_model)})" if run.judge_model else ""
    started = run.started_at.strftime("%Y-%m-%d %H:%M UTC") if run.started_at else ""
    meta = (f'{esc(run.mode)} run on <b>{esc(run.model)}</b>{judge} · prompts {esc(", ".join(run.prompt_refs))} · '
            f'{run.case_count} cases, <span class="{"fail" if failed_count else "pass"}">{failed_count} failed</span>'
            f' · {run.input_tokens:,} in / {run.output_tokens:,} out tokens · ${float(run.cost_usd):.4f} · '
            f'{run.duration_ms / 1000:.1f} s · {esc(started)} · {esc(baseline_note)}')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>eval run {run.id}: {esc(run.suite)}</title><style>{CSS}</style></head>
<body>
<h1>Eval run {run.id}: {esc(run.suite)}</h1>
<div class="meta">{meta}</div>
<h2>Metrics</h2>
<div class="grid"><div class="card"><table><tr><th>metric</th><th>value</th><th>threshold</th><th>baseline</th></tr>
{"".join(metric_rows)}</table></div>{confusion}</div>
<h2>Charts</h2>
<div class="grid">{"".join(f'<div class="card">{c}</div>' for c in charts if c)}</div>
<h2>Cases (failures first)</h2>
<table class="cases"><colgroup><col style="width:3%"><col style="width:14%"><col style="width:5%"><col style="width:6%">
<col style="width:22%"><col style="width:16%"><col style="width:19%"><col style="width:15%"></colgroup>
<tr><th>#</th><th>case</th><th>result</th><th>outcome</th><th>checks below 1 (red: decide pass)</th><th>input</th>
<th>output</th><th>reference</th></tr>
{"".join(case_rows)}
</table>
</body></html>
"""


def write_report(session: Session, run: EvalRun, rows: Sequence[EvalCaseResult], directory: Path) -> Path:
    """Render and write `eval-<id>-<suite>.html` under `directory`; returns the path."""
    from evals.gate import thresholds_for

    baseline = repo.baseline_run(session, run.suite, run.mode)
    page = render(run, rows, thresholds_for(run.suite, run.mode), baseline, get_suite(run.suite).pass_keys)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = (run.started_at or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    path = directory / f"eval-{run.id}-{run.suite.replace('.', '_')}-{stamp}.html"
    path.write_text(page, encoding="utf-8")
    return path
