"""`salesagents demo`: everything a first-time user needs to see the service working, in one command."""

from __future__ import annotations

import typer

from core.config import Settings, get_settings
from core.db.engine import ensure_database, resolve_url, session_scope


def demo(accounts: int = typer.Option(200, help="Accounts to seed on first run."),
         seed: int = typer.Option(42, help="Random seed of the synthetic CRM."),
         agent_limit: int = typer.Option(3, min=0, help="Subjects per model-calling agent in the demo run.")
         ) -> None:
    """Start the database, migrate it, seed a synthetic CRM on first run, print what is in it, and leave the web
    app running with one demo user per role."""
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
    show_agent_runtime(settings, agent_limit)
    start_web(settings)


def start_web(settings: Settings) -> None:
    """End with the web app running (detached, reused on the next demo) and say whom to sign in as."""
    from api.cli.main import console
    from api.cli.web import ensure_demo_users, print_web
    from web import server as web_server

    console.print("[bold]8.[/bold] web pages and API (detached; `salesagents web stop` stops them)")
    users = ensure_demo_users()
    print_web(web_server.start(settings, any_port=True), users)


def show_agent_runtime(settings: Settings, agent_limit: int = 3) -> None:
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
    if any(spec.name == "lead_scorer" for spec in registry.all_specs()):
        score_open_leads()
    from api.cli.demo_agents import run_all

    console.print("   every other agent once, inline (a second demo skips unchanged subjects):")
    for line in run_all(agent_limit, skip=("lead_scorer",)):
        console.print(f"   {line}", soft_wrap=True)
    console.print("   drafts wait for review: `salesagents inbox list --all`; suggestions: `salesagents suggestions "
                  "list`", soft_wrap=True)


def score_open_leads() -> None:
    """Show an agent at work: the Lead Scorer runs inline over the open leads (unchanged leads are skipped)."""
    from datetime import UTC, datetime

    from agents import registry
    from agents.runtime import runs as run_service
    from agents.runtime.executor import execute_until_settled
    from api.cli.main import console
    from core.repositories import lead_scoring as lead_repo

    spec = registry.get("lead_scorer")
    now = datetime.now(UTC)
    with session_scope() as session:
        subjects = list(spec.subjects(session, now)) if spec.subjects else []
        run_ids = [run.id for sid in subjects
                   if (run := run_service.create_run(session, spec.name, "manual", spec.subject_type, sid))]
    console.print(f"[bold]7.[/bold] Lead Scorer on {len(run_ids)} open leads (inline)")
    outcomes = [execute_until_settled(run_id) for run_id in run_ids]
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    console.print("   " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    with session_scope() as session:
        for lead_id, name, score in lead_repo.hottest_leads(session, limit=5):
            console.print(f"   lead {lead_id} {name}: score {score}")


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
