"""The `salesagents` command line (typer + rich). Each command is an entry point and owns its transaction."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from sqlalchemy.exc import DBAPIError

from core.db.errors import describe as describe_db_error
from core.errors import CrmError

app = typer.Typer(help="salesagents: AI sales and customer-success agents on their own CRM.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
err_console = Console(stderr=True)


def _register() -> None:
    """Sub-apps are attached here, not at import, so `--help` stays fast and imports stay side-effect free."""
    from api.cli import agents as agents_cli
    from api.cli import approvals as approvals_cli
    from api.cli import campaigns as campaigns_cli
    from api.cli import db as db_cli
    from api.cli import demo as demo_cli
    from api.cli import embed as embed_cli
    from api.cli import evals as evals_cli
    from api.cli import forecast as forecast_cli
    from api.cli import health as health_cli
    from api.cli import importing as import_cli
    from api.cli import inbox as inbox_cli
    from api.cli import lead_scoring as scoring_cli
    from api.cli import llm as llm_cli
    from api.cli import llm_usage
    from api.cli import pipelines as pipelines_cli
    from api.cli import prompts as prompts_cli
    from api.cli import seed as seed_cli
    from api.cli import segments as segments_cli
    from api.cli import serve as serve_cli
    from api.cli import suggestions as suggestions_cli
    from api.cli import users as users_cli
    from api.cli import web as web_cli
    from api.cli import worker as worker_cli

    app.add_typer(db_cli.app, name="db")
    app.add_typer(import_cli.app, name="import")
    app.command("seed")(seed_cli.seed)
    app.command("summary")(seed_cli.summary)
    app.command("demo")(demo_cli.demo)
    llm_cli.app.command("usage")(llm_usage.usage)
    app.add_typer(llm_cli.app, name="llm")
    app.add_typer(prompts_cli.app, name="prompts")
    app.command("embed")(embed_cli.embed)
    app.command("run")(agents_cli.run)
    app.command("runs")(agents_cli.runs)
    app.add_typer(approvals_cli.app, name="approvals")
    app.add_typer(inbox_cli.app, name="inbox")
    app.add_typer(evals_cli.app, name="eval")
    app.add_typer(health_cli.app, name="health")
    app.add_typer(forecast_cli.app, name="forecast")
    app.add_typer(pipelines_cli.app, name="pipelines")
    app.add_typer(scoring_cli.app, name="scoring")
    app.add_typer(suggestions_cli.app, name="suggestions")
    app.add_typer(segments_cli.app, name="segments")
    app.add_typer(campaigns_cli.app, name="campaigns")
    app.command("worker")(worker_cli.worker)
    app.command("beat")(worker_cli.beat)
    app.command("dispatch")(worker_cli.dispatch)
    app.add_typer(users_cli.app, name="users")
    app.command("api")(serve_cli.api)
    app.add_typer(web_cli.app, name="web")


def run() -> None:
    """Console-script entry: expected errors print one clear line and exit 2, never a stack trace."""
    _register()
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except CrmError as exc:
        err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        sys.exit(2)
    except DBAPIError as exc:
        err_console.print(f"[red]error:[/red] {describe_db_error(exc)}", soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(1)
    except Exception as exc:  # click usage errors and the like carry their own message
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
