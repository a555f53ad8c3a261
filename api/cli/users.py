"""`salesagents users create|set-password|api-key|list`: people who sign in to the API and the web pages."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.table import Table

from core.db.engine import session_scope
from core.errors import InvalidInput
from core.models.enums import Role

app = typer.Typer(help="Users: create them, set passwords, issue API keys.", no_args_is_help=True)

PasswordOpt = Annotated[str | None, typer.Option(
    "--password", help="The password (prompted for when omitted; env-friendly: --password \"$PW\").")]


def _password(value: str | None, prompt: bool) -> str | None:
    if value is not None or not prompt:
        return value
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise InvalidInput("password", "the two entries differ")
    return first


@app.command()
def create(email: Annotated[str, typer.Argument(help="Sign-in email (unique).")],
           role: Annotated[Role, typer.Option("--role", help="rep, manager, csm or admin.")],
           name: Annotated[str | None, typer.Option("--name", help="Full name (default: the email).")] = None,
           password: PasswordOpt = None,
           no_password: Annotated[bool, typer.Option("--no-password", help="API keys only, no web sign-in.")]
           = False,
           team_id: Annotated[int | None, typer.Option("--team-id", help="Team (managers see their team).")] = None,
           manager_id: Annotated[int | None, typer.Option("--manager-id", help="The user's manager.")] = None) -> None:
    """Create a user who can sign in (password hashed with argon2)."""
    from api.cli.main import console
    from core.services import auth as auth_service

    secret = None if no_password else _password(password, prompt=True)
    with session_scope() as session:
        user = auth_service.create_user(session, email=email, full_name=name or email, role=role, password=secret,
                                        team_id=team_id, manager_id=manager_id, actor="cli")
        console.print(f"user #{user.id} {user.email} ({role.value}) created")


@app.command("set-password")
def set_password(email: Annotated[str, typer.Argument(help="The user's email.")],
                 password: PasswordOpt = None) -> None:
    """Set or reset a user's password (existing sessions stay valid until they expire or sign out)."""
    from api.cli.main import console
    from core.services import auth as auth_service

    secret = _password(password, prompt=True)
    assert secret is not None
    with session_scope() as session:
        user = auth_service.set_password(session, email, secret, actor="cli")
        console.print(f"password of {user.email} set")


@app.command("api-key")
def api_key(email: Annotated[str, typer.Argument(help="The user the key acts as.")],
            name: Annotated[str, typer.Option("--name", help="What the key is for.")] = "cli") -> None:
    """Issue a bearer API key; the secret is printed once and never stored (only its hash)."""
    from api.cli.main import console
    from core.errors import NotFound
    from core.repositories import auth as repo
    from core.services import auth as auth_service

    with session_scope() as session:
        user = repo.user_by_email(session, email)
        if user is None:
            raise NotFound("user", email)
        key, secret = auth_service.create_api_key(session, user.id, name, actor="cli")
        console.print(f"API key #{key.id} ({key.name}) for {user.email}; shown once:")
    typer.echo(secret)


@app.command("list")
def list_users() -> None:
    """Users with role, team and whether they can sign in with a password."""
    from api.cli.main import console
    from core.repositories import auth as repo

    table = Table(title="users")
    for col in ("id", "email", "name", "role", "team", "active", "password"):
        table.add_column(col)
    with session_scope() as session:
        for u in repo.list_users(session):
            has_pw = repo.user_by_email(session, u.email, with_password=True)
            table.add_row(str(u.id), u.email, u.full_name, u.role.value, str(u.team_id or ""),
                          "yes" if u.active else "no", "yes" if has_pw and has_pw.password_hash else "no")
    console.print(table)
