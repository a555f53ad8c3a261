"""The benchmarks work at tiny sizes: their data builders make what they claim, their measurements add up.

No timing is asserted (machines differ); what is asserted is what the figures rest on: which deals are flagged,
that model calls go only to flagged and changed deals, that both lead scorers score every lead, that the
summary's ratios and JSON are right.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from agents.deal_coach.nodes import detect_all
from benchmarks import bench_agents, bench_customer360_segments, bench_deal_coach, bench_lead_scoring
from benchmarks.common import Figure, percentile, summary_table, write_results
from core.config import get_settings
from core.repositories import lead_scoring as lead_repo
from core.services import approvals
from tests.lead_scoring_data import make_leads
from tools.deal_coach.actions import NextActions
from tools.lead_scoring.features import raw_features


def test_deal_coach_data_flags_exactly_the_quiet_deals(session: Session) -> None:
    bench_deal_coach.build(session, deals=60, flagged_every=10, reps=3)
    flagged = {d.deal_id: [f.code for f in flags]
               for d, flags in detect_all(session, bench_deal_coach.NOW, get_settings()) if flags}
    first = min(d.deal_id for d, _ in detect_all(session, bench_deal_coach.NOW, get_settings()))
    assert set(flagged) == {i for i in range(first, first + 60) if i % 10 == 0}
    assert all(codes == ["no_activity"] for codes in flagged.values())


def test_two_nights_call_the_model_only_for_flagged_changed_deals() -> None:
    found = bench_deal_coach.measure(deals=100, flagged_share=0.05, changed_share=0.04, reps=3)
    assert found.open_deals == 100 and found.flagged == 5
    assert found.first.runs == found.first.calls == 5 and found.first.statuses == {"succeeded": 5}
    assert found.changed == 4 and found.changed_flagged == 2
    assert found.second.runs == found.second.calls == 2


def test_both_lead_scorers_score_every_lead(session: Session) -> None:
    ids = make_leads(session, 240, seed=5)
    records = lead_repo.lead_records(session, ids)
    rows = [raw_features(r, bench_lead_scoring.NOW) for r in records]
    labels = np.array([r["outcome"] for r in records], dtype=int)
    found = bench_lead_scoring.measure(rows, labels, leads=500, explain=20)
    for kind in ("lightgbm", "naive_bayes"):
        assert found[f"{kind}.batch"] > 0 and found[f"{kind}.explain"] > 0
        assert found[f"{kind}.quality"]["rows"] == found["test_rows"] == 72
        assert 0.5 < found[f"{kind}.quality"]["auc"] <= 1.0


def test_inbox_data_gives_each_reviewer_pending_approvals(session: Session) -> None:
    reviewer = bench_customer360_segments.build_drafts(session, drafts=200, reviewers=4)
    rows = approvals.inbox(session, reviewer)
    assert rows and all(r.status == "pending" for r in rows)
    assert all(reviewer in (r.reviewer_id, r.escalated_to_id) for r in rows)
    assert [r.due_at for r in rows] == sorted(r.due_at for r in rows)
    unassigned = approvals.inbox(session, None)
    assert len(unassigned) == 10 and all(r.reviewer_id is None for r in unassigned)  # drafts 5, 25, ... 185


def test_scripted_answer_fills_a_tool_schema_validly() -> None:
    body = {"tools": [{"type": "function", "function": {"name": "NextActions",
                                                        "parameters": NextActions.model_json_schema()}}]}
    TypeAdapter(NextActions).validate_python(bench_agents.scripted_answer(body))
    assert bench_agents.scripted_answer({"messages": []}) == bench_agents.SCRIPTED_TEXT


def test_summary_ratio_table_and_json(tmp_path: Path) -> None:
    figures = [Figure("b", "m", 30.0, "ms", "base", 10.0, "tiny"), Figure("b", "n", 1.0, "x", "none", None, "")]
    assert figures[0].ratio == 3.0 and figures[1].ratio is None
    assert summary_table(figures, "t").row_count == 2
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    path = tmp_path / "out" / "results.json"
    write_results(path, figures, mode="quick", info={"cpu": "x"})
    data = json.loads(path.read_text())
    assert data["mode"] == "quick" and data["figures"][0]["ratio"] == 3.0 and data["figures"][1]["ratio"] is None
