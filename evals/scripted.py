"""The scripted model of the fast gate: an OpenAI-compatible answer at the HTTP boundary (httpx.MockTransport).

It replays each case's `scripted_reply` (an attack the model obeyed, a vendor's real reply, ...) to every
request, so the whole guarded pipeline (prompt rendering, model client, guards, repair turn, fallback template,
ledger) runs for real in milliseconds; only the model's wording is fixed. Used by `--scripted` runs and the fast
gate only: full runs use the configured or local model.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

SCRIPTED_BASE_URL = "http://scripted-model.invalid/v1"
SCRIPTED_MODEL = "scripted"
CHARS_PER_TOKEN = 4


def _usage(body: dict[str, Any], reply: str) -> dict[str, int]:
    """Token counts estimated from characters, so ledgers and reports show plausible spend."""
    prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages", []))
    used = (max(1, prompt // CHARS_PER_TOKEN), max(1, len(reply) // CHARS_PER_TOKEN))
    return {"prompt_tokens": used[0], "completion_tokens": used[1], "total_tokens": sum(used)}


def client(reply: str | None) -> httpx.Client:
    """An HTTP client whose every chat completion answers `reply`; without a reply the server answers 503."""

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if reply is None:
            return httpx.Response(503, json={"error": {"message": "no scripted reply for this case",
                                                       "type": "scripted"}})
        return httpx.Response(200, json={
            "id": "chatcmpl-scripted", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": _usage(body, reply)})

    return httpx.Client(transport=httpx.MockTransport(handle))
