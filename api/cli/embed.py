"""`salesagents embed`: bring the vectors of CRM texts up to date (new or changed texts only)."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.db.engine import session_scope
from core.llm.embeddings import get_embedder
from core.repositories.embeddings import CRM_SOURCES, check_source
from core.services.embedding_job import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, SourceCounts, run_embedding_job

SOURCE_HELP = f"Source to embed (repeatable): {', '.join(CRM_SOURCES)}. Default: all of them."


def run_embed(sources: list[str] | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, SourceCounts]:
    """One transaction per source, so an interrupted run keeps the sources it finished."""
    from api.cli.main import console

    chosen = [check_source(s, crm_only=True) for s in dict.fromkeys(sources or CRM_SOURCES)]
    embedder = get_embedder()
    console.print(f"embedding model: {embedder.model} ({embedder.dims} dimensions)")
    results: dict[str, SourceCounts] = {}
    seconds: dict[str, float] = {}
    columns = (TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        bars: dict[str, TaskID] = {}

        def advance(source: str, done: int, total: int) -> None:
            if source not in bars:
                bars[source] = progress.add_task(source, total=total)
            progress.update(bars[source], completed=done, total=total)

        for source in chosen:
            started = time.perf_counter()
            with session_scope() as session:
                results.update(run_embedding_job(session, embedder, [source], batch_size, advance))
            seconds[source] = time.perf_counter() - started
    table = Table(title=f"Embeddings ({embedder.model})")
    for name in ("source", "embedded", "unchanged", "removed", "seconds", "texts/s"):
        table.add_column(name, justify="left" if name == "source" else "right")
    for source, counts in results.items():
        rate = counts.embedded / seconds[source] if counts.embedded and seconds[source] else 0.0
        table.add_row(source, f"{counts.embedded:,}", f"{counts.unchanged:,}", f"{counts.removed:,}",
                      f"{seconds[source]:.1f}", f"{rate:,.0f}" if counts.embedded else "-")
    console.print(table)
    return results


def embed(
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help=SOURCE_HELP)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=MAX_BATCH_SIZE,
                                            help="Texts per model call and per write.")] = DEFAULT_BATCH_SIZE,
) -> None:
    """Embed new or changed account descriptions, activity notes and NPS comments; drop vectors of deleted texts."""
    run_embed(source, batch_size)
