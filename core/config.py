"""Settings, read once per entry point through pydantic-settings so every process agrees on them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Service configuration; environment variables win over a `.env` file in the working directory."""

    model_config = SettingsConfigDict(env_prefix="SALESAGENTS_", env_file=".env", extra="ignore", populate_by_name=True)

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

    # Chat models (any OpenAI-compatible server). Unset base URL: the embedded llama.cpp server below.
    llm_base_url: str | None = Field(default=None, description="OpenAI-compatible base URL, e.g. https://api.openai.com/v1.")
    llm_api_key: str = Field(
        default="not-needed", validation_alias=AliasChoices("SALESAGENTS_LLM_API_KEY", "OPENAI_API_KEY"),
        description="API key (any string for local servers).")
    llm_model: str | None = Field(default=None, description="Model name; unset with no base URL: the embedded SmolLM2.")
    llm_temperature: float = Field(default=0.2, description="Default sampling temperature.")
    llm_max_tokens: int = Field(default=512, description="Default cap on generated tokens per call.")
    llm_timeout_s: float = Field(default=60.0, description="Timeout of every model call, in seconds.")
    llm_max_attempts: int = Field(default=3, description="Attempts per call on retryable errors (429, 5xx, timeouts).")
    llm_purposes: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Per-purpose overrides as JSON, e.g. {"judge": {"model": "gpt-4o", "temperature": 0}}.')
    llm_prices: dict[str, list[float]] = Field(
        default_factory=dict,
        description='USD per million tokens [input, output] by model, e.g. {"gpt-4o-mini": [0.15, 0.6]}.')
    llm_budgets: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description='Per-agent token budgets, e.g. {"nps_followup": {"per_run": 4000, "per_day": 200000}}.')
    llm_default_budget_per_run: int = Field(default=8000, description="Tokens per run for agents without a budget.")
    llm_default_budget_per_day: int = Field(default=500_000, description="Tokens per day for agents without a budget.")
    llm_local_port: int = Field(default=8765, description="Port of the embedded llama.cpp server (127.0.0.1).")
    llm_local_ctx: int = Field(default=4096, description="Context window of the embedded model.")

    # Embeddings: unset base URL means the local all-MiniLM-L6-v2 (384 dims, offline).
    embedding_base_url: str | None = Field(default=None, description="OpenAI-compatible /v1 base for embeddings.")
    embedding_api_key: str = Field(default="not-needed", description="API key of the embeddings server.")
    embedding_model: str = Field(default="text-embedding-3-small",
                                 description="Remote embedding model (asked for 384 dimensions).")

    # Agent runtime: Celery on Redis, schedules, approvals, mail.
    broker_url: str = Field(default="redis://127.0.0.1:6379/0", description="Celery broker (Redis).")
    task_expires_s: int = Field(default=3600, description="Every task message expires after this many seconds.")
    run_stuck_after_s: int = Field(
        default=900, description="The sweeper fails runs running without a heartbeat this long; re-sends queued ones.")
    event_debounce_s: int = Field(
        default=60, description="Events on one subject within this window cause one run (e.g. ten activities).")
    dispatch_interval_s: float = Field(default=2.0, description="How often the outbox dispatcher polls.")
    broker_key_prefix: str = Field(
        default="", description="Prefix of every Redis key of the broker (deployments sharing one Redis).")
    broker_visibility_timeout_s: int = Field(
        default=600, description="A message whose worker died is redelivered after this long; keep it above the "
                                 "longest run and below run_stuck_after_s.")
    agent_schedules: dict[str, str] = Field(
        default_factory=lambda: {
            "deal_coach": "0 7 * * *", "quote_followup": "30 7 * * *", "health_monitor": "0 6 * * 1",
            "upsell_detector": "30 6 * * 1", "expansion_detector": "0 6 1 * *", "lead_model_retrain": "0 2 * * *",
            "approval_sla": "*/5 * * * *", "sweep_stuck_runs": "* * * * *",
        },
        description='Cron expressions (UTC) per scheduled job, JSON; e.g. {"deal_coach": "0 8 * * 1-5"}.')
    agent_modules: list[str] = Field(
        default_factory=lambda: ["agents.lead_scorer", "agents.quote_followup", "agents.auto_labeler"],
        description='Modules whose `agent_specs()` register agents, JSON; e.g. ["agents.lead_scorer"].')
    lead_routing: Literal["off", "round_robin", "territory"] = Field(
        default="round_robin",
        description="Who gets an unassigned new lead: active reps in turn (round_robin), the reps of the territory "
                    "listing the lead's country code, in turn (territory; any rep when none matches), or nobody.")
    lead_scorer_llm: bool = Field(
        default=False,
        description="Lead Scorer also reads BANT from a lead's notes and emails and writes the rep a rationale and "
                    "next step with the model (one or two model calls per scored lead).")
    quote_followup_after_days: int = Field(
        default=5, ge=1, description="A sent quote without an answer this many days gets a nudge (then every as many).")
    quote_followup_after_days_by_pipeline: dict[str, int] = Field(
        default_factory=dict, description='Per pipeline (by name) nudge delay in days, JSON; e.g. {"Enterprise": 10}.')
    quote_followup_escalate_days: int = Field(
        default=3, ge=0, description="A quote valid this many days or fewer gets a last nudge and an urgent task.")
    auto_label_industries: list[str] = Field(
        default_factory=lambda: ["Basic Materials", "Communication Services", "Consumer Cyclical",
                                 "Consumer Defensive", "Energy", "Financial Services", "Healthcare", "Industrials",
                                 "Real Estate", "Technology", "Utilities"],
        description="Industry taxonomy the Auto-Labeler chooses from (accounts labeled with these teach it), JSON.")
    auto_labeler_llm: bool = Field(
        default=False,
        description="Auto-Labeler asks the model (choices limited to the taxonomy) for an account's industry when "
                    "similar labeled accounts leave it unsure or there are too few of them.")
    approval_escalate_after_min: int = Field(default=240, description="Unreviewed drafts escalate to the manager.")
    approval_expire_after_min: int = Field(default=4320, description="Unreviewed drafts expire (never sent).")
    mail_transport: str = Field(default="local", description="`local`: mail stays in mail_messages; `smtp`: sent.")
    smtp_host: str | None = Field(default=None, description="SMTP server (with mail_transport=smtp).")
    smtp_port: int = Field(default=587, description="SMTP port.")
    smtp_user: str | None = Field(default=None, description="SMTP user name.")
    smtp_password: str | None = Field(default=None, description="SMTP password.")
    smtp_starttls: bool = Field(default=True, description="Upgrade the SMTP connection with STARTTLS.")
    mail_from: str = Field(default="success@salesagents.example", description="Sender address of outgoing mail.")

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def llm_local_url(self) -> str:
        return f"http://127.0.0.1:{self.llm_local_port}/v1"

    @property
    def uses_local_llm(self) -> bool:
        return self.llm_base_url is None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
