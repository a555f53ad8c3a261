"""`salesagents demo`: everything a first-time user needs to see the service working, in one command."""

from __future__ import annotations

import typer

from core.config import Settings, get_settings
from core.db.engine import ensure_database, resolve_url, session_scope


def demo(accounts: int = typer.Option(200, help="Accounts to seed on first run."),
         seed: int = typer.Option(42, help="Random seed of the synthetic CRM.")) -> None:
    """Start the database, migrate it, seed a synthetic CRM on first run, and print what is in it."""
    from api.cli.main import console
    from api.cli.seed import print_summary, run_seed
    from core.repositories import seeding as seeding_repo

    settings = get_settings()
    url = resolve_url(settings)
    ensure_database(url)
    console.print(f"[bold]1.[/bold] database up: {'DATABASE_URL' if settings.database_url else settings.pgdata}")
    from api.cli.db import prepare_database

    console.print(f"[bold]2.[/bold] schema migrated, prompts synced ({prepare_database(url)} new version(s))")
    with session_scope() as session:
        already = seeding_repo.account_count(session)
    if already:
        console.print(f"[bold]3.[/bold] already seeded ({already} accounts): keeping the data")
    else:
        console.print(f"[bold]3.[/bold] seeding {accounts} accounts (seed {seed})")
        run_seed(accounts=accounts, seed=seed)
    print_summary()
    start_chat_model(settings)
    from api.cli.embed import run_embed

    console.print("[bold]5.[/bold] embedding searchable texts (incremental: only new or changed ones)")
    run_embed()
    show_agent_runtime(settings)


def show_agent_runtime(settings: Settings) -> None:
    """Say where agent runs will execute: through Redis and a worker, or inline when Redis is unreachable."""
    from agents import registry
    from agents.enqueue import choose_enqueue
    from api.cli.main import console

    delivery = choose_enqueue(settings)
    names = ", ".join(spec.name for spec in registry.all_specs()) or "none registered yet"
    console.print(f"[bold]6.[/bold] agent runtime: {delivery.how}; agents: {names}", soft_wrap=True)
    if not delivery.inline:
        console.print("   start `salesagents worker` and `salesagents beat` to run them on events and schedules",
                      soft_wrap=True)


def start_chat_model(settings: Settings) -> None:
    """Agents need a chat model: start the embedded one unless a remote model is configured."""
    from api.cli.llm import health_text
    from api.cli.main import console
    from core.llm import local_server
    from core.llm.factory import model_config

    cfg = model_config(settings=settings)
    if not settings.uses_local_llm:
        console.print(f"[bold]4.[/bold] chat model: {cfg.label} at {cfg.base_url} (configured)")
        return
    console.print(f"[bold]4.[/bold] starting the local chat model ({cfg.model}, llama.cpp on {settings.llm_local_url})",
                  soft_wrap=True)
    pid = local_server.serve(settings)
    health = local_server.health_check(settings)
    console.print(f"   local model pid {pid}: {health_text(health)}; stop it with `salesagents llm stop`",
                  soft_wrap=True)
