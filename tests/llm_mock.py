"""A scripted OpenAI-compatible server behind httpx.MockTransport: the only mock in the LLM tests (HTTP boundary)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from core.config import Settings

Reply = Callable[[httpx.Request, dict[str, Any]], httpx.Response]
BASE_URL = "http://llm.test/v1"


def llm_settings(**overrides: Any) -> Settings:
    """Settings pointing every purpose at the scripted server, independent of the machine's environment."""
    values: dict[str, Any] = dict(llm_base_url=BASE_URL, llm_model="test-model", llm_api_key="sk-test",
                                  llm_temperature=0.3, llm_max_tokens=200, llm_timeout_s=5.0, llm_max_attempts=3,
                                  llm_purposes={}, llm_prices={}, llm_budgets={})
    values.update(overrides)
    values["SALESAGENTS_LLM_API_KEY"] = values.pop("llm_api_key")  # the field is read through its alias only
    return Settings(**values)


def _completion(body: dict[str, Any], message: dict[str, Any], usage: tuple[int, int]) -> httpx.Response:
    return httpx.Response(200, json={
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1_700_000_000, "model": body["model"],
        "choices": [{"index": 0, "message": message,
                     "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}})


def text(content: str, usage: tuple[int, int] = (50, 20)) -> Reply:
    return lambda request, body: _completion(body, {"role": "assistant", "content": content}, usage)


def tool(arguments: dict[str, Any] | str, usage: tuple[int, int] = (60, 15)) -> Reply:
    """A forced function call answering the request's tool, with JSON arguments (or a raw, maybe broken, string)."""

    def reply(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        name = body["tools"][0]["function"]["name"]
        args = arguments if isinstance(arguments, str) else json.dumps(arguments)
        call = {"id": "call_1", "type": "function", "function": {"name": name, "arguments": args}}
        return _completion(body, {"role": "assistant", "content": None, "tool_calls": [call]}, usage)

    return reply


def status(code: int, headers: dict[str, str] | None = None) -> Reply:
    return lambda request, body: httpx.Response(code, headers=headers,
                                                json={"error": {"message": f"scripted {code}", "type": "test"}})


def read_timeout() -> Reply:
    def reply(request: httpx.Request, body: dict[str, Any]) -> httpx.Response:
        raise httpx.ReadTimeout("scripted read timeout", request=request)

    return reply


class ScriptedServer:
    """Answers each chat request with the next scripted reply and keeps every request body for assertions."""

    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        self.http: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        self.http.append(request)
        if not self.replies:
            raise AssertionError(f"unscripted request #{len(self.requests)}: {body.get('messages')}")
        return self.replies.pop(0)(request, body)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def sleep(self, seconds: float) -> None:
        """Stands in for time.sleep in the retry layer: the waits are recorded, not slept."""
        self.sleeps.append(seconds)

    def user_text(self, index: int = -1) -> str:
        """All user-message text of one request, to check what the model was shown."""
        return "\n".join(str(m["content"]) for m in self.requests[index]["messages"] if m["role"] == "user")
