"""Browser tests (issue 8 item 4): Playwright drives Debian's chromium against a real uvicorn server in a thread,
on a committed database of its own. Each role signs in through the form; a rep drags a deal card to another
stage (the move is in the database); a CSM approves one draft and edits another (the agent run resumes and the
mail is stored); an admin promotes a prompt version; a CSM logs an NPS answer from the account page.
Screenshots go to <data_dir>/artifacts/web/ (printed)."""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select
from sqlalchemy.engine import Engine

from api.app import create_app
from core.config import get_settings
from core.db.engine import session_scope
from core.models import Approval, Deal, Draft, MailMessage, NpsResponse, Stage, User
from core.models.enums import Role
from core.repositories import pipeline as pipeline_repo
from core.repositories import prompts as prompt_repo
from core.services import auth as auth_service
from evals.gate import promotion_failures
from prompts import registry as prompt_registry
from tests import factories
from tests.conftest import committing_engine, registered
from tests.llm_mock import llm_settings
from tests.sample_agents import outreach_spec
from tests.test_approvals import REPLY, approval_of, start
from tests.test_approvals import world as inbox_world
from tests.test_mail import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = get_settings().data_dir / "artifacts" / "web"
PASSWORD = "browser-test-pass"
PROMPT = "nps_followup.reply"
EDITED = "Hi Maria, our engineers fixed the CSV export for large files today. I will call you tomorrow. Sam"

@dataclass(frozen=True)
class Demo:
    emails: dict[str, str]
    deal_id: int
    target_stage_id: int
    approvals: tuple[int, int]
    new_version: int
    needs_override: bool
    account_id: int


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    yield from committing_engine("web")


@pytest.fixture(scope="module", autouse=True)
def outreach_agent() -> Iterator[None]:
    yield from registered([outreach_spec()])


@pytest.fixture(scope="module")
def demo(engine: Engine) -> Demo:
    """Committed data: two drafts waiting for the CSM (real agent runs), a rep's deal, a new prompt version."""
    w = inbox_world(engine)
    first, _ = start(engine, w)
    with session_scope(engine) as session:
        contact_id = session.get(NpsResponse, w.response_id).contact_id  # type: ignore[union-attr]
        again = factories.nps(session, w.account_id, 4, comment="Invoices arrive late every month.",
                              contact_id=contact_id)
    second, _ = start(engine, dataclasses.replace(w, response_id=again.id))
    assert (first.status, second.status) == ("waiting_review", "waiting_review"), (first, second)
    with session_scope(engine) as session:
        approvals = (approval_of(session, first.run_id).id, approval_of(session, second.run_id).id)
        rep = factories.user(session, role=Role.rep, full_name="Riley Rep")
        deal = factories.deal(session, name="Browser Deal", owner_id=rep.id, account_id=w.account_id)
        stages = list(pipeline_repo.stages(session, deal.pipeline_id))
        target = next(s.id for s in stages if not (s.is_won or s.is_lost) and s.id != deal.stage_id)
        emails = {}
        for role, user_id in (("rep", rep.id), ("manager", w.manager_id), ("csm", w.csm_id), ("admin", w.admin_id)):
            user = session.get(User, user_id)
            assert user is not None
            auth_service.set_password(session, user.email, PASSWORD)
            emails[role] = user.email
        prompt_registry.sync_prompts(session)
        current = prompt_repo.get_version(session, PROMPT, prompt_repo.max_version(session, PROMPT))
        assert current is not None
        row = prompt_registry.create_version(session, PROMPT, current.template.replace("Thank them", "Thank them "
                                                                                      "sincerely", 1),
                                             "test", note="browser test")
        needs_override = bool(promotion_failures(session, PROMPT, row.version))
        return Demo(emails, deal.id, target, approvals, row.version, needs_override, w.account_id)


@pytest.fixture(scope="module")
def server(engine: Engine, demo: Demo) -> Iterator[str]:
    app = create_app(llm_settings(), engine=engine)
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(400):
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{config.port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {ARTIFACTS}")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def sign_in(browser: Any, server: str, email: str) -> Any:
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{server}/app/")
    assert "/app/login" in page.url  # signed out: sent to the sign-in page
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/app/")
    return page


def shot(page: Any, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000
    return path


def test_every_role_signs_in_and_sees_its_home(browser: Any, server: str, demo: Demo) -> None:
    bad = browser.new_page()
    bad.goto(f"{server}/app/login")
    bad.fill("#email", demo.emails["rep"])
    bad.fill("#password", "wrong-password")
    bad.click("button[type=submit]")
    assert bad.locator("[role=alert]").inner_text() == "Wrong email or password."
    for role, email in demo.emails.items():
        page = sign_in(browser, server, email)
        assert page.locator("[data-testid=who]").inner_text().endswith(f"· {role}")
        nav = page.locator("header nav").inner_text()
        assert ("Pipeline" in nav) == (role != "csm") and ("Prompts" in nav) == (role == "admin")
        if role == "csm":
            assert page.locator("[data-testid=pending-count]").inner_text() == "2"
        shot(page, f"home-{role}")
        page.click("text=Sign out")
        page.wait_for_url(f"{server}/app/login*")


def test_the_rep_drags_a_deal_to_another_stage(browser: Any, server: str, engine: Engine, demo: Demo) -> None:
    page = sign_in(browser, server, demo.emails["rep"])
    page.goto(f"{server}/app/pipeline")
    card, column = f"#deal-{demo.deal_id}", f"[data-testid=stage-{demo.target_stage_id}]"
    assert page.locator(card).count() == 1
    page.drag_and_drop(card, column)
    page.wait_for_selector("[data-testid=moved]")
    assert page.locator(f"{column} {card}").count() == 1  # the card now sits in the target column
    shot(page, "pipeline-after-drag")
    with session_scope(engine) as session:
        deal = session.get(Deal, demo.deal_id)
        assert deal is not None and deal.stage_id == demo.target_stage_id
        stage_name = session.get(Stage, demo.target_stage_id).name  # type: ignore[union-attr]
    page.reload()
    assert page.locator(f"{column} {card}").count() == 1
    page.click(f"{card} a")
    assert page.locator("[data-testid=deal-stage]").inner_text() == stage_name


def test_the_csm_approves_one_draft_and_edits_another(browser: Any, server: str, engine: Engine,
                                                      demo: Demo) -> None:
    page = sign_in(browser, server, demo.emails["csm"])
    page.goto(f"{server}/app/inbox")
    assert page.locator("[data-testid=inbox-row]").count() == 2
    approve_id, edit_id = demo.approvals
    page.goto(f"{server}/app/inbox/{approve_id}")
    assert "CSV export keeps failing" in page.locator("[data-testid=customer-comment]").inner_text()
    assert page.locator("textarea#text").input_value() == REPLY
    shot(page, "inbox-draft")
    page.click("button[value=approve]")
    page.wait_for_selector("[data-testid=approval-status]:text('approved')")
    assert page.locator("[data-testid=final-text]").inner_text() == REPLY

    page.goto(f"{server}/app/inbox/{edit_id}")
    page.click("button[value=reject]")  # no reason: the form comes back with the error, nothing decided
    assert "reason: is required" in page.locator("[data-testid=form-error]").inner_text()
    page.fill("textarea#text", EDITED)
    page.fill("#reason", "promise a call")
    page.click("button[value=edit]")
    page.wait_for_selector("[data-testid=approval-status]:text('edited')")
    assert page.locator("[data-testid=final-text]").inner_text() == EDITED
    shot(page, "inbox-edited")
    with session_scope(engine) as session:
        statuses = {a: session.get(Approval, a).status for a in demo.approvals}  # type: ignore[union-attr]
        assert statuses == {approve_id: "approved", edit_id: "edited"}
        edited = session.get(Draft, session.get(Approval, edit_id).draft_id)  # type: ignore[union-attr]
        assert edited is not None and edited.final_body == EDITED
        sent = session.scalars(select(MailMessage).where(MailMessage.draft_id == edited.id)).one()
        assert sent.body == EDITED and sent.status == "stored"
    page.goto(f"{server}/app/inbox")
    assert page.locator("[data-testid=inbox-row]").count() == 0


def test_the_admin_promotes_a_prompt_version(browser: Any, server: str, engine: Engine, demo: Demo) -> None:
    page = sign_in(browser, server, demo.emails["admin"])
    page.goto(f"{server}/app/admin/prompts")
    page.click(f"text={PROMPT}")
    assert page.locator("[data-testid=production-version]").inner_text() != str(demo.new_version)
    page.click("text=Preview version")
    page.wait_for_selector("[data-testid=preview]")
    row = page.locator(f"[data-testid=version-{demo.new_version}]")
    if demo.needs_override:
        row.locator("input[name=override]").check()
    row.locator(f"[data-testid=promote-{demo.new_version}]").click()
    page.wait_for_selector(f"[data-testid=production-version]:text('{demo.new_version}')")
    shot(page, "prompt-promoted")
    with session_scope(engine) as session:
        production = prompt_repo.labelled_version(session, PROMPT, "production")
        assert production is not None and production.version == demo.new_version


def test_the_csm_logs_an_nps_answer_from_the_account_page(browser: Any, server: str, engine: Engine,
                                                           demo: Demo) -> None:
    comment = "Onboarding was quick; reports could load faster."
    page = sign_in(browser, server, demo.emails["csm"])
    page.goto(f"{server}/app/accounts/{demo.account_id}")
    page.click("text=Log an NPS answer")
    page.select_option("#nps-score", "9")
    page.select_option("#nps-contact", index=1)
    page.fill("#nps-comment", comment)
    page.click("text=Log answer")
    page.wait_for_selector(".flash:text('NPS answer 9/10 logged (promoter)')")
    assert comment in page.locator("[data-testid=nps-row]").first.inner_text()
    shot(page, "account-nps-logged")
    with session_scope(engine) as session:
        answer = session.scalars(select(NpsResponse).where(NpsResponse.comment == comment)).one()
        assert (answer.account_id, answer.score, answer.contact_id is not None) == (demo.account_id, 9, True)
