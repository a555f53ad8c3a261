"""Synthetic closed and open leads whose outcome depends on their fields, custom fields and calls."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from core.models import Activity, Lead
from core.models.enums import ActivityKind, LeadSource, LeadStatus

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def make_leads(session: Session, count: int, *, seed: int = 3, open_share: float = 0.0) -> list[int]:
    """Bigger companies, campaign leads, many site visits and recent calls convert more often."""
    rng = random.Random(seed)
    leads: list[Lead] = []
    calls: list[tuple[Lead, int]] = []
    for n in range(count):
        employees = rng.choice([5, 20, 80, 300, 1500])
        source = rng.choice([LeadSource.web_form, LeadSource.campaign, LeadSource.chat, LeadSource.manual])
        visits = rng.randint(0, 12)
        call_count = rng.randint(0, 3)
        signal = (employees >= 300) * 1.2 + (source == LeadSource.campaign) * 1.5 + visits * 0.25 \
            + call_count * 0.6 - 3.0 + rng.gauss(0, 0.7)
        lead = Lead(first_name=f"S{n}", last_name="Lead", email=f"s{seed}_{n}@example.test", employees=employees,
                    source=source, country=rng.choice(["DE", "FR", "US"]),
                    custom_fields={"site_visits": visits, "newsletter": rng.random() < 0.5})
        if rng.random() >= open_share:
            if signal > 0:
                lead.converted_at = NOW
                lead.status = LeadStatus.qualified
            else:
                lead.status = LeadStatus.disqualified
                lead.disqualified_reason = "no budget"
        leads.append(lead)
        calls.append((lead, call_count))
    session.add_all(leads)
    session.flush()
    session.add_all([Activity(kind=ActivityKind.call, subject="Call", lead_id=lead.id,
                              occurred_at=NOW - timedelta(days=k + 1))
                     for lead, number in calls for k in range(number)])
    session.flush()
    return [lead.id for lead in leads]
