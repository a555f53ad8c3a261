"""`salesagents web start|stop|status|users`: the API and web pages served detached (see web/server.py).

`make demo` ends with `start` and `users`: the URL, and one signed-in-able user per role with the most to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

app = typer.Typer(help="Serve the web pages (and the API) in the background: start, stop, status, demo users.",
                  no_args_is_help=True)
DEMO_PASSWORD = "salesdemo"  # documented in README: a local demo, never a deployment password
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000  # as web.server (not imported here: the CLI loads this module)


@dataclass(frozen=True)
class DemoUser:
    role: str
    email: str
    full_name: str
    note: str
    password_set: bool  # set now (the user had none)
    demo_password: bool  # signs in with the demo password (set now or by an earlier demo)


def ensure_demo_users(password: str = DEMO_PASSWORD) -> list[DemoUser]:
    """One user per role gets the demo password if they have none yet (a password someone set is kept)."""
    from core.db.engine import session_scope
    from core.repositories import auth as auth_repo
    from core.repositories import web_views
    from core.services import auth as auth_service

    what = {"rep": "open deals", "manager": "people", "csm": "accounts", "admin": ""}
    out: list[DemoUser] = []
    with session_scope() as session:
        for role, user, count in web_views.demo_users(session):
            row = auth_repo.user_by_email(session, user.email, with_password=True)
            fresh = row is not None and row.password_hash is None
            if fresh:
                auth_service.set_password(session, user.email, password, actor="demo")
            works = fresh or (row is not None and auth_service.verify_password(row.password_hash, password))
            note = f"{count} {what[role]}" if what[role] else "prompts, evals, agent runs"
            out.append(DemoUser(role, user.email, user.full_name, note, fresh, works))
    return out


def print_web(server: object, users: list[DemoUser], password: str = DEMO_PASSWORD) -> None:
    """Plain lines (no table): a narrow or non-interactive console must not cut the emails."""
    from api.cli.main import console

    url = getattr(server, "url", "")
    console.print(f"   web app: [bold]{url}/app/[/bold]", soft_wrap=True)
    console.print(f"   API docs {url}/docs · log {getattr(server, 'log_path', '')} · stop: `salesagents web stop`",
                  soft_wrap=True)
    console.print(f"   sign in as (password [bold]{password}[/bold]):", soft_wrap=True)
    for u in users:
        own = "" if u.demo_password else "  (has its own password: not changed)"
        console.print(f"     {u.role:8} {u.email}  {u.full_name}, {u.note}{own}", soft_wrap=True, highlight=False)


@app.command("start")
def start(host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = DEFAULT_HOST,
          port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = DEFAULT_PORT) -> None:
    """Start the server detached (reuses a running one); prints its URL."""
    from api.cli.main import console
    from core.config import get_settings
    from core.db.engine import ensure_database, resolve_url
    from web import server as web_server

    settings = get_settings()
    ensure_database(resolve_url(settings))
    srv = web_server.start(settings, host, port)
    console.print(f"{'running' if srv.reused else 'started'}: {srv.url}/app/ (pid {srv.pid}, log {srv.log_path})",
                  soft_wrap=True)


@app.command("stop")
def stop() -> None:
    """Stop the detached server."""
    from api.cli.main import console
    from core.config import get_settings
    from web import server as web_server

    pid = web_server.stop(get_settings())
    console.print(f"stopped pid {pid}" if pid else "no web server was running")


@app.command("status")
def status() -> None:
    from api.cli.main import console
    from core.config import get_settings
    from web import server as web_server

    srv = web_server.running(get_settings())
    if srv is None:
        console.print("not running (start it with `salesagents web start`)")
        raise typer.Exit(1)
    ok = web_server.healthy(srv.host, srv.port)
    console.print(f"running: {srv.url}/app/ (pid {srv.pid}, {'healthy' if ok else 'NOT answering'}, log "
                  f"{srv.log_path})", soft_wrap=True)


@app.command("users")
def users(password: Annotated[str, typer.Option("--password", help="Password for users without one.")]
          = DEMO_PASSWORD) -> None:
    """Give one user per role a password (if they have none) and list them: whom to sign in as."""
    from api.cli.main import console

    for u in ensure_demo_users(password):
        state = "password set now" if u.password_set else "demo password" if u.demo_password else "own password"
        console.print(f"{u.role:8} {u.email}  ({u.note}; {state})", soft_wrap=True, highlight=False)
