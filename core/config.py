"""Settings, read once per entry point through pydantic-settings so every process agrees on them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Service configuration; environment variables win over a `.env` file in the working directory."""

    model_config = SettingsConfigDict(env_prefix="SALESAGENTS_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "SALESAGENTS_DATABASE_URL"),
        description="PostgreSQL URL (needs the vector, pg_trgm and citext extensions). Unset: embedded server.",
    )
    data_dir: Path = Field(
        default=REPO_ROOT / ".data",
        description="Where the embedded PostgreSQL, the local model and other state live.",
    )
    database_name: str = Field(default="salesagents", description="Database created on the embedded server.")
    datasets_dir: Path = Field(
        default=REPO_ROOT.parent / "shared" / "datasets",
        description="Public data sets for evals and benchmarks (never copied into the repo).",
    )
    sql_echo: bool = Field(default=False, description="Log every SQL statement.")

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
