"""Fixtures for tests against the embedded local model: one shared server, reused across sessions and processes."""

from __future__ import annotations

import pytest

from core.config import get_settings
from core.llm import local_server
from core.llm.factory import ModelConfig, model_config


@pytest.fixture(scope="session")
def local_llm() -> ModelConfig:
    """Serve SmolLM2 on the configured port (reusing a running server, left running for the next session)."""
    settings = get_settings()
    cfg = model_config("default", settings)
    if not cfg.local:
        pytest.fail(f"local-model tests need the embedded model, but chat calls go to {cfg.base_url}: "
                    "unset SALESAGENTS_LLM_BASE_URL")
    local_server.serve(settings)
    return cfg
