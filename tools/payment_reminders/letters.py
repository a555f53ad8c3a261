"""The reminder's subject and body: a fixed template per language and level, never model text.

Why no model: a payment reminder states an amount, an invoice number and dates that must be exactly right, in a
tone the company chose; a template gets both right every time, and the account manager still reviews each one
before it is sent. Edit `letter.txt.j2` to change the words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from jinja2.sandbox import ImmutableSandboxedEnvironment

LANGUAGES = ("en", "de", "es", "fr")
SUBJECTS = {"en": ("Reminder: invoice {n} is overdue", "Final reminder: invoice {n} is overdue"),
            "de": ("Zahlungserinnerung: Rechnung {n}", "Letzte Mahnung: Rechnung {n}"),
            "es": ("Recordatorio: factura {n} vencida", "Último aviso: factura {n} vencida"),
            "fr": ("Rappel : facture {n} échue", "Dernier rappel : facture {n} échue")}
TEMPLATE = Path(__file__).with_name("letter.txt.j2")


@dataclass(frozen=True)
class Letter:
    subject: str
    body: str
    language: str


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def write(*, language: str | None, name: str | None, number: str, amount: Decimal, currency: str, issued: date,
          due: date, days_overdue: int, level: int, final: bool, sender: str) -> Letter:
    lang = (language or "en").split("-")[0].lower()
    lang = lang if lang in LANGUAGES else "en"
    env = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=False)
    body = env.from_string(TEMPLATE.read_text(encoding="utf-8")).render(
        language=lang, name=(name or "").strip() or {"de": "zusammen", "es": "equipo", "fr": "Madame, Monsieur"}.get(
            lang, "there"), number=number, amount=_money(amount, currency), issued=issued.isoformat(),
        due=due.isoformat(), days=days_overdue, level=level, final=final, sender=sender)
    subject = SUBJECTS[lang][1 if final else 0].format(n=number)
    return Letter(subject, body.strip() + "\n", lang)
