"""Validators for model-written text: a reply is stored only if every rule here passes.

Rules (each `Violation.rule`):
- `length`: outside `min_chars`..`max_chars`.
- `repetition`: a sentence said twice, a 4-word phrase three times, a word three times in a row, a character
  run, or (long texts) too few distinct 3-word phrases: the loops small models fall into.
- `commitment`: discounts, refunds/credits, legal promises or guarantees, delivery dates, unless the kind is in
  `allowed_commitments` (kinds: `COMMITMENT_KINDS`). A keyword right after a negation ("we cannot guarantee")
  is not a commitment; amounts ("90% off") always are.
- `leak`: another customer's name, or a 6-word run (whole snippet if shorter) of an internal note.
- `contact`: an email address or phone number not in `allowed_contacts`.
- `link`: a web address whose host is not an allowed domain (exfiltration links, tracking pixels).
- `language`: detected with py3langid (naive Bayes over byte n-grams, model bundled in the wheel, offline),
  restricted to `LANGUAGES`. Texts under `MIN_LANGUAGE_LETTERS` letters are not judged. The whole text must not
  be confidently another language, nor may any long sentence (a switch of language part way).
- `injection`: echoes of injected or prompt text: role markers, chat-template tokens, our data fences,
  "ignore previous instructions", "developer mode", ...; and any 6-word run (whole line if 5-6 words) of
  `instructions`, the prompt's fixed wording (small models often answer by repeating their instructions).
- `placeholder`: unfilled slots such as "[Your Name]" or "{{ name }}".
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from core.errors import InvalidInput

COMMITMENT_KINDS = ("discount", "refund", "legal", "delivery_date")
RULES = ("length", "repetition", "commitment", "leak", "contact", "link", "language", "injection", "placeholder")
# Languages the detector chooses among: restricting it avoids confusions with rare neighbours (en vs. pcm).
LANGUAGES = ("en", "es", "de", "fr", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "cs", "sk", "hu", "ro", "el",
             "tr", "ru", "uk", "bg", "hr", "sl", "et", "lv", "lt", "ca", "ja", "zh", "ko", "ar", "he", "hi", "id",
             "vi", "th", "ms")
LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "de": "German", "fr": "French", "it": "Italian",
                  "pt": "Portuguese", "nl": "Dutch", "sv": "Swedish", "da": "Danish", "no": "Norwegian",
                  "fi": "Finnish", "pl": "Polish", "cs": "Czech", "sk": "Slovak", "hu": "Hungarian",
                  "ro": "Romanian", "el": "Greek", "tr": "Turkish", "ru": "Russian", "uk": "Ukrainian",
                  "bg": "Bulgarian", "hr": "Croatian", "sl": "Slovenian", "et": "Estonian", "lv": "Latvian",
                  "lt": "Lithuanian", "ca": "Catalan", "ja": "Japanese", "zh": "Chinese", "ko": "Korean",
                  "ar": "Arabic", "he": "Hebrew", "hi": "Hindi", "id": "Indonesian", "vi": "Vietnamese",
                  "th": "Thai", "ms": "Malay"}
MIN_LANGUAGE_LETTERS = 25
LANGUAGE_CONFIDENCE = 0.9
SENTENCE_LANGUAGE_LETTERS = 50
SENTENCE_LANGUAGE_CONFIDENCE = 0.995


@dataclass(frozen=True)
class GuardContext:
    """What the text may contain: built by the caller from trusted CRM facts, never from untrusted text."""

    language: str = "en"
    min_chars: int = 20
    max_chars: int = 1500
    allowed_commitments: frozenset[str] = frozenset()
    other_customer_names: list[str] = field(default_factory=list)
    internal_snippets: list[str] = field(default_factory=list)
    allowed_contacts: frozenset[str] = frozenset()  # emails, phone numbers and web domains the text may show
    instructions: tuple[str, ...] = ()  # the prompt's own wording (Prompt.instructions): never to be echoed

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise InvalidInput("language", f"{self.language!r} is not one of {', '.join(LANGUAGES)}")
        unknown = set(self.allowed_commitments) - set(COMMITMENT_KINDS)
        if unknown:
            raise InvalidInput("allowed_commitments",
                               f"unknown kind(s) {sorted(unknown)}; known: {', '.join(COMMITMENT_KINDS)}")
        if not 0 <= self.min_chars <= self.max_chars:
            raise InvalidInput("max_chars", f"bounds {self.min_chars}..{self.max_chars} are not a range")


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str


def check_text(text: str, ctx: GuardContext) -> list[Violation]:
    """All rule violations of `text`, in rule order; an empty list means the text may be stored."""
    norm = normalize(text)
    found: list[Violation] = []
    for check in (_length, _repetition, _commitments, _leaks, _contacts, _links, _language, _injection,
                  _placeholders):
        found.extend(check(norm, ctx))
    return found


def violations_message(violations: list[Violation]) -> str:
    """The repair-turn text: what was wrong, in words a small model can act on."""
    lines = ["Your previous answer was rejected for these reasons:"]
    lines += [f"- {v.message}" for v in violations]
    lines.append("Write the answer again without these problems. Keep it short and use only the facts given.")
    return "\n".join(lines)


def normalize(text: str) -> str:
    """NFKC (fullwidth and styled letters become plain), without zero-width and bidi-control characters."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


# --- length and repetition -----------------------------------------------------------------------------------

def _length(text: str, ctx: GuardContext) -> list[Violation]:
    n = len(text.strip())
    if n < ctx.min_chars:
        return [Violation("length", f"The text is too short ({n} characters; at least {ctx.min_chars}).")]
    if n > ctx.max_chars:
        return [Violation("length", f"The text is too long ({n} characters; at most {ctx.max_chars}).")]
    return []


WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
SENTENCE_SPLIT = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def _words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def _repetition(text: str, ctx: GuardContext) -> list[Violation]:
    found: list[Violation] = []
    sentences = [" ".join(_words(s)) for s in SENTENCE_SPLIT.split(text)]
    repeated = [s for s, c in Counter(s for s in sentences if len(s.split()) >= 3).items() if c > 1]
    if repeated:
        found.append(Violation("repetition", f'The sentence "{repeated[0]}" is repeated. Say each thing once.'))
    words = _words(text)
    grams = Counter(tuple(words[i:i + 4]) for i in range(len(words) - 3))
    looping = [g for g, c in grams.items() if c >= 3]
    if looping and not repeated:
        found.append(Violation("repetition", f'The phrase "{" ".join(looping[0])}" is repeated '
                                             f'{grams[looping[0]]} times. Say each thing once.'))
    for i in range(len(words) - 2):
        if words[i] == words[i + 1] == words[i + 2]:
            found.append(Violation("repetition", f'The word "{words[i]}" is repeated in a row.'))
            break
    run = re.search(r"(\S)\1{9,}", text)
    if run:
        found.append(Violation("repetition", f'The character "{run.group(1)}" is repeated {len(run.group(0))} times.'))
    trigrams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
    if len(words) >= 60 and len(set(trigrams)) / len(trigrams) < 0.6 and not found:
        found.append(Violation("repetition", "The text keeps repeating the same phrases. Say each thing once."))
    return found


# --- commitments ---------------------------------------------------------------------------------------------

NUM = r"(?:\d+(?:[.,]\d+)?|a|one|two|three|four|five|six|seven|ten|fourteen|thirty)"
WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
         r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
DATE = (rf"(?:(?:this |next |the )?{WEEKDAY}|tomorrow|today|tonight|(?:the )?end of (?:the |this |next )?"
        rf"(?:day|week|month|quarter|year)|eod|eow|next (?:week|month|quarter)|{MONTH}\.? \d{{1,2}}|"
        rf"\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{MONTH}|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[/.]\d{{1,2}}(?:[/.]\d{{2,4}})?|"
        rf"{NUM} (?:business |working )?(?:hours?|days?|weeks?|months?))")
DELIVERY_VERB = (r"(?:deliver|ship|fix|resolv|releas|deploy|launch|ready|availab|live|done|complet|install|arriv|"
                 r"implement|restor|rolled out|roll out|send)\w*")

# (kind, pattern, is_keyword): keywords may be negated ("we cannot guarantee"); amounts and dates may not.
COMMITMENT_PATTERNS: list[tuple[str, re.Pattern[str], bool]] = [
    ("discount", re.compile(rf"{NUM}\s*(?:%|percent|per cent|pct)\s*(?:off|discount|reduction|rebate|cheaper|"
                            rf"lower|less|price)"), False),
    ("discount", re.compile(r"(?:[$€£]\s?\d[\d,.]*|\d[\d,.]*\s?(?:usd|eur|gbp|dollars|euros))\s*(?:off|discount)"),
     False),
    ("discount", re.compile(r"\bdiscount\w*|\bcoupons?\b|\bpromo(?:tional)? codes?\b|\bvouchers?\b|\bwaiv\w*|"
                            r"\bprice (?:cut|reduction|match|freeze)\b|\bhalf[- ]price\b|\bon the house\b|"
                            r"\bfree of charge\b|\bat no (?:extra |additional )?(?:cost|charge)\b|"
                            r"\b(?:for )?free (?:months?|years?|upgrades?|licen[cs]es?|seats?|service|subscription|"
                            r"access|plan|tier|trial extension|gifts?|shipping)\b|"
                            r"\b(?:months?|years?) (?:for )?free\b|\bamazing deals?\b|\bspecial (?:deal|offer)s?\b|"
                            r"\brabatt\w*|\bgutschein\w*|\bdescuento\w*|\bsconto\b|\bkorting\w*"), True),
    ("refund", re.compile(r"\brefund\w*|\breimburs\w*|\bmoney back\b|\bcredit(?:s|ed|ing)?\b(?!\s+card)|"
                          r"\bcredit note\b|\brevers\w* (?:the |this |that |your )?(?:charges?|payments?|invoices?)\b|"
                          r"\bchargebacks?\b|\berstatt\w*|\brückerstatt\w*|\bgutschrift\w*|\breembols\w*|"
                          r"\brembours\w*|\brimbors\w*|\breembolso\w*|\bterugbetal\w*"), True),
    ("legal", re.compile(r"\bguarantee\w*|\bwarrant(?:y|ies|s|ed)?\b|\bliab(?:le|ility)\b|\bindemni\w*|"
                         r"\blegally\b|\blegal(?:ly)? binding\b|\bbinding\b|\b(?:we|i) promise\b|\bcontractual\w*|"
                         r"\bcompensat\w*|\b100 ?% (?:uptime|availability|secure|safe)\b|\bno data (?:will be )?lost\b|"
                         r"\bwill never (?:lose|leak|go down)\b"), True),
    ("delivery_date", re.compile(rf"\b{DELIVERY_VERB}\b(?:\W+\w+){{0,4}}?\W+(?:by|on|before|within|no later than|"
                                 rf"in|until|for) (?:the )?{DATE}\b"), False),
    ("delivery_date", re.compile(rf"\b(?:eta|delivery date|ship(?:ping)? date|release date|go-live date)\b"
                                 rf"(?:\W+\w+){{0,3}}?\W+{DATE}\b"), False),
]
COMMITMENT_NAMES = {"discount": "a discount or free service", "refund": "a refund or credit",
                    "legal": "a legal promise or guarantee", "delivery_date": "a delivery or fix date"}
# A negator followed only by words of offering ("not able to offer a refund"), so "can't wait to refund" counts.
NEGATION = re.compile(r"\b(?:not|no|cannot|can't|can’t|won't|won’t|unable|never|don't|don’t|isn't|aren't|"
                      r"without)\b(?:\W+(?:able|to|be|in|a|an|any|position|offer|give|provide|issue|promise|"
                      r"make|you|the|us|we|that|this|such))*\W*$")


def _commitments(text: str, ctx: GuardContext) -> list[Violation]:
    low = text.lower()
    found: list[Violation] = []
    seen: set[str] = set()
    for kind, pattern, is_keyword in COMMITMENT_PATTERNS:
        if kind in ctx.allowed_commitments or kind in seen:
            continue
        for m in pattern.finditer(low):
            if is_keyword and NEGATION.search(low[max(0, m.start() - 40):m.start()]):
                continue
            seen.add(kind)
            found.append(Violation("commitment", f'The text offers {COMMITMENT_NAMES[kind]} ("{m.group(0)}"), '
                                                 "which is not authorised. Remove it."))
            break
    return found


# --- leaks, contacts, links ----------------------------------------------------------------------------------

def _leaks(text: str, ctx: GuardContext) -> list[Violation]:
    found: list[Violation] = []
    low = text.lower()
    for name in ctx.other_customer_names:
        name = normalize(name).strip().lower()
        if len(name) >= 3 and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", low):
            found.append(Violation("leak", f'The text names another customer ("{name}"). Remove it.'))
    text_words = " ".join(_words(text))
    for snippet in ctx.internal_snippets:
        words = _words(normalize(snippet))
        if not words:
            continue
        runs = [words] if len(words) <= 6 else [words[i:i + 6] for i in range(len(words) - 5)]
        hit = next((r for r in runs if f" {' '.join(r)} " in f" {text_words} "), None)
        if hit:
            found.append(Violation("leak", f'The text repeats an internal note ("{" ".join(hit)}"). '
                                           "Internal notes must not be shown."))
    return found


EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w/.-])\+?\(?\d[\d\s().-]{5,}\d(?![\w/-])")
# Dates and times look like phone numbers to PHONE: they are blanked out before it runs.
DATE_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2})?)?\b|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b|"
                       r"\b\d{1,2}:\d{2}(?::\d{2})?\b")
URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"')\]]+|\b(?:[a-z0-9-]+\.)+[a-z]{2,}/[^\s<>\"')\]]*", re.I)


def _allowed(ctx: GuardContext) -> tuple[set[str], set[str], set[str]]:
    emails = {c.lower() for c in ctx.allowed_contacts if "@" in c}
    phones = {re.sub(r"\D", "", c) for c in ctx.allowed_contacts if "@" not in c and re.search(r"\d{5}", c.replace(
        " ", "").replace("-", ""))}
    domains = {c.lower().removeprefix("www.") for c in ctx.allowed_contacts
               if "@" not in c and re.search(r"[a-z]", c, re.I)}
    domains |= {e.split("@", 1)[1] for e in emails}
    return emails, phones, domains


def _contacts(text: str, ctx: GuardContext) -> list[Violation]:
    emails, phones, _ = _allowed(ctx)
    found: list[Violation] = []
    for m in EMAIL.finditer(text):
        if m.group(0).lower().rstrip(".") not in emails:
            found.append(Violation("contact", f'The text contains an email address ("{m.group(0)}") that is not '
                                              "the customer's or ours. Remove it."))
    for m in PHONE.finditer(DATE_TIME.sub(" ", text)):
        raw = m.group(0).strip()
        digits = re.sub(r"\D", "", raw)
        if len(digits) < 7 or digits in phones:
            continue
        found.append(Violation("contact", f'The text contains a phone number ("{raw}") that is not the '
                                          "customer's or ours. Remove it."))
    return found


def _links(text: str, ctx: GuardContext) -> list[Violation]:
    _, _, domains = _allowed(ctx)
    found: list[Violation] = []
    for m in URL.finditer(text):
        url = m.group(0)
        if EMAIL.fullmatch(url):
            continue
        host = (urlsplit(url if "://" in url else f"http://{url}").hostname or "").removeprefix("www.")
        if not any(host == d or host.endswith(f".{d}") for d in domains):
            found.append(Violation("link", f'The text contains a link to an unknown site ("{url}"). Remove it.'))
    return found


# --- language ------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _identifier() -> Any:
    """Loaded on first use (≈0.8 s), then shared by the process."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(LANGUAGES))
    return ident


def detect_language(text: str) -> tuple[str, float] | None:
    """(code, probability) of `text`, or None if it is too short to judge; links and addresses are ignored."""
    clean = EMAIL.sub(" ", URL.sub(" ", normalize(text)))
    if sum(ch.isalpha() for ch in clean) < MIN_LANGUAGE_LETTERS:
        return None
    code, prob = _identifier().classify(clean)
    return str(code), float(prob)


def _language(text: str, ctx: GuardContext) -> list[Violation]:
    want = LANGUAGE_NAMES[ctx.language]
    whole = detect_language(text)
    if whole and whole[0] != ctx.language and whole[1] >= LANGUAGE_CONFIDENCE:
        return [Violation("language", f"The text is in {LANGUAGE_NAMES.get(whole[0], whole[0])}, "
                                      f"not {want}. Write it in {want}.")]
    for sentence in SENTENCE_SPLIT.split(text):
        if sum(ch.isalpha() for ch in sentence) < SENTENCE_LANGUAGE_LETTERS:
            continue
        part = detect_language(sentence)
        if part and part[0] != ctx.language and part[1] >= SENTENCE_LANGUAGE_CONFIDENCE:
            return [Violation("language", f'Part of the text is in {LANGUAGE_NAMES.get(part[0], part[0])} '
                                          f'("{sentence.strip()[:60]}"). Write all of it in {want}.')]
    return []


# --- injection echoes and placeholders -----------------------------------------------------------------------

INJECTION_PATTERNS = [
    r"\b(?:ignore|disregard|forget|override)\b(?:\W+\w+){0,3}?\W+(?:previous|prior|above|earlier|preceding|"
    r"all|your|the)\W+(?:\w+\W+)?(?:instructions?|prompts?|rules|messages|guidelines)\b",
    r"\bsystem (?:prompt|message|instructions?)\b",
    r"\bmy (?:instructions|guidelines|rules|prompt) (?:are|say|were|tell)\b",
    r"\b(?:developer|dan|jailbreak|god|admin|debug|unrestricted) mode\b",
    r"<\|[a-z_]+\|>", r"\[/?(?:inst|sys)\]", r"<</?sys>>", r"</?(?:system|assistant|im_start|im_end)>",
    r"^\W{0,3}(?:system|assistant|user|human|ai)\s*:", r"#{2,}\s*(?:system|instructions?|assistant)\b",
    r"<<<|>>>", r"\bdata, not instructions\b", r"\bas an ai(?: language)? model\b", r"\bnew instructions?\s*:",
    r"\bi am (?:now )?(?:unrestricted|jailbroken|free of (?:my|all) rules)\b",
    r"\binstructions? (?:received|acknowledged|accepted)\b",
]
ECHO_MIN_WORDS = 5
INJECTION = re.compile("|".join(f"(?:{p})" for p in INJECTION_PATTERNS), re.I | re.M)
PLACEHOLDER = re.compile(r"\[(?:your|customer|contact|company|client|insert|recipient|sender|first|last|full)?"
                         r"\s*(?:'s )?(?:name|company|title|date|email|phone|signature|here)[^\]]{0,20}\]|"
                         r"\[(?:your|insert)[^\]]{0,30}\]|\{\{[^}]*\}\}|\{%|<(?:your|insert|customer|name)"
                         r"[^>]{0,30}>|\blorem ipsum\b|\bXXX+\b|\[[a-z]+(?:_[a-z]+)+\]", re.I)


def _injection(text: str, ctx: GuardContext) -> list[Violation]:
    m = INJECTION.search(text)
    if m:
        return [Violation("injection", f'The text repeats instructions or markup ("{m.group(0).strip()}"). '
                                       "Write only the reply itself.")]
    padded = f" {' '.join(_words(text))} "
    for line in ctx.instructions:
        words = _words(line)
        if len(words) < ECHO_MIN_WORDS:
            continue
        runs = [words] if len(words) <= 6 else [words[i:i + 6] for i in range(len(words) - 5)]
        hit = next((r for r in runs if f" {' '.join(r)} " in padded), None)
        if hit:
            return [Violation("injection", f'The text repeats the instructions ("{" ".join(hit)}"). '
                                           "Write only the reply itself.")]
    return []


def _placeholders(text: str, ctx: GuardContext) -> list[Violation]:
    m = PLACEHOLDER.search(text)
    if not m:
        return []
    return [Violation("placeholder", f'The text has an unfilled placeholder ("{m.group(0)}"). '
                                     "Use the real name or leave it out.")]
