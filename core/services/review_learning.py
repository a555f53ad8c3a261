"""Learning from reviewers: every edit and rejection is kept with an embedding of its situation, and later drafts
for similar situations get the closest ones as guidance (passed to the prompt fenced as data, never as rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.llm.embeddings import Embedder, get_embedder
from core.models import Draft, ReviewFeedback
from core.repositories import review_feedback as repo

KINDS = ("edited", "rejected")
MAX_K = 10
# Cosine distance beyond which a past case is not "similar": an unrelated correction misleads more than it helps.
# Measured with all-MiniLM-L6-v2 on situations written comment first ("<comment> (detractor, 3/10, Software)"):
# the same complaint in other words 0.06-0.26, related complaints about 0.5, unrelated 0.64-1.0. A long shared
# preamble before the comment pulls every pair to about 0.45, so agents should lead with what is specific.
MAX_DISTANCE = 0.45
EXAMPLE_CHARS = 400


@dataclass(frozen=True)
class Example:
    """One past correction: what the situation was, what the agent wrote, and what the reviewer did."""

    kind: str
    situation: str
    original: str
    edited: str | None
    reason: str | None
    distance: float

    def guidance(self) -> str:
        """One line for the prompt's examples block."""
        case = _clip(self.situation, 160).rstrip(".")
        if self.kind == "edited":
            return f"Case: {case}. The reviewer rewrote the draft as: {_clip(self.edited or '', EXAMPLE_CHARS)}"
        return (f"Case: {case}. The reviewer rejected the draft \"{_clip(self.original, 160)}\" because: "
                f"{_clip(self.reason or '', 200)}")


def _clip(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def situation_of(draft: Draft) -> str:
    """The text that stands for a draft's situation: the agent's `situation` summary, else its context facts."""
    context = draft.context or {}
    summary = context.get("situation")
    if isinstance(summary, str) and summary.strip():
        return summary.strip()
    facts = "; ".join(f"{key}: {value}" for key, value in sorted(context.items()) if value not in (None, "", [], {}))
    return facts or draft.subject


def record_feedback(session: Session, *, draft: Draft, kind: str, reviewer_id: int | None, edited: str | None = None,
                    reason: str | None = None, embedder: Embedder | None = None) -> ReviewFeedback:
    """Store a reviewer's edit or rejection once per draft, with the embedding of the draft's situation."""
    if kind not in KINDS:
        raise InvalidInput("kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "edited" and not (edited or "").strip():
        raise InvalidInput("edited_text", "an edit needs the edited text")
    if kind == "rejected" and not (reason or "").strip():
        raise InvalidInput("reason", "a rejection needs a reason")
    situation = situation_of(draft)
    embedder = embedder or get_embedder()
    [vector] = embedder.embed([situation])
    row, _created = repo.insert_once(session, draft_id=draft.id, agent=draft.agent, kind=kind, situation=situation,
                                     original=draft.body, edited=edited if kind == "edited" else None,
                                     reason=(reason or "").strip() or None, reviewer_id=reviewer_id,
                                     model=embedder.model, embedding=vector)
    session.flush()
    return row


def examples_for(session: Session, agent: str, situation_text: str, k: int = 3, *, embedder: Embedder | None = None,
                 kinds: Sequence[str] = KINDS, max_distance: float = MAX_DISTANCE) -> list[Example]:
    """The k closest past edits and rejections of `agent` for a similar situation, nearest first."""
    if not 1 <= k <= MAX_K:
        raise InvalidInput("k", f"must be between 1 and {MAX_K}, got {k}")
    if not situation_text.strip():
        raise InvalidInput("situation", "is empty; describe the situation to find similar reviews")
    embedder = embedder or get_embedder()
    [vector] = embedder.embed([situation_text.strip()])
    return [Example(row.kind, row.situation, row.original, row.edited, row.reason, distance)
            for row, distance in repo.nearest(session, agent, vector, embedder.model, kinds, k)
            if distance <= max_distance]


def guidance_lines(examples: Sequence[Example]) -> list[str]:
    """What the prompt's `examples` input receives (the template fences it as data)."""
    return [example.guidance() for example in examples]
