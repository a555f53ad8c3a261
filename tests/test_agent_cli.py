"""`salesagents run AGENT` inline and `salesagents runs`, on a committed scratch database."""

from __future__ import annotations

import re

import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from api.cli import agents as agents_cli
from core.config import get_settings
from core.db.engine import session_scope
from core.errors import InvalidInput
from core.models import AgentRun, AgentScore
from tests import factories


@pytest.fixture
def app(scratch_db: object, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setenv("SALESAGENTS_AGENT_MODULES", '["tests.sample_agents"]')
    get_settings.cache_clear()
    cli = typer.Typer()
    cli.command("run")(agents_cli.run)
    cli.command("runs")(agents_cli.runs)
    return cli


def test_run_inline_prints_outcome_and_outputs_then_skips_unchanged_input(app: typer.Typer) -> None:
    with session_scope() as session:
        lead = factories.lead(session, first_name="Ada", last_name="Lovelace", title="CTO", industry="Software")
        lead_id = lead.id
    runner = CliRunner()
    first = runner.invoke(app, ["run", "sample_scorer", "--subject", str(lead_id)])
    assert first.exit_code == 0, first.output
    assert "succeeded" in first.output
    assert "score lead_score = 40 (warm)" in first.output
    assert "task #" in first.output and "Follow up Ada Lovelace (score 40, warm)" in first.output

    again = runner.invoke(app, ["run", "sample_scorer", "--subject", str(lead_id)])
    assert again.exit_code == 0, again.output
    assert "1 skipped" in again.output

    listed = runner.invoke(app, ["runs", "--agent", "sample_scorer"])
    assert listed.exit_code == 0, listed.output
    assert re.search(r"│ sample_sc\S*\s*│\s*lead \d+\s*│\s*skipped", listed.output), listed.output
    assert re.search(r"│\s*succe\S*\s*│", listed.output)


def test_run_all_sweeps_the_agents_subjects_and_a_failure_exits_1(app: typer.Typer) -> None:
    with session_scope() as session:
        for _ in range(3):
            factories.lead(session)
    runner = CliRunner()
    swept = runner.invoke(app, ["run", "sample_scorer", "--all"])
    assert swept.exit_code == 0, swept.output
    assert "3 succeeded" in swept.output
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(AgentScore)) == 3

    failed = runner.invoke(app, ["run", "sample_scorer", "--subject", "999999"])
    assert failed.exit_code == 1
    assert "lead 999999 not found" in failed.output
    with session_scope() as session:
        assert session.scalars(select(AgentRun.status).order_by(AgentRun.id.desc()).limit(1)).one() == "failed"


def test_bad_cli_input_names_the_option(app: typer.Typer) -> None:
    runner = CliRunner()
    for args, field in ((["run", "sample_scorer"], "--subject"), (["run", "sample_slow", "--all"], "--all"),
                        (["run", "nope", "--subject", "1"], "agent"), (["runs", "--status", "done"], "--status")):
        result = runner.invoke(app, args)
        assert isinstance(result.exception, InvalidInput) and result.exception.field == field, args
