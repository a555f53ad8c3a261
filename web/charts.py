"""Inline SVG charts rendered on the server (no chart library, no script): the health score over time, and
pass rates per prompt version. Text is escaped; the eval charts reuse evals/report.py's functions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from evals.report import ACCENT, esc


def time_series(title: str, points: Sequence[tuple[datetime, float]], *, low: float = 0, high: float = 100,
                bands: Sequence[tuple[float, str]] = (), width: int = 640, height: int = 240) -> str:
    """A line over time with dots (one per stored score) and dashed band thresholds; empty without points."""
    if not points:
        return ""
    left, right, top, bottom = 40, 16, 28, 34
    pw, ph = width - left - right, height - top - bottom
    t0, t1 = points[0][0].timestamp(), points[-1][0].timestamp()
    span = (t1 - t0) or 1.0

    def xy(t: datetime, v: float) -> tuple[float, float]:
        x = left + ((t.timestamp() - t0) / span if len(points) > 1 else 0.5) * pw
        y = top + (1 - (min(high, max(low, v)) - low) / (high - low)) * ph
        return x, y

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{esc(title)}"><text x="0" y="16" font-size="14" font-weight="600">{esc(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafbfc" stroke="#ccd"/>']
    for value, label in bands:
        y = xy(points[0][0], value)[1]
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#c9a227" '
                     f'stroke-dasharray="4 3"/><text x="{left + pw - 2}" y="{y - 3:.1f}" font-size="10" '
                     f'text-anchor="end" fill="#8a6d00">{esc(label)}</text>')
    for value in (low, (low + high) / 2, high):
        y = xy(points[0][0], value)[1]
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{value:g}</text>')
    path = " ".join(f"{'M' if i == 0 else 'L'}{xy(t, v)[0]:.1f},{xy(t, v)[1]:.1f}" for i, (t, v) in enumerate(points))
    parts.append(f'<path d="{path}" fill="none" stroke="{ACCENT}" stroke-width="2"/>')
    for t, v in points:
        x, y = xy(t, v)
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{ACCENT}"><title>{t:%Y-%m-%d %H:%M}: '
                     f'{v:.0f}</title></circle>')
    parts.append(f'<text x="{left}" y="{height - 8}" font-size="10">{points[0][0]:%Y-%m-%d}</text>'
                 f'<text x="{left + pw}" y="{height - 8}" font-size="10" text-anchor="end">'
                 f'{points[-1][0]:%Y-%m-%d}</text></svg>')
    return "".join(parts)
