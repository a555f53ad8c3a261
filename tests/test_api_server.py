"""The API over real HTTP: uvicorn in a thread (the fixture browser tests use) with cookie sign-in, and the
`salesagents api` command serving a migrated database in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from api.app import create_app
from core.db.engine import session_scope
from core.models.enums import Role
from core.services import auth as auth_service
from tests.api_server import live_server
from tests.conftest import committing_engine
from tests.llm_mock import llm_settings
from tests.test_mail import free_port


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    yield from committing_engine("apihttp")


def test_sign_in_and_write_over_real_http(engine: Engine) -> None:
    with session_scope(engine) as session:
        auth_service.create_user(session, email="http.rep@example.test", full_name="Http Rep", role=Role.rep,
                                 password="rep password")
    with live_server(create_app(llm_settings(), engine=engine)) as base, httpx.Client(base_url=base) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        login = http.post("/auth/login", json={"email": "http.rep@example.test", "password": "rep password"})
        assert login.status_code == 200 and "sa_session" in http.cookies
        csrf = login.json()["csrf_token"]
        created = http.post("/leads", json={"last_name": "Over HTTP"}, headers={"X-CSRF-Token": csrf})
        assert created.status_code == 201, created.text
        assert [x["last_name"] for x in http.get("/leads").json()] == ["Over HTTP"]
        assert http.post("/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
        assert http.get("/leads").status_code == 401


def test_concurrent_requests_with_one_fresh_key_all_answer(engine: Engine) -> None:
    """The first uses of a key update its last_used_at under a row lock; the waiting must happen in the thread
    pool, not on the event loop (which would stall every request, the lock holder's commit included)."""
    with session_scope(engine) as session:
        user = auth_service.create_user(session, email="http.burst@example.test", full_name="Burst Rep",
                                        role=Role.rep, password="burst password")
        key = auth_service.create_api_key(session, user.id, "burst")[1]
    headers = {"Authorization": f"Bearer {key}"}
    with live_server(create_app(llm_settings(), engine=engine)) as base:
        def call(_: int) -> int:
            return httpx.get(f"{base}/leads", headers=headers, timeout=20.0).status_code
        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(call, range(16)))
    assert codes == [200] * 16


def _wait_for(url: str, proc: subprocess.Popen[Any]) -> httpx.Response:
    for _ in range(600):  # x 50 ms; the process imports the app and connects first
        if proc.poll() is not None:
            raise AssertionError(f"salesagents api exited with {proc.returncode}")
        try:
            return httpx.get(url, timeout=2.0)
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("salesagents api did not answer")


def test_the_api_command_serves_the_configured_database(scratch_db: Any) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from api.cli.main import run; run()", "api", "--port", str(port)],
                            env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert _wait_for(f"http://127.0.0.1:{port}/healthz", proc).json() == {"status": "ok"}
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5.0).json()
        assert ready["checks"]["database"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/leads", timeout=5.0).status_code == 401
        assert "/public/leads" in httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5.0).json()["paths"]
    finally:
        proc.terminate()
        proc.wait(10)
