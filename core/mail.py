"""Sending approved drafts: a local outbox by default (nothing leaves), SMTP when configured.

Every message belongs to one draft (`mail_messages.draft_id` is unique) and is sent under that draft's row lock,
so a draft is delivered at most once however often a resumed graph asks; only a failed attempt is tried again.
The SMTP send happens before the caller commits: a crash between the two can repeat one delivery, which the
stable Message-ID lets receiving servers recognise.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Protocol

from sqlalchemy.orm import Session

from core.config import Settings, get_settings
from core.errors import InvalidInput, NotFound
from core.models import MailMessage
from core.repositories import events
from core.repositories import mail as repo

SMTP_TIMEOUT_S = 30.0
DELIVERED = ("stored", "sent")
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


@dataclass(frozen=True)
class OutgoingMail:
    """What leaves: the draft it came from, the recipient and the final text."""

    draft_id: int
    to_address: str
    subject: str
    body: str

    def checked(self) -> OutgoingMail:
        """Refuse what would break the message or inject headers, naming the field."""
        if not _ADDRESS.match(self.to_address.strip()):
            raise InvalidInput("recipient", f"{self.to_address!r} is not an email address")
        if not self.subject.strip() or any(c in self.subject for c in "\r\n"):
            raise InvalidInput("subject", "must be one non-empty line")
        if not self.body.strip():
            raise InvalidInput("body", "is empty; an empty email is not sent")
        return OutgoingMail(self.draft_id, self.to_address.strip(), self.subject.strip(), self.body)


class Mailer(Protocol):
    """Sends a draft's message once; the returned row says whether it was stored, sent or failed."""

    @property
    def transport(self) -> str: ...

    def send(self, session: Session, mail: OutgoingMail, now: datetime | None = None) -> MailMessage: ...


def _audit(session: Session, row: MailMessage) -> None:
    events.add_audit(session, actor="mailer", action=f"mail.{row.status}", entity_type="draft",
                     entity_id=row.draft_id, after={"mail_message_id": row.id, "transport": row.transport,
                                                    "to": row.to_address, "error": row.error})


def _claim(session: Session, mail: OutgoingMail) -> tuple[OutgoingMail, MailMessage | None]:
    """Lock the draft; return the message already delivered for it, if any."""
    mail = mail.checked()
    if not repo.lock_draft(session, mail.draft_id):
        raise NotFound("draft", mail.draft_id)
    return mail, repo.for_draft(session, mail.draft_id)


@dataclass(frozen=True)
class LocalMailer:
    """The safe default: messages land in `mail_messages` with status 'stored' and never leave the machine."""

    transport: str = "local"

    def send(self, session: Session, mail: OutgoingMail, now: datetime | None = None) -> MailMessage:
        mail, existing = _claim(session, mail)
        if existing is not None and existing.status in DELIVERED:
            return existing
        row = repo.save(session, existing, draft_id=mail.draft_id, to_address=mail.to_address, subject=mail.subject,
                        body=mail.body, transport=self.transport, status="stored", error=None, sent_at=None)
        _audit(session, row)
        return row


@dataclass
class SmtpMailer:
    """smtplib to the configured server (STARTTLS and login when configured); failures are recorded, not raised."""

    host: str
    port: int
    mail_from: str
    user: str | None = None
    password: str | None = None
    starttls: bool = True
    timeout_s: float = SMTP_TIMEOUT_S
    ssl_context: ssl.SSLContext | None = None
    transport: str = "smtp"

    def message(self, mail: OutgoingMail, now: datetime) -> EmailMessage:
        """The MIME message; its Message-ID is derived from the draft so a repeated delivery is recognisable."""
        msg = EmailMessage()
        msg["From"] = self.mail_from
        msg["To"] = mail.to_address
        msg["Subject"] = mail.subject
        msg["Date"] = format_datetime(now)
        domain = self.mail_from.rpartition("@")[2] or "localhost"
        msg["Message-ID"] = f"<draft-{mail.draft_id}@{domain}>"
        msg.set_content(mail.body)
        return msg

    def deliver(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            smtp.ehlo()
            if self.starttls:
                smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(msg)

    def send(self, session: Session, mail: OutgoingMail, now: datetime | None = None) -> MailMessage:
        now = now or datetime.now(UTC)
        mail, existing = _claim(session, mail)
        if existing is not None and existing.status in DELIVERED:
            return existing
        try:
            self.deliver(self.message(mail, now))
            status, error, sent_at = "sent", None, now
        except (smtplib.SMTPException, OSError) as exc:
            reason = str(exc).strip() or type(exc).__name__
            status, error, sent_at = "failed", f"SMTP {self.host}:{self.port}: {reason}"[:1000], None
        row = repo.save(session, existing, draft_id=mail.draft_id, to_address=mail.to_address, subject=mail.subject,
                        body=mail.body, transport=self.transport, status=status, error=error, sent_at=sent_at)
        _audit(session, row)
        return row


def get_mailer(settings: Settings | None = None) -> Mailer:
    """The configured mailer; `smtp` without a host is a configuration error, never a silent local fallback."""
    s = settings or get_settings()
    if s.mail_transport == "local":
        return LocalMailer()
    if s.mail_transport == "smtp":
        if not s.smtp_host:
            raise InvalidInput("smtp_host", "is required when mail_transport is smtp (SALESAGENTS_SMTP_HOST)")
        return SmtpMailer(host=s.smtp_host, port=s.smtp_port, mail_from=s.mail_from, user=s.smtp_user,
                          password=s.smtp_password, starttls=s.smtp_starttls)
    raise InvalidInput("mail_transport", f"{s.mail_transport!r} is not one of local, smtp")
