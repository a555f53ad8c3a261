"""The mailer against a real SMTP server (aiosmtpd on 127.0.0.1): local outbox, SMTP, STARTTLS + login, failures."""

from __future__ import annotations

import email
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.config import Settings
from core.errors import InvalidInput, NotFound
from core.mail import LocalMailer, OutgoingMail, SmtpMailer, get_mailer
from core.models import AgentRun, AuditLog, Draft, MailMessage

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@dataclass
class Inbox:
    """An SMTP handler that keeps every accepted message."""

    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


def body_of(msg: Message) -> str:
    """The text part as sent, with the wire's CRLF line ends turned back into newlines."""
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode().replace("\r\n", "\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with the openssl command line."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def draft(session: Session, **kw: Any) -> Draft:
    run = AgentRun(agent="mail_test", trigger="manual", subject_type="account", subject_id=1, status="running")
    session.add(run)
    session.flush()
    row = Draft(**({"run_id": run.id, "agent": "mail_test", "subject_type": "account", "subject_id": 1,
                    "idempotency_key": f"mail_test:{run.id}", "recipient": "maria@customer.test",
                    "subject": "Your feedback", "body": "Hi Maria,\n\nThanks.\n\nSam"} | kw))
    session.add(row)
    session.flush()
    return row


def outgoing(row: Draft, **kw: Any) -> OutgoingMail:
    fields: dict[str, Any] = {"draft_id": row.id, "to_address": row.recipient, "subject": row.subject,
                              "body": row.body}
    return OutgoingMail(**(fields | kw))


def mail_rows(session: Session, draft_id: int) -> list[MailMessage]:
    return list(session.scalars(select(MailMessage).where(MailMessage.draft_id == draft_id)))


def test_local_mailer_stores_once_per_draft_and_sends_nothing(session: Session) -> None:
    row = draft(session)
    mailer = LocalMailer()
    first = mailer.send(session, outgoing(row), NOW)
    again = mailer.send(session, outgoing(row, body="A different text"), NOW)
    assert again.id == first.id and (first.status, first.transport, first.sent_at) == ("stored", "local", None)
    assert [m.body for m in mail_rows(session, row.id)] == [row.body]
    audits = session.scalars(select(AuditLog).where(AuditLog.entity_type == "draft",
                                                    AuditLog.entity_id == row.id)).all()
    assert [(a.actor, a.action) for a in audits] == [("mailer", "mail.stored")]


def test_smtp_mailer_delivers_to_a_real_server_once(session: Session,
                                                    smtp_server: tuple[Controller, Inbox]) -> None:
    controller, inbox = smtp_server
    row = draft(session)
    mailer = SmtpMailer(host="127.0.0.1", port=controller.port, mail_from="success@vendor.test", starttls=False)
    sent = mailer.send(session, outgoing(row), NOW)
    assert (sent.status, sent.transport, sent.sent_at, sent.error) == ("sent", "smtp", NOW, None)
    assert mailer.send(session, outgoing(row), NOW).id == sent.id
    [msg] = inbox.messages
    assert inbox.envelopes == [("success@vendor.test", ["maria@customer.test"])]
    assert (msg["To"], msg["From"], msg["Subject"]) == ("maria@customer.test", "success@vendor.test", "Your feedback")
    assert msg["Message-ID"] == f"<draft-{row.id}@vendor.test>"
    assert body_of(msg).strip() == row.body


def test_smtp_with_starttls_and_login(session: Session, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins: list[tuple[str, str]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password == b"s3cret", handled=False)

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=server_tls,
                            require_starttls=True, authenticator=authenticator, auth_required=True)
    controller.start()
    try:
        client_tls = ssl.create_default_context(cafile=str(cert))
        good = SmtpMailer(host="127.0.0.1", port=controller.port, mail_from="success@vendor.test",
                          user="mailer", password="s3cret", ssl_context=client_tls)
        bad = SmtpMailer(host="127.0.0.1", port=controller.port, mail_from="success@vendor.test",
                         user="mailer", password="wrong", ssl_context=client_tls)
        plain = SmtpMailer(host="127.0.0.1", port=controller.port, mail_from="success@vendor.test", starttls=False)
        refused = bad.send(session, outgoing(draft(session)), NOW)
        no_tls = plain.send(session, outgoing(draft(session)), NOW)
        sent = good.send(session, outgoing(draft(session)), NOW)
    finally:
        controller.stop()
    assert sent.status == "sent" and len(inbox.messages) == 1
    assert set(logins) == {("mailer", "wrong"), ("mailer", "s3cret")}
    assert refused.status == "failed" and "535" in (refused.error or "")
    assert no_tls.status == "failed" and "STARTTLS" in (no_tls.error or "")


def test_failed_delivery_is_recorded_and_retried_later(session: Session) -> None:
    row = draft(session)
    port = free_port()
    mailer = SmtpMailer(host="127.0.0.1", port=port, mail_from="success@vendor.test", starttls=False, timeout_s=2)
    failed = mailer.send(session, outgoing(row), NOW)
    assert failed.status == "failed" and failed.error and failed.error.startswith(f"SMTP 127.0.0.1:{port}: ")
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        retried = mailer.send(session, outgoing(row), NOW)
    finally:
        controller.stop()
    assert retried.id == failed.id and (retried.status, retried.error) == ("sent", None)
    assert len(inbox.messages) == 1 and len(mail_rows(session, row.id)) == 1
    actions = session.scalars(select(AuditLog.action).where(AuditLog.entity_type == "draft",
                                                            AuditLog.entity_id == row.id).order_by(AuditLog.id))
    assert list(actions) == ["mail.failed", "mail.sent"]


def test_bad_messages_are_refused_before_anything_is_written(session: Session) -> None:
    row = draft(session)
    mailer = LocalMailer()
    for kw, field_name in (({"to_address": "not an address"}, "recipient"),
                           ({"subject": "Hi\nBcc: everyone@evil.test"}, "subject"),
                           ({"body": "  "}, "body")):
        with pytest.raises(InvalidInput, match=f"^{field_name}: "):
            mailer.send(session, outgoing(row, **kw), NOW)
    with pytest.raises(NotFound, match="draft"):
        mailer.send(session, OutgoingMail(10**12, "a@b.test", "Hi", "Body"), NOW)
    assert session.scalar(select(func.count()).select_from(MailMessage).where(MailMessage.draft_id == row.id)) == 0


def test_get_mailer_follows_settings() -> None:
    assert isinstance(get_mailer(Settings(mail_transport="local")), LocalMailer)
    smtp = get_mailer(Settings(mail_transport="smtp", smtp_host="mx.test", smtp_port=2525, smtp_starttls=False))
    assert isinstance(smtp, SmtpMailer) and (smtp.host, smtp.port, smtp.starttls) == ("mx.test", 2525, False)
    with pytest.raises(InvalidInput, match="^smtp_host: "):
        get_mailer(Settings(mail_transport="smtp", smtp_host=None))
    with pytest.raises(InvalidInput, match="^mail_transport: "):
        get_mailer(Settings(mail_transport="carrier-pigeon"))
