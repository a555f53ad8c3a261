"""Admin functions through the API: prompt versions (create, diff, preview, promote, roll back), evals started in
the background and their results, CSV import (and the CSRF form field for cookie sessions), users, settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.app import create_app
from core.db.engine import session_scope
from core.models import Lead
from core.models.enums import Role
from core.services import auth as auth_service
from prompts import registry
from tests import factories
from tests.api_support import app_for, client_for, error_of
from tests.conftest import committing_engine
from tests.llm_mock import llm_settings

PROMPT = "nps_followup.draft"


def _admin(session: Session) -> tuple[Any, str]:
    admin = factories.user(session, role=Role.admin)
    auth_service.set_password(session, admin.email, "admin password")
    return admin, auth_service.create_api_key(session, admin.id, "admin")[1]


def test_prompt_versions_diff_preview_promote_and_rollback(session: Session) -> None:
    registry.sync_prompts(session)
    _, key = _admin(session)
    admin = client_for(app_for(session), key)
    summary = {p["prompt_id"]: p for p in admin.get("/prompts").json()}
    production = summary[PROMPT]["production"]
    assert production is not None
    current = admin.get(f"/prompts/{PROMPT}/versions/{production}").json()["template"]

    assert "{% endblock %}" in current
    edited = current.replace("{% endblock %}", "Never promise dates.\n{% endblock %}", 1)
    created = admin.post(f"/prompts/{PROMPT}/versions", json={"template": edited, "note": "shorter"})
    assert created.status_code == 201, created.text
    new = created.json()["version"]
    assert admin.get("/prompts").json() and {p["prompt_id"]: p for p in admin.get("/prompts").json()}[PROMPT][
        "staging"] == new
    same = admin.post(f"/prompts/{PROMPT}/versions", json={"template": edited})
    assert same.status_code == 409

    diff = admin.get(f"/prompts/{PROMPT}/diff", params={"from_version": production, "to_version": new}).json()
    assert "+Never promise dates." in diff["diff"] and diff["diff"].count("\n-") >= 1  # -version: N

    prompt = registry.load_version(session, PROMPT, new)
    inputs = {name: "Sample" for name in prompt.inputs}
    preview = admin.post(f"/prompts/{PROMPT}/versions/{new}/preview", json={"inputs": inputs})
    assert preview.status_code == 200, preview.text
    assert "Never promise dates." in preview.json()["system"] + preview.json()["user"]
    missing = admin.post(f"/prompts/{PROMPT}/versions/{new}/preview", json={"inputs": {}})
    assert missing.status_code == 422 and error_of(missing)["field"] in prompt.inputs

    promoted = admin.post(f"/prompts/{PROMPT}/versions/{new}/promote", json={"override": True})
    assert promoted.status_code == 200, promoted.text
    assert registry.load_prompt(session, PROMPT).version == new
    rolled = admin.post(f"/prompts/{PROMPT}/rollback")
    assert rolled.status_code == 200 and rolled.json()["version"] == production
    assert registry.load_prompt(session, PROMPT).version == production
    assert admin.get("/prompts/nope.nothing/versions").status_code == 404


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    yield from committing_engine("apievals")


def test_an_eval_started_through_the_api_runs_in_the_background_and_reports(engine: Engine, tmp_path: Any) -> None:
    with session_scope(engine) as session:
        registry.sync_prompts(session)
        _, key = _admin(session)
    app = create_app(llm_settings(data_dir=tmp_path), engine=engine)
    admin = client_for(app, key)
    assert "injection.v1" in admin.get("/evals/suites").json()
    unknown = admin.post("/evals/runs", json={"suite": "nope.v1"})
    assert unknown.status_code == 422 and error_of(unknown)["field"] == "suite"

    started = admin.post("/evals/runs", json={"suite": "injection.v1", "scripted": True, "limit": 4})
    assert started.status_code == 202 and started.json()["status"] == "running"
    job_id = started.json()["job_id"]
    app.state.eval_threads[job_id].join()
    job = admin.get(f"/evals/jobs/{job_id}").json()
    assert job["status"] == "succeeded", job
    runs = admin.get("/evals/runs", params={"suite": "injection.v1"}).json()
    assert runs[0]["id"] == job["eval_run_id"] and runs[0]["case_count"] == 4
    detail = admin.get(f"/evals/runs/{job['eval_run_id']}").json()
    assert len(detail["results"]) == 4 and "pass_rate" in detail["metrics"]
    assert admin.get("/evals/runs/987654").status_code == 404


CSV = b"First,Last,Email,Company\nAda,Lovelace,ada@engines.test,Analytical\nAlan,Turing,alan@bombe.test,Bletchley\n"
MAPPING = ["First=first_name", "Last=last_name", "Email=email", "Company=company_name"]


def test_csv_import_through_the_api_and_the_form_csrf_field(session: Session) -> None:
    admin_user, key = _admin(session)
    admin = client_for(app_for(session), key)
    done = admin.post("/imports/lead", files={"file": ("leads.csv", CSV, "text/csv")}, data={"mapping": MAPPING})
    assert done.status_code == 200, done.text
    assert (done.json()["rows"], done.json()["imported"]) == (2, 2)
    assert session.scalars(select(Lead.company_name).where(Lead.email == "ada@engines.test")).one() == "Analytical"
    bad = admin.post("/imports/lead", files={"file": ("bad.csv", b"Email\nnot-an-email\n", "text/csv")},
                     data={"mapping": ["Email=email"]})
    assert bad.status_code == 422 and error_of(bad)["code"] == "invalid_input"
    empty = admin.post("/imports/lead", files={"file": ("e.csv", b"", "text/csv")})
    assert empty.status_code == 422 and error_of(empty)["field"] == "file"

    browser = client_for(app_for(session))
    csrf = browser.post("/auth/login", json={"email": admin_user.email, "password": "admin password"}).json()[
        "csrf_token"]
    csv2 = CSV.replace(b"ada@", b"ada2@").replace(b"alan@", b"alan2@")
    refused = browser.post("/imports/lead", files={"file": ("l.csv", csv2, "text/csv")}, data={"mapping": MAPPING})
    assert refused.status_code == 403
    accepted = browser.post("/imports/lead", files={"file": ("l.csv", csv2, "text/csv")},
                            data={"mapping": MAPPING, "csrf_token": csrf})
    assert accepted.status_code == 200, accepted.text


def test_users_and_settings_for_admins(session: Session) -> None:
    _, key = _admin(session)
    admin = client_for(app_for(session, llm_settings(smtp_password="hunter2")), key)
    created = admin.post("/users", json={"email": "new.rep@example.test", "full_name": "New Rep", "role": "rep",
                                         "password": "a good password"})
    assert created.status_code == 201 and created.json()["role"] == "rep"
    dup = admin.post("/users", json={"email": "new.rep@example.test", "full_name": "Again", "role": "rep"})
    assert dup.status_code == 422 and error_of(dup)["field"] == "email"
    assert "new.rep@example.test" in [u["email"] for u in admin.get("/users").json()]
    settings = admin.get("/settings").json()
    assert settings["smtp_password"] == "***" and "hunter2" not in str(settings)
    assert settings["llm_api_key"] == "***"
