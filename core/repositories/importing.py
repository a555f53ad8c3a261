"""Bulk SQL for CSV imports: set-based look-ups and multi-row inserts, so 10,000 rows cost few statements."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Table,
    Text,
    any_,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.models import Account, AuditLog, Base, ContactEmail, CustomFieldDefinition, OutboxEvent, User
from core.models.enums import CustomFieldType, SegmentEntity


def _text_array(name: str, values: Collection[str]) -> Any:
    """One array parameter instead of one bind per value: no 65,535-parameter ceiling on big files."""
    return any_(bindparam(name, list(values), type_=ARRAY(Text)))


def table_of(model: type[Base]) -> Table:
    """Every model here is mapped to a plain Table; the ORM's annotation is the wider FromClause."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def existing_external_ids(session: Session, model: type[Base], values: Collection[str]) -> dict[str, int]:
    if not values:
        return {}
    table = table_of(model)
    stmt = select(table.c.external_id, table.c.id).where(table.c.external_id == _text_array("ids", values))
    return {ext: id_ for ext, id_ in session.execute(stmt).all()}


def users_matching(session: Session, keys: Collection[str]) -> Sequence[tuple[int, str, str]]:
    """Users whose email or full name equals one of the lower-cased keys: (id, email, full_name)."""
    if not keys:
        return []
    lowered = [k.lower() for k in keys]
    stmt = select(User.id, User.email, User.full_name).where(
        (func.lower(User.email) == _text_array("emails", lowered))
        | (func.lower(User.full_name) == _text_array("names", lowered)))
    return [(id_, email, name) for id_, email, name in session.execute(stmt).all()]


def accounts_named(session: Session, names: Collection[str]) -> Sequence[tuple[int, str]]:
    """Accounts whose name matches one of the names, case-insensitively: (id, name)."""
    if not names:
        return []
    lowered = [n.lower() for n in names]
    stmt = select(Account.id, Account.name).where(func.lower(Account.name) == _text_array("names", lowered))
    return [(id_, name) for id_, name in session.execute(stmt).all()]


def contact_emails_taken(session: Session, emails: Collection[str]) -> dict[str, int]:
    """Lower-cased email -> the contact that already has it."""
    if not emails:
        return {}
    lowered = [e.lower() for e in emails]
    stmt = select(func.lower(ContactEmail.email), ContactEmail.contact_id).where(
        func.lower(ContactEmail.email) == _text_array("emails", lowered))
    return {email: contact_id for email, contact_id in session.execute(stmt).all()}


def custom_field_types(session: Session, entity: SegmentEntity) -> dict[str, CustomFieldType]:
    stmt = select(CustomFieldDefinition.key, CustomFieldDefinition.data_type).where(
        CustomFieldDefinition.entity == entity)
    return {key: data_type for key, data_type in session.execute(stmt).all()}


def register_custom_fields(session: Session, entity: SegmentEntity,
                           fields: Sequence[tuple[str, str, CustomFieldType]]) -> list[str]:
    """Insert (key, label, type) definitions that are not there yet; returns the keys actually created."""
    if not fields:
        return []
    rows = [{"entity": entity, "key": key, "label": label[:200], "data_type": data_type}
            for key, label, data_type in fields]
    stmt = (pg_insert(CustomFieldDefinition).values(rows)
            .on_conflict_do_nothing(constraint="uq_custom_field_definitions_entity_key")
            .returning(CustomFieldDefinition.key))
    return list(session.scalars(stmt).all())


def insert_rows(session: Session, model: type[Base], rows: Sequence[dict[str, Any]]) -> list[int]:
    """Multi-row INSERT … RETURNING id, ids in the order of `rows`."""
    if not rows:
        return []
    table = table_of(model)
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(session.execute(stmt, list(rows)).scalars().all())


def insert_plain(session: Session, model: type[Base], rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(table_of(model)), list(rows))


def set_parents(session: Session, pairs: Sequence[tuple[int, int]]) -> None:
    """(account id, parent id) pairs, set after the insert because parents and children arrive together."""
    if not pairs:
        return
    table = table_of(Account)
    stmt = (update(table).where(table.c.id == bindparam("child"))
            .values(parent_id=bindparam("parent")))
    session.execute(stmt, [{"child": c, "parent": p} for c, p in pairs])


def _insert_unnested(session: Session, model: type[Base], constants: dict[str, Any], ids: Sequence[int],
                     id_column: str, jsons: Sequence[dict[str, Any]], json_column: str) -> None:
    """INSERT … SELECT over two unnested arrays: one statement and two parameters for any number of rows."""
    if not ids:
        return
    rows = func.unnest(bindparam("ids", list(ids), type_=ARRAY(BigInteger)),
                       bindparam("docs", [json.dumps(d) for d in jsons], type_=ARRAY(Text))
                       ).table_valued("id", "doc").render_derived(name="u")
    names = [*constants, id_column, json_column]
    source = select(*(literal(v) for v in constants.values()), rows.c.id, cast(rows.c.doc, JSONB))
    session.execute(insert(table_of(model)).from_select(names, source))


def add_events(session: Session, topic: str, aggregate_type: str, ids: Sequence[int],
               payloads: Sequence[dict[str, Any]]) -> None:
    """Outbox rows for many records in one statement, in the caller's transaction."""
    _insert_unnested(session, OutboxEvent, {"topic": topic, "aggregate_type": aggregate_type},
                     ids, "aggregate_id", payloads, "payload")


def add_audits(session: Session, actor: str, entity_type: str, ids: Sequence[int],
               afters: Sequence[dict[str, Any]]) -> None:
    constants = {"actor": actor, "action": "import", "entity_type": entity_type}
    _insert_unnested(session, AuditLog, constants, ids, "entity_id", afters, "after")


def first_failing_row(session: Session, model: type[Base], rows: Sequence[dict[str, Any]]
                      ) -> tuple[int, DBAPIError] | None:
    """Bisect with savepoints for the first row the database refuses, given the rows before it.

    Everything tried here is rolled back; costs about two inserts of `rows`.
    """
    outer = session.begin_nested()
    try:
        lo, hi = 0, len(rows)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            step = session.begin_nested()
            try:
                insert_rows(session, model, rows[lo:mid])
                step.commit()
                lo = mid
            except DBAPIError:
                step.rollback()
                hi = mid
        if lo >= len(rows):
            return None
        step = session.begin_nested()
        try:
            insert_rows(session, model, rows[lo:lo + 1])
            step.commit()
        except DBAPIError as exc:
            step.rollback()
            return lo, exc
        return None
    finally:
        outer.rollback()
