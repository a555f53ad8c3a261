"""All ORM models, imported here so Alembic and the session see the complete metadata."""

from core.models.accounts import Account, Contact, ContactEmail, ContactPhone
from core.models.agents import AgentRun, AgentScore, Approval, Draft, MailMessage, ReviewFeedback, Suggestion
from core.models.auth import ApiKey, WebSession
from core.models.base import Base
from core.models.catalog import PriceBook, PriceBookEntry, Product
from core.models.engagement import Activity, Task
from core.models.evals import EvalCaseResult, EvalFeedbackCase, EvalRun
from core.models.finance import Invoice, Payment
from core.models.identity import Team, Territory, User
from core.models.leads import Lead, LeadScoreHistory
from core.models.llm import LlmCall, PromptLabel, PromptLabelEvent, PromptVersion, TextEmbedding
from core.models.marketing import Campaign, CampaignTouch
from core.models.pipeline import Deal, DealStageHistory, Pipeline, Stage
from core.models.sales import Quote, QuoteLine, SalesOrder, SalesOrderLine
from core.models.success import Contract, NpsResponse, NpsSurvey, Ticket, UsageSnapshot
from core.models.system import AuditLog, CustomFieldDefinition, OutboxEvent, Segment

__all__ = [
    "AgentRun", "AgentScore", "Approval", "Draft", "MailMessage", "ReviewFeedback", "Suggestion",
    "Account", "Activity", "AuditLog", "Base", "Campaign", "CampaignTouch", "Contact", "ContactEmail",
    "ContactPhone", "Contract", "CustomFieldDefinition", "Deal", "DealStageHistory", "Invoice", "Lead",
    "LeadScoreHistory", "LlmCall", "NpsResponse", "NpsSurvey", "OutboxEvent", "Payment", "Pipeline",
    "PriceBook", "PriceBookEntry", "Product", "PromptLabel", "PromptLabelEvent", "PromptVersion", "Quote",
    "QuoteLine", "SalesOrder", "SalesOrderLine", "Segment", "Stage", "Task", "Team", "Territory",
    "TextEmbedding", "Ticket", "UsageSnapshot", "User",
    "EvalCaseResult", "EvalFeedbackCase", "EvalRun",
    "ApiKey", "WebSession",
]
