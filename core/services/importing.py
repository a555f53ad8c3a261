"""CSV import of leads, accounts, contacts and deals: every row is validated first, then all written in bulk.

Rules (the CLI `salesagents import` and any other caller get the same behaviour):
- `mapping` maps CSV columns to fields (`{"Lead Number": "external_id"}`); a column mapped to "-" is ignored.
  Every other column goes into the row's `custom_fields` JSONB under a snake_case key, and a
  `CustomFieldDefinition` is registered for each new key with a type inferred from the column's values
  (boolean for yes/no/true/false, number, ISO date, else text). A key that is already defined keeps its type:
  values that do not fit it are row errors.
- All rows are validated before anything is written. A file with bad rows is rejected whole (`ImportRejected`,
  naming each row, its CSV line, the field and the fault); with `skip_bad` the good rows are imported and the
  bad ones are written to `reject_path` with an `error` column. Nothing is ever dropped silently.
- The import runs in the caller's transaction (services flush, the entry point commits). A constraint the
  database still refuses becomes `ImportRejected` naming the row, even with `skip_bad`.
- Re-importing: an import only creates records, it never updates them. A row whose `external_id` already
  exists, in the database or earlier in the file, is a duplicate row error. So re-importing the same file is
  rejected whole; with `skip_bad` it imports only the rows that are new (a top-up) and lists the others in the
  reject file. We chose this over upserting because an update would need its own rules for stage history,
  hierarchy changes and custom-field merges, and a silent overwrite of CRM edits is worse than a clear report.
  Accounts are also unique by name (deals, contacts and parents refer to them by name) and contacts by email.
- Leads get `source=csv_import` unless a column is mapped to `source`. Each created record emits a
  `<entity>.created` outbox event and an audit row naming the file and row, written in bulk.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.models.enums import CustomFieldType, SegmentEntity
from core.repositories import importing as repo
from core.services import import_parsing as p
from core.services.import_entities import ENTITIES, Context, EntitySpec, FieldSpec, Row, parser_for

REPORTED_ERRORS = 20
IGNORE = "-"


@dataclass(frozen=True)
class RowError:
    row: int
    line: int
    field: str
    message: str
    column: str | None = None

    @property
    def where(self) -> str:
        """The field, and the CSV column it came from when the names differ."""
        if self.column and self.column != self.field:
            return f"{self.field} (column {self.column!r})"
        return self.field

    def __str__(self) -> str:
        if self.row == 0:  # a refusal the database did not pin on one row
            return f"{self.where}: {self.message}"
        return f"row {self.row} (line {self.line}) {self.where}: {self.message}"


class ImportRejected(InvalidInput):
    """The whole file was refused; `errors` lists every fault, the message shows the first few."""

    def __init__(self, source: str, errors: list[RowError], total_rows: int, bad_rows: int) -> None:
        shown = "; ".join(str(e) for e in errors[:REPORTED_ERRORS])
        more = f"; and {len(errors) - REPORTED_ERRORS} more errors" if len(errors) > REPORTED_ERRORS else ""
        count = f"{len(errors)} error" + ("s" if len(errors) != 1 else "")
        super().__init__(source, f"{bad_rows} of {total_rows} rows are bad ({count}), "
                                 f"nothing was imported: {shown}{more}")
        self.errors, self.total_rows, self.bad_rows = errors, total_rows, bad_rows


@dataclass(frozen=True)
class ImportResult:
    entity: SegmentEntity
    source: Path
    rows: int
    imported: int
    rejected: int
    custom_fields_created: tuple[str, ...]
    reject_file: Path | None
    seconds: float
    ids: tuple[int, ...]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def parse_mappings(items: Iterable[str]) -> dict[str, str]:
    """`COLUMN=field` strings (the CLI's repeatable --map) as a dict; a column may contain '='."""
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, target = item.rpartition("=")
        if not sep or not column.strip():
            raise InvalidInput("--map", f"{item!r} is not COLUMN=field")
        if column.strip() in mapping:
            raise InvalidInput("--map", f"column {column.strip()!r} is mapped twice")
        mapping[column.strip()] = target.strip() or IGNORE
    return mapping


def fields_help(entity: SegmentEntity | str) -> list[FieldSpec]:
    return list(ENTITIES[SegmentEntity(entity)].fields.values())


def import_csv(session: Session, entity: SegmentEntity | str, path: Path, mapping: Mapping[str, str], *,
               skip_bad: bool = False, reject_path: Path | None = None, null_values: Iterable[str] = (),
               date_format: str | None = None, stage_map: Mapping[str, str] | None = None,
               encoding: str = "utf-8-sig", actor: str = "csv_import", now: datetime | None = None,
               progress: Callable[[str, int, int], None] | None = None) -> ImportResult:
    """Validate the whole file, then write it in bulk; rejects the file (or, with skip_bad, its bad rows)."""
    started = time.perf_counter()
    spec = ENTITIES[SegmentEntity(entity)]
    path = Path(path)
    if skip_bad and reject_path is None:
        raise InvalidInput("reject_path", "is needed with skip_bad, so bad rows are kept and not dropped")
    header, records = _read_csv(path, encoding)
    columns, customs = _plan_columns(spec, header, mapping, path.name)
    ctx = Context(entity=spec.entity, source_name=path.name, actor=actor, now=now or datetime.now(UTC),
                  mapped=frozenset(fs.name for _, fs in columns), stage_map=dict(stage_map or {}),
                  progress=progress or (lambda phase, done, total: None))
    nulls = frozenset(v.strip().lower() for v in null_values)
    rows = [Row(number=n, line=line, raw=raw) for n, (line, raw) in enumerate(records, start=1)]
    custom_types = _custom_types(session, spec.entity, header, customs, rows, nulls)
    _parse_rows(rows, header, columns, customs, custom_types, nulls, date_format, ctx)
    spec.prepare(session, rows, ctx)
    _name_columns(rows, {fs.name: header[i] for i, fs in columns})

    good = [r for r in rows if not r.errors]
    bad = [r for r in rows if r.errors]
    if bad and not skip_bad:
        raise ImportRejected(path.name, _row_errors(bad), len(rows), len(bad))
    created = _register_custom_fields(session, spec.entity, header, customs, custom_types, good)
    spec.before_write(session, good, ctx)
    ids = _write(session, spec, good, ctx, path.name, len(rows))
    if bad and reject_path is not None:
        _write_rejects(Path(reject_path), header, bad, encoding)
    return ImportResult(entity=spec.entity, source=path, rows=len(rows), imported=len(ids), rejected=len(bad),
                        custom_fields_created=tuple(created),
                        reject_file=Path(reject_path) if bad and reject_path else None,
                        seconds=time.perf_counter() - started, ids=tuple(ids))


def _read_csv(path: Path, encoding: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and data records with the line each record starts on (quoted cells may span lines)."""
    records: list[tuple[int, list[str]]] = []
    line = 0
    try:
        with path.open(newline="", encoding=encoding) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            line = reader.line_num + 1
            for record in reader:
                if record and any(cell.strip() for cell in record):
                    records.append((line, record))
                line = reader.line_num + 1
    except FileNotFoundError as exc:
        raise InvalidInput("file", f"{path} does not exist") from exc
    except IsADirectoryError as exc:
        raise InvalidInput("file", f"{path} is a directory") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(path.name, f"is not {encoding} text near line {line}; pass its encoding") from exc
    except csv.Error as exc:
        raise InvalidInput(path.name, f"line {line}: {exc}") from exc
    if not header or not any(h.strip() for h in header):
        raise InvalidInput(path.name, "is empty: no header row")
    header = [h.strip() for h in header]
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise InvalidInput(path.name, f"column {name!r} appears twice in the header")
        seen.add(name)
    return header, records


def _find_column(header: list[str], column: str) -> int | None:
    if column in header:
        return header.index(column)
    matches = [i for i, h in enumerate(header) if h.lower() == column.strip().lower()]
    return matches[0] if len(matches) == 1 else None


def _plan_columns(spec: EntitySpec, header: list[str], mapping: Mapping[str, str], source: str
                  ) -> tuple[list[tuple[int, FieldSpec]], list[tuple[int, str]]]:
    """Which column fills which field, and the snake_case custom-field key of every unmapped column."""
    columns: list[tuple[int, FieldSpec]] = []
    taken: dict[str, str] = {}
    handled: set[int] = set()
    for column, target in mapping.items():
        index = _find_column(header, column)
        if index is None:
            listed = ", ".join(repr(h) for h in header[:40])
            raise InvalidInput(f"--map {column}={target}",
                               f"{source} has no column {column!r} (columns: {listed})")
        handled.add(index)
        if target == IGNORE:
            continue
        field_spec = spec.fields.get(target)
        if field_spec is None:
            known = ", ".join(sorted(spec.fields))
            raise InvalidInput(f"--map {column}={target}",
                               f"unknown field {target!r} for {spec.label}s (fields: {known})")
        if target in taken:
            raise InvalidInput(f"--map {column}={target}",
                               f"{taken[target]!r} is already mapped to {target!r}")
        taken[target] = column
        columns.append((index, field_spec))
    for required in spec.required:
        if required not in taken:
            raise InvalidInput("--map",
                               f"{spec.label}s need a column mapped to {required!r} (COLUMN={required})")
    customs: list[tuple[int, str]] = []
    keys: dict[str, str] = {}
    for index, name in enumerate(header):
        if index in handled:
            continue
        key = p.custom_key(name)
        if not key:
            raise InvalidInput(source, f"column {index + 1} ({name!r}) has no usable name: "
                                       f"map it, or ignore it with {name}=-")
        if key in keys:
            raise InvalidInput(source, f"columns {keys[key]!r} and {name!r} both become custom field "
                                       f"{key!r}; map or ignore one of them")
        keys[key] = name
        customs.append((index, key))
    return columns, customs


def _custom_types(session: Session, entity: SegmentEntity, header: list[str], customs: list[tuple[int, str]],
                  rows: list[Row], nulls: frozenset[str]) -> dict[str, CustomFieldType]:
    """Defined keys keep their type; new keys get the narrowest type all of the column's values fit."""
    defined = repo.custom_field_types(session, entity)
    types: dict[str, CustomFieldType] = {}
    width = len(header)
    for index, key in customs:
        if key in defined:
            types[key] = defined[key]
            continue
        values = (v for r in rows if len(r.raw) >= width and (v := p.clean(r.raw[index], nulls)) is not None)
        inferred = p.infer_custom_type(values)
        if inferred is not None:
            types[key] = inferred
    return types


def _parse_rows(rows: list[Row], header: list[str], columns: list[tuple[int, FieldSpec]],
                customs: list[tuple[int, str]], custom_types: dict[str, CustomFieldType],
                nulls: frozenset[str], date_format: str | None, ctx: Context) -> None:
    width = len(header)
    field_parsers = [(i, fs.name, header[i], parser_for(fs, date_format)) for i, fs in columns]
    custom_parsers = [(i, key, header[i], custom_types[key], p.custom_parser(custom_types[key]))
                      for i, key in customs if key in custom_types]
    clean = p.clean
    for row in rows:
        raw = row.raw
        if len(raw) < width or (len(raw) > width and any(c.strip() for c in raw[width:])):
            row.fail("row", f"has {len(raw)} cells; the header has {width}")
            continue
        values = row.values
        for index, name, column, parse in field_parsers:
            value = clean(raw[index], nulls)
            if value is None:
                continue
            try:
                values[name] = parse(value)
            except ValueError as exc:
                row.fail(name, str(exc), column)
        custom = row.custom
        for index, key, column, data_type, parse in custom_parsers:
            value = clean(raw[index], nulls)
            if value is None:
                continue
            try:
                custom[key] = parse(value)
            except ValueError as exc:
                row.fail(key, f"custom field {key!r} holds {data_type.value} values: {exc}", column)
        if row.number % 1000 == 0:
            ctx.progress("validating", row.number, len(rows))
    ctx.progress("validating", len(rows), len(rows))


def _name_columns(rows: list[Row], column_of: dict[str, str]) -> None:
    """Errors found after parsing (duplicates, references) also name the CSV column the field came from."""
    for row in rows:
        if row.errors:
            row.errors = [(name, column or column_of.get(name), message)
                          for name, column, message in row.errors]


def _row_errors(rows: list[Row]) -> list[RowError]:
    return [RowError(row=r.number, line=r.line, field=name, message=message, column=column)
            for r in rows for name, column, message in r.errors]


def _register_custom_fields(session: Session, entity: SegmentEntity, header: list[str],
                            customs: list[tuple[int, str]], types: dict[str, CustomFieldType],
                            good: list[Row]) -> list[str]:
    """Definitions for the keys that imported rows actually carry; existing ones are left as they are."""
    used = {key for row in good for key in row.custom}
    labels = {key: header[index] for index, key in customs}
    wanted = [(key, labels[key], types[key]) for _, key in customs if key in used]
    return repo.register_custom_fields(session, entity, wanted)


def _write(session: Session, spec: EntitySpec, good: list[Row], ctx: Context, source: str,
           total: int) -> list[int]:
    """All inserts in one savepoint; a refusal by the database is traced back to the row that caused it."""
    try:
        with session.begin_nested():
            return spec.write(session, good, ctx)
    except DBAPIError as exc:
        located = repo.first_failing_row(session, spec.model, [r.record for r in good])
        if located is None:
            error = RowError(row=0, line=0, field="database", message=_db_message(exc))
            raise ImportRejected(source, [error], total, 0) from exc
        index, row_exc = located
        row = good[index]
        error = RowError(row=row.number, line=row.line, field=_db_field(row_exc),
                         message=_db_message(row_exc))
        raise ImportRejected(source, [error], total, 1) from exc


def _db_message(exc: DBAPIError) -> str:
    diag = getattr(exc.orig, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(exc.orig).splitlines()[0]
    detail = getattr(diag, "message_detail", None)
    return f"the database refused it: {primary}" + (f" ({detail})" if detail else "")


def _db_field(exc: DBAPIError) -> str:
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "column_name", None) or getattr(diag, "constraint_name", None) or "row"


def _write_rejects(path: Path, header: list[str], bad: list[Row], encoding: str) -> None:
    """Bad rows as they came, plus an `error` column, so they can be fixed and imported again."""
    error_column = "error" if "error" not in header else "import_error"
    width = len(header)
    out_encoding = "utf-8" if encoding.lower().replace("_", "-") == "utf-8-sig" else encoding
    with path.open("w", newline="", encoding=out_encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow([*header, error_column])
        for row in bad:
            message = "; ".join(
                f"{name} (column {column!r}): {msg}" if column and column != name else f"{name}: {msg}"
                for name, column, msg in row.errors)
            cells: list[Any] = row.raw[:width] + [""] * (width - len(row.raw))
            extra = row.raw[width:]
            if any(c.strip() for c in extra):
                message += f" [extra cells: {extra}]"
            writer.writerow([*cells, message])
