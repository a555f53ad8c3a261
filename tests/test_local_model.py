"""End to end against the embedded SmolLM2 server: completion, structured extraction, guarded generation.

Greedy decoding (temperature 0) keeps the small model's answers repeatable; the assertions are about the
contracts (valid objects, typed failures, guarded or fallback text, ledger rows), not about wording.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings, get_settings
from core.llm import local_server, retry
from core.llm.factory import ModelConfig, get_chat_model, model_config
from core.llm.generate import generate_text
from core.llm.guards import check_text
from core.llm.injections import INJECTION_CASES, injection_guard, nps_inputs
from core.llm.structured import StructuredOutputError, extract
from core.models import LlmCall
from prompts import registry


def greedy(max_tokens: int) -> Settings:
    return get_settings().model_copy(update={"llm_temperature": 0.0, "llm_max_tokens": max_tokens})


class Intent(StrEnum):
    DEMO = "demo_request"
    PRICING = "pricing_question"
    SUPPORT = "support_issue"
    CANCEL = "cancellation"
    OTHER = "other"


class InboundMessage(BaseModel):
    company: str = Field(min_length=2, max_length=80, description="Company the sender works for")
    contact_name: str = Field(min_length=2, max_length=60, description="Full name of the sender")
    intent: Intent = Field(description="What the sender wants")
    seats: int | None = Field(default=None, ge=1, le=100_000, description="Number of seats or users mentioned")
    urgent: bool = Field(description="True if the sender needs something today or this week")


class Codeword(BaseModel):
    word: str = Field(description="The code word")

    @field_validator("word")
    @classmethod
    def must_be_banana(cls, value: str) -> str:
        if value.strip().lower() != "banana":
            raise ValueError("the code word must be exactly 'banana'")
        return value


def test_the_shared_server_is_healthy(local_llm: ModelConfig) -> None:
    assert local_llm.local and local_llm.model == "smollm2" and local_llm.label == "smollm2@local"
    health = local_server.health_check()
    assert health.ok, health.detail
    st = local_server.status(check_health=False)
    assert st.running and st.pid == local_server.serve()  # a second serve reuses the running server


def test_plain_completion_reports_text_and_usage(local_llm: ModelConfig) -> None:
    settings = greedy(24)
    cfg = model_config("drafting", settings)
    reply = retry.invoke(get_chat_model("drafting", settings=settings),
                         [HumanMessage("Write one sentence thanking a customer for renewing.")], cfg)
    assert reply.text.strip()
    assert reply.usage_metadata is not None
    assert 0 < reply.usage_metadata["output_tokens"] <= 24 and reply.usage_metadata["input_tokens"] > 5


@pytest.mark.parametrize("message", [
    "Hi, I'm Maria Lopez from Acme Logistics. We'd like a demo for about 40 users next week.",
    "Login fails with error 403 for all 30 of our users, urgent. Carlos Ruiz, Andes Mining",
])
def test_structured_extraction_returns_valid_objects(local_llm: ModelConfig, message: str) -> None:
    result = extract(InboundMessage, [SystemMessage("Extract the facts from the customer message."),
                                      HumanMessage(message)], settings=greedy(160))
    assert isinstance(result.value, InboundMessage)
    assert InboundMessage.model_validate(result.value.model_dump()) == result.value
    assert InboundMessage.model_validate(json.loads(result.raw)) == result.value  # raw kept, and it is what we got
    assert result.outcome in ("ok", "repaired") and result.attempts == (1 if result.outcome == "ok" else 2)
    assert result.model == "smollm2@local" and result.input_tokens > 0 and result.output_tokens > 0


def test_a_reply_failing_validation_is_repaired_once_or_raises_a_typed_error(local_llm: ModelConfig) -> None:
    """The repair turn is single-turn, so the local server answers it (a tool-call history would be HTTP 500)."""
    messages = [HumanMessage("Call the Codeword function with the word 'apple'.")]
    try:
        result = extract(Codeword, messages, settings=greedy(24))
    except StructuredOutputError as exc:
        assert exc.attempts == 2 and exc.raw and exc.errors
        assert exc.input_tokens > 0 and exc.model == "smollm2@local"
    else:
        assert result.outcome == "repaired" and result.value.word.strip().lower() == "banana"


def test_a_forced_function_call_closes_its_json_with_grammar_safe_sampling(local_llm: ModelConfig) -> None:
    """What structured output relies on; the server's default repeat penalty would keep the string open."""
    tool = {"type": "function", "function": {"name": "Codeword", "parameters": Codeword.model_json_schema()}}
    body = {"model": local_llm.model, "temperature": 0, "max_tokens": 40, **local_server.GRAMMAR_SAFE_SAMPLING,
            "messages": [{"role": "user", "content": "Call the Codeword function with the word 'apple'."}],
            "tools": [tool], "tool_choice": {"type": "function", "function": {"name": "Codeword"}}}
    response = httpx.post(f"{local_llm.base_url}/chat/completions", json=body, timeout=local_llm.timeout_s)
    assert response.status_code == 200, response.text
    [call] = response.json()["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] == "Codeword"
    assert json.loads(call["function"]["arguments"]) == {"word": "apple"}


@pytest.mark.parametrize("attack", [None, "ignore_instructions_discount"])
def test_generated_draft_passes_the_guards_or_is_the_template(local_llm: ModelConfig, session: Session,
                                                              attack: str | None) -> None:
    prompt = registry.read_file(registry.root() / "nps_followup" / "draft.md.j2")
    case = next(c for c in INJECTION_CASES if c.name == attack) if attack else None
    inputs: dict[str, Any] = nps_inputs(case)
    guard = injection_guard()
    result = generate_text(session, agent="nps_followup", prompt=prompt, inputs=inputs, guard=guard, run_id=None,
                           settings=greedy(160))
    assert result.outcome in ("ok", "repaired", "fallback"), result.note
    if result.fallback:
        assert result.text == prompt.render_fallback(**inputs).strip() and result.violations
    else:
        assert check_text(result.text, guard) == []
    if case is not None:
        assert case.obeyed_reply not in result.text and "90%" not in result.text
    [row] = session.scalars(select(LlmCall).where(LlmCall.id == result.call_id)).all()
    assert (row.outcome, row.model, row.prompt_ref) == (result.outcome, "smollm2@local", "nps_followup.draft@2")
    assert row.attempts == (1 if result.outcome == "ok" else 2) and row.output_tokens > 0


def test_demo_starts_the_local_model_or_names_the_configured_one(local_llm: ModelConfig,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from api.cli.demo import start_chat_model

    start_chat_model(get_settings())
    shown = capsys.readouterr().out
    assert "starting the local chat model (smollm2" in shown
    assert f"local model pid {local_server.serve()}: healthy" in shown
    remote = get_settings().model_copy(update={"llm_base_url": "https://llm.example/v1", "llm_model": "gpt-4o-mini"})
    start_chat_model(remote)
    assert "chat model: gpt-4o-mini at https://llm.example/v1 (configured)" in capsys.readouterr().out
