"""Weekly campaign performance report (beat key `campaign_report`, Mondays): the attribution of the ISO week that
just ended, in all three models, written as JSON to `<data_dir>/reports/campaigns/<YYYY>-W<ww>.json`.

A plain file rather than a table: it is a read-only snapshot for marketing (spend efficiency per campaign and
currency), and `salesagents campaigns roi --since … --until …` recomputes any period on demand. Running it twice
for one week rewrites the same file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from core.config import get_settings
from core.db.engine import session_scope
from core.models.enums import AttributionModel
from core.services import attribution
from core.services.snapshot import jsonable


def previous_week(now: datetime) -> tuple[date, date]:
    """Monday and Sunday of the last whole ISO week before `now` (UTC)."""
    today = now.astimezone(UTC).date()
    monday = today - timedelta(days=today.weekday() + 7)
    return monday, monday + timedelta(days=6)


def week_report(session: Session, monday: date, sunday: date) -> dict[str, Any]:
    """The three models' reports for one week, as JSON-ready data (Decimals as strings, never floats)."""
    models = {m.value: jsonable(asdict(attribution.report(session, m, since=monday, until=sunday)))
              for m in AttributionModel}
    year, week, _ = monday.isocalendar()
    return {"week": f"{year}-W{week:02d}", "since": monday.isoformat(), "until": sunday.isoformat(),
            "models": models}


def write_weekly_report(now: datetime | None = None, *, engine: Engine | None = None,
                        directory: Path | None = None) -> dict[str, Any]:
    """Owns its (read-only) transaction; the file is replaced atomically so a reader never sees half of it."""
    now = now or datetime.now(UTC)
    monday, sunday = previous_week(now)
    with session_scope(engine) as session:
        report = week_report(session, monday, sunday)
    report["generated_at"] = now.astimezone(UTC).isoformat()
    folder = directory or get_settings().data_dir / "reports" / "campaigns"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report['week']}.json"
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, path)
    linear = report["models"][AttributionModel.linear.value]
    return {"week": report["week"], "path": str(path), "campaigns": len(linear["campaigns"])}
