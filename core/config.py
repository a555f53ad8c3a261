"""Settings, read once per entry point through pydantic-settings so every process agrees on them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator
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
    run_attempts: int = Field(
        default=3, ge=1, description="Tries per run when the database connection drops under it (failover, pooler "
                                     "restart); other errors fail the run at once.")
    run_retry_delay_s: float = Field(
        default=10.0, ge=0, description="Wait before the first retry of such a run; doubled for each further one.")
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
            "nps_survey": "0 5 * * *", "renewals": "15 5 * * *", "payment_reminders": "0 8 * * 1-5",
            "expire_quotes": "5 0 * * *", "campaign_report": "0 6 * * 1",
        },
        description='Cron expressions (UTC) per scheduled job, JSON; e.g. {"deal_coach": "0 8 * * 1-5"}.')
    agent_modules: list[str] = Field(
        default_factory=lambda: ["agents.lead_scorer", "agents.quote_followup", "agents.auto_labeler",
                                 "agents.nps_followup", "agents.deal_coach",
                                 "agents.health_monitor", "agents.upsell_detector", "agents.expansion_detector",
                                 "agents.renewals", "agents.payment_reminders"],
        description='Modules whose `agent_specs()` register agents, JSON; e.g. ["agents.lead_scorer"].')
    lead_routing: Literal["off", "round_robin", "territory"] = Field(
        default="round_robin",
        description="Who gets an unassigned new lead: active reps in turn (round_robin), the reps of the territory "
                    "listing the lead's country code, in turn (territory; any rep when none matches), or nobody.")
    lead_scorer_llm: bool = Field(
        default=False,
        description="Lead Scorer also reads BANT from a lead's notes and emails and writes the rep a rationale and "
                    "next step with the model (one or two model calls per scored lead).")
    payment_reminder_days: list[int] = Field(
        default_factory=lambda: [3, 14, 30], min_length=1,
        description="Days past due at which an open invoice gets reminder 1, 2, ...; the last one is final and also "
                    "asks the account manager to call, JSON.")
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
    # NPS Follow-up and survey scheduling (agents/nps_followup).
    nps_survey_milestones: dict[str, str] = Field(
        default_factory=lambda: {"30_day": "start+30", "90_day": "start+90", "renewal": "end-60"},
        description='When a contract\'s contacts get an NPS survey, JSON: name -> "start+DAYS" (after the contract '
                    'starts), "end-DAYS" (before it ends) or "every+DAYS" (recurring in its term, e.g. '
                    '{"monthly": "every+30"}); accounts tagged no-surveys get none.')
    nps_company_name: str = Field(
        default="Customer Success", description="Company name NPS replies and survey invitations are signed with.")
    nps_survey_catch_up_days: int = Field(
        default=7, ge=0, description="A milestone missed (beat down) still gets its survey this many days later.")
    # Upsell Opportunity Detector (weekly), Expansion Signal Detector (monthly), renewals (tools/upsell).
    upsell_seat_ratio: float = Field(
        default=0.9, gt=0, description="Seats used / seat limit at or above which an account shows seat pressure.")
    upsell_strong_seat_ratio: float = Field(
        default=1.0, gt=0, description="Seat pressure this high is strong on its own (a proposed expansion deal).")
    upsell_seat_increment: float = Field(
        default=0.2, gt=0, description="Extra seats a seat-pressure proposal offers, as a share of the seat limit.")
    upsell_similar_accounts: int = Field(
        default=10, ge=1, description="Cross-sell: how many accounts with the most similar product sets to compare.")
    upsell_cross_sell_min_share: float = Field(
        default=0.5, gt=0, le=1, description="Cross-sell: share of those similar accounts that must own a product.")
    upsell_cross_sell_min_accounts: int = Field(
        default=3, ge=1, description="Cross-sell: similar accounts that must own a product (at least).")
    upsell_description_max_distance: float = Field(
        default=0.35, ge=0, le=2, description="Cross-sell for a customer that owns nothing yet: accounts whose "
                                              "description embedding lies within this cosine distance are similar.")
    upsell_strong_min_signals: int = Field(
        default=2, ge=1, description="Opportunity signals (payment health not counted) that make a suggestion "
                                     "strong enough to propose an expansion deal; overdue invoices never propose.")
    upsell_pipeline: str | None = Field(
        default=None, description="Pipeline (by name) of proposed expansion deals; unset or absent: the default.")
    upsell_llm: bool = Field(
        default=False, description="Upsell/Expansion suggestions also get a model-written 'why now, next step' "
                                   "paragraph (guarded; the template otherwise); one model call per new suggestion.")
    expansion_growth_days: int = Field(
        default=90, ge=7, description="Usage growth: the window whose first and last snapshots are compared.")
    expansion_growth_min: float = Field(
        default=0.2, gt=0, description="Usage growth: relative rise of active users across the window (0.2 = 20%).")
    expansion_new_contacts_days: int = Field(
        default=30, ge=1, description="New team members: contacts created at the account within this many days.")
    expansion_new_contacts_min: int = Field(
        default=2, ge=1, description="New team members: how many new contacts make the signal.")
    expansion_nps_days: int = Field(default=180, ge=1, description="Positive NPS: responses this recent count.")
    expansion_nps_min_score: int = Field(default=9, ge=0, le=10, description="Positive NPS: latest score at least.")
    expansion_engagement_days: int = Field(
        default=60, ge=1, description="High engagement: activities at the account within this many days...")
    expansion_engagement_min_activities: int = Field(default=3, ge=1, description="...at least this many.")
    expansion_payment_days: int = Field(
        default=365, ge=1, description="Payment health: invoices issued within this many days, none overdue.")
    expansion_deal_share: float = Field(
        default=0.2, gt=0, description="Amount of a proposed expansion deal from expansion signals, share of ARR.")
    renewal_window_days: int = Field(
        default=90, ge=1, description="Contracts ending within this many days get a renewal deal and quote draft.")
    renewal_pipeline: str = Field(
        default="Renewals", description="Pipeline (by name) of renewal deals; absent: the default pipeline.")
    # Deal Coach (agents/deal_coach): stall flags, norms learned from won deals, similar won deals.
    deal_coach_no_activity_days: int = Field(
        default=14, ge=1, description="An open deal without any activity this many days is flagged no_activity.")
    deal_coach_push_threshold: int = Field(
        default=2, ge=1, description="An expected close date moved later this many times flags close_date_pushed.")
    deal_coach_decision_maker_from_position: int = Field(
        default=2, ge=1, description="From this stage position on, a deal without activity with a decision maker "
                                     "is flagged no_decision_maker.")
    deal_coach_norm_quantile: float = Field(
        default=0.75, gt=0, le=1, description="A stage's norm: this quantile of won deals' days in it.")
    deal_coach_norm_min_samples: int = Field(
        default=5, ge=1, description="Won deals needed to learn a stage's norm; fewer: the stage's rot_days.")
    deal_coach_similar_deals: int = Field(
        default=3, ge=0, description="Similar won deals (pgvector over account descriptions) shown to the model; "
                                     "0 turns the search off.")
    # Customer Health Monitor (agents/health_monitor, tools/health).
    health_weights: dict[str, float] = Field(
        default_factory=lambda: {"usage": 0.25, "support": 0.2, "finance": 0.2, "engagement": 0.15,
                                 "contract": 0.2},
        description='Health score weights, JSON: per category (usage, support, finance, engagement, contract; '
                    'split evenly over its signals) or per signal ("finance.days_overdue"), a signal entry '
                    'overriding its category; e.g. {"usage": 0.4, "support.satisfaction": 0}.')
    health_use_learned_weights: bool = Field(
        default=True, description="Score with the weights learned from churn history (`salesagents health weights "
                                  "--learn`) when a version is promoted; else with health_weights.")
    health_ar_scale: float = Field(
        default=10_000, gt=0, description="Open AR (account currency) at which the AR signal scores one half.")
    health_band_drop_task_days: int = Field(
        default=2, ge=0, description="A drop into a worse health band gives the CSM a task due this many days later.")
    approval_escalate_after_min: int = Field(default=240, description="Unreviewed drafts escalate to the manager.")
    approval_expire_after_min: int = Field(default=4320, description="Unreviewed drafts expire (never sent).")
    mail_transport: str = Field(default="local", description="`local`: mail stays in mail_messages; `smtp`: sent.")
    smtp_host: str | None = Field(default=None, description="SMTP server (with mail_transport=smtp).")
    smtp_port: int = Field(default=587, description="SMTP port.")
    smtp_user: str | None = Field(default=None, description="SMTP user name.")
    smtp_password: str | None = Field(default=None, description="SMTP password.")
    smtp_starttls: bool = Field(default=True, description="Upgrade the SMTP connection with STARTTLS.")
    mail_from: str = Field(default="success@salesagents.example", description="Sender address of outgoing mail.")

    # REST API and web sign-in (issue 8, api helper).
    api_session_ttl_hours: float = Field(default=12, gt=0, description="A web session ends after this long idle.")
    api_cookie_secure: bool = Field(default=False, description="Send the session cookie over HTTPS only.")
    public_leads_per_minute: float = Field(
        default=10, gt=0, description="Web-form lead capture: sustained requests per minute per client IP.")
    public_leads_burst: int = Field(default=5, ge=1, description="Web-form lead capture: burst allowance per IP.")
    rate_limit_shared: bool = Field(
        default=False, description="Keep the per-IP limits (sign-in, web-form capture) in Redis so all API processes "
                                   "share them; turn on when running more than one API process.")

    @field_validator("payment_reminder_days")
    @classmethod
    def _reminder_days(cls, days: list[int]) -> list[int]:
        if any(d < 1 for d in days) or len(set(days)) != len(days):
            raise ValueError("payment_reminder_days: distinct whole days past due, each at least 1")
        return sorted(days)

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
