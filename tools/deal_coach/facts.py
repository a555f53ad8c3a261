"""Loading deal snapshots and stage norms from the database (through core.repositories.deal_coach)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from core.config import Settings
from core.repositories import deal_coach as repo
from tools.deal_coach.flags import DealSnapshot, Thresholds
from tools.deal_coach.norms import StageNorm, learn_norms

AGENT = "deal_coach"


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(no_activity_days=settings.deal_coach_no_activity_days,
                      push_threshold=settings.deal_coach_push_threshold,
                      decision_maker_from_position=settings.deal_coach_decision_maker_from_position)


def stage_norms(session: Session, pipeline_ids: Sequence[int], settings: Settings) -> dict[int, StageNorm]:
    ids = sorted(set(pipeline_ids))
    return learn_norms(repo.won_stage_stays(session, ids), repo.stage_rot_days(session, ids),
                       q=settings.deal_coach_norm_quantile, min_samples=settings.deal_coach_norm_min_samples)


def snapshots(session: Session, now: datetime, deal_ids: Sequence[int] | None = None,
              open_only: bool = True) -> list[DealSnapshot]:
    """Snapshots of the open deals (or the given ones) as of `now`, in a fixed number of queries."""
    rows = repo.deal_rows(session, deal_ids, open_only=open_only)
    ids = [int(r["id"]) for r in rows]
    last = repo.last_activity(session, ids, now)
    counts = repo.activity_counts(session, ids, now)
    ahead = repo.next_steps(session, ids, now, f"{AGENT}:")
    engaged = repo.decision_maker_contacts(session, ids, now)
    contacts = repo.account_contacts(session, sorted({int(r["account_id"]) for r in rows if r["account_id"]}))
    changes = repo.close_date_changes(session, ids)
    found = []
    for r in rows:
        deal_id = int(r["id"])
        people = contacts.get(int(r["account_id"]), []) if r["account_id"] else []
        dms = [f"{c['first_name']} {c['last_name']}".strip() for c in people if c["buying_role"] == "decision_maker"]
        activity = last.get(deal_id)
        found.append(DealSnapshot(
            deal_id=deal_id, name=r["name"], account_id=r["account_id"], account_name=r["account_name"],
            owner_id=r["owner_id"], owner_name=r["owner_name"], pipeline_id=int(r["pipeline_id"]),
            stage_id=int(r["stage_id"]), stage=r["stage"],
            stage_position=int(r["stage_position"]), win_probability=r["win_probability"], amount=r["amount"],
            currency=r["currency"], stage_entered_at=r["stage_entered_at"], created_at=r["created_at"],
            expected_close_date=r["expected_close_date"], last_activity_id=activity[0] if activity else None,
            last_activity_at=activity[1] if activity else None, activities=counts.get(deal_id, 0),
            next_steps=ahead.get(deal_id, []), decision_makers=engaged.get(deal_id, []),
            account_decision_makers=dms, close_date_changes=changes.get(deal_id, [])))
    return found
