"""Deal Coach tools: flags with evidence, stage norms learned from won deals, close-date pushes, the forecast,
the grounding check and its fallback actions, and the scenario suite's flag part on a few cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from agents.deal_coach.nodes import detect_all, similar_won_deals
from core.config import Settings
from core.errors import Conflict, InvalidInput
from core.llm.embeddings import LocalEmbedder
from core.models import AuditLog, Team
from core.repositories import deal_coach as repo
from core.repositories import pipeline as pipeline_repo
from core.services import deals as deal_service
from core.services import embedding_job
from evals.deal_coach.scenarios import SETTINGS, build_all, build_history, load_cases
from evals.deal_coach.suite import MAVEN, forecast_rows, load_maven
from tests import factories as f
from tools.deal_coach.actions import (
    NextAction,
    NextActions,
    fallback_actions,
    grounded_schema,
    grounding_issues,
    quality_issues,
)
from tools.deal_coach.facts import snapshots, stage_norms
from tools.deal_coach.flags import FLAGS, TOPICS
from tools.deal_coach.forecast import forecast, period_of, totals_by_period
from tools.deal_coach.grounding import GroundingFacts, problems
from tools.deal_coach.norms import learn_norms, quantile
from tools.deal_coach.winrates import AgeWinRates, Opportunity

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
COACH = Settings(**SETTINGS)  # type: ignore[arg-type]


def test_norms_are_the_won_deals_quantile_with_enough_samples_else_rot_days() -> None:
    assert quantile([3, 4, 5, 6, 7, 10], 0.75) == pytest.approx(6.75)
    norms = learn_norms([(1, d) for d in (3, 4, 5, 6, 7, 10)] + [(2, 30.0), (2, 40.0)], {1: 14, 2: 21, 3: None},
                        q=0.75, min_samples=5)
    assert (norms[1].days, norms[1].source, norms[1].samples) == (6.8, "won_deals", 6)
    assert (norms[2].days, norms[2].source, norms[2].samples) == (21.0, "rot_days", 2)
    assert (norms[3].days, norms[3].source) == (None, "none")


def test_stage_norms_learned_from_won_deals_history_only(session: Session) -> None:
    build_history(session, NOW)
    pipeline = pipeline_repo.default_pipeline(session)
    assert pipeline is not None
    stages = {s.name: s.id for s in pipeline_repo.stages(session, pipeline.id)}
    norms = stage_norms(session, [pipeline.id], COACH)
    assert norms[stages["Prospect"]].days == 6.8
    assert norms[stages["Demo"]].days == 11.8  # the lost deals' 60 days in Demo are not learned from
    assert norms[stages["Proposal"]].days == 19.5
    assert (norms[stages["Negotiation"]].days, norms[stages["Negotiation"]].source) == (21.0, "rot_days")


CASES = {c.name: c for c in load_cases()}


def test_the_scenario_file_has_forty_cases_covering_every_flag() -> None:
    assert len(CASES) >= 40
    assert {code for c in CASES.values() for code in c.expected} == set(FLAGS)


def test_flags_carry_evidence_on_built_deals(session: Session) -> None:
    chosen = [CASES[n] for n in ("everything wrong", "healthy demo", "demo 11 days (norm 11.8)",
                                 "demo 12 days (norm 11.8)", "pushed then pulled in",
                                 "only a future meeting, nothing logged")]
    built = build_all(session, NOW, chosen)
    found = {d.deal_id: {fl.code: fl for fl in flags} for d, flags in detect_all(session, NOW, COACH, list(built))}
    for deal_id, case in built.items():
        assert set(found[deal_id]) == set(case.expected), case.name
    worst = found[next(i for i, c in built.items() if c.name == "everything wrong")]
    overdue = worst["stage_overdue"].evidence
    assert (overdue["stage"], overdue["days_in_stage"], overdue["norm_days"], overdue["norm_source"]) == (
        "Negotiation", 40, 21.0, "rot_days")
    assert worst["no_activity"].evidence["idle_days"] == 30
    assert worst["no_activity"].evidence["last_activity"] == (TODAY - timedelta(days=30)).isoformat()
    assert worst["close_date_past"].evidence == {"expected_close_date": (TODAY - timedelta(days=5)).isoformat(),
                                                 "days_past": 5}
    pushed = worst["close_date_pushed"].evidence
    assert pushed["pushes"] == 2 and pushed["days_pushed"] == 25
    assert [c["on"] for c in pushed["changes"]] == [(TODAY - timedelta(days=35)).isoformat(),
                                                    (TODAY - timedelta(days=15)).isoformat()]
    assert worst["no_decision_maker"].evidence["account_decision_makers"][0].endswith("Decider")
    assert "12 days in Demo" in found[next(i for i, c in built.items() if c.name.startswith("demo 12"))][
        "stage_overdue"].message


def test_a_close_date_change_is_recorded_and_a_closed_deal_refuses_it(session: Session) -> None:
    deal = f.deal(session, expected_close_date=date(2026, 3, 1))
    deal_service.change_close_date(session, deal.id, date(2026, 3, 31), now=NOW)
    deal_service.change_close_date(session, deal.id, date(2026, 3, 31), now=NOW)  # unchanged: no row
    rows = session.scalars(select(AuditLog).where(AuditLog.entity_id == deal.id, AuditLog.action == "close_date")).all()
    assert [(r.before, r.after) for r in rows] == [({"expected_close_date": "2026-03-01"},
                                                    {"expected_close_date": "2026-03-31"})]
    assert repo.close_date_changes(session, [deal.id])[deal.id][0]["to"] == "2026-03-31"
    deal_service.close_won(session, deal.id)
    with pytest.raises(Conflict):
        deal_service.change_close_date(session, deal.id, date(2026, 4, 30))


def test_forecast_weights_amounts_by_stage_probability_per_rep_team_and_period(session: Session) -> None:
    team = Team(name="Coach team")
    session.add(team)
    session.flush()
    ann = f.user(session, full_name="Ann Rep", team_id=team.id)
    bob = f.user(session, full_name="Bob Rep")
    first = f.deal(session, owner_id=ann.id, amount=Decimal("1000"), expected_close_date=date(2026, 3, 20))
    stages = {s.name: s for s in pipeline_repo.stages(session, first.pipeline_id)}
    deal_service.move_stage(session, first.id, stages["Proposal"].id)  # 0.50
    f.deal(session, owner_id=ann.id, amount=Decimal("2000"), expected_close_date=date(2026, 4, 2))  # Prospect 0.10
    f.deal(session, owner_id=bob.id, amount=Decimal("400"), expected_close_date=None)
    won = f.deal(session, owner_id=bob.id, amount=Decimal("9999"), expected_close_date=date(2026, 3, 5))
    deal_service.close_won(session, won.id)
    rows = [r for r in repo.forecast_rows(session) if r["owner_name"] in ("Ann Rep", "Bob Rep")]
    by_rep = {(ln.period, ln.group): ln for ln in forecast(rows, by="rep", period="month")}
    assert by_rep[("2026-03", "Ann Rep")].weighted == Decimal("500.00")
    assert by_rep[("2026-04", "Ann Rep")].weighted == Decimal("200.00")
    assert by_rep[("no date", "Bob Rep")].amount == Decimal("400.00")
    assert all(ln.amount != Decimal("9999.00") for ln in by_rep.values())  # won deals are not pipeline
    quarters = forecast(rows, by="team", period="quarter")
    assert {(ln.period, ln.group, ln.deals, ln.weighted) for ln in quarters} == {
        ("2026-Q1", "Coach team", 1, Decimal("500.00")), ("2026-Q2", "Coach team", 1, Decimal("200.00")),
        ("no date", "no team", 1, Decimal("40.00"))}
    assert totals_by_period(quarters)[("2026-Q1", "USD")] == Decimal("500.00")
    assert period_of(date(2026, 12, 31), "quarter") == "2026-Q4"
    with pytest.raises(InvalidInput, match="by"):
        forecast(rows, by="region")
    with pytest.raises(InvalidInput, match="period"):
        forecast(rows, period="week")


FACTS = GroundingFacts(today=TODAY, dates=frozenset({date(2026, 3, 1), date(2026, 4, 15)}),
                       amounts=frozenset({Decimal("48000.00")}), people=GroundingFacts.tokens(["Dana Decider"]),
                       names=GroundingFacts.tokens(["Acme Ltd", "Proposal"]),
                       known_people=GroundingFacts.tokens(["Jennifer Walsh", "Zed Other"]))


@pytest.mark.parametrize(("text", "bad"), [
    ("Call Dana Decider before 2026-04-15 about the $48,000 proposal.", []),
    ("Call Dana about the $48k deal at Acme Ltd; it closes April 15.", []),
    ("Will you ask Dana to meet? May brings budget.", []),
    ("Call Jennifer Walsh at Acme Ltd.", ["'Jennifer Walsh' is not a person of this deal"]),
    ("Ask Zed to sign.", ["'Zed' is not a person of this deal"]),
    ("Offer $45,000 to close.", ["the amount '$45,000' is not in the deal's data"]),
    ("They promised to sign on 2026-05-02.", ["the date '2026-05-02' is not in the deal's data"]),
    ("Meet on March 20 as agreed.", ["the date 'March 20' is not in the deal's data"]),
])
def test_grounding_finds_invented_people_amounts_and_dates(text: str, bad: list[str]) -> None:
    assert problems(text, FACTS) == bad


def test_grounded_schema_rejects_invented_facts_and_due_dates_out_of_range() -> None:
    schema = grounded_schema(FACTS)
    ok = {"actions": [{"action": "Call Dana Decider", "why": "No next step is planned.",
                       "due_date": (TODAY + timedelta(days=2)).isoformat()}]}
    assert schema.model_validate(ok).actions[0].action == "Call Dana Decider"
    with pytest.raises(ValueError, match="Jennifer"):
        schema.model_validate({"actions": [ok["actions"][0] | {"action": "Call Jennifer Walsh"}]})
    with pytest.raises(ValueError, match="before today"):
        schema.model_validate({"actions": [ok["actions"][0] | {"due_date": "2026-03-01"}]})
    late = NextActions(actions=[NextAction(action="Call Dana", why="Because it stalls.",
                                           due_date=TODAY + timedelta(40))])
    assert grounding_issues(late, FACTS) == ["action 1: due date 2026-04-19 is more than 30 days ahead"]


def test_fallback_actions_are_grounded_and_follow_the_flags(session: Session) -> None:
    built = build_all(session, NOW, [CASES["everything wrong"]])
    [(deal, flags)] = detect_all(session, NOW, COACH, list(built))
    actions = fallback_actions(deal, flags, TODAY)
    assert [a.due_date for a in actions.actions] == [TODAY + timedelta(days=n) for n in (1, 2, 3)]
    assert "Negotiation for 40 days" in actions.actions[2].why
    facts = GroundingFacts(today=TODAY, dates=frozenset(), amounts=frozenset({deal.amount}),
                           people=GroundingFacts.tokens(deal.account_decision_makers + [deal.owner_name or ""]),
                           names=GroundingFacts.tokens([deal.name, deal.account_name, deal.stage]),
                           known_people=GroundingFacts.tokens(repo.person_names(session)))
    assert grounding_issues(actions, facts) == []


def test_maven_forecast_rows_at_each_cutoff(datasets_dir) -> None:  # type: ignore[no-untyped-def]
    opps = load_maven(datasets_dir / MAVEN)
    assert len(opps) == 8300  # 8,800 opportunities less 500 prospecting ones without an engage date
    rows = forecast_rows(opps)
    assert [r.cutoff for r in rows] == ["2017-03-31", "2017-05-31", "2017-07-31", "2017-09-30"]
    assert all(r.open_deals > 1000 and r.actual > 0 and r.stage_weighted > 0 and r.age_aware > 0 for r in rows)
    first = rows[0]
    assert first.age_error == round((first.age_aware - first.actual) / first.actual, 4)


def _synthetic(after_cutoff_wins: bool) -> list[Opportunity]:
    """Deals engaged daily; even ones win 10 days after engaging, odd ones never close; optionally some more
    wins that happen only after the cutoff (which must not change what is learned at the cutoff)."""
    start = date(2024, 1, 1)
    opps = [Opportunity(str(i), 100.0, start + timedelta(days=i),
                        start + timedelta(days=i + 10) if i % 2 == 0 else None, i % 2 == 0) for i in range(300)]
    if after_cutoff_wins:
        opps = [Opportunity(o.id, o.amount, o.engaged, date(2024, 9, 15), True) if o.closed is None else o
                for o in opps]
    return opps


def test_age_aware_rates_learn_that_old_deals_rarely_win_and_never_peek_past_the_cutoff() -> None:
    cutoff = date(2024, 9, 1)
    model = AgeWinRates(horizon=90).fit(_synthetic(False), cutoff)
    assert model.rate(5) > 0.3 > 0.05 > model.rate(120)  # young: 10 of ~25 open deals win; old: none
    [plain] = forecast_rows(_synthetic(False), (cutoff,))
    [leaky] = forecast_rows(_synthetic(True), (cutoff,))
    assert (plain.stage_weighted, plain.age_aware) == (leaky.stage_weighted, leaky.age_aware)
    assert leaky.actual > plain.actual == 500.0  # five even deals engaged in the last ten days win after it


def test_a_case_file_error_names_its_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "cases.jsonl"
    bad.write_text('{"name": "x", "stage": "Demo", "created_days_ago": 3, "stage_days": 1, "expected": []}\n'
                   '{"name": "y", "stage": "Demo"}\n')
    with pytest.raises(ValueError, match="line 2"):
        load_cases(bad)


def test_similar_won_deals_come_from_the_accounts_nearest_in_meaning(session: Session) -> None:
    def account(name: str, description: str) -> int:
        return f.account(session, name=name, description=description).id

    dental = account("Brightsmile Dental", "Dental clinics: practice management software for dentists.")
    steel = account("Northern Steel", "Steel mill rolling hot steel coils for construction companies.")
    target = account("Family Orthodontics", "Orthodontic practice looking for dental patient scheduling software.")
    for account_id, amount in ((dental, "12000"), (steel, "90000")):
        won = f.deal(session, account_id=account_id, amount=Decimal(amount), now=NOW - timedelta(days=60))
        won.created_at = NOW - timedelta(days=60)
        deal_service.close_won(session, won.id, now=NOW - timedelta(days=10))
    open_deal = f.deal(session, account_id=target, name="Scheduling rollout")
    embedding_job.run_embedding_job(session, LocalEmbedder(), ["account_description"])
    [snap] = snapshots(session, NOW, [open_deal.id])
    [first] = similar_won_deals(session, snap, Settings(deal_coach_similar_deals=1))
    assert (first["account"], first["amount"], first["cycle_days"]) == ("Brightsmile Dental", "12000.00", 50)
    assert len(similar_won_deals(session, snap, Settings(deal_coach_similar_deals=2))) == 2
    assert similar_won_deals(session, snap, Settings(deal_coach_similar_deals=0)) == []


def test_grounded_but_empty_advice_is_refused() -> None:
    facts = GroundingFacts(today=TODAY, dates=frozenset(), amounts=frozenset(), people=frozenset(),
                           names=frozenset(), topics=TOPICS["no_activity"] | TOPICS["close_date_past"])
    due = TODAY + timedelta(days=1)

    def issues(*pairs: tuple[str, str]) -> list[str]:
        return quality_issues(NextActions(actions=[NextAction(action=a, why=w, due_date=due) for a, w in pairs]),
                              facts)

    assert issues(("Call the customer this week", "No activity for a month.")) == []
    assert issues(("1.20.3.2", "No activity for a month.")) == [
        "action 1: '1.20.3.2' does not say what the rep should do in words"]
    assert issues(("Review the company policy now", "The company has a new HR policy.")) == [
        "action 1: the reason names none of the deal's problems"]
    assert issues(("Call the customer this week", "The close date passed."),
                  ("Email the customer this week", "The close date passed.")) == [
        "action 2: repeats the text of action 1"]


def test_repository_queries_take_more_ids_than_postgres_allows_bound_parameters(session: Session) -> None:
    """A nightly sweep over 100,000 open deals: one array parameter, not 100,000 (the limit is 65,535)."""
    from core.repositories import deal_coach as coach_repo

    ids = list(range(1, 100_001))
    now = datetime(2026, 11, 1, tzinfo=UTC)
    assert coach_repo.last_activity(session, ids, now) == {}
    assert coach_repo.activity_counts(session, ids, now) == {}
    assert coach_repo.close_date_changes(session, ids) == {}
