"""NPS survey scheduling: a daily sweep over contracts in term; a contract whose milestone (settings
`nps_survey_milestones`: days after its start, days before its end, or every N days in its term, e.g. the monthly
satisfaction survey `"monthly": "every+30"`) falls due gets one `nps_surveys` row and one invitation per contact we
may mail (an address, consent, not unsubscribed). Blacklisted accounts and accounts tagged `no-surveys` get none.
Invitations are fixed text, not model output, and still wait in the CSM's inbox like every message that leaves the
company.

Idempotent: the survey's unique name is the contract and milestone, invitations are keyed by milestone and
contact, and a contract whose due milestones all have their survey is no longer a subject.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from langgraph.runtime import Runtime
from sqlalchemy.orm import Session

from agents.nps_followup.state import SurveyState
from agents.runtime.context import RunContext
from core.config import Settings, get_settings
from core.errors import NotFound
from core.repositories import events
from core.repositories import nps_followup as repo
from core.services import approvals
from core.services.approvals import reviewer_for
from tools.nps_followup.rules import (
    INVITE,
    NO_SURVEYS_TAG,
    SURVEY_AGENT,
    can_email,
    due_milestones,
    parse_milestones,
    survey_name,
)

INVITATIONS = {
    "en": ("How likely are you to recommend us?",
           "Hi {name},\n\nOn a scale from 0 to 10, how likely are you to recommend {company} to a colleague? "
           "Just reply to this email with your score and, if you like, one line on why.\n\nThank you,\n{sender}, "
           "{company}"),
    "de": ("Wie wahrscheinlich empfehlen Sie uns weiter?",
           "Hallo {name},\n\nwie wahrscheinlich ist es auf einer Skala von 0 bis 10, dass Sie {company} einem "
           "Kollegen empfehlen? Antworten Sie einfach auf diese E-Mail mit Ihrer Bewertung und gerne einem Satz "
           "zur Begründung.\n\nVielen Dank,\n{sender}, {company}"),
    "es": ("¿Nos recomendaría?",
           "Hola {name}:\n\nEn una escala de 0 a 10, ¿qué probabilidad hay de que recomiende {company} a un "
           "compañero? Responda a este correo con su puntuación y, si quiere, una frase con el motivo.\n\n"
           "Gracias,\n{sender}, {company}"),
    "fr": ("Nous recommanderiez-vous ?",
           "Bonjour {name},\n\nSur une échelle de 0 à 10, quelle est la probabilité que vous recommandiez "
           "{company} à un collègue ? Répondez simplement à cet e-mail avec votre note et, si vous le souhaitez, "
           "une phrase pour l'expliquer.\n\nMerci,\n{sender}, {company}"),
}


def _milestones(settings: Settings) -> list[Any]:
    return parse_milestones(settings.nps_survey_milestones)


def _due(session: Session, contract: dict[str, Any], now: datetime, settings: Settings) -> list[dict[str, Any]]:
    """The contract's milestones due on `now`'s day whose survey does not exist yet."""
    due = due_milestones(_milestones(settings), contract["start_date"], contract["end_date"], now.date(),
                         settings.nps_survey_catch_up_days)
    names = {m.name: survey_name(m.name, contract["id"]) for m in due}
    made = repo.survey_names(session, list(names.values()))
    return [{"milestone": m.name, "survey_name": names[m.name],
             "due_on": m.due_on(contract["start_date"], contract["end_date"])}
            for m in due if names[m.name] not in made]


def due_contracts(session: Session, now: datetime) -> list[int]:
    """Contracts in term with a milestone due and not yet surveyed: the daily sweep's subjects."""
    settings = get_settings()
    return [int(c["id"]) for c in repo.contracts_in_term(session, now.date())
            if not _opted_out(c) and _due(session, c, now, settings)]


def _opted_out(contract: dict[str, Any]) -> bool:
    """Blacklisted accounts, and accounts tagged `no-surveys`, get no invitations."""
    return bool(contract["blacklisted"]) or NO_SURVEYS_TAG in (contract.get("account_tags") or [])


def gather(session: Session, contract_id: int | None, now: datetime) -> dict[str, Any]:
    """The contract's due milestones, who may be invited (consent and unsubscribe respected) and who may not."""
    rows = repo.contracts_in_term(session, now.date(), [contract_id]) if contract_id is not None else []
    if not rows:
        raise NotFound("contract", contract_id)
    contract = rows[0]
    settings = get_settings()
    due = [] if _opted_out(contract) else _due(session, contract, now, settings)
    recipients, skipped = [], []
    for c in repo.account_contacts(session, contract["account_id"]):
        ok, why = can_email(c)
        if ok:
            recipients.append({"contact_id": c["id"], "name": c["first_name"], "email": c["email"],
                               "language": (c["language"] or "en")[:2].lower()})
        else:
            skipped.append({"contact_id": c["id"], "reason": why})
    reviewer_id = reviewer_for(session, account_id=contract["account_id"], contact_id=None)
    return {"contract_id": contract["id"], "account_id": contract["account_id"],
            "account_name": contract["account_name"], "due": due, "recipients": recipients, "skipped": skipped,
            "reviewer_id": reviewer_id, "sender_name": repo.user_name(session, reviewer_id) or "Customer Success"}


def route_start(state: SurveyState) -> str:
    inputs = state["inputs"]
    return "invite" if inputs["due"] and inputs["recipients"] else "__end__"


def invite(state: SurveyState, runtime: Runtime[RunContext]) -> SurveyState:
    """One survey row per due milestone and one invitation per reachable contact, each waiting for the CSM."""
    ctx, inputs = runtime.context, state["inputs"]
    company = ctx.settings.nps_company_name
    made = []
    with ctx.transaction() as session:
        for due in inputs["due"]:
            survey, created = repo.insert_survey_once(session, due["survey_name"], due["milestone"])
            if created:
                events.add_audit(session, actor=f"agent:{SURVEY_AGENT}", action="nps_survey.scheduled",
                                 entity_type="nps_survey", entity_id=survey.id,
                                 after={"contract_id": inputs["contract_id"], "milestone": due["milestone"],
                                        "recipients": [r["contact_id"] for r in inputs["recipients"]],
                                        "skipped": inputs["skipped"], "run_id": ctx.run_id})
            origin = replace(ctx.origin, input_hash=due["milestone"])
            for r in inputs["recipients"]:
                subject, body = INVITATIONS.get(r["language"], INVITATIONS["en"])
                approvals.request_review(
                    session, origin, now=ctx.now, settings=ctx.settings, purpose=f"{INVITE}-{r['contact_id']}",
                    recipient=r["email"], subject=subject,
                    body=body.format(name=r["name"], company=company, sender=inputs["sender_name"]),
                    contact_id=r["contact_id"], account_id=inputs["account_id"], reviewer_id=inputs["reviewer_id"],
                    context={"situation": f"NPS survey invitation ({due['milestone']})", "survey_id": survey.id,
                             "milestone": due["milestone"], "contract_id": inputs["contract_id"]})
            made.append({"survey_id": survey.id, "milestone": due["milestone"], "created": created,
                         "invited": len(inputs["recipients"])})
    return {"surveys": made}
