"""The daily digest: one suggestion per rep and day (subject_type "user") listing the rep's flagged open deals.

Deterministic, no model: it restates the flags and points at each deal's latest coach suggestion. The output
is keyed by the day (not the input hash), so a rep gets at most one digest a day however often it runs.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from langgraph.runtime import Runtime
from sqlalchemy.orm import Session

from agents.deal_coach.nodes import detect_all
from agents.deal_coach.state import DigestState
from agents.runtime.context import RunContext
from core.config import get_settings
from core.errors import InvalidInput, NotFound
from core.models import User
from core.repositories import deal_coach as repo
from core.services import outputs
from tools.deal_coach.facts import AGENT

DIGEST = "digest"


def _flagged(session: Session, now: datetime, owner_id: int | None = None) -> list[dict[str, Any]]:
    ids = repo.open_deal_ids(session, owner_id)
    if not ids:
        return []
    found = []
    for deal, flags in detect_all(session, now, get_settings(), ids):
        if flags:
            found.append({"deal_id": deal.deal_id, "name": deal.name, "account": deal.account_name,
                          "owner_id": deal.owner_id, "stage": deal.stage, "amount": str(deal.amount),
                          "currency": deal.currency, "flags": [f.code for f in flags],
                          "messages": [f.message for f in flags]})
    return found


def gather(session: Session, user_id: int | None, now: datetime) -> dict[str, Any]:
    """The rep's flagged deals today (codes only in the hash; messages are recomputed when writing)."""
    if user_id is None:
        raise InvalidInput("subject_id", "the Deal Coach digest runs on one rep (user id)")
    if session.get(User, user_id) is None:
        raise NotFound("user", user_id)
    deals = _flagged(session, now, user_id)
    return {"rep_id": user_id, "day": now.date().isoformat(),
            "deals": [{"deal_id": d["deal_id"], "flags": d["flags"]} for d in deals]}


def reps_with_flagged_deals(session: Session, now: datetime) -> list[int]:
    owners = {d["owner_id"] for d in _flagged(session, now) if d["owner_id"] is not None}
    return sorted(owners)


def route_start(state: DigestState) -> str:
    return "digest" if state["inputs"]["deals"] else "__end__"


def write_digest(state: DigestState, runtime: Runtime[RunContext]) -> DigestState:
    ctx, inputs = runtime.context, state["inputs"]
    with ctx.transaction() as session:
        deals = _flagged(session, ctx.now, int(inputs["rep_id"]))
        if not deals:
            return {}
        linked = repo.open_suggestions(session, AGENT, [d["deal_id"] for d in deals])
        lines = []
        for d in sorted(deals, key=lambda d: (-len(d["flags"]), -float(d["amount"]), d["deal_id"])):
            ref = f" (suggestion #{linked[d['deal_id']]})" if d["deal_id"] in linked else ""
            lines.append(f"- {d['name']} ({d['account'] or 'no account'}, {d['stage']}, {d['amount']} "
                         f"{d['currency']}){ref}: {'; '.join(d['messages'])}")
        origin = replace(ctx.origin, input_hash=inputs["day"])
        row = outputs.write_suggestion(
            session, origin, purpose=DIGEST, title=f"Deal coach digest {inputs['day']}: {len(deals)} deal(s) need you",
            body="\n".join(lines),
            evidence={"day": inputs["day"], "deals": [{k: d[k] for k in ("deal_id", "flags")} |
                                                      {"suggestion_id": linked.get(d["deal_id"])} for d in deals]},
            model="deterministic")
    return {"suggestion_id": row.id}
