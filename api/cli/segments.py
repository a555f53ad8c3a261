"""`salesagents segments list | show | members | create | preview`: dynamic lists evaluated on today's data.

The CLI is the operator's tool: it sees every row unless `--as USER_ID` asks for one person's view (the members a
rep or manager would see through the API, core/repositories/scoping.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from core.errors import InvalidInput, NotFound

app = typer.Typer(help="Segments: saved rules whose members follow the data (list, show, members, create, "
                       "preview).", no_args_is_help=True)

IdArg = Annotated[int, typer.Argument(help="Segment id (see `segments list`).", show_default=False)]
AsOpt = Annotated[int | None, typer.Option(
    "--as", help="User id: evaluate within that person's scope (default: every row).", show_default=False)]
RulesOpt = Annotated[str, typer.Option(
    "--rules", help='Rule tree as JSON, e.g. \'{"all": [{"field": "account.country", "op": "eq", "value": "VN"}]}\''
                    ", or @file.json.", show_default=False)]
EntityOpt = Annotated[str, typer.Option("--entity", help="account, contact, deal or lead.", show_default=False)]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, max=10_000, help="How many members to show.")]


def _console() -> Any:
    from api.cli.main import console

    return console


def parse_rules_option(raw: str) -> Any:
    """The --rules text (or the file after @) as JSON; a mistake names the option, never a stack trace."""
    if raw.startswith("@"):
        path = Path(raw[1:])
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput("--rules", f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput("--rules", f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def _viewer(session: Any, user_id: int | None) -> Any:
    from core.models import User
    from core.repositories.scoping import principal_of

    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return principal_of(user)


def _members_table(title: str, rows: list[Any]) -> Table:
    table = Table(title=title)
    for col in ("id", "name", "detail", "account"):
        table.add_column(col, overflow="fold")
    for row in rows:
        account = f"{row.account_name} ({row.account_id})" if row.account_id is not None else ""
        table.add_row(str(row.id), Text(row.name), Text(row.detail), Text(account))
    return table


@app.command("list")
def list_(entity: Annotated[str | None, typer.Option("--entity", help="Only segments of this entity.")] = None,
          limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100) -> None:
    """Saved segments with today's member count."""
    from datetime import UTC, datetime

    from core.db.engine import session_scope
    from core.services import segments as svc

    now = datetime.now(UTC)
    with session_scope() as session:
        rows = svc.list_segments(session, entity=entity, limit=limit)
        table = Table(title=f"{len(rows)} segment(s)")
        for col in ("id", "name", "entity", "members", "created by"):
            table.add_column(col, overflow="fold")
        for seg in rows:
            table.add_row(str(seg.id), Text(seg.name), seg.entity.value,
                          str(svc.member_count(session, seg.id, now=now)),
                          "" if seg.created_by_id is None else f"user {seg.created_by_id}")
    _console().print(table if rows else "no segments")


@app.command()
def show(segment_id: IdArg, as_user: AsOpt = None) -> None:
    """One segment: its rules and today's member count."""
    from core.db.engine import session_scope
    from core.segment_rules import dump_rules, parse_rules
    from core.services import segments as svc

    with session_scope() as session:
        seg = svc.get_segment(session, segment_id)
        count = svc.member_count(session, seg.id, viewer=_viewer(session, as_user))
        out = _console()
        out.print(f"segment {seg.id}: {seg.name} ({seg.entity.value}, {count} member(s) today)", markup=False)
        if seg.description:
            out.print(seg.description, markup=False, soft_wrap=True)
        canonical = dump_rules(parse_rules(seg.rules))  # field, op, value in reading order (jsonb sorts keys)
        out.print(json.dumps(canonical, indent=2, ensure_ascii=False), markup=False, soft_wrap=True)


@app.command()
def members(segment_id: IdArg, limit: LimitOpt = 50,
            offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many members.")] = 0,
            as_user: AsOpt = None) -> None:
    """Members as of now, in id order (evaluated live: nothing to refresh)."""
    from core.db.engine import session_scope
    from core.services import segments as svc

    with session_scope() as session:
        seg = svc.get_segment(session, segment_id)
        page = svc.evaluate(session, segment_id, limit=limit, offset=offset, viewer=_viewer(session, as_user))
        rows = svc.describe(session, page)
        title = f"{seg.name}: {len(rows)} of {page.total} {seg.entity.value}(s)"
    _console().print(_members_table(title, rows) if rows else f"{title} shown", markup=False)


@app.command()
def create(name: Annotated[str, typer.Option("--name", help="Unique name.", show_default=False)],
           entity: EntityOpt, rules: RulesOpt,
           description: Annotated[str | None, typer.Option("--description", help="What it is for.")] = None,
           as_user: Annotated[int | None, typer.Option("--as", help="User id recorded as its creator.")] = None
           ) -> None:
    """Save a segment (rules are checked first: an error names the rule, e.g. rules.all[2].op)."""
    from core.db.engine import session_scope
    from core.services import segments as svc

    parsed = parse_rules_option(rules)
    with session_scope() as session:
        creator = _viewer(session, as_user)
        seg = svc.create_segment(session, name=name, entity=entity, rules=parsed, description=description,
                                 created_by_id=as_user, actor=creator.actor if creator else "cli")
        count = svc.member_count(session, seg.id)
        seg_id, seg_name = seg.id, seg.name
    _console().print(f"segment {seg_id} created: {seg_name} ({count} member(s) today)", markup=False)


@app.command()
def preview(entity: EntityOpt, rules: RulesOpt, limit: LimitOpt = 10, as_user: AsOpt = None) -> None:
    """Counts and first members of rules, without saving anything."""
    from core.db.engine import session_scope
    from core.services import segments as svc

    parsed = parse_rules_option(rules)
    with session_scope() as session:
        viewer = _viewer(session, as_user)
        counts = svc.preview(session, parsed, entity, viewer=viewer)
        first = svc.evaluate(session, rules=parsed, entity=entity, limit=limit, viewer=viewer)
        rows = svc.describe(session, first)
    out = _console()
    out.print(f"{counts.total} of {counts.population} {counts.entity.value}(s) match", markup=False)
    if counts.steps:
        steps = Table(title="after each top-level rule")
        steps.add_column("rule")
        steps.add_column("matches", justify="right")
        for path, n in counts.steps:
            steps.add_row(path, str(n))
        out.print(steps)
    if rows:
        out.print(_members_table(f"first {len(rows)}", rows))
