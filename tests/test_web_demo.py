"""`make demo` item 5: one user per role gets the demo password (a password someone set is kept), and the
API + pages server runs detached (pid file, log under <data_dir>/web), is reused by a second start and stops."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from sqlalchemy.engine import URL

from api.cli.web import DEMO_PASSWORD, ensure_demo_users
from core.config import get_settings
from core.db.engine import session_scope
from core.models.enums import Role
from core.services import auth as auth_service
from tests import factories
from tests.test_mail import free_port
from web import server as web_server


def test_demo_users_and_the_detached_web_server(scratch_db: URL, tmp_path: Path) -> None:
    with session_scope() as session:
        busy, idle = factories.user(session, role=Role.rep), factories.user(session, role=Role.rep)
        for i in range(3):
            factories.deal(session, name=f"Demo deal {i}", owner_id=busy.id)
        factories.deal(session, name="Idle deal", owner_id=idle.id)
        manager = factories.user(session, role=Role.manager)
        csm = factories.user(session, role=Role.csm)
        factories.account(session, csm_id=csm.id)
        admin = factories.user(session, role=Role.admin)
        auth_service.set_password(session, admin.email, "admins-own-password")
        emails = {"rep": busy.email, "manager": manager.email, "csm": csm.email, "admin": admin.email}

    users = {u.role: u for u in ensure_demo_users()}
    assert {role: u.email for role, u in users.items()} == emails
    assert users["rep"].note == "3 open deals" and users["csm"].note == "1 accounts"
    assert [r for r, u in users.items() if not u.password_set] == ["admin"]  # its own password is kept
    assert [u.demo_password for u in users.values()] == [True, True, True, False]
    again = ensure_demo_users()  # a second demo changes nothing
    assert [(u.password_set, u.demo_password) for u in again] == [(False, True)] * 3 + [(False, False)]

    settings = get_settings().model_copy(update={"data_dir": tmp_path})  # its own pid file and log
    srv = web_server.start(settings, port=free_port())
    try:
        assert not srv.reused and web_server.pid_file(settings).is_file()
        assert web_server.start(settings).pid == srv.pid  # reused, not a second server
        with httpx.Client(base_url=srv.url, timeout=30, follow_redirects=True) as client:
            login = client.post("/app/login", data={"email": emails["rep"], "password": DEMO_PASSWORD})
            assert login.status_code == 200 and "Demo deal 0" not in login.text  # home: counts, not deals
            assert re.search(r'<div class="stat">3</div>', login.text), login.text[:2000]
            board = client.get("/app/pipeline")
            assert board.status_code == 200 and "Demo deal 2" in board.text and "Idle deal" not in board.text
            assert client.post("/app/login", data={"email": emails["admin"], "password": DEMO_PASSWORD}
                               ).status_code == 401
    finally:
        stopped = web_server.stop(settings)
    assert stopped == srv.pid
    assert web_server.running(settings) is None and not web_server.healthy(srv.host, srv.port)
    assert srv.log_path.parent == tmp_path / "web"
    assert web_server.stop(settings) is None
    assert not (tmp_path / "pgdata").exists()  # naming the pid file started no database server in data_dir
