"""Benchmark: Customer 360 for an account with 5,000 activities among 1,000,000, segment evaluation over 100,000
contacts, and the approvals inbox over 100,000 drafts.

Builds its data server-side (INSERT ... SELECT generate_series) in a throwaway database, times the median
of several runs, prints a table and drops the database. Baseline: the same Customer 360 (its account also
has 5,000 activities) and inbox listings on a small CRM (`--small`) built the same way in a second database.
Run: `.venv/bin/python -m benchmarks.bench_customer360_segments [--activities N --drafts N ...]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import (
    Date,
    DateTime,
    Integer,
    Numeric,
    String,
    case,
    cast,
    event,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, array
from sqlalchemy.orm import Session

from benchmarks.common import Figure, throwaway_database
from core.models import (
    Account,
    Activity,
    Contact,
    ContactEmail,
    Contract,
    Deal,
    Invoice,
    NpsResponse,
    Payment,
    Ticket,
    UsageSnapshot,
)
from core.repositories import pipeline as pipeline_repo
from core.services import accounts as account_service
from core.services import approvals
from core.services import deals as deal_service
from core.services import segments as segment_service
from core.services.customer360 import customer_360

console = Console(width=140)
NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)
VIETNAM = {"all": [
    {"field": "account.size_band", "op": "eq", "value": "enterprise"},
    {"field": "account.country", "op": "eq", "value": "VN"},
    {"field": "last_activity_days", "op": "gt", "value": 90},
    {"field": "open_deals", "op": "eq", "value": 0},
]}
SEGMENTS: list[tuple[str, str, dict[str, Any]]] = [
    ("contacts: Enterprise — VN — 90d no activity — no open deal", "contact", VIETNAM),
    ("contacts: no activity for 30 days (all contacts)", "contact",
     {"field": "last_activity_days", "op": "gt", "value": 30}),
    ("contacts: customers' detractors or unpaid AR", "contact", {"all": [
        {"field": "account.lifecycle", "op": "eq", "value": "customer"},
        {"any": [{"field": "account.nps_last", "op": "lte", "value": 6},
                 {"field": "ar_overdue", "op": "gt", "value": 0}]}]}),
    ("contacts: own latest NPS answer is a detractor's", "contact",
     {"field": "nps_last", "op": "lte", "value": 6}),
    ("contacts: tag vip, custom.seats >= 25, consent", "contact", {"all": [
        {"field": "tags", "op": "has", "value": "vip"},
        {"field": "custom.seats", "op": "gte", "value": 25},
        {"field": "email_consent", "op": "eq", "value": True}]}),
    ("accounts: Enterprise — VN — 90d no activity — no open deal", "account", {"all": [
        {"field": "size_band", "op": "eq", "value": "enterprise"},
        {"field": "country", "op": "eq", "value": "VN"},
        {"field": "last_activity_days", "op": "gt", "value": 90},
        {"field": "open_deals", "op": "eq", "value": 0}]}),
]


def pick(options: list[str]) -> Any:
    """A random element of `options`, drawn per row on the server."""
    return array(options, type_=String)[cast(func.floor(func.random() * len(options)), Integer) + 1]


def rand_int(low: int, high: int) -> Any:
    return cast(func.floor(low + func.random() * (high - low + 1)), Integer)


def days_ago(max_days: float) -> Any:
    seconds = func.random() * max_days * 86400
    return literal(NOW, DateTime(timezone=True)) - func.make_interval(0, 0, 0, 0, 0, 0, seconds)


def series(n: int) -> Any:
    """Rows 1..n; a SELECT that uses none of its columns must name it with select_from()."""
    return func.generate_series(1, n).table_valued("i").render_derived()


def first_id(session: Session, column: Any, *where: Any) -> int:
    value = session.scalar(select(func.min(column)).where(*where))
    if value is None:
        raise RuntimeError(f"no rows in {column}")
    return int(value)


def build(session: Session, accounts: int, contacts: int, activities: int) -> int:
    """Load the synthetic CRM; returns the id of the account holding 5,000 activities."""
    session.execute(select(func.setseed(0.42)))
    pipeline = deal_service.create_pipeline(session, "Sales", is_default=True)
    stages = pipeline_repo.stages(session, pipeline.id)
    open_stages = [s.id for s in stages if not (s.is_won or s.is_lost)]
    won = next(s.id for s in stages if s.is_won)
    lost = next(s.id for s in stages if s.is_lost)

    g = series(accounts)
    session.execute(insert(Account).from_select(
        ["name", "size_band", "country", "industry", "lifecycle", "segment", "currency"],
        select(func.concat("Account ", g.c.i), pick(["smb", "smb", "mid_market", "enterprise"]),
               pick(["VN", "TH", "SG", "US", "DE", "FR", "JP", "IN", "BR", "GB"]),
               pick(["Software", "Retail", "Finance", "Health", "Logistics"]),
               pick(["prospect", "customer", "customer", "churned"]), pick(["strategic", "growth", "core"]),
               literal("USD"))))
    first_acc = first_id(session, Account.id)

    def any_account() -> Any:
        return first_acc + rand_int(0, accounts - 1)

    g = series(contacts)
    no_tags = cast(array([], type_=String), ARRAY(String))
    session.execute(insert(Contact).from_select(
        ["account_id", "first_name", "last_name", "title", "buying_role", "email_consent", "tags",
         "custom_fields"],
        select(first_acc + (g.c.i % accounts), func.concat("First", g.c.i), func.concat("Last", g.c.i),
               pick(["CEO", "CTO", "VP Sales", "Buyer", "Engineer"]),
               pick(["decision_maker", "influencer", "user", "user"]), func.random() < 0.9,
               case((func.random() < 0.1, cast(array(["vip"]), ARRAY(String))), else_=no_tags),
               func.jsonb_build_object(literal("seats", String), rand_int(1, 50)).cast(JSONB))))
    first_contact = first_id(session, Contact.id)
    g = series(contacts)
    session.execute(insert(ContactEmail).from_select(
        ["contact_id", "email", "is_primary"],
        select(first_contact + g.c.i - 1, func.concat("person", g.c.i, "@example.test"), literal(True))))

    n_deals = accounts * 2
    g = series(n_deals)
    stage = pick([str(s) for s in [*open_stages, won, won, lost, lost]]).cast(Integer)
    session.execute(insert(Deal).from_select(
        ["name", "account_id", "pipeline_id", "stage_id", "amount", "currency", "stage_entered_at"],
        select(func.concat("Deal ", g.c.i), first_acc + (g.c.i % accounts), literal(pipeline.id), stage,
               rand_int(1000, 90000).cast(Numeric), literal("USD"), days_ago(400))))
    session.execute(update(Deal).values(
        status=case((Deal.stage_id == won, "won"), (Deal.stage_id == lost, "lost"), else_="open"),
        lost_reason=case((Deal.stage_id == lost, "Price"))))
    first_deal = first_id(session, Deal.id)

    # Row i of contacts and deals belongs to account index i % accounts; 30% of accounts are dormant: they
    # get no activity from the main stream, only an older trickle (120 to 730 days ago).
    active = int(accounts * 0.7)
    g = series(activities)
    bucket = g.c.i % 20  # 50% on an account, 35% on a contact, 15% on a deal
    account_index = rand_int(1, active)
    session.execute(insert(Activity).from_select(
        ["kind", "subject", "occurred_at", "account_id", "contact_id", "deal_id"],
        select(pick(["call", "email", "meeting", "note"]), literal("Touch"), days_ago(730),
               case((bucket < 10, first_acc + account_index)),
               case((bucket.between(10, 16),
                     first_contact - 1 + rand_int(0, contacts // accounts - 1) * accounts + account_index)),
               case((bucket >= 17, first_deal - 1 + rand_int(0, 1) * accounts + account_index)))))
    g = series(activities // 20)
    old = literal(NOW, DateTime(timezone=True)) - func.make_interval(0, 0, 0, 120 + rand_int(0, 610))
    session.execute(insert(Activity).from_select(
        ["kind", "subject", "occurred_at", "account_id"],
        select(literal("email"), literal("Old touch"), old, first_acc + rand_int(active + 1, accounts - 1))
        .select_from(g)))

    g = series(accounts * 2)
    session.execute(insert(Ticket).from_select(
        ["account_id", "subject", "status", "opened_at", "sla_due_at", "satisfaction"],
        select(any_account(), literal("Help"), pick(["open", "pending", "solved", "closed", "closed"]),
               days_ago(300), days_ago(290), case((func.random() < 0.5, rand_int(1, 5)))).select_from(g)))
    g = series(accounts * 2)
    session.execute(insert(NpsResponse).from_select(
        ["account_id", "contact_id", "score", "responded_at"],
        select(any_account(), case((func.random() < 0.5, first_contact + rand_int(0, contacts - 1))),
               rand_int(0, 10), days_ago(365)).select_from(g)))
    g = series(accounts * 2)
    now = literal(NOW, DateTime(timezone=True))
    session.execute(insert(Invoice).from_select(
        ["number", "account_id", "currency", "amount", "issued_on", "due_on", "status"],
        select(func.concat("B-", g.c.i), any_account(), literal("USD"), rand_int(100, 20000).cast(Numeric),
               cast(now - func.make_interval(0, 0, 0, 30 + g.c.i % 300), Date),
               cast(now - func.make_interval(0, 0, 0, g.c.i % 300), Date), pick(["open", "open", "paid"]))))
    session.execute(insert(Payment).from_select(
        ["invoice_id", "amount", "paid_on"],
        select(Invoice.id, Invoice.amount / 2, Invoice.due_on).where(Invoice.id % 3 == 0)))
    g = series(accounts // 2)
    start = now - func.make_interval(0, 0, 0, g.c.i % 300)
    session.execute(insert(Contract).from_select(
        ["account_id", "plan", "start_date", "end_date", "arr", "seat_limit"],
        select(any_account(), pick(["Pro", "Team", "Enterprise"]), cast(start, Date),
               cast(start + func.make_interval(1), Date), rand_int(1000, 100000).cast(Numeric),
               rand_int(5, 500))))

    target = first_id(session, Account.id, Account.size_band == "enterprise")
    _target_history(session, target)
    session.flush()
    return target


def _target_history(session: Session, target: int) -> None:
    """5,000 activities on one account (direct, through its contacts and deals) plus the rest of a history."""
    people = [c for (c,) in session.execute(select(Contact.id).where(Contact.account_id == target))]
    deals = [d for (d,) in session.execute(select(Deal.id).where(Deal.account_id == target))]
    rows: list[dict[str, Any]] = []
    for i in range(5000):
        links: dict[str, Any] = {"account_id": target}
        if i % 5 == 1 and people:
            links = {"contact_id": people[i % len(people)]}
        elif i % 5 == 2 and deals:
            links = {"deal_id": deals[i % len(deals)]}
        rows.append({"kind": "call", "subject": f"Touch {i}", "occurred_at": NOW - timedelta(hours=3 * i)}
                    | links)
    session.execute(insert(Activity), rows)
    session.execute(insert(UsageSnapshot), [
        {"account_id": target, "captured_on": (NOW - timedelta(days=30 * k)).date(), "logins": 100 + k,
         "active_users": 20, "seats_used": 30} for k in range(12)])
    session.execute(insert(Ticket), [
        {"account_id": target, "subject": f"Issue {k}", "status": "open" if k % 3 else "solved",
         "opened_at": NOW - timedelta(days=k), "sla_due_at": NOW - timedelta(days=k - 2),
         "resolved_at": None if k % 3 else NOW - timedelta(days=k - 3), "satisfaction": 1 + k % 5}
        for k in range(40)])
    session.execute(insert(NpsResponse), [
        {"account_id": target, "score": k % 11, "responded_at": NOW - timedelta(days=30 * k)}
        for k in range(12)])
    invoice_ids = session.scalars(insert(Invoice).returning(Invoice.id), [
        {"number": f"T-{target}-{k}", "account_id": target, "currency": "USD", "amount": 1000 + k,
         "issued_on": (NOW - timedelta(days=30 * k + 30)).date(),
         "due_on": (NOW - timedelta(days=30 * k)).date()}
        for k in range(24)]).all()
    session.execute(insert(Payment), [{"invoice_id": i, "amount": 400, "paid_on": NOW.date()}
                                      for i in invoice_ids])
    session.execute(insert(Contract), [
        {"account_id": target, "plan": p, "start_date": (NOW - timedelta(days=100)).date(),
         "end_date": (NOW + timedelta(days=265)).date(), "arr": 10000, "seat_limit": 40}
        for p in ("Pro", "Add-on")])


def hierarchy(session: Session) -> int:
    """A 4-level tree of 1 + 10 + 100 + 1,000 accounts; returns the root."""
    root = Account(name="Tree root")
    session.add(root)
    session.flush()
    level = [root.id]
    for depth in range(3):
        rows = [{"name": f"Tree {depth}-{p}-{k}", "parent_id": p} for p in level for k in range(10)]
        level = list(session.scalars(insert(Account).returning(Account.id), rows))
    return root.id


def median_ms(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    fn()
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


QUICK = ["--accounts", "2000", "--contacts", "10000", "--activities", "100000", "--drafts", "10000", "--runs", "5"]
FULL: list[str] = []


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, default=20_000)
    p.add_argument("--contacts", type=int, default=100_000)
    p.add_argument("--activities", type=int, default=1_000_000)
    p.add_argument("--drafts", type=int, default=100_000, help="agent drafts, each with its approval")
    p.add_argument("--reviewers", type=int, default=50, help="users the approvals are assigned to")
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--small", default="200,1000,10000,1000",
                   help="the baseline CRM: accounts,contacts,activities,drafts")
    return p


def build_drafts(session: Session, drafts: int, reviewers: int) -> int:
    """Reviewers and `drafts` drafts with approvals: a fifth pending (some escalated, 1 in 20 unassigned), the
    rest decided.

    Returns the reviewer whose inbox is timed."""
    params = {"drafts": drafts, "reviewers": reviewers, "now": NOW}
    for sql in (
        "INSERT INTO users (email, full_name, role) SELECT 'reviewer' || g || '@bench.test', 'Reviewer ' || g, "
        "'csm' FROM generate_series(1, :reviewers) g",
        "INSERT INTO agent_runs (agent, trigger, subject_type, subject_id, status) "
        "SELECT 'nps_followup', 'event', 'nps_response', g, 'waiting_review' FROM generate_series(1, 1000) g",
        "INSERT INTO drafts (run_id, agent, subject_type, subject_id, idempotency_key, recipient, subject, body, "
        "status, created_at) SELECT r.first + g % 1000, 'nps_followup', 'nps_response', g, 'bench:' || g, "
        "'person' || g || '@example.test', 'Thank you for your feedback', repeat('Thank you for your answer. ', 12), "
        "CASE WHEN g % 5 = 0 THEN 'pending_review' ELSE (ARRAY['sent', 'rejected', 'edited', 'expired'])[1 + g % 4] "
        "END, :now - make_interval(hours => (g % 2000)::int) "
        "FROM generate_series(1, :drafts) g, (SELECT min(id) AS first FROM agent_runs) r",
        "INSERT INTO approvals (draft_id, run_id, reviewer_id, status, due_at, expires_at, escalated_to_id, "
        "created_at) SELECT d.id, d.run_id, CASE WHEN d.subject_id % 20 <> 5 "
        "THEN u.first + d.subject_id % :reviewers END, CASE WHEN d.status = 'pending_review' "
        "THEN 'pending' WHEN d.status = 'sent' THEN 'approved' ELSE d.status END, "
        "d.created_at + interval '1 day', d.created_at + interval '7 days', "
        "CASE WHEN d.subject_id % 50 = 0 THEN u.first + (d.subject_id + 1) % :reviewers END, d.created_at "
        "FROM drafts d, (SELECT min(id) AS first FROM users WHERE role = 'csm') u",
    ):
        session.execute(text(sql), params)
    session.flush()
    return int(session.scalar(text("SELECT min(id) FROM users WHERE role = 'csm'")) or 0)


def _prepared(engine: Any, accounts: int, contacts: int, activities: int, drafts: int,
              reviewers: int) -> tuple[int, int, int, float]:
    """Build one synthetic CRM and analyze it: (target account, hierarchy root, reviewer, seconds)."""
    start = time.perf_counter()
    with Session(engine) as session:
        target = build(session, accounts, contacts, activities)
        root = hierarchy(session)
        reviewer = build_drafts(session, drafts, reviewers)
        session.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return target, root, reviewer, time.perf_counter() - start


def listings(engine: Any, target: int, reviewer: int, runs: int) -> dict[str, tuple[float, str]]:
    """Median ms of Customer 360 and of the approvals inbox (a reviewer's, and the unassigned one)."""
    with Session(engine) as session:
        ms, view = median_ms(lambda: customer_360(session, target, now=NOW), runs)
        found = {"c360": (ms, f"{view.timeline.total:,} activities")}
        ms, rows = median_ms(lambda: approvals.inbox(session, reviewer), runs)
        found["inbox"] = (ms, f"{len(rows)} rows shown")
        ms, rows = median_ms(lambda: approvals.inbox(session, None), runs)
        found["inbox_unassigned"] = (ms, f"{len(rows)} rows shown")
    return found


def run(args: argparse.Namespace) -> list[Figure]:
    small = [int(x) for x in args.small.split(",")]
    with throwaway_database("c360") as (url, engine):
        target, root, reviewer, build_s = _prepared(engine, args.accounts, args.contacts, args.activities,
                                                    args.drafts, args.reviewers)
        console.print(f"built {args.accounts:,} accounts, {args.contacts:,} contacts, {args.activities:,} "
                      f"activities, {args.drafts:,} drafts in {build_s:.1f}s (database {url.database})")
        report(engine, target, root, args.runs)
        big = listings(engine, target, reviewer, args.runs)
    with throwaway_database("c360_small") as (_url, engine):
        target, _root, reviewer, _s = _prepared(engine, small[0], small[1], small[2], small[3], args.reviewers)
        base = listings(engine, target, reviewer, args.runs)
    table = Table(title=f"Listings on the large CRM vs a small one (median of {args.runs} runs, warm cache)")
    for col in ("listing", "large ms", "small ms", "ratio", "large", "small"):
        table.add_column(col, justify="left" if col in ("listing", "large", "small") else "right")
    labels = {"c360": "Customer 360 (account with 5,000 activities)", "inbox": "approvals inbox of one reviewer",
              "inbox_unassigned": "approvals inbox, unassigned"}
    for key, label in labels.items():
        table.add_row(label, f"{big[key][0]:.1f}", f"{base[key][0]:.1f}", f"{big[key][0] / base[key][0]:.2f}",
                      big[key][1], base[key][1])
    console.print(table)
    size = f"{args.activities:,} activities, {args.drafts:,} drafts"
    small_crm = f"small CRM ({small[2]:,} activities, {small[3]:,} drafts)"
    return [Figure("customer 360", labels[key], big[key][0], "ms (median)", small_crm, base[key][0], size)
            for key in labels]


def main() -> None:
    run(parser().parse_args())


def report(engine: Any, target: int, root: int, runs: int) -> None:
    table = Table(title=f"Customer 360 and segments (median of {runs} runs, warm cache)")
    for col, justify in (("operation", "left"), ("median ms", "right"), ("result", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    with Session(engine) as session:
        statements: list[str] = []
        event.listen(session.connection(), "before_cursor_execute", lambda *a: statements.append(a[2]))
        ms, view = median_ms(lambda: customer_360(session, target, now=NOW), runs)
        queries = len(statements) // (runs + 1)
        shown = f"{view.timeline.total:,} activities, {len(view.timeline.items)} shown, {queries} queries"
        table.add_row("Customer 360 (account with 5,000 activities)", f"{ms:.1f}", shown)
        for label, entity, rules in SEGMENTS:
            run = partial(segment_service.evaluate, session, rules=rules, entity=entity, limit=100, now=NOW)
            ms, res = median_ms(run, runs)
            table.add_row(f"segment {label}", f"{ms:.1f}", f"{res.total:,} matches")
        ms, prev = median_ms(lambda: segment_service.preview(session, VIETNAM, "contact", now=NOW), runs)
        table.add_row("segment preview funnel (Vietnam, contacts)", f"{ms:.1f}",
                      " > ".join(f"{n:,}" for _, n in prev.steps) + f" of {prev.population:,}")
        ms, roll = median_ms(lambda: account_service.rollup(session, root, now=NOW), runs)
        table.add_row("hierarchy roll-up (1,111-account tree)", f"{ms:.1f}", f"{roll.accounts:,} accounts")
        ms, per_node = median_ms(lambda: account_service.subtree_rollups(session, root, now=NOW), runs)
        table.add_row("per-node roll-ups (same tree)", f"{ms:.1f}", f"{len(per_node):,} nodes")
    console.print(table)


if __name__ == "__main__":
    main()
