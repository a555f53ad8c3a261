"""Segment rules compiled to ONE SQL statement: fields, computed signals and their meaning live here.

Field names per entity (contact, account, deal, lead):
- the entity's own columns (`title`, `buying_role`, `email_consent`, ...);
- `account.<field>` on contacts and deals: the related account's columns and computed fields;
- `tags` (ops `has`, `has_any`) and `custom.<key>` (typed by a custom field definition, else by the value);
- computed signals, evaluated at `now`:
  - `last_activity_days`: days since the latest activity at or before `now`, NULL when there is none.
    Account: activities linked to the account, to one of its contacts or to one of its deals.
    Contact: activities linked to the contact itself or to its account (as above), so a call with a
    colleague counts: "no activity for 90 days" then means the relationship, not one person, went cold.
    `own_last_activity_days` on contacts counts only the contact's own activities. Deal and lead: their own.
    An entity with no activity counts as infinitely long ago: `gt 90` includes it, `lt 30` does not,
    `is_null` finds exactly those never touched.
  - `open_deals` / `open_tickets`: open deals / open or pending tickets of the account (contacts: their
    account's).
  - `nps_last`: latest NPS score (account: any respondent there; contact: the contact's own answer).
  - `ar_overdue`: unpaid amount (amount minus payments) of open invoices due before today, 0 when none.
  - `arr`: ARR of active contracts covering today. Amounts sum across currencies as stored: no FX table.
  - contacts: `email` (primary address); deals: `stage` (stage name), `days_in_stage`.
Null semantics: `ne` and `not_in` include rows whose value is NULL, and `not` is two-valued (`IS NOT TRUE`),
so "not country = VN" includes accounts without a country.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Enum,
    Integer,
    Numeric,
    String,
    Text,
    and_,
    case,
    extract,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import FromClause, Select

from core.errors import InvalidInput
from core.models import (
    Account,
    Activity,
    Contact,
    ContactEmail,
    Contract,
    CustomFieldDefinition,
    Deal,
    Invoice,
    Lead,
    NpsResponse,
    Payment,
    Segment,
    Stage,
    Ticket,
)
from core.models.enums import (
    ContractStatus,
    CustomFieldType,
    DealStatus,
    InvoiceStatus,
    SegmentEntity,
    TicketStatus,
)
from core.segment_rules import AllOf, AnyOf, Condition, NotOf

Pred = ColumnElement[bool]
SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])
Window = Callable[[ColumnElement[Any]], Pred]

OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "text": ("eq", "ne", "in", "not_in", "contains", "is_null", "is_not_null"),
    "enum": ("eq", "ne", "in", "not_in", "is_null", "is_not_null"),
    "bool": ("eq", "ne", "is_null", "is_not_null"),
    "number": ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "is_null", "is_not_null"),
    "date": ("eq", "ne", "gt", "gte", "lt", "lte", "is_null", "is_not_null"),
    "datetime": ("eq", "ne", "gt", "gte", "lt", "lte", "is_null", "is_not_null"),
    "tags": ("has", "has_any"),
    "recency": ("gt", "gte", "lt", "lte", "is_null", "is_not_null"),
    "count": ("eq", "ne", "gt", "gte", "lt", "lte"),
}
MAX_LIST = 1000
MAX_DAYS = 36_500  # a century: beyond it a date window no longer fits a timestamp
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_NUMERIC_TEXT = r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"
_MODELS: dict[SegmentEntity, Any] = {SegmentEntity.account: Account, SegmentEntity.contact: Contact,
                                     SegmentEntity.deal: Deal, SegmentEntity.lead: Lead}
_HIDDEN_COLUMNS = {"tags", "custom_fields", "score_factors"}
_CUSTOM_KINDS = {CustomFieldType.text: "text", CustomFieldType.number: "number",
                 CustomFieldType.boolean: "bool", CustomFieldType.date: "date"}


@dataclass(frozen=True)
class Scope:
    """Where a field is read: the entity's row alias and the id of its related account (if any)."""

    entity: SegmentEntity
    row: FromClause
    account_id: ColumnElement[Any] | None
    now: datetime
    today: date


@dataclass(frozen=True)
class FieldDef:
    """A computed field, in one of four shapes.

    value: a correlated expression (cheap when an index serves the correlation); touches: activity links
    (recency); rows: rows to count; per_key: (the row's key, a query of (key, value) pairs) for values
    no index can correlate, matched with one uncorrelated, hashable IN / NOT IN.
    """

    kind: str
    value: Callable[[Scope], ColumnElement[Any]] | None = None
    touches: Callable[[Scope, Window], list[Pred]] | None = None
    rows: Callable[[Scope], Select[Any]] | None = None
    per_key: Callable[[Scope], tuple[ColumnElement[Any], Select[Any]]] | None = None


# ---- computed fields ---------------------------------------------------------------------------------

def _activity() -> FromClause:
    return Activity.__table__.alias()


def _account_touches(account_id: ColumnElement[Any], window: Window) -> list[Pred]:
    """Activities on an account: linked to it directly, through one of its contacts or one of its deals."""
    direct, via_contact, via_deal = _activity(), _activity(), _activity()
    ct, dl = Contact.__table__.alias(), Deal.__table__.alias()
    return [
        select(direct.c.id).where(direct.c.account_id == account_id, window(direct.c.occurred_at)).exists(),
        select(via_contact.c.id).where(via_contact.c.contact_id == ct.c.id, ct.c.account_id == account_id,
                                       window(via_contact.c.occurred_at)).exists(),
        select(via_deal.c.id).where(via_deal.c.deal_id == dl.c.id, dl.c.account_id == account_id,
                                    window(via_deal.c.occurred_at)).exists(),
    ]


def _own_touches(link: str) -> Callable[[Scope, Window], list[Pred]]:
    def touches(scope: Scope, window: Window) -> list[Pred]:
        act = _activity()
        return [select(act.c.id).where(act.c[link] == scope.row.c.id, window(act.c.occurred_at)).exists()]
    return touches


def _account_level_touches(scope: Scope, window: Window) -> list[Pred]:
    assert scope.account_id is not None
    return _account_touches(scope.account_id, window)


def _contact_touches(scope: Scope, window: Window) -> list[Pred]:
    assert scope.account_id is not None
    return _own_touches("contact_id")(scope, window) + _account_touches(scope.account_id, window)


def _open_deals(scope: Scope) -> Select[Any]:
    d = Deal.__table__.alias()
    return select(d.c.id).where(d.c.account_id == scope.account_id, d.c.status == DealStatus.open.value)


def _open_tickets(scope: Scope) -> Select[Any]:
    t = Ticket.__table__.alias()
    return select(t.c.id).where(t.c.account_id == scope.account_id,
                                t.c.status.in_([TicketStatus.open.value, TicketStatus.pending.value]))


def _account_nps_last(scope: Scope) -> ColumnElement[Any]:
    n = NpsResponse.__table__.alias()
    return (select(n.c.score).where(n.c.account_id == scope.account_id, n.c.responded_at <= scope.now)
            .order_by(n.c.responded_at.desc(), n.c.id.desc()).limit(1).scalar_subquery())


def _contact_nps_last(scope: Scope) -> tuple[ColumnElement[Any], Select[Any]]:
    """Latest answer per contact in one pass (nps_responses has no index on contact_id to correlate)."""
    n = NpsResponse.__table__.alias()
    newest_first = aggregate_order_by(n.c.score, n.c.responded_at.desc(), n.c.id.desc())
    latest = (select(n.c.contact_id.label("key"), func.array_agg(newest_first)[1].label("value"))
              .where(n.c.contact_id.is_not(None), n.c.responded_at <= scope.now).group_by(n.c.contact_id))
    return scope.row.c.id, latest


def _ar_overdue(scope: Scope) -> ColumnElement[Any]:
    i, p = Invoice.__table__.alias(), Payment.__table__.alias()
    paid = select(func.coalesce(func.sum(p.c.amount), 0)).where(p.c.invoice_id == i.c.id).scalar_subquery()
    owed = (select(func.sum(i.c.amount - paid))
            .where(i.c.account_id == scope.account_id, i.c.status == InvoiceStatus.open.value,
                   i.c.due_on < scope.today, i.c.amount > paid).scalar_subquery())
    return func.coalesce(owed, 0)


def _arr(scope: Scope) -> ColumnElement[Any]:
    c = Contract.__table__.alias()
    total = (select(func.sum(c.c.arr))
             .where(c.c.account_id == scope.account_id, c.c.status == ContractStatus.active.value,
                    c.c.start_date <= scope.today, c.c.end_date >= scope.today).scalar_subquery())
    return func.coalesce(total, 0)


def _primary_email(scope: Scope) -> ColumnElement[Any]:
    e = ContactEmail.__table__.alias()
    return (select(e.c.email).where(e.c.contact_id == scope.row.c.id)
            .order_by(e.c.is_primary.desc(), e.c.id).limit(1).scalar_subquery())


def _stage_name(scope: Scope) -> ColumnElement[Any]:
    s = Stage.__table__.alias()
    return select(s.c.name).where(s.c.id == scope.row.c.stage_id).scalar_subquery()


def _days_in_stage(scope: Scope) -> ColumnElement[Any]:
    elapsed = literal(scope.now, DateTime(timezone=True)) - scope.row.c.stage_entered_at
    return extract("epoch", elapsed) / 86400


_ACCOUNT_LEVEL = {
    "open_deals": FieldDef("count", rows=_open_deals),
    "open_tickets": FieldDef("count", rows=_open_tickets),
    "ar_overdue": FieldDef("number", value=_ar_overdue),
    "arr": FieldDef("number", value=_arr),
}

COMPUTED: dict[SegmentEntity, dict[str, FieldDef]] = {
    SegmentEntity.account: _ACCOUNT_LEVEL | {
        "last_activity_days": FieldDef("recency", touches=_account_level_touches),
        "nps_last": FieldDef("number", value=_account_nps_last),
    },
    SegmentEntity.contact: _ACCOUNT_LEVEL | {
        "last_activity_days": FieldDef("recency", touches=_contact_touches),
        "own_last_activity_days": FieldDef("recency", touches=_own_touches("contact_id")),
        "nps_last": FieldDef("number", per_key=_contact_nps_last),
        "email": FieldDef("text", value=_primary_email),
    },
    SegmentEntity.deal: {
        "last_activity_days": FieldDef("recency", touches=_own_touches("deal_id")),
        "days_in_stage": FieldDef("number", value=_days_in_stage),
        "stage": FieldDef("text", value=_stage_name),
    },
    SegmentEntity.lead: {
        "last_activity_days": FieldDef("recency", touches=_own_touches("lead_id")),
    },
}


def _column_kind(column: Any) -> str | None:
    t = column.type
    if isinstance(t, Enum):
        return "enum"
    if isinstance(t, Boolean):
        return "bool"
    if isinstance(t, Integer | Numeric):
        return "number"
    if isinstance(t, DateTime):
        return "datetime"
    if isinstance(t, Date):
        return "date"
    if isinstance(t, String | Text):
        return "text"
    return None


def column_kinds(entity: SegmentEntity) -> dict[str, str]:
    """The entity's own filterable columns and their kinds (tags and custom fields have their own syntax)."""
    table = _MODELS[entity].__table__
    kinds = {c.name: _column_kind(c) for c in table.columns if c.name not in _HIDDEN_COLUMNS}
    return {name: kind for name, kind in kinds.items() if kind is not None}


def field_names(entity: SegmentEntity) -> list[str]:
    """Every field a rule may name for the entity (prefix forms shown with a placeholder)."""
    names = sorted(column_kinds(entity)) + sorted(COMPUTED[entity]) + ["tags", "custom.<key>"]
    if entity in (SegmentEntity.contact, SegmentEntity.deal):
        names.append("account.<field>")
    return names


def custom_field_types(session: Session) -> dict[tuple[str, str], CustomFieldType]:
    rows = session.execute(select(CustomFieldDefinition.entity, CustomFieldDefinition.key,
                                  CustomFieldDefinition.data_type)).all()
    return {(e.value, k): t for e, k, t in rows}


# ---- values ------------------------------------------------------------------------------------------

def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | Decimal) and not isinstance(v, bool) and math.isfinite(v)


def _parse_date(v: Any) -> date | None:
    if isinstance(v, str):
        try:
            return date.fromisoformat(v)
        except ValueError:
            return None
    return None


def _parse_datetime(v: Any) -> datetime | None:
    if not isinstance(v, str):
        return None
    try:
        parsed = datetime.fromisoformat(v)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _scalar(kind: str, v: Any, choices: Sequence[str], where: str) -> Any:
    """One comparison value, checked against the field's kind."""
    if kind in ("text", "tags"):
        if not isinstance(v, str):
            raise InvalidInput(where, f"expected a string, got {v!r}")
        if "\x00" in v:
            raise InvalidInput(where, "must not contain NUL characters")
        return v
    if kind == "enum":
        if isinstance(v, str) and v in choices:
            return v
        raise InvalidInput(where, f"{v!r} is not one of: {', '.join(choices)}")
    if kind == "bool":
        if isinstance(v, bool):
            return v
        raise InvalidInput(where, f"expected true or false, got {v!r}")
    if kind in ("number", "count", "recency"):
        if not _is_number(v):
            raise InvalidInput(where, f"expected a number, got {v!r}")
        if kind != "number" and v < 0:
            raise InvalidInput(where, f"expected a number >= 0, got {v!r}")
        if kind == "recency" and v > MAX_DAYS:
            raise InvalidInput(where, f"at most {MAX_DAYS} days, got {v!r}")
        return v if isinstance(v, int) else Decimal(str(v))
    if kind == "date":
        parsed = _parse_date(v)
        if parsed is None:
            raise InvalidInput(where, f"expected an ISO date (YYYY-MM-DD), got {v!r}")
        return parsed
    parsed_dt = _parse_datetime(v)
    if parsed_dt is None:
        raise InvalidInput(where, f"expected an ISO date or timestamp, got {v!r}")
    return parsed_dt


def coerce_value(kind: str, op: str, v: Any, choices: Sequence[str], where: str) -> Any:
    if op in ("is_null", "is_not_null"):
        if v is not None:
            raise InvalidInput(where, f"{op} takes no value")
        return None
    if op in ("in", "not_in", "has_any"):
        if not isinstance(v, list) or not v:
            raise InvalidInput(where, f"{op} needs a non-empty list")
        if len(v) > MAX_LIST:
            raise InvalidInput(where, f"at most {MAX_LIST} values")
        return [_scalar(kind, item, choices, f"{where}[{i}]") for i, item in enumerate(v)]
    if v is None:
        raise InvalidInput(where, f"{op} needs a value (use is_null to find missing values)")
    if op == "contains" and (not isinstance(v, str) or not v):
        raise InvalidInput(where, "contains needs a non-empty string")
    return _scalar(kind, v, choices, where)


def _bind(expr: ColumnElement[Any], kind: str, v: Any) -> Any:
    """Fractional numbers bind as NUMERIC so an integer column is not compared with a rounded value."""
    if kind in ("number", "count") and isinstance(v, Decimal):
        return literal(v, Numeric())
    if kind == "datetime":
        return literal(v, DateTime(timezone=True))
    return v


def compare(expr: ColumnElement[Any], kind: str, op: str, v: Any) -> Pred:
    if op == "is_null":
        return expr.is_(None)
    if op == "is_not_null":
        return expr.is_not(None)
    if op == "has":
        return expr.contains([v])
    if op == "has_any":
        return expr.overlap(v)
    if op == "contains":
        escaped = v.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return expr.ilike(f"%{escaped}%", escape="\\")
    if op in ("in", "not_in"):
        values = [_bind(expr, kind, x) for x in v]
        return expr.in_(values) if op == "in" else or_(expr.is_(None), expr.not_in(values))
    b = _bind(expr, kind, v)
    return {"eq": lambda: expr == b, "ne": lambda: expr.is_distinct_from(b), "gt": lambda: expr > b,
            "gte": lambda: expr >= b, "lt": lambda: expr < b, "lte": lambda: expr <= b}[op]()


# ---- compiler ----------------------------------------------------------------------------------------

@dataclass
class Compiled:
    """A rule tree as SQL: `base` is the FROM (entity row, account joined when a rule reads it).

    `within` limits the rows considered at all (a person's scope): unlike a rule it also shrinks the population
    a preview counts, so a rep never learns how many rows exist outside their scope.
    """

    entity: SegmentEntity
    row: FromClause
    base: FromClause
    predicate: Pred
    steps: list[tuple[str, Pred]] = field(default_factory=list)
    within: Pred | None = None

    def restricted(self, visible_ids: Select[Any] | None) -> Compiled:
        """The same rules over only the rows whose id `visible_ids` returns (None: every row)."""
        if visible_ids is None:
            return self
        return replace(self, within=self.row.c.id.in_(visible_ids))

    def scoped(self, stmt: SelectT) -> SelectT:
        return stmt if self.within is None else stmt.where(self.within)

    def ids(self) -> Select[Any]:
        return self.scoped(select(self.row.c.id).select_from(self.base).where(self.predicate))


class Compiler:
    """Turns a parsed rule tree into one predicate; unknown fields and bad values fail with the rule path."""

    def __init__(self, session: Session, entity: SegmentEntity, now: datetime) -> None:
        self.session, self.entity, self.now = session, entity, now
        self.row = _MODELS[entity].__table__.alias("seg_row")
        self.account_row = Account.__table__.alias("seg_account")
        self.joins_account = False
        account_id = self.row.c.id if entity is SegmentEntity.account else self.row.c.get("account_id")
        today = now.astimezone(UTC).date()
        self.scope = Scope(entity, self.row, account_id, now, today)
        self.account_scope = (Scope(SegmentEntity.account, self.account_row, account_id, now, today)
                              if entity in (SegmentEntity.contact, SegmentEntity.deal) else None)
        self._custom: dict[tuple[str, str], CustomFieldType] | None = None

    def compile(self, node: AllOf | AnyOf | NotOf | Condition, with_steps: bool = False) -> Compiled:
        """With steps: also the cumulative predicate after each top-level child (a preview funnel)."""
        predicate = self._node(node, "rules")
        steps: list[tuple[str, Pred]] = []
        if with_steps and isinstance(node, AllOf | AnyOf):
            key = "all" if isinstance(node, AllOf) else "any"
            children = node.all if isinstance(node, AllOf) else node.any
            combine = and_ if key == "all" else or_
            so_far: list[Pred] = []
            for i, child in enumerate(children):
                so_far.append(self._node(child, f"rules.{key}[{i}]"))
                steps.append((f"rules.{key}[{i}]", combine(*so_far)))
        base = (self.row.outerjoin(self.account_row, self.account_row.c.id == self.row.c.account_id)
                if self.joins_account else self.row)
        return Compiled(self.entity, self.row, base, predicate, steps)

    def _node(self, node: AllOf | AnyOf | NotOf | Condition, path: str) -> Pred:
        if isinstance(node, AllOf):
            parts = [self._node(c, f"{path}.all[{i}]") for i, c in enumerate(node.all)]
            return and_(*parts) if parts else true()
        if isinstance(node, AnyOf):
            parts = [self._node(c, f"{path}.any[{i}]") for i, c in enumerate(node.any)]
            return or_(*parts) if parts else false()
        if isinstance(node, NotOf):
            return self._node(node.not_, f"{path}.not").is_not(true())
        return self._condition(node, path)

    def _custom_type(self, entity: SegmentEntity, key: str) -> CustomFieldType | None:
        if self._custom is None:
            self._custom = custom_field_types(self.session)
        return self._custom.get((entity.value, key))

    def _condition(self, cond: Condition, path: str) -> Pred:
        name, scope = cond.field, self.scope
        if name.startswith("account."):
            if self.account_scope is None:
                raise InvalidInput(f"{path}.field", f"{self.entity.value} segments have no account.* fields")
            name, scope = name.removeprefix("account."), self.account_scope
            if name.startswith("account."):
                raise InvalidInput(f"{path}.field", f"unknown field {cond.field!r}")
        if name.startswith("custom."):
            return self._custom_condition(cond, name.removeprefix("custom."), scope, path)
        if name == "tags":
            self._mark(scope)
            return self._leaf(scope.row.c.tags, "tags", cond, path)
        computed = COMPUTED[scope.entity].get(name)
        if computed is not None:
            return self._computed(computed, cond, scope, path)
        kind = column_kinds(scope.entity).get(name)
        if kind is None:
            known = ", ".join(field_names(scope.entity))
            raise InvalidInput(f"{path}.field", f"unknown field {cond.field!r} for {self.entity.value} "
                                                f"segments (known: {known})")
        self._mark(scope)
        column = scope.row.c[name]
        choices = tuple(column.type.enums) if isinstance(column.type, Enum) else ()
        return self._leaf(column, kind, cond, path, choices)

    def _mark(self, scope: Scope) -> None:
        if scope is self.account_scope:
            self.joins_account = True

    def _check_op(self, kind: str, cond: Condition, path: str) -> None:
        if cond.op not in OPS_BY_KIND[kind]:
            raise InvalidInput(f"{path}.op", f"{cond.op} does not apply to {cond.field!r} "
                                             f"(use one of: {', '.join(OPS_BY_KIND[kind])})")

    def _leaf(self, expr: ColumnElement[Any], kind: str, cond: Condition, path: str,
              choices: Sequence[str] = ()) -> Pred:
        self._check_op(kind, cond, path)
        value = coerce_value(kind, cond.op, cond.value, choices, f"{path}.value")
        return compare(expr, kind, cond.op, value)

    def _computed(self, spec: FieldDef, cond: Condition, scope: Scope, path: str) -> Pred:
        if spec.value is not None:
            return self._leaf(spec.value(scope), spec.kind, cond, path)
        self._check_op(spec.kind, cond, path)
        value = coerce_value(spec.kind, cond.op, cond.value, (), f"{path}.value")
        if spec.touches is not None:
            return self._recency(spec.touches, scope, cond.op, value)
        if spec.per_key is not None:
            return self._keyed(*spec.per_key(scope), spec.kind, cond.op, value)
        assert spec.rows is not None
        return self._count(spec.rows(scope), cond.op, value)

    def _keyed(self, row_key: ColumnElement[Any], pairs: Select[Any], kind: str, op: str, v: Any) -> Pred:
        """Negative ops flip to NOT IN over the positive match, so rows without a value are included."""
        negate, positive = {"ne": (True, "eq"), "not_in": (True, "in"), "is_null": (True, "is_not_null")
                            }.get(op, (False, op))
        sub = pairs.subquery()
        keys = select(sub.c.key).where(sub.c.key.is_not(None), compare(sub.c.value, kind, positive, v))
        return row_key.not_in(keys) if negate else row_key.in_(keys)

    def _recency(self, touches: Callable[[Scope, Window], list[Pred]], scope: Scope, op: str,
                 days: Any) -> Pred:
        """`gt N`: no activity in (now - N days, now]; written as NOT EXISTS so PostgreSQL can anti-join."""
        now = literal(self.now, DateTime(timezone=True))
        since = self.now - timedelta(days=float(days or 0))
        cutoff = literal(since, DateTime(timezone=True))
        windows: dict[str, tuple[bool, Window]] = {
            "is_null": (False, lambda t: t <= now),
            "is_not_null": (True, lambda t: t <= now),
            "gt": (False, lambda t: and_(t >= cutoff, t <= now)),
            "gte": (False, lambda t: and_(t > cutoff, t <= now)),
            "lt": (True, lambda t: and_(t > cutoff, t <= now)),
            "lte": (True, lambda t: and_(t >= cutoff, t <= now)),
        }
        touched, window = windows[op]
        exists = touches(scope, window)
        return or_(*exists) if touched else and_(*(~e for e in exists))

    def _count(self, rows: Select[Any], op: str, n: Any) -> Pred:
        """Zero / non-zero become (NOT) EXISTS; other thresholds compare a correlated count."""
        zero = (op == "eq" and n == 0) or (op == "lte" and n < 1) or (op == "lt" and 0 < n <= 1)
        some = (op == "ne" and n == 0) or (op == "gt" and n < 1) or (op == "gte" and 0 < n <= 1)
        if zero:
            return ~rows.exists()
        if some:
            return rows.exists()
        return compare(rows.with_only_columns(func.count()).scalar_subquery(), "count", op, n)

    def _custom_condition(self, cond: Condition, key: str, scope: Scope, path: str) -> Pred:
        if not key or len(key) > 120 or "\x00" in key:
            raise InvalidInput(f"{path}.field", "custom fields are named custom.<key> (1 to 120 characters)")
        self._mark(scope)
        defined = self._custom_type(scope.entity, key)
        kind = _CUSTOM_KINDS[defined] if defined else self._infer_kind(cond, path)
        raw = scope.row.c.custom_fields[key]
        as_text = raw.astext
        if cond.op in ("is_null", "is_not_null"):
            return self._leaf(as_text, kind, cond, path)
        typeof = func.jsonb_typeof(raw)
        expr: ColumnElement[Any] = as_text
        if kind == "number":
            numeric_text = and_(typeof == "string", as_text.regexp_match(_NUMERIC_TEXT))
            expr = case((typeof == "number", as_text.cast(Numeric())),
                        (numeric_text, as_text.cast(Numeric())))
        elif kind == "bool":
            expr = case((typeof == "boolean", as_text.cast(Boolean())),
                        (func.lower(as_text).in_(["true", "false"]), func.lower(as_text).cast(Boolean())))
        elif kind == "date":
            expr = case((as_text.regexp_match(r"^\d{4}-\d{2}-\d{2}"), func.substr(as_text, 1, 10)))
        self._check_op(kind, cond, path)
        value = coerce_value(kind, cond.op, cond.value, (), f"{path}.value")
        if kind == "date":
            value = [d.isoformat() for d in value] if isinstance(value, list) else value.isoformat()
        return compare(expr, "text" if kind == "date" else kind, cond.op, value)

    def _infer_kind(self, cond: Condition, path: str) -> str:
        """An undefined custom field takes its type from the rule's value."""
        sample = cond.value[0] if isinstance(cond.value, list) and cond.value else cond.value
        if isinstance(sample, bool):
            return "bool"
        if _is_number(sample):
            return "number"
        if cond.op in ("gt", "gte", "lt", "lte"):
            if isinstance(sample, str) and _ISO_DATE.match(sample) and _parse_date(sample[:10]):
                return "date"
            raise InvalidInput(f"{path}.value", f"comparing {cond.field!r} with {cond.op} needs a number or "
                                                "an ISO date (or define the custom field's type)")
        return "text"


# ---- queries -----------------------------------------------------------------------------------------

def page(session: Session, compiled: Compiled, limit: int, offset: int) -> tuple[int, list[int]]:
    """(total matches, one page of ids in id order) from one statement over one snapshot."""
    matches = compiled.ids().cte("matches")
    total = select(func.count()).select_from(matches).scalar_subquery()
    window = select(matches.c.id).order_by(matches.c.id).limit(limit).offset(offset).subquery()
    ids = select(func.array_agg(aggregate_order_by(window.c.id, window.c.id))).scalar_subquery()
    count, id_list = session.execute(select(total, ids)).one()
    return int(count), list(id_list or [])


def count(session: Session, compiled: Compiled) -> int:
    stmt = compiled.scoped(select(func.count()).select_from(compiled.base).where(compiled.predicate))
    return int(session.scalar(stmt) or 0)


def funnel(session: Session, compiled: Compiled) -> tuple[int, int, list[tuple[str, int]]]:
    """(entity rows, matches, cumulative matches after each top-level rule), counted in one scan."""
    columns = [func.count(), func.count().filter(compiled.predicate)]
    columns += [func.count().filter(pred) for _, pred in compiled.steps]
    row = session.execute(compiled.scoped(select(*columns).select_from(compiled.base))).one()
    steps = [(path, int(n)) for (path, _), n in zip(compiled.steps, row[2:], strict=True)]
    return int(row[0]), int(row[1]), steps


# ---- saved segments and their members -----------------------------------------------------------------

def list_segments(session: Session, *, entity: SegmentEntity | None = None, limit: int = 100,
                  offset: int = 0) -> Sequence[Segment]:
    stmt = select(Segment)
    if entity is not None:
        stmt = stmt.where(Segment.entity == entity)
    return session.scalars(stmt.order_by(Segment.id).limit(limit).offset(offset)).all()


def segment_named(session: Session, name: str) -> int | None:
    return session.scalar(select(Segment.id).where(Segment.name == name))


@dataclass(frozen=True)
class MemberRow:
    """What a list of members shows beside each id: enough to recognise the row, not the whole record."""

    id: int
    name: str
    detail: str
    account_id: int | None
    account_name: str | None


def _joined(*parts: Any) -> str:
    return " · ".join(str(getattr(p, "value", p)) for p in parts if p not in (None, ""))


def member_rows(session: Session, entity: SegmentEntity, ids: Sequence[int]) -> list[MemberRow]:
    """Display fields of the given ids, in the order given (one statement)."""
    if not ids:
        return []
    acc = Account.__table__.alias("member_account")
    rows: dict[int, MemberRow] = {}
    if entity is SegmentEntity.account:
        for r in session.execute(select(Account.id, Account.name, Account.country, Account.size_band,
                                        Account.industry).where(Account.id.in_(ids))):
            rows[r.id] = MemberRow(r.id, r.name, _joined(r.country, r.size_band, r.industry), None, None)
    elif entity is SegmentEntity.contact:
        stmt = (select(Contact.id, Contact.first_name, Contact.last_name, Contact.title, Contact.account_id,
                       acc.c.name.label("account_name"))
                .outerjoin(acc, acc.c.id == Contact.account_id).where(Contact.id.in_(ids)))
        for r in session.execute(stmt):
            rows[r.id] = MemberRow(r.id, f"{r.first_name} {r.last_name}".strip(), _joined(r.title),
                                   r.account_id, r.account_name)
    elif entity is SegmentEntity.deal:
        stmt = (select(Deal.id, Deal.name, Deal.status, Deal.amount, Deal.currency, Deal.account_id,
                       acc.c.name.label("account_name"))
                .outerjoin(acc, acc.c.id == Deal.account_id).where(Deal.id.in_(ids)))
        for r in session.execute(stmt):
            rows[r.id] = MemberRow(r.id, r.name, _joined(r.status, f"{r.amount} {r.currency}"), r.account_id,
                                   r.account_name)
    else:
        leads = select(Lead.id, Lead.first_name, Lead.last_name, Lead.company_name, Lead.status).where(
            Lead.id.in_(ids))
        for lead in session.execute(leads):
            name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or lead.company_name or f"lead {lead.id}"
            rows[lead.id] = MemberRow(lead.id, name, _joined(lead.company_name, lead.status), None, None)
    return [rows[i] for i in ids if i in rows]
