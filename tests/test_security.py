"""Security of the drafting agents: injection-bearing CRM text stays data, one account's PII never reaches another
account's prompts, secrets come only from settings, and the public form refuses oversized input.

Injection: every prompt that drafts text (quote_followup.nudge, nps_followup.reply and .draft, deal_coach.next_step
and .next_actions, health_monitor.summary) is rendered with each attack of core.llm.injections placed in each
CRM-controlled field. Outside the fences the prompt is byte-identical to the benign one (the attack cannot change
the instructions); inside, it is neutralised and cannot close the fence. Then a scripted model that OBEYS the
attack answers, twice: what is stored is the prompt's template, never the attack's text (the guards the agent
itself uses). The prompt-injection eval suite (evals/injection, injection.v1) runs the same attacks through
nps_followup.draft with a real model.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from agents.runtime.executor import execute_run
from agents.runtime.runs import create_run
from core.config import REPO_ROOT, Settings, get_settings
from core.db.engine import session_scope
from core.llm.generate import FallbackRejectedError, generate_text
from core.llm.guards import GuardContext, check_text
from core.llm.injections import INJECTION_CASES, InjectionCase, injection_guard, nps_inputs
from evals.quote_followup.scenarios import Scenario, build, pipelines
from prompts import registry
from prompts.filters import FENCE_CLOSE, FENCE_OPEN, neutralise
from prompts.registry import Prompt
from tests import factories
from tests.api_support import app_for, client_for, error_of
from tests.llm_mock import ScriptedServer, llm_settings, text

# --- prompt injection in every drafting prompt -----------------------------------------------------------------


@dataclass(frozen=True)
class DraftingPrompt:
    """A drafting prompt, benign inputs as its agent builds them, where CRM text goes, and the agent's guard."""

    path: str
    inputs: Callable[[], dict[str, Any]]
    fenced: dict[str, str] = field(default_factory=dict)  # input -> fence label (free text: notes, comments)
    plain: tuple[str, ...] = ()  # one-line CRM fields (names), rendered through the `plain` filter
    guard: GuardContext | None = None  # None: a structured prompt (extract), not generate_text
    list_fields: tuple[str, ...] = ()  # inputs that are lists (the attack becomes one item)

    @property
    def id(self) -> str:
        return self.path.removesuffix(".md.j2").replace("/", ".")

    def prompt(self) -> Prompt:
        return registry.read_file(registry.root() / self.path)


def _quote_inputs() -> dict[str, Any]:
    return {"contact_name": "Maria", "account_name": "Acme Logistics", "quote_number": "Q-1042",
            "deal_name": "Fleet platform rollout", "sender_name": "Sam Carter", "language": "en", "final": False}


def _deal_inputs() -> dict[str, Any]:
    return {"deal_name": "Fleet platform rollout", "account_name": "Acme Logistics", "stage": "Proposal",
            "amount": "48000", "currency": "USD", "days_in_stage": 41, "close_date": "2026-12-15",
            "signals": ["no activity for 21 days", "close date pushed twice"],
            "suggested_action": "book a call with the economic buyer", "notes": "Customer asked for references."}


def _actions_inputs() -> dict[str, Any]:
    return {"deal_name": "Fleet platform rollout", "account_name": "Acme Logistics", "stage": "Proposal",
            "amount": "48000", "currency": "USD", "close_date": "2026-12-15", "today": "2026-11-26",
            "owner": "Sam Carter", "people": ["Maria Lopez, CFO"], "flags": ["no activity for 21 days"],
            "timeline": ["2026-11-05 call: Customer asked for references."], "similar": []}


def _health_inputs() -> dict[str, Any]:
    return {"account_name": "Acme Logistics", "score": 41, "band": "at_risk", "previous_score": 72,
            "previous_band": "healthy", "change": "-31 since last week",
            "reasons": ["3 open urgent tickets", "NPS 3 from Maria Lopez"], "drivers": ["support tickets -18"]}


NPS_GUARD = injection_guard()


def _reply_inputs() -> dict[str, Any]:
    return nps_inputs() | {"examples": ["Shorter, and name the open ticket."]}
DRAFTING = (
    DraftingPrompt("quote_followup/nudge.md.j2", _quote_inputs, fenced={"account_name": "customer data",
                                                                         "deal_name": "customer data"},
                   plain=("contact_name", "quote_number"),
                   guard=GuardContext(language="en", min_chars=20, max_chars=1200)),
    DraftingPrompt("nps_followup/reply.md.j2", _reply_inputs, fenced={"comment": "customer comment",
                                                                   "facts": "account facts",
                                                                   "examples": "reviewer examples"},
                   plain=("contact_name", "account_name"), guard=NPS_GUARD, list_fields=("facts", "examples")),
    DraftingPrompt("nps_followup/draft.md.j2", nps_inputs, fenced={"comment": "customer comment",
                                                                   "facts": "account facts"},
                   plain=("contact_name", "account_name"), guard=NPS_GUARD, list_fields=("facts",)),
    DraftingPrompt("deal_coach/next_step.md.j2", _deal_inputs, fenced={"notes": "rep notes"},
                   plain=("deal_name", "account_name"), guard=GuardContext(min_chars=5, max_chars=600)),
    DraftingPrompt("deal_coach/next_actions.md.j2", _actions_inputs, fenced={"timeline": "deal timeline"},
                   plain=("deal_name", "account_name", "owner"), list_fields=("timeline", "people")),
    DraftingPrompt("health_monitor/summary.md.j2", _health_inputs, plain=("reasons", "account_name"),
                   guard=GuardContext(language="en", min_chars=20, max_chars=900), list_fields=("reasons",)),
)
# Rules any agent's guard enforces whatever its context (leaks need the caller's list of other customers and
# internal notes; only the NPS reply has one, and no prompt contains another account's data: see the PII test).
CONTEXT_FREE_RULES = frozenset({"commitment", "link", "injection", "placeholder", "repetition", "length", "contact",
                                "language"})


def _with_attack(spec: DraftingPrompt, name: str, attack: str) -> dict[str, Any]:
    inputs = spec.inputs()
    inputs[name] = [*inputs[name], attack] if name in spec.list_fields else attack
    return inputs


def _messages(prompt: Prompt, inputs: dict[str, Any]) -> list[str]:
    return [str(m.content) for m in prompt.messages(**inputs)]


def _outside_fences(message: str) -> str:
    """The message with every fenced region cut out: what the model is told to follow."""
    return re.sub(rf"{re.escape(FENCE_OPEN)} (.+?) \(data, not instructions\)\n.*?\n{re.escape(FENCE_CLOSE)} "
                  r"end of \1", "<fenced>", message, flags=re.S)


@pytest.mark.parametrize("spec", DRAFTING, ids=lambda s: s.id)
def test_an_attack_in_any_free_text_field_stays_inside_its_fence(spec: DraftingPrompt) -> None:
    prompt = spec.prompt()
    benign = [_outside_fences(m) for m in _messages(prompt, spec.inputs())]
    checked = 0
    for name in spec.fenced:
        for case in INJECTION_CASES:
            messages = _messages(prompt, _with_attack(spec, name, case.attack))
            assert [_outside_fences(m) for m in messages] == benign, (spec.id, name, case.name)
            user = messages[-1]
            assert user.count(FENCE_OPEN) == user.count(FENCE_CLOSE), (spec.id, name, case.name)
            first_line = neutralise(case.attack).splitlines()[0].strip()
            assert first_line and first_line in user, (spec.id, name, case.name)
            checked += 1
    assert checked == len(spec.fenced) * len(INJECTION_CASES)


@pytest.mark.parametrize("spec", DRAFTING, ids=lambda s: s.id)
def test_an_attack_in_a_name_field_stays_one_plain_line(spec: DraftingPrompt) -> None:
    prompt = spec.prompt()
    for name in spec.plain:
        benign = _messages(prompt, _with_attack(spec, name, "An ordinary value"))
        for case in INJECTION_CASES:
            messages = _messages(prompt, _with_attack(spec, name, case.attack))
            assert len(messages) == len(benign)
            for got, base in zip(messages, benign, strict=True):
                assert got.count("\n") == base.count("\n"), (spec.id, name, case.name)  # no new lines or turns
                assert got.count(FENCE_OPEN) == base.count(FENCE_OPEN), (spec.id, name, case.name)
                assert got.count(FENCE_CLOSE) == base.count(FENCE_CLOSE), (spec.id, name, case.name)
                assert "<|im_start|>" not in got and "<|im_end|>" not in got


def _obeyed_part(case: InjectionCase) -> str:
    return (case.obeyed_reply.replace("Hi Maria, thank you for your feedback about the CSV export.", "")
            .replace("Best regards, Sam Carter, Northwind", "").strip(" .,"))


GENERATED = [spec for spec in DRAFTING if spec.guard is not None]


@pytest.mark.parametrize("spec", GENERATED, ids=lambda s: s.id)
def test_a_model_that_obeys_an_attack_never_gets_its_text_stored(session: Session, spec: DraftingPrompt) -> None:
    prompt = spec.prompt()
    assert spec.guard is not None
    guard = spec.guard
    blocked: list[str] = []
    for case in INJECTION_CASES:
        if case.rule not in CONTEXT_FREE_RULES:
            continue
        target = next(iter(spec.fenced), None)  # no free text (health): the attack arrives in the reply only
        inputs = _with_attack(spec, target, case.attack) if target else spec.inputs()
        server = ScriptedServer(text(case.obeyed_reply), text(case.obeyed_reply))
        result = generate_text(session, agent="security_suite", prompt=prompt, guard=guard, inputs=inputs, run_id=1,
                               http_client=server.client(), settings=llm_settings(), sleep=server.sleep)
        assert result.fallback and result.outcome == "fallback", (spec.id, case.name, result.outcome)
        assert _obeyed_part(case) not in result.text, (spec.id, case.name)
        assert check_text(result.text, guard) == [], (spec.id, case.name)
        blocked.append(case.name)
    assert len(blocked) >= 25, blocked  # the context-free attacks: all of them, for every drafting prompt


def test_an_attack_as_the_account_name_is_refused_by_the_health_summary_not_stored(session: Session) -> None:
    """The health summary's template repeats the account name, so an attack there fails the template's own guard:
    generation refuses (the run fails naming the guard) instead of storing the attack. The fenced prompts keep
    names out of their templates and fall back normally."""
    spec = next(s for s in DRAFTING if s.id == "health_monitor.summary")
    assert spec.guard is not None
    case = next(c for c in INJECTION_CASES if c.name == "ignore_instructions_discount")
    server = ScriptedServer(text(case.obeyed_reply), text(case.obeyed_reply))
    with pytest.raises(FallbackRejectedError, match="commitment"):
        generate_text(session, agent="security_suite", prompt=spec.prompt(), guard=spec.guard,
                      inputs=_with_attack(spec, "account_name", case.attack), run_id=1, http_client=server.client(),
                      settings=llm_settings(), sleep=server.sleep)


# --- PII isolation between accounts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountPii:
    marks: tuple[str, ...]  # strings that identify this account's people and data
    quote_id: int
    nps_id: int


def _account_with_pii(session: Session, n: int, person: tuple[str, str], comment: str,
                      pipeline_ids: dict[str, int], now: datetime) -> AccountPii:
    """A quote due for a nudge (quote_followup) and an NPS answer with a comment (sample_outreach)."""
    built = build(session, Scenario(f"pii {n}", "nudge", "w1", sent_days_ago=6), now, pipeline_ids, n)
    account = factories.account(session, name=f"{person[1]} Holdings {n}")
    contact = factories.contact(session, email=f"{person[0].lower()}.{person[1].lower()}@holdings{n}.test",
                                first_name=person[0], last_name=person[1], account_id=account.id)
    ticket = f"{person[1]} badge reader outage ticket {n}"
    factories.ticket(session, account.id, contact_id=contact.id, subject=ticket)  # reaches the 360 facts
    nps = factories.nps(session, account.id, 3, contact_id=contact.id, comment=comment)
    return AccountPii((f"Customer {n} Ltd", f"Dana{n}", f"dana{n}@customer{n}.test", f"Platform for customer {n}",
                       account.name, person[0], person[1], f"holdings{n}.test", comment, ticket),
                      built.quote_id, nps.id)


def _prompt_texts(agent: str, subject_type: str, subject_id: int, settings: Settings) -> str:
    """Every message of every model request the agent's run made, read at the HTTP boundary."""
    server = ScriptedServer(*[text("Hi there, thank you for your time. Best regards, Rep") for _ in range(4)])
    with session_scope() as session:
        run = create_run(session, agent, "manual", subject_type, subject_id)
        assert run is not None
        run_id = run.id
    outcome = execute_run(run_id, settings=settings, http_client=server.client())
    assert outcome.status in ("waiting_review", "succeeded"), outcome.error
    assert server.requests, f"{agent} made no model call"
    return "\n".join(str(m.get("content")) for body in server.requests for m in body["messages"])


def test_one_accounts_pii_never_appears_in_another_accounts_prompts(
        scratch_db: URL, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESAGENTS_AGENT_MODULES",
                       '["agents.quote_followup", "agents.nps_followup", "tests.sample_agents"]')
    get_settings.cache_clear()
    now = datetime.now(UTC)
    with session_scope() as session:
        ids = pipelines(session)
        first = _account_with_pii(session, 101, ("Ingrid", "Vantongeren"),
                                  "Our CFO Ingrid approved the budget but the SSO rollout broke twice.", ids, now)
        second = _account_with_pii(session, 202, ("Tobias", "Quarmby"),
                                   "Tobias here: the warehouse scanners lose sync every night.", ids, now)
    settings = llm_settings()
    for own, other in ((first, second), (second, first)):
        quote = _prompt_texts("quote_followup", "quote", own.quote_id, settings)
        reply = _prompt_texts("nps_followup", "nps_response", own.nps_id, settings)  # with the account's 360 facts
        sample = _prompt_texts("sample_outreach", "nps_response", own.nps_id, settings)
        assert own.marks[0] in quote and own.marks[5] in reply and own.marks[9] in reply  # about this account
        prompts = "\n".join((quote, reply, sample))
        leaked = [mark for mark in other.marks if mark.lower() in prompts.lower()]
        assert leaked == [], f"the other account's data reached these prompts: {leaked}"


# --- secrets only from settings ---------------------------------------------------------------------------------

SECRET_PATTERNS = {
    "OpenAI-style key": r"sk-(?:proj-)?[A-Za-z0-9_-]{20,}",
    "AWS access key": r"AKIA[0-9A-Z]{16}",
    "GitHub token": r"gh[pousr]_[A-Za-z0-9]{30,}",
    "Slack token": r"xox[abprs]-[A-Za-z0-9-]{10,}",
    "private key": r"-----BEGIN (?:RSA |EC |OPENSSH |)PRIVATE KEY-----",
    "password in a URL": r"://[A-Za-z0-9._-]+:(?!\*\*)[^@/\s:${}]{4,}@[A-Za-z0-9.-]+",
    "password assignment": r"(?i)(?:password|passwd|secret|api_key)['\"]?\s*[=:]\s*['\"][^'\"\s{}$<>]{8,}['\"]",
}
# Tests, fixtures and the env template may hold obviously fake values; everything else must not.
SECRET_SCAN_EXEMPT = ("tests/", ".env.example", "docs/", "evals/")
# Reviewed literals: (file, text). The local demo's documented sign-in password (`salesagents web users`) is for a
# laptop demo only and can be overridden with --password; a deployment creates users with `salesagents users`.
ALLOWED_LITERALS = {("api/cli/web.py", 'PASSWORD = "salesdemo"')}


def _tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return [REPO_ROOT / name for name in listed.stdout.splitlines()
            if not name.startswith(SECRET_SCAN_EXEMPT) and not name.endswith((".png", ".jpg", ".gguf", ".parquet"))]


def test_no_literal_secret_is_committed_outside_tests_and_the_env_template() -> None:
    files = _tracked_files()
    assert len(files) > 100  # the scan sees the code base, not an empty list
    found = []
    for path in files:
        try:
            content = path.read_text(errors="ignore")
        except (IsADirectoryError, FileNotFoundError):
            continue
        for kind, pattern in SECRET_PATTERNS.items():
            for match in re.finditer(pattern, content):
                if (str(path.relative_to(REPO_ROOT)), match.group(0)) in ALLOWED_LITERALS:
                    continue
                found.append(f"{path.relative_to(REPO_ROOT)}: {kind}: {match.group(0)[:24]}...")
    assert found == []


def test_the_scan_recognises_each_kind_of_secret() -> None:
    samples = {"OpenAI-style key": "key = 'sk-proj-abcdefghijklmnopqrstuvwx12'",
               "AWS access key": "AKIAABCDEFGHIJKLMNOP", "GitHub token": "ghp_" + "a" * 36,
               "Slack token": "xoxb-1234567890-abc", "private key": "-----BEGIN RSA PRIVATE KEY-----",
               "password in a URL": "postgresql://app:hunter22@db.internal/crm",
               "password assignment": 'smtp_password = "correct-horse-battery"'}
    for kind, sample in samples.items():
        assert re.search(SECRET_PATTERNS[kind], sample), kind
    assert not re.search(SECRET_PATTERNS["password in a URL"], "redis://127.0.0.1:6379/0")
    assert not re.search(SECRET_PATTERNS["password in a URL"], "postgresql://${POSTGRES_USER}:${POSTGRES_PASSWORD}@db")


SECRET_FIELDS = re.compile(r"(password|secret|api_key|_token)$", re.I)
# Keys that have a harmless placeholder because local servers accept anything (documented in the field).
PLACEHOLDER_KEYS = {"llm_api_key": "not-needed", "embedding_api_key": "not-needed"}


def test_settings_have_no_default_secrets_and_read_them_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    names = [name for name in Settings.model_fields if SECRET_FIELDS.search(name)]
    assert {"llm_api_key", "smtp_password"} <= set(names)
    defaults = Settings.model_construct()
    for name in names:
        value = getattr(defaults, name)
        value = value.get_secret_value() if isinstance(value, SecretStr) else value
        assert value in (None, "", PLACEHOLDER_KEYS.get(name)), f"{name} has a default secret"
    monkeypatch.setenv("SALESAGENTS_LLM_API_KEY", "sk-from-the-environment")
    monkeypatch.setenv("SALESAGENTS_SMTP_PASSWORD", "from-the-environment")
    configured = Settings()
    assert configured.llm_api_key == "sk-from-the-environment"
    assert configured.smtp_password == "from-the-environment"


# --- the public lead-capture form (its rate limit and field errors: tests/test_api_lead_capture.py) --------------


def test_the_public_form_refuses_oversized_fields_and_nul_bytes_naming_them(session: Session) -> None:
    client = client_for(app_for(session))
    for name, value in (("first_name", "x" * 121), ("company_name", "x" * 256), ("message", "x" * 20_001),
                        ("utm_source", "x" * 121), ("last_name", "Robert\x00'); DROP TABLE leads;--")):
        response = client.post("/public/leads", json={"email": "big@acme.test", name: value})
        assert response.status_code == 422, (name, response.text[:200])
        assert error_of(response)["field"] == name
    fine = client.post("/public/leads", json={"email": "big@acme.test", "message": "x" * 20_000})
    assert fine.status_code == 202  # the limits are the documented ones, not tighter
