"""Contract tests: a real ChatOpenAI talking to a scripted server (request payloads, usage, retries, timeouts)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.llm import ledger, retry
from core.llm.factory import get_chat_model, model_config
from core.llm.structured import StructuredOutputError, extract
from tests.llm_mock import ScriptedServer, llm_settings, read_timeout, status, text, tool

MESSAGES = [SystemMessage(content="You write short CRM notes."), HumanMessage(content="Summarise the call.")]


class Contact(BaseModel):
    """A person named in a CRM note."""

    name: str = Field(description="Full name")
    age: int = Field(ge=0, le=130)


def chat(server: ScriptedServer, purpose: str = "drafting", **overrides: object) -> tuple:
    settings = llm_settings(**overrides)
    return get_chat_model(purpose, settings=settings, http_client=server.client()), model_config(purpose, settings)


def test_request_payload_names_model_temperature_max_tokens_and_messages() -> None:
    server = ScriptedServer(text("Call went well."))
    model, cfg = chat(server)
    reply = retry.invoke(model, MESSAGES, cfg, sleep=server.sleep)
    assert reply.text == "Call went well."
    [body] = server.requests
    assert body["model"] == "test-model"
    assert body["temperature"] == 0.3
    assert body["max_completion_tokens"] == 200
    assert body["stream"] is False
    assert body["messages"] == [{"role": "system", "content": "You write short CRM notes."},
                                {"role": "user", "content": "Summarise the call."}]
    [request] = server.http
    assert request.url == httpx.URL("http://llm.test/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"


def test_purpose_override_changes_model_and_temperature() -> None:
    server = ScriptedServer(text("fine"))
    model, cfg = chat(server, "judge", llm_purposes={"judge": {"model": "judge-model", "temperature": 0,
                                                                "max_tokens": 32}})
    retry.invoke(model, MESSAGES, cfg, sleep=server.sleep)
    body = server.requests[0]
    assert (body["model"], body["temperature"], body["max_completion_tokens"]) == ("judge-model", 0, 32)


def test_local_model_is_also_sent_max_tokens() -> None:
    """llama-cpp-python's server ignores max_completion_tokens; without max_tokens it generates to n_ctx."""
    server = ScriptedServer(text("hi"))
    settings = llm_settings(llm_base_url=None, llm_model=None, llm_max_tokens=64)
    cfg = model_config("drafting", settings)
    assert cfg.local and cfg.label == "smollm2@local"
    retry.invoke(get_chat_model("drafting", settings=settings, http_client=server.client()), MESSAGES, cfg)
    body = server.requests[0]
    assert (body["model"], body["max_tokens"], body["max_completion_tokens"]) == ("smollm2", 64, 64)


def test_remote_model_is_not_sent_the_legacy_max_tokens() -> None:
    server = ScriptedServer(text("hi"))
    model, cfg = chat(server)
    retry.invoke(model, MESSAGES, cfg)
    assert "max_tokens" not in server.requests[0]


def test_structured_request_uses_function_calling_with_a_forced_tool() -> None:
    server = ScriptedServer(tool({"name": "Ann Lee", "age": 41}))
    result = extract(Contact, MESSAGES, settings=llm_settings(), http_client=server.client(), sleep=server.sleep)
    assert result.value == Contact(name="Ann Lee", age=41)
    assert (result.outcome, result.attempts, result.model) == ("ok", 1, "test-model")
    assert (result.input_tokens, result.output_tokens) == (60, 15)
    body = server.requests[0]
    [spec] = body["tools"]
    assert spec["type"] == "function"
    assert spec["function"]["name"] == "Contact"
    assert spec["function"]["parameters"]["required"] == ["name", "age"]
    assert spec["function"]["parameters"]["properties"]["age"]["type"] == "integer"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Contact"}}
    assert "response_format" not in body


def test_usage_is_parsed_into_a_priced_ledger_row(session: Session) -> None:
    server = ScriptedServer(text("ok", usage=(1200, 300)))
    settings = llm_settings(llm_prices={"test-model": [0.15, 0.6]})
    model, cfg = get_chat_model("drafting", settings=settings, http_client=server.client()), model_config(
        "drafting", settings)
    done = retry.invoke_counted(model, MESSAGES, cfg)
    usage = done.value.usage_metadata
    assert usage is not None and (usage["input_tokens"], usage["output_tokens"]) == (1200, 300)
    row = ledger.record_call(session, agent="deal_coach", purpose=cfg.purpose, prompt_ref="deal_coach.next_step@1",
                             model=cfg.label, input_tokens=usage["input_tokens"],
                             output_tokens=usage["output_tokens"], latency_ms=done.latency_ms,
                             attempts=done.attempts, outcome="ok", run_id=7, settings=settings)
    session.refresh(row)
    assert (row.input_tokens, row.output_tokens, row.attempts, row.run_id) == (1200, 300, 1, 7)
    assert row.cost_usd == Decimal("0.000360")  # 1200 * 0.15e-6 + 300 * 0.6e-6


@pytest.mark.parametrize("code", [429, 500, 502, 503])
def test_retryable_status_is_retried_then_succeeds(code: int) -> None:
    server = ScriptedServer(status(code), status(code), text("recovered"))
    model, cfg = chat(server)
    done = retry.invoke_counted(model, MESSAGES, cfg, sleep=server.sleep)
    assert done.value.text == "recovered"
    assert done.attempts == 3 and len(server.requests) == 3
    assert len(server.sleeps) == 2
    assert retry.WAIT_MIN_S <= server.sleeps[0] <= retry.WAIT_MULTIPLIER_S
    assert retry.WAIT_MIN_S <= server.sleeps[1] <= 2 * retry.WAIT_MULTIPLIER_S


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(code: int) -> None:
    server = ScriptedServer(status(code), text("never sent"))
    model, cfg = chat(server)
    with pytest.raises(retry.ModelCallError) as caught:
        retry.invoke(model, MESSAGES, cfg, sleep=server.sleep)
    assert len(server.requests) == 1 and server.sleeps == []
    assert caught.value.attempts == 1 and caught.value.retryable is False
    assert "test-model (drafting) failed after 1 attempt(s)" in str(caught.value)
    assert str(code) in str(caught.value)


def test_retries_stop_after_max_attempts() -> None:
    server = ScriptedServer(*[status(503)] * 4)
    model, cfg = chat(server, llm_max_attempts=4)
    with pytest.raises(retry.ModelCallError) as caught:
        retry.invoke(model, MESSAGES, cfg, sleep=server.sleep)
    assert caught.value.attempts == 4 and len(server.requests) == 4 and caught.value.retryable
    assert len(server.sleeps) == 3
    assert all(retry.WAIT_MIN_S <= s <= retry.WAIT_MAX_S for s in server.sleeps)


def test_bugs_in_our_code_are_neither_retried_nor_dressed_as_model_errors() -> None:
    calls: list[int] = []

    def buggy() -> None:
        calls.append(1)
        raise KeyError("usage")

    with pytest.raises(KeyError):
        retry.call(buggy, model_config("drafting", llm_settings()), sleep=lambda s: None)
    assert calls == [1]


def test_retry_after_header_is_honoured_but_capped() -> None:
    server = ScriptedServer(status(429, {"retry-after": "7"}), status(429, {"retry-after": "900"}), text("ok"))
    model, cfg = chat(server)
    retry.invoke(model, MESSAGES, cfg, sleep=server.sleep)
    assert server.sleeps[0] == pytest.approx(7.0)
    assert server.sleeps[1] == retry.WAIT_MAX_S


def test_read_timeout_is_retried_and_reported() -> None:
    server = ScriptedServer(read_timeout(), text("second try"))
    model, cfg = chat(server)
    assert retry.invoke_counted(model, MESSAGES, cfg, sleep=server.sleep).attempts == 2

    server = ScriptedServer(read_timeout(), read_timeout(), read_timeout())
    model, cfg = chat(server)
    with pytest.raises(retry.ModelCallError) as caught:
        retry.invoke(model, MESSAGES, cfg, sleep=server.sleep)
    assert caught.value.attempts == 3 and "Timeout" in str(caught.value)


def test_configured_timeout_reaches_the_transport() -> None:
    server = ScriptedServer(text("ok"))
    model, cfg = chat(server, llm_timeout_s=2.5)
    retry.invoke(model, MESSAGES, cfg)
    assert server.http[0].extensions["timeout"] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A real socket that accepts connections and never answers: only a client timeout ends the wait."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_timeout_is_honoured_against_a_silent_server(silent_server: int) -> None:
    settings = llm_settings(llm_base_url=f"http://127.0.0.1:{silent_server}/v1", llm_timeout_s=0.3,
                            llm_max_attempts=2)
    cfg = model_config("drafting", settings)
    started = time.perf_counter()
    with pytest.raises(retry.ModelCallError) as caught:
        retry.invoke(get_chat_model("drafting", settings=settings), MESSAGES, cfg, sleep=lambda s: None)
    elapsed = time.perf_counter() - started
    assert caught.value.attempts == 2 and "Timeout" in str(caught.value)
    assert 0.5 <= elapsed < 2.0


def test_structured_repair_turn_shows_the_bad_output_and_the_error_in_one_user_turn() -> None:
    server = ScriptedServer(tool({"name": "Ann Lee", "age": "forty-one"}), tool({"name": "Ann Lee", "age": 41}))
    result = extract(Contact, MESSAGES, settings=llm_settings(), http_client=server.client())
    assert result.value.age == 41
    assert (result.outcome, result.attempts) == ("repaired", 2)
    assert (result.input_tokens, result.output_tokens) == (120, 30)
    repair = server.requests[1]
    assert [m["role"] for m in repair["messages"]] == ["system", "user"]
    note = repair["messages"][1]["content"]
    assert note.startswith("Summarise the call.")
    assert '"age": "forty-one"' in note
    assert "age: Input should be a valid integer" in note
    assert repair["tools"] == server.requests[0]["tools"]


def test_structured_failure_after_repair_raises_with_raw_output_and_errors() -> None:
    server = ScriptedServer(tool({"name": "Ann Lee"}), tool({"name": "Ann Lee", "age": 400}))
    with pytest.raises(StructuredOutputError) as caught:
        extract(Contact, MESSAGES, settings=llm_settings(), http_client=server.client())
    err = caught.value
    assert err.raw == '{"name": "Ann Lee", "age": 400}'
    assert "age: Input should be less than or equal to 130" in err.errors
    assert (err.attempts, err.input_tokens, err.output_tokens) == (2, 120, 30)
    assert "Field required" in server.user_text(1)  # the first error was shown in the repair turn


def test_structured_broken_json_and_missing_tool_call_are_repaired() -> None:
    server = ScriptedServer(tool('{"name": "Ann", "age": 4'), tool({"name": "Ann", "age": 4}))
    result = extract(Contact, MESSAGES, settings=llm_settings(), http_client=server.client())
    assert result.outcome == "repaired"
    assert '{"name": "Ann", "age": 4' in server.user_text(1)

    server = ScriptedServer(text("Ann is four."), tool({"name": "Ann", "age": 4}))
    result = extract(Contact, MESSAGES, settings=llm_settings(), http_client=server.client())
    assert result.outcome == "repaired"
    assert "did not call the Contact function" in server.user_text(1)
    assert "Ann is four." in server.user_text(1)


def test_structured_transient_errors_are_retried_inside_one_turn() -> None:
    server = ScriptedServer(status(503), tool({"name": "Ann", "age": 4}))
    result = extract(Contact, MESSAGES, settings=llm_settings(), http_client=server.client(), sleep=server.sleep)
    assert (result.outcome, result.attempts, len(server.sleeps)) == ("ok", 2, 1)
