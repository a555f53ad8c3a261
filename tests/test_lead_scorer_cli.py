"""`scoring train` and `scoring models` on a committed database, as an admin runs them."""

from __future__ import annotations

from sqlalchemy.engine import URL
from typer.testing import CliRunner

from api.cli.lead_scoring import app
from core.db.engine import make_engine, session_scope
from tests.lead_scoring_data import make_leads


def test_train_twice_then_list_the_versions(scratch_db: URL) -> None:
    runner = CliRunner()
    empty = runner.invoke(app, ["train"])
    assert empty.exit_code != 0 and "closed leads" in str(empty.exception)
    engine = make_engine(scratch_db)
    with session_scope(engine) as session:
        make_leads(session, 80)
    engine.dispose()
    first = runner.invoke(app, ["train"])
    assert first.exit_code == 0, first.output
    assert "lead_score v1 (naive_bayes)" in first.output and "promoted" in first.output
    second = runner.invoke(app, ["train"])
    assert second.exit_code == 0 and "v2" in second.output and "current version AUC" in second.output
    listed = runner.invoke(app, ["models"])
    assert listed.exit_code == 0
    lines = [line for line in listed.output.splitlines() if "retired" in line or "promot" in line]
    assert len(lines) == 2 and "retired" in lines[0] and "promot" in lines[1], listed.output
