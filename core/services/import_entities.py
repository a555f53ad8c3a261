"""What each importable entity accepts, how its references resolve, and how its rows are written in bulk."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import Any, cast

from sqlalchemy import ARRAY, Boolean, Date, DateTime, Enum, Integer, Numeric, String, Table
from sqlalchemy.orm import Session
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from core.errors import InvalidInput
from core.models import Account, Base, Contact, ContactEmail, ContactPhone, Deal, DealStageHistory, Lead
from core.models.enums import DealStatus, LeadSource, LeadStatus, SegmentEntity
from core.repositories import campaigns as campaign_repo
from core.repositories import importing as repo
from core.repositories import pipeline as pipeline_repo
from core.services import deals as deal_service
from core.services import import_parsing as p

UNSPECIFIED_LOST_REASON = "unspecified (imported)"
WON_WORDS = frozenset({"won", "closed won", "closed-won", "win"})
LOST_WORDS = frozenset({"lost", "closed lost", "closed-lost", "loss"})
INSERT_CHUNK = 2000


@dataclass
class Row:
    """One CSV data row on its way in: parsed values, custom fields, errors and the record to insert."""

    number: int
    line: int
    raw: list[str]
    values: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    errors: list[tuple[str, str | None, str]] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)
    parent: Row | None = None
    id: int | None = None

    def fail(self, name: str, message: str, column: str | None = None) -> None:
        self.errors.append((name, column, message))


@dataclass(frozen=True)
class FieldSpec:
    """An importable field: `column` is the table column it fills, None for references resolved by name."""

    name: str
    kind: str
    column: str | None = None
    max_len: int | None = None
    enum_cls: type[StrEnum] | None = None
    minimum: int | None = None
    maximum: int | None = None
    help: str = ""


@dataclass
class Context:
    entity: SegmentEntity
    source_name: str
    actor: str
    now: datetime
    mapped: frozenset[str]
    stage_map: Mapping[str, str]
    progress: Callable[[str, int, int], None]
    stages: list[tuple[str, bool, bool]] = field(default_factory=list)


def parser_for(spec: FieldSpec, date_format: str | None) -> Callable[[str], Any]:
    kinds: dict[str, Callable[[str], Any]] = {
        "text": partial(p.parse_text, max_len=spec.max_len),
        "ref": partial(p.parse_text, max_len=255),
        "email": p.parse_email,
        "emails": lambda v: [p.parse_email(e.strip()) for e in v.replace(",", ";").split(";") if e.strip()],
        "phones": lambda v: [p.parse_text(x.strip(), 40) for x in v.split(";") if x.strip()],
        "int": partial(p.parse_int, minimum=spec.minimum, maximum=spec.maximum),
        "decimal": partial(p.parse_decimal, minimum=None if spec.minimum is None else Decimal(spec.minimum)),
        "bool": p.parse_bool,
        "date": partial(p.parse_date, date_format=date_format),
        "datetime": partial(p.parse_datetime, date_format=date_format),
        "country": p.parse_country,
        "currency": p.parse_currency,
        "tags": lambda v: [p.parse_text(t.strip(), 64) for t in v.split(";") if t.strip()],
    }
    if spec.kind == "enum":
        assert spec.enum_cls is not None
        return partial(p.parse_enum, enum_cls=spec.enum_cls)
    return kinds[spec.kind]


def _column_field(table: Table, name: str, kind: str | None = None, minimum: int | None = None,
                  maximum: int | None = None) -> FieldSpec:
    """Field rules read off the model column, so a schema change cannot drift from the importer."""
    col_type = table.c[name].type
    enum_cls = None
    max_len = None
    if kind is None:
        if isinstance(col_type, Enum):
            kind, enum_cls = "enum", cast(type[StrEnum], col_type.enum_class)
        elif isinstance(col_type, ARRAY):
            kind = "tags"
        elif isinstance(col_type, Boolean):
            kind = "bool"
        elif isinstance(col_type, Integer):
            kind = "int"
        elif isinstance(col_type, Numeric):
            kind = "decimal"
        elif isinstance(col_type, DateTime):
            kind = "datetime"
        elif isinstance(col_type, Date):
            kind = "date"
        elif isinstance(col_type, String):
            kind, max_len = "text", col_type.length
        else:
            raise TypeError(f"no import rule for {table.name}.{name} ({col_type})")
    return FieldSpec(name=name, kind=kind, column=name, max_len=max_len, enum_cls=enum_cls,
                     minimum=minimum, maximum=maximum)


def _ref(name: str, help_text: str, kind: str = "ref") -> FieldSpec:
    return FieldSpec(name=name, kind=kind, help=help_text)


@dataclass(frozen=True)
class EntitySpec:
    entity: SegmentEntity
    label: str
    model: type[Base]
    table: Table
    fields: dict[str, FieldSpec]
    prepare: Callable[[Session, list[Row], Context], None]
    write: Callable[[Session, list[Row], Context], list[int]]
    before_write: Callable[[Session, list[Row], Context], None] = lambda s, r, c: None
    required: tuple[str, ...] = ()


def fallback(table: Table, column: str, now: datetime) -> Any:
    """The value a NOT NULL column gets when its cell is empty: the model default, or `now` for timestamps."""
    col = table.c[column]
    if col.nullable:
        return None
    if isinstance(col.default, ScalarElementColumnDefault):
        return col.default.arg
    if isinstance(col.type, ARRAY):
        return []
    if isinstance(col.type, DateTime):
        return now
    return None


def base_record(spec: EntitySpec, row: Row, ctx: Context) -> dict[str, Any]:
    record: dict[str, Any] = {"custom_fields": row.custom}
    for name in ctx.mapped:
        column = spec.fields[name].column
        if column is not None:
            value = row.values.get(name)
            record[column] = value if value is not None else fallback(spec.table, column, ctx.now)
    return record


# Shared checks ----------------------------------------------------------------------------------------

def check_external_ids(session: Session, model: type[Base], rows: list[Row], label: str) -> None:
    """Import only creates: an external id seen earlier in the file or already stored is a row error."""
    first: dict[str, Row] = {}
    for row in rows:
        ext = row.values.get("external_id")
        if ext is None:
            continue
        if ext in first:
            row.fail("external_id", f"{ext!r} repeats row {first[ext].number}")
        else:
            first[ext] = row
    for ext, id_ in repo.existing_external_ids(session, model, list(first)).items():
        first[ext].fail("external_id", f"{ext!r} already exists ({label} {id_})")


def resolve_users(session: Session, rows: list[Row], name: str, column: str) -> None:
    """A user named by email (exact) or full name (must be unique), case-insensitively."""
    keys = {row.values[name] for row in rows if row.values.get(name)}
    by_email: dict[str, int] = {}
    by_name: dict[str, set[int]] = defaultdict(set)
    for id_, email, full_name in repo.users_matching(session, keys):
        by_email[email.lower()] = id_
        by_name[full_name.lower()].add(id_)
    for row in rows:
        key = row.values.get(name)
        row.record[column] = None
        if key is None:
            continue
        if key.lower() in by_email:
            row.record[column] = by_email[key.lower()]
        elif len(by_name.get(key.lower(), ())) == 1:
            row.record[column] = next(iter(by_name[key.lower()]))
        elif key.lower() in by_name:
            row.fail(name, f"several users are named {key!r}; use their email")
        else:
            row.fail(name, f"no user with the email or name {key!r}")


def resolve_accounts(session: Session, rows: list[Row]) -> None:
    names = {row.values["account"] for row in rows if row.values.get("account")}
    found: dict[str, list[int]] = defaultdict(list)
    for id_, account_name in repo.accounts_named(session, names):
        found[account_name.lower()].append(id_)
    for row in rows:
        key = row.values.get("account")
        row.record["account_id"] = None
        if key is None:
            continue
        ids = found.get(key.lower(), [])
        if len(ids) == 1:
            row.record["account_id"] = ids[0]
        elif ids:
            row.fail("account", f"{len(ids)} accounts are named {key!r}")
        else:
            row.fail("account", f"no account named {key!r}")


def insert_in_chunks(session: Session, model: type[Base], rows: list[Row], ctx: Context) -> list[int]:
    ids: list[int] = []
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start:start + INSERT_CHUNK]
        ids.extend(repo.insert_rows(session, model, [r.record for r in chunk]))
        ctx.progress("writing", start + len(chunk), len(rows))
    for row, id_ in zip(rows, ids, strict=True):
        row.id = id_
    return ids


def record_events(session: Session, ctx: Context, rows: list[Row], ids: list[int],
                  payload: Callable[[Row], dict[str, Any]]) -> None:
    """`<entity>.created` outbox rows plus audit rows naming the file and row each record came from."""
    entity = ctx.entity.value
    repo.add_events(session, f"{entity}.created", entity, ids, [payload(r) for r in rows])
    repo.add_audits(session, ctx.actor, entity, ids,
                    [{"import": ctx.source_name, "row": r.number} for r in rows])


# Leads ------------------------------------------------------------------------------------------------

LEAD_IDENTITY = ("external_id", "email", "phone", "last_name", "company_name")


def _prepare_leads(session: Session, rows: list[Row], ctx: Context) -> None:
    for row in rows:
        row.record = base_record(LEADS, row, ctx)
        row.record["source"] = row.values.get("source") or LeadSource.csv_import
        unreadable = any(name in LEAD_IDENTITY for name, _, _ in row.errors)  # present, but already reported
        if not unreadable and not any(row.values.get(name) for name in LEAD_IDENTITY):
            row.fail("lead", "needs at least one of " + ", ".join(LEAD_IDENTITY))
        if row.values.get("status") is LeadStatus.disqualified and not row.values.get("disqualified_reason"):
            row.fail("disqualified_reason", "is required when the status is disqualified")
    if "owner" in ctx.mapped:
        resolve_users(session, rows, "owner", "owner_id")
    if "utm_campaign" in ctx.mapped:
        _link_campaigns(session, rows, ctx)
    check_external_ids(session, Lead, rows, "lead")


def _link_campaigns(session: Session, rows: list[Row], ctx: Context) -> None:
    """A known utm_campaign links the lead to its campaign as on the web form; an unknown one links nothing."""
    found = campaign_repo.resolve_utms(session, (r.values.get("utm_campaign") or "" for r in rows), ctx.now.date())
    for row in rows:
        utm = row.values.get("utm_campaign")
        row.record["campaign_id"] = found.get(utm.strip().lower()) if utm else None


def _write_leads(session: Session, rows: list[Row], ctx: Context) -> list[int]:
    ids = insert_in_chunks(session, Lead, rows, ctx)
    # the touch is dated like the lead: an imported history keeps its order relative to the deals it led to
    campaign_repo.add_touches(session, [
        {"campaign_id": r.record["campaign_id"], "lead_id": id_, "touched_at": r.record.get("created_at") or ctx.now,
         "medium": (r.record.get("utm_medium") or "")[:64] or None}
        for r, id_ in zip(rows, ids, strict=True) if r.record.get("campaign_id") is not None])
    record_events(session, ctx, rows, ids,
                  lambda r: {"source": r.record["source"].value, "via": "csv_import"})
    return ids


# Accounts ---------------------------------------------------------------------------------------------

def _prepare_accounts(session: Session, rows: list[Row], ctx: Context) -> None:
    by_name: dict[str, Row] = {}
    for row in rows:
        row.record = base_record(ACCOUNTS, row, ctx)
        row.record["parent_id"] = None
        name = row.values.get("name")
        if name is None:
            row.fail("name", "is required")
        elif name.lower() in by_name:
            row.fail("name", f"{name!r} repeats row {by_name[name.lower()].number}")
        else:
            by_name[name.lower()] = row
    wanted = set(by_name) | {row.values["parent"].lower() for row in rows if row.values.get("parent")}
    stored: dict[str, list[int]] = defaultdict(list)
    for id_, account_name in repo.accounts_named(session, wanted):
        stored[account_name.lower()].append(id_)
    for key, row in by_name.items():
        if key in stored:
            row.fail("name", f"an account named {row.values['name']!r} already exists "
                             f"(account {stored[key][0]})")
    for name, column in (("account_manager", "account_manager_id"), ("csm", "csm_id")):
        if name in ctx.mapped:
            resolve_users(session, rows, name, column)
    check_external_ids(session, Account, rows, "account")
    _link_parents(rows, by_name, stored)


def _link_parents(rows: list[Row], by_name: dict[str, Row], stored: dict[str, list[int]]) -> None:
    """Parents by name, in the file (any order or depth) or the database; cycles and gaps are row errors."""
    for row in rows:
        parent = row.values.get("parent")
        if parent is None:
            continue
        key = parent.lower()
        if row.values.get("name") and key == row.values["name"].lower():
            row.fail("parent", "an account cannot be its own parent")
        elif key in by_name:
            row.parent = by_name[key]
        elif len(stored.get(key, ())) == 1:
            row.record["parent_id"] = stored[key][0]
        elif key in stored:
            row.fail("parent", f"{len(stored[key])} accounts are named {parent!r}")
        else:
            row.fail("parent", f"no account named {parent!r} in the file or the database")
    _reject_cycles(rows)
    already_bad = {id(r) for r in rows if r.errors}
    for row in rows:
        if id(row) in already_bad:
            continue
        seen: set[int] = set()
        ancestor = row.parent
        while ancestor is not None and id(ancestor) not in seen:
            seen.add(id(ancestor))
            if id(ancestor) in already_bad:
                row.fail("parent", f"ancestor {ancestor.values.get('name')!r} "
                                   f"(row {ancestor.number}) is rejected")
                break
            ancestor = ancestor.parent


def _reject_cycles(rows: list[Row]) -> None:
    state: dict[int, int] = {}  # 1: on the current path, 2: finished
    for start in rows:
        path: list[Row] = []
        node: Row | None = start
        while node is not None and id(node) not in state:
            state[id(node)] = 1
            path.append(node)
            node = node.parent
        if node is not None and state[id(node)] == 1:
            cycle = path[path.index(node):]
            names = " -> ".join(str(r.values.get("name")) for r in [*cycle, node])
            for member in cycle:
                member.fail("parent", f"cycle: {names}")
        for member in path:
            state[id(member)] = 2


def _write_accounts(session: Session, rows: list[Row], ctx: Context) -> list[int]:
    ids = insert_in_chunks(session, Account, rows, ctx)
    repo.set_parents(session, [(r.id, r.parent.id) for r in rows if r.parent is not None
                               and r.id is not None and r.parent.id is not None])
    record_events(session, ctx, rows, ids, lambda r: {"via": "csv_import"})
    return ids


# Contacts ---------------------------------------------------------------------------------------------

def _prepare_contacts(session: Session, rows: list[Row], ctx: Context) -> None:
    first_use: dict[str, tuple[Row, str]] = {}
    for row in rows:
        row.record = base_record(CONTACTS, row, ctx)
        row.record["first_name"] = row.values.get("first_name") or ""
        row.record["last_name"] = row.values.get("last_name") or ""
        emails = row.values.get("email") or []
        if not (row.values.get("first_name") or row.values.get("last_name") or emails):
            row.fail("contact", "needs a first_name, last_name or email")
        for email in emails:
            earlier = first_use.get(email.lower())
            if earlier is not None and earlier[0] is not row:
                row.fail("email", f"{email!r} repeats row {earlier[0].number}")
            elif earlier is None:
                first_use[email.lower()] = (row, email)
    for key, contact_id in repo.contact_emails_taken(session, list(first_use)).items():
        row, email = first_use[key]
        row.fail("email", f"{email!r} already belongs to contact {contact_id}")
    if "account" in ctx.mapped:
        resolve_accounts(session, rows)
    if "owner" in ctx.mapped:
        resolve_users(session, rows, "owner", "owner_id")
    check_external_ids(session, Contact, rows, "contact")


def _write_contacts(session: Session, rows: list[Row], ctx: Context) -> list[int]:
    ids = insert_in_chunks(session, Contact, rows, ctx)
    emails, phones = [], []
    for row, id_ in zip(rows, ids, strict=True):
        for i, email in enumerate(dict.fromkeys(row.values.get("email") or [])):
            emails.append({"contact_id": id_, "email": email, "is_primary": i == 0})
        for i, phone in enumerate(dict.fromkeys(row.values.get("phone") or [])):
            phones.append({"contact_id": id_, "phone": phone, "is_primary": i == 0})
    repo.insert_plain(session, ContactEmail, emails)
    repo.insert_plain(session, ContactPhone, phones)
    record_events(session, ctx, rows, ids, lambda r: {"via": "csv_import"})
    return ids


# Deals ------------------------------------------------------------------------------------------------

def _stage_resolver(session: Session, ctx: Context) -> Callable[[str], tuple[str, bool, bool] | None]:
    """Stage names of the default pipeline (or of the one that will be created), plus won/lost synonyms."""
    pipeline = pipeline_repo.default_pipeline(session)
    if pipeline is not None:
        ctx.stages = [(s.name, s.is_won, s.is_lost) for s in pipeline_repo.stages(session, pipeline.id)]
    else:
        ctx.stages = [(s.name, s.is_won, s.is_lost) for s in deal_service.DEFAULT_STAGES]
    by_name = {name.lower(): (name, won, lost) for name, won, lost in ctx.stages}
    won_stage = next(s for s in ctx.stages if s[1])
    lost_stage = next(s for s in ctx.stages if s[2])
    aliases: dict[str, str] = {}
    for value, target in ctx.stage_map.items():
        if target.lower() not in by_name:
            known = ", ".join(s[0] for s in ctx.stages)
            raise InvalidInput("stage_map", f"{value}={target}: {target!r} is not a stage (stages: {known})")
        aliases[value.strip().lower()] = target.lower()

    def resolve(value: str) -> tuple[str, bool, bool] | None:
        key = aliases.get(value.lower(), value.lower())
        if key in by_name:
            return by_name[key]
        if key in WON_WORDS:
            return won_stage
        if key in LOST_WORDS:
            return lost_stage
        return None

    return resolve


def _prepare_deals(session: Session, rows: list[Row], ctx: Context) -> None:
    resolve = _stage_resolver(session, ctx)
    stage_list = ", ".join(s[0] for s in ctx.stages)
    for row in rows:
        row.record = base_record(DEALS, row, ctx)
        given = row.values.get("stage")
        stage = resolve(given) if given else ctx.stages[0]
        if stage is None:
            row.fail("stage", f"{given!r} is not a stage of the default pipeline ({stage_list}); "
                              "map it with a stage map")
            continue
        name, is_won, is_lost = stage
        closed_at = row.values.get("closed_at")
        if not (is_won or is_lost) and closed_at is not None:
            row.fail("closed_at", f"is set but the stage {name!r} is open")
        closed = is_won or is_lost
        closed_at = (closed_at or ctx.now) if closed else None
        row.record.update(
            stage_name=name,
            status=DealStatus.won if is_won else DealStatus.lost if is_lost else DealStatus.open,
            closed_at=closed_at,
            lost_reason=(row.values.get("lost_reason") or UNSPECIFIED_LOST_REASON) if is_lost else None,
            stage_entered_at=closed_at or row.values.get("stage_entered_at") or row.values.get("created_at")
            or ctx.now,
            name=row.values.get("name") or " - ".join(
                str(v) for v in (row.values.get("account"), row.values.get("external_id")) if v)
            or f"Imported deal (row {row.number})",
        )
    if "account" in ctx.mapped:
        resolve_accounts(session, rows)
    if "owner" in ctx.mapped:
        resolve_users(session, rows, "owner", "owner_id")
    check_external_ids(session, Deal, rows, "deal")


def _ensure_pipeline(session: Session, rows: list[Row], ctx: Context) -> None:
    """The default pipeline is created only once the file has passed validation."""
    pipeline = pipeline_repo.default_pipeline(session)
    if pipeline is None:
        pipeline = deal_service.create_pipeline(session, "Sales", is_default=True)
    stage_ids = {s.name: s.id for s in pipeline_repo.stages(session, pipeline.id)}
    for row in rows:
        row.record["pipeline_id"] = pipeline.id
        row.record["stage_id"] = stage_ids[row.record.pop("stage_name")]


def _write_deals(session: Session, rows: list[Row], ctx: Context) -> list[int]:
    ids = insert_in_chunks(session, Deal, rows, ctx)
    repo.insert_plain(session, DealStageHistory, [
        {"deal_id": id_, "stage_id": r.record["stage_id"], "entered_at": r.record["stage_entered_at"]}
        for r, id_ in zip(rows, ids, strict=True)])
    record_events(session, ctx, rows, ids, lambda r: {"stage_id": r.record["stage_id"], "via": "csv_import"})
    return ids


# The four entities ------------------------------------------------------------------------------------

def _fields(specs: Sequence[FieldSpec]) -> dict[str, FieldSpec]:
    return {s.name: s for s in specs}


_L, _A, _C, _D = (repo.table_of(m) for m in (Lead, Account, Contact, Deal))

LEADS = EntitySpec(
    entity=SegmentEntity.lead, label="lead", model=Lead, table=_L, prepare=_prepare_leads, write=_write_leads,
    fields=_fields([
        *(_column_field(_L, n) for n in (
            "first_name", "last_name", "phone", "company_name", "title", "industry", "country", "city",
            "source", "source_detail", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
            "status", "disqualified_reason", "bant_budget", "bant_authority", "bant_need", "bant_timeline",
            "external_id", "tags", "created_at")),
        _column_field(_L, "email", kind="email"),
        _column_field(_L, "employees", minimum=0),
        _column_field(_L, "score", minimum=0, maximum=100),
        _ref("owner", "user email or full name"),
    ]))

ACCOUNTS = EntitySpec(
    entity=SegmentEntity.account, label="account", model=Account, table=_A, prepare=_prepare_accounts,
    write=_write_accounts, required=("name",),
    fields=_fields([
        *(_column_field(_A, n) for n in (
            "name", "domain", "industry", "size_band", "annual_revenue", "region", "segment", "lifecycle",
            "blacklisted", "external_id", "tags", "created_at")),
        _column_field(_A, "employees", minimum=0),
        _column_field(_A, "payment_terms_days", minimum=0),
        _column_field(_A, "country", kind="country"),
        _column_field(_A, "currency", kind="currency"),
        _ref("parent", "parent account name, in the file or the database"),
        _ref("account_manager", "user email or full name"),
        _ref("csm", "user email or full name"),
    ]))

CONTACTS = EntitySpec(
    entity=SegmentEntity.contact, label="contact", model=Contact, table=_C, prepare=_prepare_contacts,
    write=_write_contacts,
    fields=_fields([
        *(_column_field(_C, n) for n in (
            "first_name", "last_name", "title", "buying_role", "preferred_channel", "language", "timezone",
            "do_not_call", "email_consent", "external_id", "tags", "created_at")),
        _ref("email", "one or more addresses separated by ';' (the first is primary)", kind="emails"),
        _ref("phone", "one or more numbers separated by ';' (the first is primary)", kind="phones"),
        _ref("account", "account name"),
        _ref("owner", "user email or full name"),
    ]))

DEALS = EntitySpec(
    entity=SegmentEntity.deal, label="deal", model=Deal, table=_D, prepare=_prepare_deals, write=_write_deals,
    before_write=_ensure_pipeline,
    fields=_fields([
        *(_column_field(_D, n) for n in (
            "name", "expected_close_date", "lost_reason", "competitor", "closed_at", "stage_entered_at",
            "is_renewal", "external_id", "tags", "created_at")),
        _column_field(_D, "amount", minimum=0),
        _column_field(_D, "currency", kind="currency"),
        _ref("account", "account name"),
        _ref("owner", "user email or full name"),
        _ref("stage", "stage name in the default pipeline; Won/Lost mean its won/lost stage"),
    ]))

ENTITIES: dict[SegmentEntity, EntitySpec] = {s.entity: s for s in (LEADS, ACCOUNTS, CONTACTS, DEALS)}
