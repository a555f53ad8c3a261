"""`salesagents prompts ...`: sync prompt files, inspect versions, edit, preview, diff, promote and roll back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from core.errors import InvalidInput

app = typer.Typer(help="Versioned prompts: production and staging labels, edits, previews, rollbacks.",
                  no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(help="Prompt id, e.g. nps_followup.draft.", show_default=False)]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who makes the change (kept in the label history).")]


def _console() -> Any:
    from api.cli.main import console

    return console


@app.command()
def sync(promote: Annotated[bool, typer.Option(
             "--promote", help="Make changed files production at once (default: they become staging).")] = False,
         directory: Annotated[Path | None, typer.Option(
             "--dir", help="Folder of <agent>/<step>.md.j2 files (default: the packaged prompts).")] = None,
         actor: ActorOpt = "system") -> None:
    """Store new prompt texts as immutable versions; running it again with the same files writes nothing."""
    from core.db.engine import session_scope
    from prompts.registry import sync_prompts

    with session_scope() as session:
        items = sync_prompts(session, directory, promote=promote, actor=actor)
    table = Table(title="prompt sync")
    table.add_column("prompt", no_wrap=True)
    table.add_column("version")
    table.add_column("result")
    for item in items:
        table.add_row(item.prompt_id, str(item.version), item.action)
    _console().print(table)


@app.command("list")
def list_prompts() -> None:
    """Every prompt with its latest, production and staging versions."""
    from core.db.engine import session_scope
    from core.repositories.prompts import summaries

    with session_scope() as session:
        rows = summaries(session)
    table = Table(title="prompts")
    table.add_column("prompt", no_wrap=True)
    for col in ("prod", "staging", "latest"):
        table.add_column(col, justify="right")
    table.add_column("description", overflow="fold", min_width=20)
    for r in rows:
        table.add_row(r.prompt_id, str(r.production or "-"), str(r.staging or "-"), str(r.latest), r.description)
    _console().print(table)
    if not rows:
        _console().print("no prompts yet: run `salesagents prompts sync`")


@app.command()
def show(prompt_id: IdArg, version: Annotated[int | None, typer.Option(
             "--version", "-v", help="Version to show (default: production).")] = None,
         label: Annotated[str, typer.Option("--label", help="Label to show when no version is given.")]
         = "production") -> None:
    """Print one version's full text, unchanged, so `show ID > FILE`, an edit and `new-version ID FILE` round-trip;
    the version line goes to stderr."""
    from api.cli.main import err_console
    from core.db.engine import session_scope
    from prompts.registry import load_prompt, load_version

    with session_scope() as session:
        prompt = (load_version(session, prompt_id, version) if version is not None
                  else load_prompt(session, prompt_id, label))
    err_console.print(f"{prompt.ref} purpose={prompt.purpose} inputs={', '.join(prompt.inputs)}", soft_wrap=True)
    typer.echo(prompt.template, nl=not prompt.template.endswith("\n"))


@app.command("new-version")
def new_version(prompt_id: IdArg,
                file: Annotated[Path, typer.Argument(help="The edited full prompt text.", show_default=False)],
                note: Annotated[str, typer.Option("--note", help="Why it changed.")],
                actor: ActorOpt = "admin") -> None:
    """Store an edited text as the next version, labelled staging."""
    from core.db.engine import session_scope
    from prompts.registry import create_version

    text = _read(file, "FILE")
    with session_scope() as session:
        row = create_version(session, prompt_id, text, actor, note)
        ref = f"{row.prompt_id}@{row.version}"
    _console().print(f"created {ref} (staging); promote it with `salesagents prompts promote {prompt_id} "
                     f"{ref.split('@')[1]}`", soft_wrap=True)


@app.command()
def preview(prompt_id: IdArg,
            version: Annotated[int, typer.Option("--version", "-v", help="Version to render.")],
            inputs: Annotated[Path, typer.Option("--inputs", help="JSON file with one value per prompt input.")]
            ) -> None:
    """Render the messages and the fallback for sample inputs, without calling a model."""
    from core.db.engine import session_scope
    from prompts.registry import preview as render_preview

    try:
        values = json.loads(_read(inputs, "--inputs"))
    except json.JSONDecodeError as exc:
        raise InvalidInput("--inputs", f"{inputs} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(values, dict):
        raise InvalidInput("--inputs", "expected a JSON object like {\"contact_name\": \"Maria\"}")
    with session_scope() as session:
        shown = render_preview(session, prompt_id, version, values)
    console = _console()
    console.rule(f"{shown.ref}: system")
    console.print(shown.system, markup=False)
    console.rule("user")
    console.print(shown.user, markup=False)
    console.rule("fallback")
    console.print(shown.fallback if shown.fallback is not None else "(no fallback template)", markup=False)


@app.command()
def diff(prompt_id: IdArg, v1: Annotated[int, typer.Argument(help="Old version.")],
         v2: Annotated[int, typer.Argument(help="New version.")]) -> None:
    """Unified diff of two versions."""
    from core.db.engine import session_scope
    from prompts.registry import diff as diff_versions

    with session_scope() as session:
        text = diff_versions(session, prompt_id, v1, v2)
    typer.echo(text if text else "(no differences)", nl=not text)


@app.command()
def promote(prompt_id: IdArg, version: Annotated[int, typer.Argument(help="Version to make production.")],
            actor: ActorOpt = "admin",
            override: Annotated[bool, typer.Option(
                "--override", help="Promote even though the eval gate fails (kept in the audit log).")] = False
            ) -> None:
    """Make a version production (agents use it from their next run) once its eval gate passes."""
    from core.db.engine import session_scope
    from prompts.registry import promote_version

    with session_scope() as session:
        promote_version(session, prompt_id, version, actor, override=override)
    _console().print(f"{prompt_id}@{version} is production")


@app.command()
def rollback(prompt_id: IdArg, actor: ActorOpt = "admin") -> None:
    """Put production back on the version it held before the current one."""
    from core.db.engine import session_scope
    from prompts.registry import rollback as roll_back

    with session_scope() as session:
        row = roll_back(session, prompt_id, actor)
        ref = f"{row.prompt_id}@{row.version}"
    _console().print(f"rolled back: {ref} is production")


def _read(path: Path, field: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(field, f"cannot read {path}: {exc.strerror}") from None
