"""`salesagents pipelines list | show ID | set-probability STAGE_ID PCT`: the operator's view of the pipelines.

A new probability applies at once to every deal in the stage: `salesagents forecast` reads it from the stage.
Changes are audited with the actor `cli`; the full configuration (add, rename, reorder, remove stages) is the
admin's REST API (`/pipelines`, api/README.md).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

app = typer.Typer(help="Pipelines and their stages (list, show, set-probability).", no_args_is_help=True)


def _console() -> Any:
    from api.cli.main import console

    return console


def _stages_table(title: str, stages: list[Any]) -> Table:
    from core.services import pipelines as svc

    table = Table(title=title)
    for col in ("position", "stage id", "name", "kind", "probability", "rot days", "open deals"):
        table.add_column(col, justify="right" if col in ("position", "stage id", "probability", "rot days",
                                                         "open deals") else "left")
    for stage, open_deals in stages:
        table.add_row(str(stage.position), str(stage.id), Text(stage.name), svc.kind_of(stage).value,
                      f"{svc.percent(stage)}%", "" if stage.rot_days is None else str(stage.rot_days),
                      str(open_deals))
    return table


@app.command("list")
def list_() -> None:
    """Every pipeline with its stages in board order."""
    from core.db.engine import session_scope
    from core.repositories import api_views
    from core.repositories import pipeline as repo

    with session_scope() as session:
        pipelines = api_views.pipelines(session)
        table = Table(title=f"{len(pipelines)} pipeline(s)")
        for col in ("id", "name", "default", "stages"):
            table.add_column(col, overflow="fold")
        for p in pipelines:
            names = " → ".join(f"{s.name} ({s.id})" for s in repo.stages(session, p.id))
            table.add_row(str(p.id), Text(p.name), "yes" if p.is_default else "", Text(names))
    _console().print(table if pipelines else "no pipelines")


@app.command()
def show(pipeline_id: Annotated[int, typer.Argument(help="Pipeline id (see `pipelines list`).",
                                                    show_default=False)]) -> None:
    """One pipeline: its stages with kind, probability, rot days and open deals."""
    from core.db.engine import session_scope
    from core.errors import NotFound
    from core.models import Pipeline
    from core.repositories import pipeline as repo

    with session_scope() as session:
        pipeline = session.get(Pipeline, pipeline_id)
        if pipeline is None:
            raise NotFound("pipeline", pipeline_id)
        counts = {name: n for name, n, _amount, _weighted in repo.weighted_pipeline(session, pipeline.id)}
        stages = [(s, counts.get(s.name, 0)) for s in repo.stages(session, pipeline.id)]
        title = f"pipeline {pipeline.id}: {pipeline.name}" + (" (default)" if pipeline.is_default else "")
        _console().print(_stages_table(title, stages))


@app.command("set-probability")
def set_probability(stage_id: Annotated[int, typer.Argument(help="Stage id (see `pipelines show`).",
                                                            show_default=False)],
                    percent: Annotated[int, typer.Argument(help="Win probability in percent, 0-100.",
                                                           show_default=False)]) -> None:
    """Change a stage's win probability; the forecast and the Deal Coach read it from the stage."""
    from core.db.engine import session_scope
    from core.services import pipelines as svc

    with session_scope() as session:
        stage = svc.set_probability(session, stage_id, percent, actor="cli")
        now, name = svc.percent(stage), stage.name
    _console().print(f"stage {stage_id} ({name}): win probability now {now}%", markup=False)
