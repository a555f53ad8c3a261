"""Environment variable names of every setting, and the `.env.example` text generated from `Settings`.

Deployments configure the service only through the environment, so the example file must name every setting the
class reads; generating it from the class (`python -m core.config_env > .env.example`) keeps the two from drifting,
and tests/test_deployment.py fails when they do.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, AliasPath, SecretBytes, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from core.config import REPO_ROOT, Settings

# Settings that docker-compose.yml sets for the application containers (service host names, the data volume);
# the example shows them commented out with the value compose uses, since a value here would override compose's.
COMPOSE_SETS: dict[str, str] = {
    "database_url": "docker-compose.yml builds it from the POSTGRES_* variables above (the `db` service); set it "
                    "only for an external PostgreSQL with pgvector.",
    "broker_url": "docker-compose.yml uses redis://redis:6379/0 (the `redis` service); set it only for an external "
                  "broker.",
    "llm_base_url": "docker-compose.yml uses http://llm:8080/v1 (the `llm` service of the local-llm profile); set it "
                    "for vLLM, Ollama or a hosted model.",
    "llm_model": "docker-compose.yml uses smollm2 (the model the `llm` service serves); set it with the base URL.",
    "data_dir": "docker-compose.yml always sets /data (a volume in the container).",
}

# Variables read by docker compose itself or by third-party images, never by the service. Anything else a
# deployment file names must be a setting.
COMPOSE_ONLY: dict[str, tuple[str, str]] = {
    "COMPOSE_PROFILES": ("local-llm", "Optional services to start: `local-llm` runs the SmolLM2 llama.cpp server; "
                                      "empty when SALESAGENTS_LLM_BASE_URL names an external endpoint."),
    "POSTGRES_USER": ("salesagents", "Owner role of the compose PostgreSQL (superuser: migrations create extensions)."),
    "POSTGRES_PASSWORD": ("", "REQUIRED. Its password; URL-safe characters only (e.g. `openssl rand -hex 24`), "
                              "since compose puts it into DATABASE_URL."),
    "POSTGRES_DB": ("salesagents", "Database of the service."),
    "API_BIND": ("127.0.0.1", "Host address the HTTP API is published on (0.0.0.0: every interface)."),
    "API_PORT": ("8000", "Host port of the HTTP API."),
    "FLOWER_PORT": ("5555", "Host port (127.0.0.1 only) of Flower, the Celery queue monitor."),
    "FLOWER_BASIC_AUTH": ("", "REQUIRED. user:password that Flower asks for (it can revoke tasks and stop workers)."),
    "APP_IMAGE": ("salesagents:latest", "Tag of the application image (built by compose, or one you pushed)."),
    "LLM_IMAGE": ("salesagents-llm:latest", "Tag of the model-server image (the application image plus llama.cpp)."),
}

# Settings whose value is a secret (by name or SecretStr type): shown without a value even where they have a
# harmless default, so nobody copies an example credential into production.
SECRET_NAME = re.compile(r"password|secret|api_key|(?<!max_)tokens?$|private_key", re.IGNORECASE)


@dataclass(frozen=True)
class SettingEnv:
    """One setting as the environment sees it: the names pydantic-settings reads, first one preferred."""

    field: str
    names: tuple[str, ...]
    description: str
    default: str

    @property
    def name(self) -> str:
        return self.names[0]


def env_names(field: str, info: FieldInfo, prefix: str) -> tuple[str, ...]:
    """Names pydantic-settings reads for a field: its aliases when it has any (the prefix is then not applied)."""
    alias = info.validation_alias or info.alias
    if alias is None:
        return (f"{prefix}{field}".upper(),)
    if isinstance(alias, str):
        return (alias,)
    if isinstance(alias, AliasChoices):
        names = tuple(choice for choice in alias.choices if isinstance(choice, str))
        if len(names) != len(alias.choices):
            raise ValueError(f"setting {field}: alias paths cannot be set from the environment")
        return names
    if isinstance(alias, AliasPath):
        raise ValueError(f"setting {field}: alias paths cannot be set from the environment")
    raise ValueError(f"setting {field}: unsupported alias {alias!r}")


def is_secret(field: str, info: FieldInfo) -> bool:
    annotation = str(info.annotation)
    return bool(SECRET_NAME.search(field)) or "SecretStr" in annotation or "SecretBytes" in annotation


def _render_default(field: str, info: FieldInfo) -> str:
    """The default as an environment value: JSON for collections, empty for None and secrets, paths by checkout."""
    if is_secret(field, info):
        return ""
    value: Any = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if value is PydanticUndefined or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        try:
            return f"<checkout>/{value.relative_to(REPO_ROOT).as_posix()}"
        except ValueError:
            return f"<checkout>/../{value.relative_to(REPO_ROOT.parent).as_posix()}"
    if isinstance(value, SecretStr | SecretBytes):
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def settings_env() -> list[SettingEnv]:
    """Every field of Settings in declaration order."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return [SettingEnv(field, env_names(field, info, prefix), info.description or "", _render_default(field, info))
            for field, info in Settings.model_fields.items()]


def known_names() -> set[str]:
    """Every variable a deployment file may name: all names of all settings plus the compose-only ones."""
    return {name for setting in settings_env() for name in setting.names} | set(COMPOSE_ONLY)


def _comment(text: str) -> Iterator[str]:
    for line in textwrap.wrap(text, width=116):
        yield f"# {line}"


def render_env_example() -> str:
    """The whole `.env.example`: compose-only variables set, every setting present but commented out."""
    lines = ["# Configuration of salesagents under docker compose: `cp .env.example .env`, set POSTGRES_PASSWORD,",
             "# then `docker compose up -d` (docs/DEPLOYMENT.md). Generated from core/config.py by",
             "# `python -m core.config_env > .env.example`; tests/test_deployment.py fails when a setting is missing.",
             "# Never commit .env: it holds the secrets.", "",
             "# ---- Read by docker compose and the images it starts, not by the service ----", ""]
    for name, (value, description) in COMPOSE_ONLY.items():
        lines += [*_comment(description), f"{name}={value}", ""]
    lines += ["# ---- Settings of the service (core/config.py); unset ones take the default shown ----", ""]
    for setting in settings_env():
        lines += list(_comment(setting.description))
        if len(setting.names) > 1:
            lines += list(_comment(f"Also read as: {', '.join(setting.names[1:])}."))
        if setting.field in COMPOSE_SETS:
            lines += list(_comment(COMPOSE_SETS[setting.field]))
        lines += [f"# {setting.name}={setting.default}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_env_example())
