"""Account descriptions: a sentence or two from industry, size, country, group, products and traits.

They give the embedding job and agents real text to search. Drawn from their own RNG, seeded by the seed and
the account's name, so adding them leaves every other seeded value exactly as it was.
"""

from __future__ import annotations

import random

from core.models.enums import Lifecycle
from core.seeding import vocab
from core.seeding.accounts import AccountPlan
from core.seeding.world import World

BUSINESS: dict[str, tuple[str, ...]] = {
    "Software": ("builds B2B SaaS for finance teams", "develops mobile apps for retail chains",
                 "runs a cloud platform for HR and payroll"),
    "Financial Services": ("offers consumer loans and credit cards", "manages investment funds for families",
                           "provides payment processing for online merchants"),
    "Manufacturing": ("makes industrial components for car makers", "produces packaging and plastic parts",
                      "manufactures steel structures for construction"),
    "Retail & E-commerce": ("sells fashion through stores and an online shop", "runs a grocery delivery marketplace",
                            "distributes consumer electronics to resellers"),
    "Logistics": ("runs freight forwarding and bonded warehouses", "operates last-mile delivery fleets",
                  "handles cold-chain transport for food producers"),
    "Healthcare": ("operates private clinics and a diagnostics lab", "distributes medical devices to hospitals",
                   "makes generic pharmaceuticals"),
    "Education": ("runs language schools and online courses", "provides corporate training programmes",
                  "operates international schools"),
    "Real Estate": ("develops and leases office buildings", "manages residential property portfolios",
                    "brokers commercial real estate"),
    "Telecommunications": ("provides fibre broadband to businesses", "resells mobile plans to enterprises",
                           "builds and operates data-centre networks"),
    "Professional Services": ("offers audit and tax advisory", "runs an IT consulting practice",
                              "provides recruitment and staffing services"),
    "Media & Entertainment": ("produces video content and streaming shows", "publishes news sites and magazines",
                              "organises concerts and live events"),
    "Energy": ("installs rooftop solar for factories", "trades electricity and gas to businesses",
               "services wind farms"),
    "Hospitality": ("runs a chain of business hotels", "operates resorts and a travel agency",
                    "manages restaurants and catering"),
    "Government": ("is a public agency serving citizens and businesses", "runs municipal services for a city",
                   "is a state-owned utility"),
}
SIZE_WORDS = {"smb": "small", "mid_market": "mid-sized", "enterprise": "large"}
TAG_SENTENCES = {
    "reference-customer": "Happy to act as a reference for prospects.",
    "price-sensitive": "Very price-sensitive; every renewal is negotiated hard.",
    "security-review": "Security and compliance review every vendor before signing.",
    "expansion-target": "Room to grow into more teams and seats.",
    "beta-program": "Joins our beta programme and gives early product feedback.",
    "partner-referral": "Came to us through a partner referral.",
}
PRODUCT_NAMES = {
    "CORE-SEAT": "Sales Cloud seats",
    "ANALYTICS": "the Analytics add-on",
    "AI-ASSIST": "the AI Assistant",
    "SUPPORT-PREM": "Premium Support",
    "API-TIER": "API access",
    "ONBOARD": "an onboarding package",
    "MIGRATION": "a data migration",
    "TRAINING": "training workshops",
}


def _products(account: AccountPlan) -> list[str]:
    """Products bought (contracts) or, for prospects, the ones quoted in their deals; in catalogue order."""
    skus = {line.sku for contract in account.contracts for line in contract.lines}
    if not skus:
        skus = {line.sku for deal in account.deals for line in deal.lines}
    return [PRODUCT_NAMES[sku] for sku, *_rest in vocab.PRODUCTS if sku in skus]


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _country(name: str) -> str:
    return f"the {name}" if name in ("United States", "United Kingdom", "Netherlands") else name


def _erp_clause(erp: str) -> str:
    return "spreadsheets and no ERP" if erp == "none" else erp


def describe(world: World, account: AccountPlan) -> str:
    """Two to four sentences a salesperson would write about the company."""
    rng = random.Random(f"{world.seed}:description:{account.row['name']}")
    row = account.row
    industry = row["industry"]
    erp = _erp_clause(row["custom_fields"]["erp_system"])
    what = rng.choice(BUSINESS.get(industry, ("serves business customers",)))
    kind = "public-sector organisation" if industry == "Government" else f"{industry.lower()} company"
    first = (f"{row['name']} {what}: a {SIZE_WORDS[account.size]} {kind} in {_country(account.country.name)} "
             f"with about {row['employees']:,} staff")
    if account.parent is not None:
        first += f", part of the {account.parent.row['name']} group"
    sentences = [first + "."]
    products = _products(account)
    lifecycle = account.lifecycle()
    if products and lifecycle is Lifecycle.customer:
        sentences.append(f"Uses {_join(products)} alongside {erp}.")
    elif products and lifecycle is Lifecycle.churned:
        sentences.append(f"Former customer: used {_join(products)}, then left; runs {erp}.")
    elif products:
        sentences.append(f"Evaluating {_join(products)}; runs {erp} today.")
    else:
        sentences.append(f"Runs {erp}; no purchase from us yet.")
    need = account.lead.row.get("bant_need") if account.lead is not None else None
    if need:
        sentences.append(f"Original need: {need}.")
    tags = [t for t in row["tags"] if t in TAG_SENTENCES]
    if tags:
        sentences.append(TAG_SENTENCES[rng.choice(tags)])
    return " ".join(sentences)


def add_descriptions(world: World, accounts: list[AccountPlan]) -> None:
    """Runs after deals and contracts are planned, so descriptions can name what each account bought."""
    for account in accounts:
        account.row["description"] = describe(world, account)
