"""Running the real console entry point (`api.cli.main.run`) inside a test: its exit code and what it printed."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner


def run_cli(monkeypatch: pytest.MonkeyPatch, *args: str, columns: int | None = None) -> tuple[int, str]:
    """`salesagents ARGS...` as a user types it: (exit code, stdout + stderr). `columns` widens rich's tables."""
    from api.cli import main

    monkeypatch.setattr(sys, "argv", ["salesagents", *args])
    if columns is not None:
        monkeypatch.setenv("COLUMNS", str(columns))
    code = 0
    with CliRunner().isolation() as streams:
        try:
            main.run()
        except SystemExit as exc:
            code = int(exc.code or 0)
        output = streams[0].getvalue().decode() + streams[2].getvalue().decode()
    return code, output
