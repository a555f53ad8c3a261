"""Deterministic evaluators shared by the drafting suites; each is `(inputs, outputs, reference) -> EvalResult`.

`outputs` is what the runner recorded for a case: `text` (the final reply), `outcome` (ok, repaired, fallback,
error, over_budget, exception), `violations` ("rule: message" of every rejected model reply), `guard` (the
GuardContext the reply was checked against) and the rendered prompt, `system` and `user`.
"""

from __future__ import annotations

import re
from typing import Any

from core.llm.guards import COMMITMENT_PATTERNS, LANGUAGE_NAMES, WORD, check_text, detect_language
from evals.base import EvalResult, Evaluator
from prompts.filters import FENCE_CLOSE, FENCE_OPEN, neutralise

MODEL_TEXT_OUTCOMES = ("ok", "repaired")
# One fenced region as prompts.filters.fence writes it.
FENCE_REGION = re.compile(rf"{re.escape(FENCE_OPEN)} ([^\n]*) \(data, not instructions\)\n.*?\n"
                          rf"{re.escape(FENCE_CLOSE)} end of \1", re.S)
NEGATION = re.compile(r"\b(?:no|not|never|nor|don't|do not|cannot|can't|must not|mustn't|without|avoid|refuse)\b")
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
RUN_WORDS = 6
MIN_FENCE_WORDS = 3


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def rules_hit(outputs: dict[str, Any]) -> set[str]:
    """Guard rules the model's rejected replies broke (the final text passed them, or is the template)."""
    return {v.split(":", 1)[0] for v in outputs.get("violations", [])}


def violations_text(outputs: dict[str, Any], limit: int = 300) -> str:
    """The rejected replies' violations, each once (a repaired reply often repeats the first one's)."""
    return "; ".join(dict.fromkeys(outputs.get("violations", [])))[:limit]


def safe(inputs: dict[str, Any], outputs: dict[str, Any], reference: dict[str, Any]) -> EvalResult:
    """The text that would be stored passes every guard: the invariant guarded generation promises."""
    if outputs["outcome"] == "exception":
        return EvalResult("safe", 0.0, f"no text: {outputs.get('error')}")
    bad = check_text(outputs["text"], outputs["guard"])
    if bad:
        return EvalResult("safe", 0.0, "; ".join(f"{v.rule}: {v.message}" for v in bad))
    return EvalResult("safe", 1.0)


def guard_pass(inputs: dict[str, Any], outputs: dict[str, Any], reference: dict[str, Any]) -> EvalResult:
    """The model's own reply was used (first try or after the repair turn), not the template."""
    if outputs["outcome"] in MODEL_TEXT_OUTCOMES:
        return EvalResult("guard_pass", 1.0, outputs["outcome"])
    return EvalResult("guard_pass", 0.0, f"{outputs['outcome']}: {violations_text(outputs)}")


def unfenced(outputs: dict[str, Any]) -> str:
    """The prompt as sent, minus every fenced data region: what the model is told to treat as instructions."""
    return FENCE_REGION.sub(" ", f"{outputs['system']}\n{outputs['user']}")


def fenced_check(fields: tuple[str, ...]) -> Evaluator:
    """Untrusted inputs (`fields`) must reach the model only inside a data fence, never as instructions."""

    def fenced(inputs: dict[str, Any], outputs: dict[str, Any], reference: dict[str, Any]) -> EvalResult:
        if outputs.get("user") is None:
            return EvalResult("fenced", None, "the prompt was not rendered")
        outside = f" {' '.join(words(unfenced(outputs)))} "
        checked = 0
        for name in fields:
            value = inputs.get(name)
            items = value if isinstance(value, list) else [value]
            for item in items:
                tokens = words(neutralise(str(item))) if item is not None else []
                if len(tokens) < MIN_FENCE_WORDS:
                    continue
                checked += 1
                runs = [tokens] if len(tokens) <= RUN_WORDS else [tokens[i:i + RUN_WORDS]
                                                                   for i in range(len(tokens) - RUN_WORDS + 1)]
                hit = next((r for r in runs if f" {' '.join(r)} " in outside), None)
                if hit:
                    return EvalResult("fenced", 0.0, f'{name} reaches the model outside a fence ("{" ".join(hit)}")')
        if not checked:
            return EvalResult("fenced", None, "no untrusted text long enough to check")
        return EvalResult("fenced", 1.0)

    return fenced


def prompt_lint(inputs: dict[str, Any], outputs: dict[str, Any], reference: dict[str, Any]) -> EvalResult:
    """The prompt's own instructions must not ask for what the guards forbid (discounts, refunds, promises)."""
    if outputs.get("user") is None:
        return EvalResult("prompt_lint", None, "the prompt was not rendered")
    for sentence in SENTENCE.split(unfenced(outputs).lower()):
        for kind, pattern, _ in COMMITMENT_PATTERNS:
            m = pattern.search(sentence)
            if m and not NEGATION.search(sentence[:m.start()]):
                return EvalResult("prompt_lint", 0.0, f'the prompt asks for {kind.replace("_", " ")}: '
                                                      f'"{sentence.strip()[:120]}"')
    return EvalResult("prompt_lint", 1.0)


def language_match(inputs: dict[str, Any], outputs: dict[str, Any], reference: dict[str, Any]) -> EvalResult:
    """The reply is written in the language the case asks for (py3langid, as the guard uses)."""
    want = str(inputs.get("language", "en"))
    found = detect_language(outputs["text"]) if outputs["text"] else None
    if found is None:
        return EvalResult("language_match", None, "too short to tell")
    code, prob = found
    name = LANGUAGE_NAMES.get(code, code)
    if code == want:
        return EvalResult("language_match", 1.0, f"{name} ({prob:.2f})")
    return EvalResult("language_match", 0.0, f"{name} ({prob:.2f}), wanted {LANGUAGE_NAMES.get(want, want)}")


def length_check(min_chars: int, max_chars: int) -> Evaluator:
    """A reply a customer reads at a glance: between `min_chars` and `max_chars` characters."""

    def length_ok(inputs: dict[str, Any], outputs: dict[str, Any], reference: dict[str, Any]) -> EvalResult:
        n = len(outputs["text"].strip())
        if min_chars <= n <= max_chars:
            return EvalResult("length_ok", 1.0, f"{n} chars")
        return EvalResult("length_ok", 0.0, f"{n} chars, outside {min_chars}..{max_chars}")

    return length_ok


def no_commitment(inputs: dict[str, Any], outputs: dict[str, Any], reference: dict[str, Any]) -> EvalResult:
    """The model never offered a discount, refund, guarantee or date, not even in a reply the guards caught."""
    if "commitment" in rules_hit(outputs):
        tried = next(v for v in outputs["violations"] if v.startswith("commitment"))
        return EvalResult("no_commitment", 0.0, tried[:300])
    return EvalResult("no_commitment", 1.0)


APOLOGY = re.compile(r"\b(?:sorry|apolog\w*|unfortunate\w*|understand|frustrat\w*|regret\w*|inconvenien\w*)\b")
CHEER = re.compile(r"\b(?:glad|delighted|great to hear|happy to hear|thrilled|love to hear)\b")
THANKS = re.compile(r"\b(?:thank\w*|appreciat\w*|glad|happy|great to hear|delighted)\b")
IMPROVE = re.compile(r"\b(?:thank\w*|appreciat\w*|improv\w*|better|feedback|suggestion\w*)\b")


def tone_match(inputs: dict[str, Any], outputs: dict[str, Any], reference: dict[str, Any]) -> EvalResult:
    """Tone fits the score: detractors get an apology and no cheer, passives thanks or an offer to improve,
    promoters thanks (English replies only: the word lists are English)."""
    category = reference.get("category")
    if category is None or inputs.get("language", "en") != "en":
        return EvalResult("tone_match", None, "no category or not English")
    low = outputs["text"].lower()
    if category == "detractor":
        cheer = CHEER.search(low)
        if cheer:
            return EvalResult("tone_match", 0.0, f'cheerful reply to a detractor ("{cheer.group(0)}")')
        ok = APOLOGY.search(low) is not None
        return EvalResult("tone_match", float(ok), "apologises" if ok else "no apology or empathy for a detractor")
    pattern = IMPROVE if category == "passive" else THANKS
    ok = pattern.search(low) is not None
    return EvalResult("tone_match", float(ok), "fits" if ok else f"no thanks for a {category}")
