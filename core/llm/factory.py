"""The one place that reads model settings and builds chat models (langchain-openai `ChatOpenAI`).

Purposes (`drafting`, `extraction`, `judge`, …) may override model, temperature, base URL, key, timeout
and max tokens. SDK retries are off (`max_retries=0`): retrying is done once, in `core.llm.retry`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from langchain_openai import ChatOpenAI

from core.config import Settings, get_settings

LOCAL_MODEL_ALIAS = "smollm2"
PURPOSES = ("drafting", "extraction", "classification", "judge", "default")


@dataclass(frozen=True)
class ModelConfig:
    purpose: str
    base_url: str
    api_key: str
    model: str
    temperature: float
    max_tokens: int
    timeout_s: float
    max_attempts: int
    local: bool

    @property
    def label(self) -> str:
        """How runs and ledger rows name the model: name plus where it is served."""
        return f"{self.model}@local" if self.local else self.model


def model_config(purpose: str = "default", settings: Settings | None = None) -> ModelConfig:
    s = settings or get_settings()
    override: dict[str, Any] = s.llm_purposes.get(purpose, {})
    base_url = override.get("base_url") or s.llm_base_url
    local = base_url is None
    return ModelConfig(
        purpose=purpose,
        base_url=base_url or s.llm_local_url,
        api_key=override.get("api_key") or s.llm_api_key,
        model=override.get("model") or s.llm_model or LOCAL_MODEL_ALIAS,
        temperature=float(override.get("temperature", s.llm_temperature)),
        max_tokens=int(override.get("max_tokens", s.llm_max_tokens)),
        timeout_s=float(override.get("timeout_s", s.llm_timeout_s)),
        max_attempts=int(override.get("max_attempts", s.llm_max_attempts)),
        local=local,
    )


def get_chat_model(purpose: str = "default", *, settings: Settings | None = None,
                   http_client: httpx.Client | None = None) -> ChatOpenAI:
    """A configured chat model; `http_client` lets contract tests put a MockTransport at the HTTP boundary."""
    cfg = model_config(purpose, settings)
    # llama-cpp-python's server ignores `max_completion_tokens` (what ChatOpenAI sends) and would generate up
    # to n_ctx; it reads the legacy `max_tokens`, which OpenAI itself no longer wants next to the new name.
    # The SmolLM2 alias means that server also when it runs elsewhere (docker-compose.yml's `llm` service).
    extra_body = {"max_tokens": cfg.max_tokens} if cfg.local or cfg.model == LOCAL_MODEL_ALIAS else None
    return ChatOpenAI(base_url=cfg.base_url, api_key=cfg.api_key, model=cfg.model,  # type: ignore[arg-type]
                      temperature=cfg.temperature, max_tokens=cfg.max_tokens,  # type: ignore[call-arg]
                      timeout=cfg.timeout_s, max_retries=0, http_client=http_client, extra_body=extra_body)
