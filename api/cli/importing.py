"""`salesagents import leads|accounts|contacts|deals FILE --map COLUMN=field`: CSV in, all or nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.errors import InvalidInput
from core.models.enums import SegmentEntity

if TYPE_CHECKING:
    from core.services.importing import ImportRejected

app = typer.Typer(help="Import CSV files; unmapped columns become custom fields.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="CSV file with a header row.", show_default=False)]
MapOpt = Annotated[list[str] | None, typer.Option(
    "--map", "-m",
    help="COLUMN=field, repeatable (e.g. 'Lead Number=external_id'); COLUMN=- ignores a column.")]
SkipOpt = Annotated[bool, typer.Option(
    "--skip-bad", help="Import the good rows; write the bad ones to the reject file.")]
RejectOpt = Annotated[Path | None, typer.Option(
    "--reject-file",
    help="Where --skip-bad writes bad rows (default: FILE's name + .rejects.csv in the current directory).")]
NullOpt = Annotated[list[str] | None, typer.Option(
    "--null", help="A cell value that means empty, repeatable (e.g. --null Select).")]
DateOpt = Annotated[str | None, typer.Option(
    "--date-format", help="strptime format for dates (default ISO 8601).")]
EncodingOpt = Annotated[str, typer.Option("--encoding", help="The file's text encoding.")]
StageOpt = Annotated[list[str] | None, typer.Option(
    "--stage-map",
    help="VALUE=STAGE, repeatable: a stage value in the file and the pipeline stage it means.")]


def _run(entity: SegmentEntity, file: Path, mappings: list[str] | None, skip_bad: bool,
         reject_file: Path | None, nulls: list[str] | None, date_format: str | None, encoding: str,
         stage_map: list[str] | None = None) -> None:
    """One import = one transaction: the command commits only when the whole file went in."""
    from api.cli.main import console
    from core.db.engine import session_scope
    from core.services.importing import ImportRejected, import_csv, parse_mappings

    mapping = parse_mappings(mappings or [])
    stages: dict[str, str] = {}
    for item in stage_map or []:
        value, sep, stage = item.rpartition("=")
        if not sep or not value.strip() or not stage.strip():
            raise InvalidInput("--stage-map", f"{item!r} is not VALUE=STAGE")
        stages[value.strip()] = stage.strip()
    if skip_bad and reject_file is None:
        reject_file = Path.cwd() / f"{file.stem}.rejects.csv"

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"reading {file.name}", total=None)

        def report(phase: str, done: int, total: int) -> None:
            progress.update(task, description=f"{phase} {file.name}", completed=done, total=total)

        started = time.perf_counter()
        try:
            with session_scope() as session:
                result = import_csv(session, entity, file, mapping, skip_bad=skip_bad,
                                    reject_path=reject_file, null_values=nulls or [], date_format=date_format,
                                    stage_map=stages, encoding=encoding, progress=report)
        except ImportRejected as exc:
            progress.stop()
            _print_errors(exc)
            raise InvalidInput(file.name, f"{exc.bad_rows} of {exc.total_rows} rows are bad, "
                                          "nothing was imported") from None

    table = Table(title=f"{entity.value}s from {file.name}", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    table.add_row("imported", f"{result.imported:,}")
    table.add_row("rejected", f"{result.rejected:,}")
    table.add_row("custom fields created", str(len(result.custom_fields_created)))
    seconds = time.perf_counter() - started  # commit included
    table.add_row("seconds", f"{seconds:.2f}")
    table.add_row("rows/s", f"{result.rows / seconds:,.0f}")
    if result.reject_file is not None:
        table.add_row("reject file", str(result.reject_file))
    console.print(table)


def _print_errors(exc: ImportRejected) -> None:
    """The first errors as a table on stderr; the one-line error that follows says what happened."""
    from api.cli.main import err_console
    from core.services.importing import REPORTED_ERRORS

    more = len(exc.errors) - REPORTED_ERRORS
    caption = f"and {more} more; " if more > 0 else ""
    table = Table("row", "line", "field", title="rejected rows",
                  caption=caption + "fix the rows, or use --skip-bad to import the good ones")
    table.add_column("problem", overflow="fold")
    for error in exc.errors[:REPORTED_ERRORS]:
        table.add_row(str(error.row), str(error.line), error.where, error.message)
    err_console.print(table)


@app.command()
def leads(file: FileArg, mapping: MapOpt = None, skip_bad: SkipOpt = False, reject_file: RejectOpt = None,
          null: NullOpt = None, date_format: DateOpt = None, encoding: EncodingOpt = "utf-8-sig") -> None:
    """Import leads (source csv_import unless a column is mapped to source)."""
    _run(SegmentEntity.lead, file, mapping, skip_bad, reject_file, null, date_format, encoding)


@app.command()
def accounts(file: FileArg, mapping: MapOpt = None, skip_bad: SkipOpt = False, reject_file: RejectOpt = None,
             null: NullOpt = None, date_format: DateOpt = None, encoding: EncodingOpt = "utf-8-sig") -> None:
    """Import accounts; a column mapped to `parent` links each to its parent by name (file or database)."""
    _run(SegmentEntity.account, file, mapping, skip_bad, reject_file, null, date_format, encoding)


@app.command()
def contacts(file: FileArg, mapping: MapOpt = None, skip_bad: SkipOpt = False, reject_file: RejectOpt = None,
             null: NullOpt = None, date_format: DateOpt = None, encoding: EncodingOpt = "utf-8-sig") -> None:
    """Import contacts; `account` by name, `email`/`phone` may hold several values separated by ';'."""
    _run(SegmentEntity.contact, file, mapping, skip_bad, reject_file, null, date_format, encoding)


@app.command()
def deals(file: FileArg, mapping: MapOpt = None, skip_bad: SkipOpt = False, reject_file: RejectOpt = None,
          null: NullOpt = None, date_format: DateOpt = None, encoding: EncodingOpt = "utf-8-sig",
          stage_map: StageOpt = None) -> None:
    """Import deals into the default pipeline; `stage` by name, Won/Lost close them."""
    _run(SegmentEntity.deal, file, mapping, skip_bad, reject_file, null, date_format, encoding, stage_map)


@app.command()
def fields(entity: Annotated[SegmentEntity, typer.Argument(help="lead, account, contact or deal")]) -> None:
    """List the fields a column can be mapped to."""
    from api.cli.main import console
    from core.services.importing import fields_help

    table = Table("field", "type", "notes")
    for spec in fields_help(entity):
        kind = spec.enum_cls and ", ".join(m.value for m in spec.enum_cls) or spec.kind
        notes = spec.help or (f"at most {spec.max_len} characters" if spec.max_len else "")
        table.add_row(spec.name, kind, notes)
    console.print(table)
