"""CSV import: the public data sets end to end, hierarchy and deals, and every bad-input path."""

from __future__ import annotations

import csv
import sys
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from core.db.engine import make_engine
from core.errors import InvalidInput
from core.models import (
    Account,
    AuditLog,
    Contact,
    ContactEmail,
    ContactPhone,
    CustomFieldDefinition,
    Deal,
    DealStageHistory,
    Lead,
    OutboxEvent,
    Stage,
)
from core.models.enums import CustomFieldType, DealStatus, LeadSource, SegmentEntity
from core.repositories import importing as import_repo
from core.services import import_parsing as p
from core.services.importing import ImportRejected, import_csv, parse_mappings
from tests import factories as f

NOW = datetime(2026, 6, 1, 9, tzinfo=UTC)
LEADS_MAP = {"Lead Number": "external_id", "Lead Source": "source_detail", "Country": "country",
             "City": "city"}
ACCOUNTS_MAP = {"account": "name", "sector": "industry", "employees": "employees",
                "office_location": "country", "subsidiary_of": "parent"}
DEALS_MAP = {"opportunity_id": "external_id", "sales_agent": "owner", "account": "account",
             "deal_stage": "stage", "engage_date": "created_at", "close_date": "closed_at",
             "close_value": "amount"}
MAVEN_STAGES = {"Prospecting": "Prospect", "Engaging": "Demo"}


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _import_maven_accounts(session: Session, datasets_dir: Path) -> None:
    path = datasets_dir / "maven_crm_sales_opportunities" / "accounts.csv"
    import_csv(session, SegmentEntity.account, path, ACCOUNTS_MAP, now=NOW)


# Leads.csv ------------------------------------------------------------------------------------------

def test_leads_csv_imports_every_row_with_fields_and_queryable_custom_fields(
        session: Session, datasets_dir: Path) -> None:
    path = datasets_dir / "leads_x_education" / "Leads.csv"
    source = _read(path)
    before_events = _count(session, OutboxEvent)
    result = import_csv(session, "lead", path, LEADS_MAP, null_values=["Select"], now=NOW)
    print(f"\nLeads.csv: {result.rows} rows in {result.seconds:.2f} s = {result.rows_per_second:,.0f} rows/s")

    assert (result.rows, result.imported, result.rejected) == (9240, 9240, 0)
    ids = list(result.ids)
    assert session.scalar(select(func.count()).where(Lead.id.in_(ids))) == 9240
    first = session.scalars(select(Lead).where(Lead.external_id == source[1]["Lead Number"])).one()
    assert first.source is LeadSource.csv_import
    assert (first.source_detail, first.country) == (source[1]["Lead Source"], source[1]["Country"])
    assert first.custom_fields["lead_origin"] == source[1]["Lead Origin"]
    assert first.custom_fields["total_visits"] == int(source[1]["TotalVisits"])
    assert first.custom_fields["page_views_per_visit"] == float(source[1]["Page Views Per Visit"])
    assert first.custom_fields["do_not_email"] is False

    in_batch = Lead.id.in_(ids)
    india = sum(r["Country"] == "India" for r in source)
    assert session.scalar(select(func.count()).where(in_batch, Lead.country == "India")) == india
    assert session.scalar(select(func.count()).where(in_batch, Lead.city == "Select")) == 0
    mumbai = sum(r["City"] == "Mumbai" for r in source)
    assert session.scalar(select(func.count()).where(in_batch, Lead.city == "Mumbai")) == mumbai

    api_origin = sum(r["Lead Origin"] == "API" for r in source)
    query = select(func.count()).where(in_batch, Lead.custom_fields.contains({"lead_origin": "API"}))
    assert session.scalar(query) == api_origin
    no_email = sum(r["Do Not Email"] == "Yes" for r in source)
    query = select(func.count()).where(in_batch, Lead.custom_fields.contains({"do_not_email": True}))
    assert session.scalar(query) == no_email
    busy = sum(1 for r in source if r["TotalVisits"] and float(r["TotalVisits"]) > 5)
    visits = Lead.custom_fields["total_visits"].as_float()
    assert session.scalar(select(func.count()).where(in_batch, visits > 5)) == busy
    no_specialization = sum(r["Specialization"] in ("", "Select") for r in source)
    query = select(func.count()).where(in_batch, ~Lead.custom_fields.has_key("specialization"))
    assert session.scalar(query) == no_specialization

    types = dict(session.execute(select(CustomFieldDefinition.key, CustomFieldDefinition.data_type)
                                 .where(CustomFieldDefinition.entity == SegmentEntity.lead)).all())
    assert types["do_not_email"] is CustomFieldType.boolean
    assert types["total_visits"] is CustomFieldType.number
    assert types["converted"] is CustomFieldType.number
    assert types["lead_origin"] is CustomFieldType.text
    assert len(result.custom_fields_created) == 37 - len(LEADS_MAP)
    assert "lead_number" not in types and "country" not in types

    events = session.scalars(select(OutboxEvent.topic).where(OutboxEvent.aggregate_type == "lead",
                                                             OutboxEvent.aggregate_id.in_(ids))).all()
    assert Counter(events) == {"lead.created": 9240}
    assert _count(session, OutboxEvent) - before_events == 9240


# Accounts and hierarchy -----------------------------------------------------------------------------

def test_maven_accounts_import_with_subsidiary_hierarchy(session: Session, datasets_dir: Path) -> None:
    path = datasets_dir / "maven_crm_sales_opportunities" / "accounts.csv"
    source = _read(path)
    result = import_csv(session, SegmentEntity.account, path, ACCOUNTS_MAP, now=NOW)

    assert (result.imported, result.rejected) == (85, 0)
    accounts = {a.name: a for a in session.scalars(select(Account).where(Account.id.in_(result.ids)))}
    assert len(accounts) == 85
    by_id = {a.id: a for a in accounts.values()}
    for row in source:
        account = accounts[row["account"]]
        parent = by_id.get(account.parent_id) if account.parent_id else None
        assert (parent.name if parent else "") == row["subsidiary_of"], row["account"]
        assert account.employees == int(row["employees"]) and account.industry == row["sector"]
        assert account.custom_fields["year_established"] == int(row["year_established"])
    assert accounts["Cheers"].parent_id == accounts["Massive Dynamic"].id  # parent appears later in the file
    children = Counter(by_id[a.parent_id].name for a in accounts.values() if a.parent_id)
    assert children == Counter(r["subsidiary_of"] for r in source if r["subsidiary_of"])
    assert accounts["Bioholding"].country == "PH"  # "Philipines" in the file
    assert accounts["Hottechi"].country == "KR"
    assert accounts["Acme Corporation"].country == "US"
    assert {a.country for a in accounts.values()} == {"US", "PH", "KE", "JP", "IT", "NO", "KR", "JO", "BR",
                                                      "DE", "PA", "BE", "RO", "PL", "CN"}
    assert set(result.custom_fields_created) == {"year_established", "revenue"}


def test_account_parents_resolve_in_any_order_and_depth_and_from_the_database(
        session: Session, tmp_path: Path) -> None:
    existing = f.account(session, name="Holding Root")
    path = _write(tmp_path / "tree.csv", ["name", "parent"], [
        ["Great Grandchild", "Grandchild"],
        ["Grandchild", "Child"],
        ["Child", "Top"],
        ["Top", "holding root"],
        ["Loner", ""],
    ])
    result = import_csv(session, "account", path, {"name": "name", "parent": "parent"}, now=NOW)
    assert result.imported == 5
    names = dict(session.execute(select(Account.id, Account.name)).all())
    parents = {a.name: names.get(a.parent_id) for a in session.scalars(select(Account)
                                                                      .where(Account.id.in_(result.ids)))}
    assert parents == {"Great Grandchild": "Grandchild", "Grandchild": "Child", "Child": "Top",
                       "Top": existing.name, "Loner": None}


def test_parent_cycles_unknown_parents_and_their_descendants_are_row_errors(
        session: Session, tmp_path: Path) -> None:
    path = _write(tmp_path / "cycles.csv", ["name", "parent"], [
        ["A", "B"], ["B", "C"], ["C", "A"],
        ["Self", "Self"],
        ["Orphan", "Nowhere Inc"],
        ["Child of orphan", "Orphan"],
        ["Fine", ""],
    ])
    with pytest.raises(ImportRejected) as caught:
        import_csv(session, "account", path, {"name": "name", "parent": "parent"}, now=NOW)
    errors = {(e.row, e.field): e.message for e in caught.value.errors}
    for row in (1, 2, 3):
        assert errors[(row, "parent")].startswith("cycle: ")
    assert "own parent" in errors[(4, "parent")]
    assert "no account named 'Nowhere Inc'" in errors[(5, "parent")]
    assert "ancestor 'Orphan' (row 5) is rejected" in errors[(6, "parent")]
    assert not any(e.row == 7 for e in caught.value.errors)


# Deals ----------------------------------------------------------------------------------------------

def test_maven_deals_slice_with_stages_owners_and_accounts(
        session: Session, datasets_dir: Path, tmp_path: Path) -> None:
    _import_maven_accounts(session, datasets_dir)
    maven = datasets_dir / "maven_crm_sales_opportunities"
    all_rows = _read(maven / "sales_pipeline.csv")
    picked = ([r for r in all_rows if r["deal_stage"] == "Won"][:60] + [r for r in all_rows
              if r["deal_stage"] == "Lost"][:50] + [r for r in all_rows if r["deal_stage"] == "Engaging"][:40]
              + [r for r in all_rows if r["deal_stage"] == "Prospecting"][:30])
    header = list(all_rows[0])
    path = _write(tmp_path / "pipeline_slice.csv", header, [[r[h] for h in header] for r in picked])
    for agent in sorted({r["sales_agent"] for r in picked}):
        f.user(session, full_name=agent)

    result = import_csv(session, "deal", path, DEALS_MAP, stage_map=MAVEN_STAGES, now=NOW)
    assert (result.imported, result.rejected) == (len(picked), 0)
    deals = {d.external_id: d for d in session.scalars(select(Deal).where(Deal.id.in_(result.ids)))}
    stages = dict(session.execute(select(Stage.id, Stage.name)).all())
    account_names = dict(session.execute(select(Account.id, Account.name)).all())
    expected_stage = {"Won": "Closed Won", "Lost": "Closed Lost", "Engaging": "Demo",
                      "Prospecting": "Prospect"}
    for row in picked:
        deal = deals[row["opportunity_id"]]
        assert stages[deal.stage_id] == expected_stage[row["deal_stage"]]
        assert account_names.get(deal.account_id or 0, "") == row["account"]
        assert deal.amount == Decimal(row["close_value"] or "0")
        assert deal.custom_fields["product"] == row["product"]
        if row["deal_stage"] in ("Won", "Lost"):
            assert deal.closed_at == datetime.combine(date.fromisoformat(row["close_date"]),
                                                      datetime.min.time(), UTC)
            assert deal.stage_entered_at == deal.closed_at
        else:
            assert deal.status is DealStatus.open and deal.closed_at is None
        if row["engage_date"]:
            assert deal.created_at.date() == date.fromisoformat(row["engage_date"])
    statuses = Counter(d.status for d in deals.values())
    assert statuses == {DealStatus.won: 60, DealStatus.lost: 50, DealStatus.open: 70}
    lost_reasons = {d.lost_reason for d in deals.values() if d.status is DealStatus.lost}
    assert lost_reasons == {"unspecified (imported)"}
    open_history = session.scalar(select(func.count()).where(DealStageHistory.deal_id.in_(result.ids),
                                                             DealStageHistory.left_at.is_(None)))
    assert open_history == len(picked)
    assert all(d.owner_id is not None for d in deals.values())


def test_deal_stage_values_must_name_a_stage(session: Session, tmp_path: Path) -> None:
    path = _write(tmp_path / "deals.csv", ["id", "stage", "reason"], [
        ["D1", "won", ""], ["D2", "Closed Lost", "Price"], ["D3", "Haggling", ""], ["D4", "proposal", ""]])
    with pytest.raises(ImportRejected) as caught:
        import_csv(session, "deal", path, {"id": "external_id", "stage": "stage", "reason": "lost_reason"})
    assert [(e.row, e.field) for e in caught.value.errors] == [(3, "stage")]
    assert "'Haggling' is not a stage" in caught.value.errors[0].message
    with pytest.raises(InvalidInput, match="'Nope' is not a stage"):
        import_csv(session, "deal", path, {"id": "external_id", "stage": "stage"},
                   stage_map={"Haggling": "Nope"})
    mapping = {"id": "external_id", "stage": "stage", "reason": "lost_reason"}
    result = import_csv(session, "deal", path, mapping, stage_map={"haggling": "Negotiation"})
    deals = {d.external_id: d for d in session.scalars(select(Deal).where(Deal.id.in_(result.ids)))}
    assert deals["D2"].lost_reason == "Price" and deals["D2"].status is DealStatus.lost
    assert deals["D1"].status is DealStatus.won and deals["D4"].status is DealStatus.open


# Contacts -------------------------------------------------------------------------------------------

def test_contacts_with_account_emails_and_phones(session: Session, tmp_path: Path) -> None:
    acme = f.account(session, name="Acme Import Co")
    header = ["First", "Last", "Company", "Emails", "Phone", "Role", "Shoe size"]
    path = _write(tmp_path / "contacts.csv", header, [
        ["Ana", "Silva", "acme import co", "ana@acme.test; ana.s@home.test", "+1 555 0100", "Decision Maker",
         "38"],
        ["Bo", "", "", "bo@acme.test", "", "", ""],
    ])
    mapping = {"First": "first_name", "Last": "last_name", "Company": "account", "Emails": "email",
               "Phone": "phone", "Role": "buying_role"}
    result = import_csv(session, "contact", path, mapping)
    ana, bo = (session.get(Contact, i) for i in result.ids)
    assert ana is not None and bo is not None
    assert (ana.account_id, ana.buying_role.value if ana.buying_role else None) == (acme.id, "decision_maker")
    assert bo.account_id is None and ana.custom_fields == {"shoe_size": 38} and bo.custom_fields == {}
    emails = session.execute(select(ContactEmail.email, ContactEmail.is_primary)
                             .where(ContactEmail.contact_id == ana.id).order_by(ContactEmail.id)).all()
    assert [tuple(e) for e in emails] == [("ana@acme.test", True), ("ana.s@home.test", False)]
    phone = session.scalar(select(ContactPhone.phone).where(ContactPhone.contact_id == ana.id))
    assert phone == "+1 555 0100"

    again = _write(tmp_path / "again.csv", ["First", "Emails"], [["Ann", "ANA@acme.test"]])
    with pytest.raises(ImportRejected, match=r"row 1 \(line 2\) email \(column 'Emails'\): 'ANA@acme.test' "
                                             r"already belongs to contact"):
        import_csv(session, "contact", again, {"First": "first_name", "Emails": "email"})


# Bad input ------------------------------------------------------------------------------------------

BAD_HEADER = ["Name", "Country", "Staff", "Active", "Since", "Parent"]
BAD_ROWS = [
    ["Good One", "Vietnam", "10", "yes", "2020-01-05", ""],
    ["Bad Country", "Atlantis", "5", "no", "2021-02-01", ""],
    ["Bad Number", "DE", "many", "true", "2019-03-01", "Good One"],
    ["", "FR", "3", "1", "2018-04-01", ""],
    ["Good Two", "Germany", "1,200", "0", "", "Good One"],
    ["Bad Date", "US", "7", "maybe", "yesterday", ""],
]
BAD_MAP = {"Name": "name", "Country": "country", "Staff": "employees", "Active": "blacklisted",
           "Since": "created_at", "Parent": "parent"}


def test_bad_rows_reject_the_whole_file_naming_rows_lines_and_fields(session: Session,
                                                                      tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.csv", BAD_HEADER, BAD_ROWS)
    counts = [_count(session, m) for m in (Account, CustomFieldDefinition, OutboxEvent, AuditLog)]
    with pytest.raises(ImportRejected) as caught:
        import_csv(session, "account", path, BAD_MAP, now=NOW)
    error = caught.value
    found = {(e.row, e.line, e.field) for e in error.errors}
    assert found == {(2, 3, "country"), (3, 4, "employees"), (4, 5, "name"), (6, 7, "blacklisted"),
                     (6, 7, "created_at")}
    assert (error.bad_rows, error.total_rows) == (4, 6)
    message = str(error)
    assert message.startswith("bad.csv: 4 of 6 rows are bad (5 errors), nothing was imported: ")
    assert "row 2 (line 3) country (column 'Country'): 'Atlantis' is not a known country" in message
    assert "row 3 (line 4) employees (column 'Staff'): 'many' is not a whole number" in message
    assert "row 6 (line 7) blacklisted (column 'Active'): 'maybe' is not yes/no" in message
    assert [_count(session, m) for m in (Account, CustomFieldDefinition, OutboxEvent, AuditLog)] == counts


def test_report_shows_the_first_twenty_errors_and_the_count(session: Session, tmp_path: Path) -> None:
    path = _write(tmp_path / "many.csv", ["Name", "Staff"], [[f"Co {i}", "lots"] for i in range(45)])
    with pytest.raises(ImportRejected) as caught:
        import_csv(session, "account", path, {"Name": "name", "Staff": "employees"})
    message = str(caught.value)
    assert len(caught.value.errors) == 45
    assert "row 20 (line 21)" in message and "row 21 (line 22)" not in message
    assert message.endswith("; and 25 more errors")


def test_skip_bad_imports_good_rows_and_writes_the_reject_file(session: Session, tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.csv", BAD_HEADER, BAD_ROWS)
    rejects = tmp_path / "rejects.csv"
    result = import_csv(session, "account", path, BAD_MAP, skip_bad=True, reject_path=rejects, now=NOW)

    assert (result.imported, result.rejected, result.reject_file) == (2, 4, rejects)
    accounts = {a.name: a for a in session.scalars(select(Account).where(Account.id.in_(result.ids)))}
    assert set(accounts) == {"Good One", "Good Two"}
    assert accounts["Good Two"].parent_id == accounts["Good One"].id
    assert accounts["Good Two"].employees == 1200 and accounts["Good Two"].country == "DE"
    assert accounts["Good One"].country == "VN" and accounts["Good One"].blacklisted is True
    assert accounts["Good One"].created_at == datetime(2020, 1, 5, tzinfo=UTC)
    assert accounts["Good Two"].created_at == NOW
    written = _read(rejects)
    assert [r["Name"] for r in written] == ["Bad Country", "Bad Number", "", "Bad Date"]
    assert list(written[0]) == [*BAD_HEADER, "error"]
    assert written[1]["Staff"] == "many" and "employees (column 'Staff'): 'many'" in written[1]["error"]
    assert "blacklisted" in written[3]["error"] and "created_at" in written[3]["error"]
    with pytest.raises(InvalidInput, match="reject_path"):
        import_csv(session, "account", path, BAD_MAP, skip_bad=True)


def test_duplicate_external_ids_in_the_file_and_on_reimport(session: Session, tmp_path: Path) -> None:
    dupes = _write(tmp_path / "dupes.csv", ["id", "last"], [["L1", "A"], ["L2", "B"], ["L1", "C"]])
    with pytest.raises(ImportRejected,
                       match=r"row 3 \(line 4\) external_id \(column 'id'\): 'L1' repeats row 1"):
        import_csv(session, "lead", dupes, {"id": "external_id", "last": "last_name"})

    path = _write(tmp_path / "leads.csv", ["id", "last"], [["L1", "A"], ["L2", "B"]])
    first = import_csv(session, "lead", path, {"id": "external_id", "last": "last_name"})
    assert first.imported == 2
    with pytest.raises(ImportRejected, match=r"2 of 2 rows are bad.*'L1' already exists \(lead \d+\)"):
        import_csv(session, "lead", path, {"id": "external_id", "last": "last_name"})
    grown = _write(tmp_path / "leads2.csv", ["id", "last"], [["L1", "A"], ["L2", "B"], ["L3", "C"]])
    top_up = import_csv(session, "lead", grown, {"id": "external_id", "last": "last_name"}, skip_bad=True,
                        reject_path=tmp_path / "r.csv")
    assert (top_up.imported, top_up.rejected) == (1, 2)
    assert session.scalar(select(func.count()).where(Lead.external_id.in_(["L1", "L2", "L3"]))) == 3


def test_database_constraint_violations_name_the_row(session: Session, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """If validation ever misses a constraint, the database's refusal still names the row."""
    f.lead(session, external_id="TAKEN")
    monkeypatch.setattr(import_repo, "existing_external_ids", lambda *args: {})
    rows = [[f"N{i}", "X"] for i in range(40)] + [["TAKEN", "Y"]] + [[f"M{i}", "Z"] for i in range(9)]
    path = _write(tmp_path / "leads.csv", ["id", "last"], rows)
    leads_before = _count(session, Lead)
    with pytest.raises(ImportRejected) as caught:
        import_csv(session, "lead", path, {"id": "external_id", "last": "last_name"})
    [error] = caught.value.errors
    assert (error.row, error.line) == (41, 42)
    assert "duplicate key" in error.message and "TAKEN" in error.message
    assert _count(session, Lead) == leads_before


def test_mapping_errors_name_the_field_or_column(session: Session, tmp_path: Path) -> None:
    path = _write(tmp_path / "x.csv", ["Name", "Size"], [["A", "1"]])
    with pytest.raises(InvalidInput, match="unknown field 'colour' for accounts"):
        import_csv(session, "account", path, {"Name": "name", "Size": "colour"})
    with pytest.raises(InvalidInput, match="x.csv has no column 'Revenue'"):
        import_csv(session, "account", path, {"Name": "name", "Revenue": "annual_revenue"})
    with pytest.raises(InvalidInput, match="accounts need a column mapped to 'name'"):
        import_csv(session, "account", path, {"Size": "employees"})
    with pytest.raises(InvalidInput, match="is not COLUMN=field"):
        parse_mappings(["Lead Number"])
    assert parse_mappings(["a=b=c", "Size=-"]) == {"a=b": "c", "Size": "-"}
    with pytest.raises(InvalidInput, match="empty: no header"):
        import_csv(session, "lead", _write(tmp_path / "empty.csv", [], []), {})


def test_existing_custom_field_types_are_kept_and_enforced(session: Session, tmp_path: Path) -> None:
    first = _write(tmp_path / "a.csv", ["id", "Visits"], [["V1", "3"], ["V2", "4"]])
    import_csv(session, "lead", first, {"id": "external_id"})
    second = _write(tmp_path / "b.csv", ["id", "Visits"], [["V3", "often"]])
    with pytest.raises(ImportRejected,
                       match=r"visits \(column 'Visits'\): custom field 'visits' holds number"):
        import_csv(session, "lead", second, {"id": "external_id"})


def test_quoted_newlines_keep_line_numbers_and_leads_need_an_identity(session: Session,
                                                                       tmp_path: Path) -> None:
    path = _write(tmp_path / "notes.csv", ["email", "Note", "Source"], [
        ["a@x.test", "line one\nline two", "Web Form"],
        ["", "no identity", ""],
        ["not-an-email", "", "carrier pigeon"],
    ])
    with pytest.raises(ImportRejected) as caught:
        import_csv(session, "lead", path, {"email": "email", "Source": "source"})
    assert {(e.row, e.line, e.field) for e in caught.value.errors} == {
        (2, 4, "lead"), (3, 5, "email"), (3, 5, "source")}
    ok = _write(tmp_path / "ok.csv", ["email", "Source"], [["a@x.test", "WEB FORM"], ["b@x.test", ""]])
    result = import_csv(session, "lead", ok, {"email": "email", "Source": "source"})
    sources = [session.get(Lead, i).source for i in result.ids]  # type: ignore[union-attr]
    assert sources == [LeadSource.web_form, LeadSource.csv_import]


def test_cell_parsers() -> None:
    assert p.parse_country("Philipines") == "PH"
    assert p.parse_country("korea") == "KR" and p.parse_country("de") == "DE"
    with pytest.raises(ValueError, match="not a known country"):
        p.parse_country("Atlantis")
    assert p.custom_key("TotalVisits") == "total_visits"
    assert p.custom_key("How did you hear about X Education") == "how_did_you_hear_about_x_education"
    assert p.custom_key("2nd Choice") == "c_2nd_choice"
    assert p.infer_custom_type(["Yes", "no"]) is CustomFieldType.boolean
    assert p.infer_custom_type(["0", "1"]) is CustomFieldType.number
    assert p.infer_custom_type(["02134", "10001"]) is CustomFieldType.text
    assert p.infer_custom_type(["2024-01-31"]) is CustomFieldType.date
    assert p.infer_custom_type([]) is None
    assert p.parse_bool("Y") is True and p.parse_bool("0") is False
    assert p.parse_decimal("1,234.5") == Decimal("1234.50")


# CLI ------------------------------------------------------------------------------------------------

def _cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    """Run the real console entry point (`main.run`), capturing its output and exit code."""
    from api.cli import main

    monkeypatch.setattr(sys, "argv", ["salesagents", *args])
    code = 0
    with CliRunner().isolation() as streams:
        try:
            main.run()
        except SystemExit as exc:
            code = int(exc.code or 0)
        output = streams[2].getvalue().decode()
    return code, output


def test_cli_rejects_a_bad_file_with_one_error_line_and_imports_a_good_one(
        scratch_db: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = _write(tmp_path / "bad.csv", BAD_HEADER, BAD_ROWS)
    args = [f"--map={column}={field}" for column, field in BAD_MAP.items()]
    code, output = _cli(monkeypatch, "import", "accounts", str(bad), *args)
    assert code == 2, output
    assert "Traceback" not in output
    error_lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert error_lines == ["error: bad.csv: 4 of 6 rows are bad, nothing was imported"]
    assert "Atlantis" in output and "rejected rows" in output

    code, output = _cli(monkeypatch, "import", "accounts", str(bad), "--map", "Name=colour")
    assert code == 2 and "unknown field 'colour'" in output and "Traceback" not in output

    rejects = tmp_path / "rejects.csv"
    code, output = _cli(monkeypatch, "import", "accounts", str(bad), *args, "--skip-bad", "--reject-file",
                        str(rejects))
    assert code == 0, output
    summary = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in output.splitlines()
               if line.count("│") == 3}
    assert (summary["imported"], summary["rejected"], summary["custom fields created"]) == ("2", "4", "0")
    assert float(summary["rows/s"].replace(",", "")) > 0
    engine = make_engine(scratch_db)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM accounts")).scalar() == 2
            assert conn.execute(text("SELECT count(*) FROM outbox_events WHERE topic = 'account.created'")
                                ).scalar() == 2
    finally:
        engine.dispose()
    assert len(_read(rejects)) == 4

