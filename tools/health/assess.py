"""One account's health as of a moment, from the database: its own signals and, for a parent, the ARR-weighted
roll-up of its children's subtrees. The Health Monitor gathers this; `salesagents health show` displays it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import NotFound
from core.repositories import health as repo
from core.services import accounts as hierarchy
from tools.health.learning import current_weights
from tools.health.scoring import Child, Health, Weights, rollup, score


def _own(session: Session, account_id: int, now: datetime, weights: Weights, settings: Settings,
         catalog: int) -> tuple[Health, dict[str, Any]]:
    facts = repo.account_facts(session, account_id, now, catalog)
    return score(facts, weights, settings.health_ar_scale), facts


def _subtree_score(session: Session, account_id: int, now: datetime, weights: Weights, settings: Settings,
                   catalog: int, cache: dict[int, tuple[int | None, float]]) -> tuple[int | None, float]:
    """(score, ARR) of a child's whole subtree: its own health rolled up with its children's, recursively."""
    if account_id in cache:
        return cache[account_id]
    cache[account_id] = (None, 0.0)  # a cycle in bad data ends here instead of recursing forever
    own, facts = _own(session, account_id, now, weights, settings, catalog)
    own_arr = float(facts["contract"]["arr"])
    kids = []
    for child in repo.children(session, account_id):
        child_score, child_arr = _subtree_score(session, child.id, now, weights, settings, catalog, cache)
        kids.append(Child(child.id, child.name, child_score, child_arr))
    value, _ = rollup(own, own_arr, kids) if kids else (own.score, {})
    result = (value, own_arr + sum(k.arr for k in kids))
    cache[account_id] = result
    return result


def assess(session: Session, account_id: int, now: datetime, settings: Settings) -> dict[str, Any]:
    """The JSON-able health inputs of one account: facts, own score and factors, roll-up over children."""
    account = repo.account_row(session, account_id)
    if account is None:
        raise NotFound("account", account_id)
    weights = current_weights(session, settings)
    catalog = repo.feature_catalog_size(session)
    own, facts = _own(session, account_id, now, weights, settings, catalog)
    cache: dict[int, tuple[int | None, float]] = {account_id: (None, 0.0)}
    kids = []
    for child in repo.children(session, account_id):
        child_score, child_arr = _subtree_score(session, child.id, now, weights, settings, catalog, cache)
        kids.append(Child(child.id, child.name, child_score, child_arr))
    factors = own.factors() | {"own_score": own.score, "facts": facts}
    value = own.score
    if kids:
        value, rolled = rollup(own, float(facts["contract"]["arr"]), kids)
        factors["rollup"] = rolled
    return {"account_id": account.id, "account_name": account.name,
            "csm_id": account.csm_id or account.account_manager_id,
            "path": [n.name for n in hierarchy.path_to_root(session, account_id)],
            "score": value, "factors": factors}
