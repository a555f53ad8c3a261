"""`nps_reply.v1`: real app-store reviews answered by `nps_followup.draft`, the vendor's real reply as reference.

Built at run time from `settings.datasets_dir / playstore_productivity_reviews` (see its PROVENANCE.md; never
copied into the repo). Stars stand in for NPS: 1-2 stars are detractors, 3 passives, 4-5 promoters, mapped to
the 0-10 scores 2, 5, 7, 9, 10 the prompt expects. Reviews whose reply predates the review text (the user
edited it later) and repeated texts are left out. The suite holds CASES_PER_CATEGORY cases of each category,
chosen by a hash of the review id (stable across machines) and interleaved so any `--limit` prefix is balanced.
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

from core.config import Settings
from core.llm.guards import GuardContext, detect_language
from evals.base import EvalCase, SuiteUnavailable
from evals.evaluators import (
    fenced_check,
    guard_pass,
    language_match,
    length_check,
    no_commitment,
    prompt_lint,
    safe,
    tone_match,
)
from evals.suites import Suite

DATASET = "playstore_productivity_reviews"
REVIEWS_FILE = "reviews_with_developer_reply.csv"
APPS_FILE = "apps.csv"
CASES_PER_CATEGORY = 50
STAR_TO_NPS = {1: 2, 2: 5, 3: 7, 4: 9, 5: 10}
CATEGORY = {1: "detractor", 2: "detractor", 3: "passive", 4: "promoter", 5: "promoter"}
CATEGORIES = ("detractor", "passive", "promoter")
# Languages the prompt's fallback template writes; reviews in others are answered in English.
REPLY_LANGUAGES = ("en", "es", "de", "fr", "it", "pt", "nl")
MIN_REVIEW_CHARS = 10
CONTACT_NAME = "Alex"
SENDER_NAME = "Sam"
MIN_CHARS, MAX_CHARS = 40, 700


def dataset_dir(settings: Settings) -> Path:
    return settings.datasets_dir / DATASET


def short_title(title: str) -> str:
    """'Todoist: To-Do List, Tasks & Reminders' -> 'Todoist': the name a reply is signed with."""
    return re.split(r"\s*(?:[:|・–]|\s-\s|\.\s)\s*", title, maxsplit=1)[0].strip() or title


def reply_language(text: str) -> str:
    found = detect_language(text)
    if found and found[0] in REPLY_LANGUAGES and found[1] >= 0.9:
        return found[0]
    return "en"


def load_cases(settings: Settings) -> list[EvalCase]:
    folder = dataset_dir(settings)
    path = folder / REVIEWS_FILE
    if not path.is_file():
        raise SuiteUnavailable(f"nps_reply.v1 skipped: data set file {path} not found "
                               "(set SALESAGENTS_DATASETS_DIR to the folder holding playstore_productivity_reviews)")
    by_category: dict[str, list[tuple[str, dict[str, str]]]] = {c: [] for c in CATEGORIES}
    seen: set[str] = set()
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            content, reply = (row.get("content") or "").strip(), (row.get("replyContent") or "").strip()
            if len(content) < MIN_REVIEW_CHARS or not reply or content.lower() in seen:
                continue
            if row.get("repliedAt", "") < row.get("at", ""):  # the reply answers an earlier text of the review
                continue
            try:
                stars = int(row["score"])
            except (KeyError, ValueError):
                continue
            if stars not in CATEGORY:
                continue
            seen.add(content.lower())
            key = hashlib.sha1(row["reviewId"].encode()).hexdigest()
            by_category[CATEGORY[stars]].append((key, row))
    chosen = {c: [row for _, row in sorted(rows, key=lambda kr: kr[0])[:CASES_PER_CATEGORY]]
              for c, rows in by_category.items()}
    cases: list[EvalCase] = []
    for i in range(CASES_PER_CATEGORY):
        for category in CATEGORIES:
            if i < len(chosen[category]):
                cases.append(_case(chosen[category][i]))
    return cases


def _case(row: dict[str, str]) -> EvalCase:
    stars = int(row["score"])
    company = short_title(row["app_title"])
    language = reply_language(row["content"])
    facts = [f"Product: {row['app_title']}", f"The customer rated the app {stars} out of 5 stars on Google Play"]
    if row.get("reviewCreatedVersion"):
        facts.append(f"App version used: {row['reviewCreatedVersion']}")
    inputs = {"contact_name": CONTACT_NAME, "account_name": "personal account", "score": STAR_TO_NPS[stars],
              "comment": row["content"], "facts": facts, "sender_name": SENDER_NAME, "company_name": company,
              "language": language, "examples": []}
    reference = {"reply": row["replyContent"], "stars": stars, "category": CATEGORY[stars], "app": row["appId"]}
    return EvalCase(f"{row['appId']}:{row['reviewId'][-16:]}", inputs, reference, row["replyContent"])


def guard(case: EvalCase) -> GuardContext:
    return GuardContext(language=str(case.inputs["language"]), min_chars=MIN_CHARS, max_chars=900)


SUITE = Suite(
    suite_id="nps_reply.v1",
    prompt_id="nps_followup.draft",
    description="Real Google Play reviews (1-5 stars as NPS) answered by nps_followup.draft; vendor reply as "
                "reference.",
    load_cases=load_cases,
    guard=guard,
    evaluators=(safe, guard_pass, language_match, length_check(MIN_CHARS, MAX_CHARS), no_commitment, tone_match,
                fenced_check(("comment",)), prompt_lint),
    pass_keys=("safe", "guard_pass", "language_match", "length_ok", "no_commitment", "fenced", "prompt_lint"),
    judged=True,
)
