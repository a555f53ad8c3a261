"""Web pages (issue 8 item 3) through the real app and the test's rolled-back session: every page renders for the
roles it is for, redirects anonymous visitors to sign-in, refuses other roles (403) and other scopes (404)
without leaking the other side's data, and forms answer errors as HTML messages, never stack traces."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import AgentRun, AgentScore, Approval, Deal, Draft, Stage, Suggestion
from core.models.evals import EvalCaseResult, EvalRun
from core.repositories import prompts as prompt_repo
from core.services import auth as auth_service
from prompts import registry
from tests.api_support import World, app_for, build_world, client_for

PASSWORD = "correct horse battery"


@pytest.fixture
def world(session: Session) -> World:
    w = build_world(session)
    for name in w.users:
        auth_service.set_password(session, _email(session, w, name), PASSWORD)
    return w


def _email(session: Session, world: World, name: str) -> str:
    from core.models import User

    user = session.get(User, world.users[name])
    assert user is not None
    return user.email


def signed_in(session: Session, world: World, name: str) -> tuple[TestClient, str]:
    """A browser-like client signed in through the sign-in form; returns it and the page CSRF token."""
    client = client_for(app_for(session))
    response = client.post("/app/login", data={"email": _email(session, world, name), "password": PASSWORD,
                                               "next": "/app/"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/app/"
    home = client.get("/app/")
    assert home.status_code == 200
    match = re.search(r'data-csrf="([^"]+)"', home.text)
    assert match, home.text[:500]
    return client, match.group(1)


def no_trace(response: Any) -> None:
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert response.headers["content-type"].startswith("text/html")


def test_sign_in_form_errors_and_redirects(session: Session, world: World) -> None:
    client = client_for(app_for(session))
    first = client.get("/app/pipeline", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/app/login?next=%2Fapp%2Fpipeline"
    assert client.get("/app/login").status_code == 200
    wrong = client.post("/app/login", data={"email": _email(session, world, "rep_a"), "password": "nope-nope"})
    assert wrong.status_code == 401 and "Wrong email or password." in wrong.text
    no_trace(wrong)
    missing = client.post("/app/login", data={"email": _email(session, world, "rep_a")})
    assert missing.status_code == 422 and "password: is required" in missing.text
    no_trace(missing)
    # next= only ever leads to a local page (no open redirect)
    ok = client.post("/app/login", data={"email": _email(session, world, "rep_a"), "password": PASSWORD,
                                         "next": "https://evil.test/"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/app/"
    for _ in range(12):  # password guessing is slowed like POST /auth/login: 429 with a message, no trace
        last = client.post("/app/login", data={"email": _email(session, world, "rep_a"), "password": "guess-guess"})
    assert last.status_code == 429 and "Too many requests" in last.text
    no_trace(last)


def test_sign_out_ends_the_session(session: Session, world: World) -> None:
    client, csrf = signed_in(session, world, "rep_a")
    refused = client.post("/app/logout", follow_redirects=False)  # no CSRF token: refused
    assert refused.status_code == 403
    no_trace(refused)
    out = client.post("/app/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"].startswith("/app/login")
    assert client.get("/app/", follow_redirects=False).status_code == 303


def _pages(session: Session, world: World) -> list[tuple[str, set[str], set[str]]]:
    """(path, roles answered 200, roles answered 404 by scope); every other role gets 403."""
    a = world.sides["a"]
    everyone = set(world.users)
    team_a = {"rep_a", "manager_a", "csm_a", "admin"}
    registry.sync_prompts(session)
    prompt_id = prompt_repo.summaries(session)[0].prompt_id
    sellers = {"rep_a", "rep_a2", "rep_b", "manager_a", "manager_b", "admin"}
    return [
        ("/app/", everyone, set()),
        ("/app/pipeline", sellers, set()),
        ("/app/leads", sellers, set()),
        ("/app/tasks", everyone, set()),
        ("/app/inbox", everyone, set()),
        ("/app/inbox?show=decided", everyone, set()),
        (f"/app/inbox/{a.approval_id}", {"csm_a", "manager_a", "admin"}, everyone - {"csm_a", "manager_a", "admin"}),
        (f"/app/deals/{a.deal_id}", team_a, everyone - team_a),
        ("/app/accounts", everyone, set()),
        (f"/app/accounts/{a.account_id}", team_a, everyone - team_a),
        (f"/app/accounts/{a.account_id}/health", team_a, everyone - team_a),
        ("/app/segments", everyone, set()),
        ("/app/segments/new", everyone, set()),
        (f"/app/segments/{a.segment_id}", everyone, set()),  # shared definition; members only in scope
        ("/app/campaigns", everyone, set()),  # shared definitions; the attribution table only for managers/admins
        (f"/app/campaigns/{a.campaign_id}", everyone, set()),
        ("/app/orders", everyone, set()),
        (f"/app/orders/{a.order_id}", team_a, everyone - team_a),
        ("/app/admin/prompts", {"admin"}, set()),
        (f"/app/admin/prompts/{prompt_id}", {"admin"}, set()),
        ("/app/admin/evals", {"admin"}, set()),
        ("/app/admin/runs", {"admin"}, set()),
        (f"/app/admin/runs/{a.run_id}", {"admin"}, set()),
        ("/app/admin/pipelines", {"admin"}, set()),
    ]


def test_every_page_renders_for_its_roles_and_is_refused_for_the_others(session: Session, world: World) -> None:
    pages = _pages(session, world)
    alpha, bravo = world.sides["a"].marker, world.sides["b"].marker
    for name in world.users:
        client, _ = signed_in(session, world, name)
        for path, allowed, hidden in pages:
            response = client.get(path, follow_redirects=False)
            expected = 200 if name in allowed else 404 if name in hidden else 403
            assert response.status_code == expected, (name, path, response.status_code, response.text[:300])
            no_trace(response)
            if expected != 200:
                assert alpha not in response.text and bravo not in response.text, (name, path)
            elif name.endswith("_b"):
                assert alpha not in response.text, (name, path)  # team B never sees team A's objects
            elif name in ("rep_a", "csm_a", "manager_a"):
                assert bravo not in response.text, (name, path)


def test_the_board_shows_only_the_callers_deals(session: Session, world: World) -> None:
    client, _ = signed_in(session, world, "rep_a")
    board = client.get("/app/pipeline")
    assert f'data-deal-id="{world.sides["a"].deal_id}"' in board.text
    assert f'data-deal-id="{world.sides["a2"].deal_id}"' not in board.text
    manager, _ = signed_in(session, world, "manager_a")
    team = manager.get("/app/pipeline").text
    assert f'data-deal-id="{world.sides["a2"].deal_id}"' in team and world.sides["b"].marker not in team
    bad = client.get("/app/pipeline?pipeline_id=999999999")
    assert bad.status_code == 422 and "pipeline_id" in bad.text
    no_trace(bad)


def test_dropping_a_card_moves_the_deal_through_the_stage_service(session: Session, world: World) -> None:
    a = world.sides["a"]
    deal = session.get(Deal, a.deal_id)
    assert deal is not None
    target = next(s for s in world.stage_ids if s != deal.stage_id)
    client, csrf = signed_in(session, world, "rep_a")
    hx = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    assert client.post(f"/app/deals/{a.deal_id}/stage", data={"stage_id": str(target)}).status_code == 403
    moved = client.post(f"/app/deals/{a.deal_id}/stage", data={"stage_id": str(target)}, headers=hx)
    assert moved.status_code == 200 and 'data-testid="moved"' in moved.text, moved.text
    session.expire_all()
    assert session.get(Deal, a.deal_id).stage_id == target  # type: ignore[union-attr]
    lost = session.scalar(select(Stage.id).where(Stage.id.in_(world.stage_ids), Stage.is_lost))
    needs_reason = client.post(f"/app/deals/{a.deal_id}/stage", data={"stage_id": str(lost)}, headers=hx)
    assert needs_reason.status_code == 422 and "lost_reason" in needs_reason.text
    garbage = client.post(f"/app/deals/{a.deal_id}/stage", data={"stage_id": "two"}, headers=hx)
    assert garbage.status_code == 422 and "stage_id: must be a positive whole number" in garbage.text
    other, other_csrf = signed_in(session, world, "rep_b")
    hidden = other.post(f"/app/deals/{a.deal_id}/stage", data={"stage_id": str(target)},
                        headers={"X-CSRF-Token": other_csrf, "HX-Request": "true"})
    assert hidden.status_code == 404 and a.marker not in hidden.text
    csm, csm_csrf = signed_in(session, world, "csm_a")
    read_only = csm.post(f"/app/deals/{a.deal_id}/stage", data={"stage_id": str(target)},
                         headers={"X-CSRF-Token": csm_csrf, "HX-Request": "true"})
    assert read_only.status_code == 403
    for response in (needs_reason, garbage, hidden, read_only):
        no_trace(response)


def test_deal_page_shows_suggestions_scores_and_timeline_and_decides_suggestions(session: Session,
                                                                                world: World) -> None:
    a = world.sides["a"]
    session.add(AgentScore(run_id=a.run_id, agent="deal_coach", subject_type="deal", subject_id=a.deal_id,
                           idempotency_key=f"t:{uuid.uuid4().hex}", purpose="win-probability",
                           score=Decimal("0.35"), band="Demo",
                           factors={"stage": "Demo", "method": "stage probability", "flags": ["stalled"]}))
    session.flush()
    client, csrf = signed_in(session, world, "rep_a")
    page = client.get(f"/app/deals/{a.deal_id}")
    assert page.status_code == 200
    for text in (f"{a.marker} suggestion", "win-probability", "35%", "stalled", f"{a.marker} call"):
        assert text in page.text, text
    accepted = client.post(f"/app/suggestions/{a.suggestion_id}/accept", headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 200 and ">accepted<" in accepted.text
    again = client.post(f"/app/suggestions/{a.suggestion_id}/dismiss", headers={"X-CSRF-Token": csrf})
    assert again.status_code == 409
    no_trace(again)
    session.expire_all()
    assert session.get(Suggestion, a.suggestion_id).status == "accepted"  # type: ignore[union-attr]
    outsider, other_csrf = signed_in(session, world, "rep_b")
    assert outsider.post(f"/app/suggestions/{a.suggestion_id}/dismiss",
                         headers={"X-CSRF-Token": other_csrf}).status_code == 404


def test_tasks_page_and_done(session: Session, world: World) -> None:
    a = world.sides["a"]
    client, csrf = signed_in(session, world, "rep_a")
    assert f"{a.marker} task" in client.get("/app/tasks").text
    done = client.post(f"/app/tasks/{a.task_id}/done", headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200 and ">done<" in done.text
    assert f"{a.marker} task" not in client.get("/app/tasks").text
    assert f"{a.marker} task" in client.get("/app/tasks?show=all").text
    other, other_csrf = signed_in(session, world, "rep_b")
    assert other.post(f"/app/tasks/{a.task_id}/done", headers={"X-CSRF-Token": other_csrf}).status_code == 404


def test_inbox_shows_the_draft_beside_its_context_and_validates_decisions(session: Session, world: World) -> None:
    a = world.sides["a"]
    client, csrf = signed_in(session, world, "csm_a")
    listing = client.get("/app/inbox")
    assert f"{a.marker} reply" in listing.text and world.sides["b"].marker not in listing.text
    item = client.get(f"/app/inbox/{a.approval_id}")
    assert f"{a.marker} body" in item.text and f"Customer 360: <a href=\"/app/accounts/{a.account_id}\">" in item.text
    reject = client.post(f"/app/inbox/{a.approval_id}", data={"csrf_token": csrf, "action": "reject",
                                                              "text": f"{a.marker} body"})
    assert reject.status_code == 422 and "reason: is required" in reject.text
    unchanged = client.post(f"/app/inbox/{a.approval_id}", data={"csrf_token": csrf, "action": "edit",
                                                                 "text": f"{a.marker} body"})
    assert unchanged.status_code == 422 and "text: is unchanged" in unchanged.text
    empty_edit = client.post(f"/app/inbox/{a.approval_id}", data={"csrf_token": csrf, "action": "edit",
                                                                  "text": "  "})
    assert empty_edit.status_code == 422 and "text: is required" in empty_edit.text
    bogus = client.post(f"/app/inbox/{a.approval_id}", data={"csrf_token": csrf, "action": "send-now"})
    assert bogus.status_code == 422 and "action: must be approve, edit or reject" in bogus.text
    for response in (reject, unchanged, empty_edit, bogus):
        no_trace(response)
        assert 'data-testid="decision-form"' in response.text  # the form comes back with the error
    draft = session.scalar(select(Draft).where(Draft.subject_id == a.account_id, Draft.agent == "nps_followup"))
    assert draft is not None and draft.status == "pending_review"
    undecided = client.post(f"/app/inbox/{a.approval_id}/eval-case", data={"csrf_token": csrf})
    assert undecided.status_code == 409 and "only approved, edited or rejected drafts" in undecided.text
    no_trace(undecided)


def test_health_page_charts_the_history_with_its_drivers(session: Session, world: World) -> None:
    a = world.sides["a"]
    run = AgentRun(agent="health_monitor", trigger="manual", subject_type="account", subject_id=a.account_id,
                   status="succeeded")
    session.add(run)
    session.flush()
    signal = {"label": "Overdue invoices", "value": 2, "text": "2 invoices overdue", "sub_score": 0.2,
              "weight": 0.25, "points": 5.0, "lost": 20.0}
    for score, band in ((82, "Healthy"), (61, "At Risk")):
        session.add(AgentScore(run_id=run.id, agent="health_monitor", subject_type="account",
                               subject_id=a.account_id, idempotency_key=f"t:{uuid.uuid4().hex}", purpose="health",
                               score=Decimal(score), band=band,
                               factors={"weights_source": "settings", "signals": {"ar": signal}, "missing": [],
                                        "drivers": ["2 invoices overdue (-20)"]}))
        session.flush()
    client, _ = signed_in(session, world, "csm_a")
    page = client.get(f"/app/accounts/{a.account_id}/health")
    assert page.status_code == 200
    assert "<svg" in page.text and page.text.count("<circle") == 2
    assert "2 invoices overdue (-20)" in page.text and 'data-testid="health-score">61<' in page.text
    assert "At Risk" in client.get(f"/app/accounts/{a.account_id}").text
    other, _ = signed_in(session, world, "csm_b")
    assert other.get(f"/app/accounts/{a.account_id}/health").status_code == 404


def test_prompt_editor_versions_preview_promote_and_rollback(session: Session, world: World) -> None:
    registry.sync_prompts(session)
    prompt_id = "nps_followup.reply"
    rows = prompt_repo.versions(session, prompt_id)
    latest = max(r.version for r in rows)
    client, csrf = signed_in(session, world, "admin")
    page = client.get(f"/app/admin/prompts/{prompt_id}")
    assert page.status_code == 200 and "Preview on sample data" in page.text
    template = prompt_repo.get_version(session, prompt_id, latest).template  # type: ignore[union-attr]
    edited = template.replace("Thank them", "Thank them warmly", 1)
    assert edited != template
    saved = client.post(f"/app/admin/prompts/{prompt_id}/versions",
                        data={"csrf_token": csrf, "template": edited, "note": "warmer"}, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    new = latest + 1
    assert prompt_repo.get_version(session, prompt_id, new) is not None
    broken = client.post(f"/app/admin/prompts/{prompt_id}/versions", data={"csrf_token": csrf, "template": "{% x"})
    assert broken.status_code == 422 and 'data-testid="form-error"' in broken.text
    no_trace(broken)
    diff = client.get(f"/app/admin/prompts/{prompt_id}?v={new}&diff_from={latest}&diff_to={new}")
    assert '<span class="add">+' in diff.text and "warmly" in diff.text
    bad_json = client.post(f"/app/admin/prompts/{prompt_id}/versions/{new}/preview",
                           data={"inputs": "{not json"}, headers={"X-CSRF-Token": csrf})
    assert bad_json.status_code == 422 and "inputs: not valid JSON" in bad_json.text
    sample = re.search(r'aria-label="Sample inputs \(JSON\)">(.*?)</textarea>', diff.text, re.S)
    assert sample
    import html

    shown = client.post(f"/app/admin/prompts/{prompt_id}/versions/{new}/preview",
                        data={"inputs": html.unescape(sample.group(1))}, headers={"X-CSRF-Token": csrf})
    assert shown.status_code == 200 and "Thank them warmly" in shown.text, shown.text[:400]
    promoted = client.post(f"/app/admin/prompts/{prompt_id}/versions/{new}/promote",
                           data={"csrf_token": csrf, "override": "1"}, follow_redirects=False)
    assert promoted.status_code == 303, promoted.text
    assert prompt_repo.labelled_version(session, prompt_id, "production").version == new  # type: ignore[union-attr]
    twice = client.post(f"/app/admin/prompts/{prompt_id}/versions/{new}/promote", data={"csrf_token": csrf})
    assert twice.status_code == 409 and "already production" in twice.text
    back = client.post(f"/app/admin/prompts/{prompt_id}/rollback", data={"csrf_token": csrf},
                       follow_redirects=False)
    assert back.status_code == 303
    assert prompt_repo.labelled_version(session, prompt_id, "production").version != new  # type: ignore[union-attr]
    rep, rep_csrf = signed_in(session, world, "rep_a")
    assert rep.post(f"/app/admin/prompts/{prompt_id}/rollback", data={"csrf_token": rep_csrf}).status_code == 403


def test_eval_pages_chart_pass_rates_roc_and_calibration(session: Session, world: World) -> None:
    now = datetime.now(UTC)
    runs = []
    for version, rate in ((1, 0.5), (2, 0.75)):
        run = EvalRun(suite="webtest.v1", mode="scripted", status="done", prompt_refs=[f"web.p@{version}"],
                      model="scripted", case_count=4, passed_count=int(4 * rate),
                      metrics={"pass_rate": rate, "auc": 0.8}, started_at=now - timedelta(minutes=10 - version),
                      finished_at=now)
        session.add(run)
        session.flush()
        runs.append(run)
        for i, (p, y) in enumerate(((0.9, 1), (0.7, 1), (0.4, 0), (0.2, 0))):
            session.add(EvalCaseResult(run_id=run.id, case_id=f"c{i}", position=i, passed=i < 4 * rate,
                                       outcome="ok", scores={"match": 1.0 if i < 4 * rate else 0.0},
                                       output=f"<b>out {i}</b>", label=y, prediction=int(p > 0.5), probability=p))
    session.flush()
    client, _ = signed_in(session, world, "admin")
    listing = client.get("/app/admin/evals?suite=webtest.v1")
    assert listing.status_code == 200 and "webtest.v1 · web.p@1" in listing.text and "web.p@2" in listing.text
    detail = client.get(f"/app/admin/evals/{runs[1].id}")
    assert detail.status_code == 200
    assert 'aria-label="ROC"' in detail.text and 'aria-label="Calibration"' in detail.text
    assert "&lt;b&gt;out 0&lt;/b&gt;" in detail.text  # case output is escaped
    assert client.get("/app/admin/evals/999999999").status_code == 404


def test_runs_log_has_tokens_and_cost_per_agent_and_day(session: Session, world: World) -> None:
    from core.models import LlmCall

    a = world.sides["a"]
    run = session.get(AgentRun, a.run_id)
    assert run is not None
    run.input_tokens, run.output_tokens, run.llm_calls = 1200, 340, 1
    session.add(LlmCall(run_id=run.id, agent="deal_coach", purpose="next_actions", model="gpt-test",
                        input_tokens=1200, output_tokens=340, latency_ms=900, cost_usd=Decimal("0.0123"),
                        outcome="ok"))
    session.flush()
    client, _ = signed_in(session, world, "admin")
    page = client.get("/app/admin/runs")
    assert page.status_code == 200
    table = page.text.split('data-testid="usage-table"')[1].split("</table>")[0]
    assert "deal_coach" in table and "0.0123" in table and "1,200" in table
    assert "gpt-test" in client.get(f"/app/admin/runs/{run.id}").text


def test_static_files_and_pages_stay_out_of_the_api_spec(session: Session) -> None:
    client = client_for(app_for(session))
    js = client.get("/static/htmx.min.js")
    assert js.status_code == 200 and js.text.startswith("/*! htmx 2.") and "Zero-Clause BSD" in js.text[:200]
    assert client.get("/static/app.css").status_code == 200
    assert not [p for p in client.get("/openapi.json").json()["paths"] if p.startswith("/app/")]
    # an API path keeps its JSON errors; a page path answers HTML
    assert client.get("/deals/1").headers["content-type"].startswith("application/json")
    assert client.get("/app/deals/abc", follow_redirects=False).status_code == 303


def test_a_decided_draft_becomes_an_eval_case_once(session: Session, world: World) -> None:
    a = world.sides["a"]
    approval = session.get(Approval, a.approval_id)
    assert approval is not None
    draft = session.get(Draft, approval.draft_id)
    assert draft is not None
    inputs = {"contact_name": "Maria", "account_name": f"{a.marker} Account", "score": 4,
              "comment": "Exports fail.", "facts": "", "sender_name": "Sam", "company_name": "Acme",
              "language": "en", "examples": ""}
    draft.context = dict(draft.context) | {"prompt_inputs": inputs}
    draft.status, draft.prompt_ref = "rejected", "nps_followup.reply@1"
    approval.status, approval.decided_at = "rejected", datetime.now(UTC)
    approval.decision = {"action": "reject", "reviewer_id": world.users["csm_a"], "reason": "too vague"}
    session.flush()
    client, csrf = signed_in(session, world, "csm_a")
    page = client.get(f"/app/inbox/{a.approval_id}")
    assert "Add to eval suite" in page.text and "too vague" in page.text and "decision-form" not in page.text
    added = client.post(f"/app/inbox/{a.approval_id}/eval-case", data={"csrf_token": csrf}, follow_redirects=False)
    assert added.status_code == 303 and "Added+to+nps_reply.v2" in added.headers["location"]
    after = client.get(added.headers["location"])
    assert f"review:draft-{draft.id}" in after.text and "Add to eval suite" not in after.text
    again = client.post(f"/app/inbox/{a.approval_id}/eval-case", data={"csrf_token": csrf}, follow_redirects=False)
    assert again.status_code == 303 and "Already+in+nps_reply.v2" in again.headers["location"]
    assert client.get("/app/inbox?show=decided").text.count('data-testid="inbox-row"') == 1
