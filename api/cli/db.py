"""`salesagents db up|migrate|status|stop`: the database the service runs on."""

from __future__ import annotations

import typer
from rich.table import Table
from sqlalchemy.engine import URL

from agents.runtime.checkpoint import setup_checkpointer
from core.config import get_settings
from core.db import embedded
from core.db.engine import ensure_database, resolve_url
from core.db.migrate import status as migration_status
from core.db.migrate import upgrade

app = typer.Typer(help="Start, migrate and inspect the database.", no_args_is_help=True)


@app.command()
def up() -> None:
    """Start the embedded PostgreSQL (unless DATABASE_URL is set) and create the database."""
    from api.cli.main import console

    settings = get_settings()
    url = resolve_url(settings)
    ensure_database(url)
    where = "DATABASE_URL" if settings.database_url else f"embedded server in {settings.pgdata}"
    console.print(f"database [bold]{url.database}[/bold] is up ({where})")


@app.command()
def migrate() -> None:
    """Apply every pending migration (safe to run from several processes at once)."""
    from api.cli.main import console

    url = resolve_url(get_settings())
    changed = prepare_database(url)
    current, _head = migration_status(url)
    console.print(f"migrated to revision [bold]{current}[/bold]; agent checkpoint tables ready")
    console.print(f"prompts synced ({changed} new version(s))")


def prepare_database(url: URL) -> int:
    """Everything a database needs before the service uses it; returns the number of new prompt versions."""
    ensure_database(url)
    upgrade(url)
    setup_checkpointer(url)  # LangGraph's own tables: outside Alembic, CREATE INDEX CONCURRENTLY
    return sync_prompt_files()


def sync_prompt_files() -> int:
    """Prompt files are part of the code: every migrate records new versions, so runs can name what they used."""
    from core.db.engine import session_scope
    from prompts.registry import sync_prompts

    with session_scope() as session:
        return sum(1 for item in sync_prompts(session) if item.action != "unchanged")


@app.command()
def status() -> None:
    """Show where the database is and whether its schema is current."""
    from api.cli.main import console

    settings = get_settings()
    url = resolve_url(settings)
    ensure_database(url)
    current, head = migration_status(url)
    table = Table(show_header=False)
    table.add_row("server", "DATABASE_URL" if settings.database_url else f"embedded ({settings.pgdata})")
    table.add_row("database", str(url.database))
    table.add_row("revision", f"{current or 'none'} (code head {head})")
    table.add_row("state", "[green]up to date[/green]" if current == head else "[yellow]needs migrate[/yellow]")
    console.print(table)


@app.command()
def stop() -> None:
    """Stop the embedded PostgreSQL server."""
    from api.cli.main import console

    settings = get_settings()
    if settings.database_url:
        console.print("DATABASE_URL is set: nothing embedded to stop")
        return
    console.print("stopped" if embedded.stop(settings.pgdata) else "not running")
