"""Closed vocabularies of the synthetic CRM, apart from the generator so realism is tuned in one place."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    locale: str  # Faker locale for people, companies, phones, cities ("" = names from this module)
    currency: str
    region: str
    territory: str
    timezone: str
    language: str
    weight: int  # relative share of accounts and leads


COUNTRIES: tuple[Country, ...] = (
    Country(
        "US", "United States", "en_US", "USD", "North America", "North America", "America/New_York", "en", 22
    ),
    Country("CA", "Canada", "en_CA", "USD", "North America", "North America", "America/Toronto", "en", 4),
    Country("VN", "Vietnam", "", "VND", "APAC", "Vietnam", "Asia/Ho_Chi_Minh", "vi", 20),
    Country("GB", "United Kingdom", "en_GB", "USD", "Europe", "Europe", "Europe/London", "en", 8),
    Country("DE", "Germany", "de_DE", "EUR", "Europe", "Europe", "Europe/Berlin", "de", 8),
    Country("FR", "France", "fr_FR", "EUR", "Europe", "Europe", "Europe/Paris", "fr", 5),
    Country("NL", "Netherlands", "nl_NL", "EUR", "Europe", "Europe", "Europe/Amsterdam", "nl", 3),
    Country("ES", "Spain", "es_ES", "EUR", "Europe", "Europe", "Europe/Madrid", "es", 2),
    Country("SE", "Sweden", "sv_SE", "EUR", "Europe", "Europe", "Europe/Stockholm", "sv", 2),
    Country("SG", "Singapore", "en_GB", "USD", "APAC", "APAC", "Asia/Singapore", "en", 5),
    Country("AU", "Australia", "en_AU", "USD", "APAC", "APAC", "Australia/Sydney", "en", 4),
    Country("JP", "Japan", "", "USD", "APAC", "APAC", "Asia/Tokyo", "ja", 3),
    Country("IN", "India", "en_IN", "USD", "APAC", "APAC", "Asia/Kolkata", "en", 5),
    Country("BR", "Brazil", "pt_BR", "USD", "LATAM", "LATAM", "America/Sao_Paulo", "pt", 4),
    Country("MX", "Mexico", "es_MX", "USD", "LATAM", "LATAM", "America/Mexico_City", "es", 2),
)
COUNTRY_BY_CODE = {c.code: c for c in COUNTRIES}
TERRITORIES: tuple[str, ...] = ("North America", "Europe", "APAC", "Vietnam", "LATAM")

# Fixed conversion rates from USD, so a plan priced in USD lands in the account's currency reproducibly.
FX: dict[str, Decimal] = {"USD": Decimal(1), "EUR": Decimal("0.92"), "VND": Decimal(25400)}
TAX_RATE: dict[str, Decimal] = {"VN": Decimal("0.10")}  # Vietnamese VAT; EU B2B is reverse-charged here

TEAMS: tuple[str, ...] = ("Enterprise Sales", "Commercial Sales", "Vietnam Sales", "Customer Success")

INDUSTRIES: tuple[str, ...] = (
    "Software",
    "Financial Services",
    "Manufacturing",
    "Retail & E-commerce",
    "Logistics",
    "Healthcare",
    "Education",
    "Real Estate",
    "Telecommunications",
    "Professional Services",
    "Media & Entertainment",
    "Energy",
    "Hospitality",
    "Government",
)
ERP_SYSTEMS: tuple[str, ...] = (
    "SAP S/4HANA",
    "Oracle NetSuite",
    "Microsoft Dynamics 365",
    "Odoo",
    "Sage",
    "none",
)
ERP_SYSTEMS_VN: tuple[str, ...] = (
    "MISA AMIS",
    "Fast Accounting",
    "Bravo",
    "Odoo",
    "SAP Business One",
    "none",
)

VN_SURNAMES = (
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
)
VN_MIDDLE = ("Văn", "Thị", "Minh", "Thanh", "Đức", "Ngọc", "Quang", "Hoàng", "Thu", "Gia", "Hữu", "Bảo")
VN_GIVEN = (
    "Anh",
    "Bình",
    "Châu",
    "Dũng",
    "Hà",
    "Hải",
    "Hạnh",
    "Hiếu",
    "Hòa",
    "Hùng",
    "Hương",
    "Khánh",
    "Lan",
    "Linh",
    "Long",
    "Mai",
    "Minh",
    "Nam",
    "Nga",
    "Phong",
    "Phúc",
    "Quân",
    "Sơn",
    "Tâm",
    "Thảo",
    "Thủy",
    "Trang",
    "Trung",
    "Tuấn",
    "Vy",
    "Yến",
    "Khoa",
    "Đạt",
    "Huy",
)
VN_COMPANY_STEMS = (
    "Minh Long",
    "Phú Thịnh",
    "An Khang",
    "Hưng Thịnh",
    "Sao Việt",
    "Đại Phát",
    "Thành Công",
    "Tân Á",
    "Hồng Hà",
    "Việt Tiến",
    "Phương Nam",
    "Bắc Hải",
    "Trường Sơn",
    "Kim Ngân",
    "Đông Dương",
    "Hải Âu",
    "Song Lam",
    "Lạc Hồng",
    "Sông Đà",
    "Thiên Ân",
    "Nam Việt",
    "Toàn Cầu",
)
VN_COMPANY_FORMS = ("JSC", "Co., Ltd", "Group", "Corporation")
VN_CITIES = ("Hà Nội", "TP. Hồ Chí Minh", "Đà Nẵng", "Hải Phòng", "Cần Thơ", "Bình Dương", "Đồng Nai", "Huế")
JP_SURNAMES = (
    "Sato",
    "Suzuki",
    "Takahashi",
    "Tanaka",
    "Watanabe",
    "Ito",
    "Yamamoto",
    "Nakamura",
    "Kobayashi",
    "Kato",
    "Yoshida",
    "Yamada",
    "Sasaki",
    "Matsumoto",
    "Inoue",
)
JP_GIVEN = (
    "Haruto",
    "Yuto",
    "Sota",
    "Ren",
    "Takumi",
    "Hina",
    "Yui",
    "Aoi",
    "Sakura",
    "Mei",
    "Kenji",
    "Akira",
    "Naoko",
    "Yuki",
    "Daiki",
    "Emi",
)
JP_CITIES = ("Tokyo", "Osaka", "Yokohama", "Nagoya", "Fukuoka", "Sapporo", "Kyoto")
SECTOR_WORDS: dict[str, tuple[str, ...]] = {
    "Software": ("Software", "Digital", "Cloud", "Tech"),
    "Financial Services": ("Capital", "Finance", "Securities"),
    "Manufacturing": ("Industries", "Manufacturing", "Steel", "Plastics"),
    "Logistics": ("Logistics", "Transport"),
    "Retail & E-commerce": ("Retail", "Trading", "Commerce"),
    "Healthcare": ("Medical", "Pharma", "Health"),
    "Education": ("Education", "Academy"),
    "Real Estate": ("Land", "Properties", "Realty"),
    "Telecommunications": ("Telecom", "Networks"),
    "Professional Services": ("Consulting", "Partners"),
    "Media & Entertainment": ("Media", "Studios"),
    "Energy": ("Energy", "Power", "Solar"),
    "Hospitality": ("Hospitality", "Hotels", "Travel"),
    "Government": ("Public Services", "Authority"),
}
SUBSIDIARY_SUFFIXES = (
    "Holdings",
    "Services",
    "Solutions",
    "Labs",
    "Operations",
    "Digital",
    "Trading",
    "International",
)

SEGMENT_BY_SIZE = {"smb": "Velocity", "mid_market": "Growth", "enterprise": "Strategic"}
ACCOUNT_TAGS = (
    "reference-customer",
    "partner-referral",
    "expansion-target",
    "beta-program",
    "multi-entity",
    "security-review",
    "price-sensitive",
)
CONTACT_TAGS = ("champion", "exec-sponsor", "technical", "newsletter", "event-attendee")

TITLES: dict[str, tuple[str, ...]] = {
    "decision_maker": (
        "CEO",
        "CFO",
        "COO",
        "CTO",
        "VP of Sales",
        "Head of Revenue Operations",
        "Managing Director",
        "Chief Commercial Officer",
        "VP Customer Success",
    ),
    "influencer": (
        "Sales Director",
        "IT Manager",
        "Procurement Manager",
        "Head of Marketing",
        "Sales Operations Lead",
        "Finance Manager",
        "Solutions Architect",
    ),
    "user": (
        "Account Executive",
        "Sales Representative",
        "Business Analyst",
        "Customer Success Specialist",
        "Marketing Specialist",
        "Operations Coordinator",
        "Inside Sales Rep",
    ),
}
LEAD_TITLES_WITH_AUTHORITY = TITLES["decision_maker"] + ("Sales Director", "Head of Marketing")
LEAD_TITLES_WITHOUT_AUTHORITY = TITLES["user"] + ("IT Manager", "Procurement Manager", "Student", "Intern")

# Products: sku, name, family, recurring, USD list price per unit (per seat per year for seat products).
PRODUCTS: tuple[tuple[str, str, str, bool, Decimal], ...] = (
    ("CORE-SEAT", "Sales Cloud seat (annual)", "Platform", True, Decimal(600)),
    ("ANALYTICS", "Analytics add-on, per seat (annual)", "Add-on", True, Decimal(120)),
    ("AI-ASSIST", "AI Assistant add-on, per seat (annual)", "Add-on", True, Decimal(180)),
    ("SUPPORT-PREM", "Premium Support (annual)", "Support", True, Decimal(4800)),
    ("API-TIER", "API access tier (annual)", "Platform", True, Decimal(3000)),
    ("ONBOARD", "Onboarding package", "Services", False, Decimal(2500)),
    ("MIGRATION", "Data migration", "Services", False, Decimal(6000)),
    ("TRAINING", "Training workshop (day)", "Services", False, Decimal(1800)),
)
# Price books: name, is_default, currencies it lists, multiplier on the list price.
PRICE_BOOKS: tuple[tuple[str, bool, tuple[str, ...], Decimal], ...] = (
    ("Standard", True, ("USD", "EUR", "VND"), Decimal(1)),
    ("Enterprise", False, ("USD", "EUR", "VND"), Decimal("0.85")),
    ("Vietnam SME", False, ("VND",), Decimal("0.70")),
)
PLANS = {"smb": "Starter", "mid_market": "Professional", "enterprise": "Enterprise"}
FEATURES = (
    "pipeline",
    "email_sync",
    "reports",
    "mobile_app",
    "quotes",
    "sequences",
    "ai_assistant",
    "api",
    "forecasting",
    "territories",
)

COMPETITORS = (
    "Salesforce",
    "HubSpot",
    "Pipedrive",
    "Zoho CRM",
    "Microsoft Dynamics",
    "Freshsales",
    "Base.vn",
)
LOST_REASONS_NO_COMPETITOR = (
    "Price too high",
    "No decision / went dark",
    "Timing: budget frozen until next year",
    "Missing feature: offline mobile",
    "Chose to build in-house",
    "Champion left",
)
RENEWAL_LOST_REASONS = (
    "Low adoption",
    "Budget cut",
    "Moved to competitor",
    "Company acquired",
    "Support issues",
)

LEAD_NEEDS = (
    "Replace spreadsheets for pipeline tracking",
    "Consolidate three CRMs after an acquisition",
    "Quote in VND and USD from one price book",
    "Forecast accuracy for the board",
    "Automate follow-up emails",
    "Give field reps a mobile CRM",
    "Track renewals and churn risk",
    "Connect the website forms to sales",
)
LEAD_TIMELINES = ("this quarter", "next quarter", "this year", "no timeline")
DQ_NO_BUDGET = "No budget"
DQ_NO_AUTHORITY = "Not a decision maker; no access to one"
DQ_TOO_SMALL = "Too small: outside our ideal customer profile"
DQ_UNRESPONSIVE = "Unresponsive after 5 attempts"
DQ_OTHER = (
    "Chose a competitor",
    "Duplicate of an existing lead",
    "Timing: revisit next year",
    "Student or job seeker",
    "Wrong country / not served",
)
LEAD_SOURCE_DETAIL = {
    "email": ("sales@ inbox", "info@ inbox"),
    "api": ("partner portal", "Zapier integration"),
    "csv_import": ("trade show badge scans", "purchased contact list", "webinar attendee export"),
    "chat": ("website chat", "pricing page chat"),
    "manual": ("referral", "cold call", "LinkedIn outreach"),
    "web_form": ("demo request form", "pricing form", "ebook download"),
    "campaign": ("campaign landing page",),
}
UTM_TERMS = (
    "crm for sales teams",
    "sales pipeline software",
    "phần mềm crm",
    "crm vietnam",
    "ai sales assistant",
    "customer success software",
    "salesforce alternative",
)
UTM_CONTENT = ("hero-cta", "pricing-page", "blog-sidebar", "case-study", "footer-link", "video-ad")

CAMPAIGN_TOPICS = (
    "Pipeline Automation",
    "Forecasting with AI",
    "Renewals Playbook",
    "CRM for Manufacturing",
    "Scaling Sales in Vietnam",
    "Customer Health Scores",
    "Quote-to-Cash",
    "Sales Ops Summit",
)
CHANNEL_UTM: dict[str, tuple[str, str]] = {
    "email": ("newsletter", "email"),
    "event": ("event", "offline"),
    "ad": ("google", "cpc"),
    "social": ("linkedin", "social"),
    "webinar": ("webinar", "email"),
    "content": ("blog", "organic"),
    "partner": ("partner", "referral"),
}
CHANNEL_COST_USD: dict[str, tuple[int, int]] = {
    "email": (1000, 5000),
    "event": (20000, 80000),
    "ad": (5000, 40000),
    "social": (2000, 20000),
    "webinar": (2000, 10000),
    "content": (3000, 15000),
    "partner": (5000, 25000),
}

# Subjects per activity kind, for sales work (deals, prospects) and for customer success (CSM check-ins).
SALES_SUBJECTS: dict[str, tuple[str, ...]] = {
    "call": ("Discovery call", "Follow-up call", "Pricing call", "Left voicemail"),
    "email": (
        "Sent proposal",
        "Recap of our meeting",
        "Pricing questions",
        "Intro email",
        "Case study for {company}",
        "Re: contract terms",
    ),
    "meeting": ("Product demo", "Stakeholder workshop", "Security review", "Negotiation meeting"),
    "note": ("Internal note", "Competitive intel", "Champion update"),
}
SUCCESS_SUBJECTS: dict[str, tuple[str, ...]] = {
    "call": ("Check-in call", "Call about renewal", "Adoption review call"),
    "email": (
        "Re: onboarding schedule",
        "Tips for your reporting setup",
        "Re: seat count",
        "Release notes follow-up",
    ),
    "meeting": ("Onboarding kickoff", "Adoption workshop", "Executive sponsor check-in"),
    "note": ("Account plan update", "Health check notes", "Champion update"),
}
ACTIVITY_BODIES = (
    "{contact} asked about {topic}. Next step: {next}.",
    "Walked {contact} through {topic}; next we {next}.",
    "{contact} raised concerns about {topic}. Agreed to {next}.",
    "Good energy from {contact} on {topic}. Plan: {next}.",
)
ACTIVITY_TOPICS = (
    "the reporting module",
    "VND invoicing",
    "the mobile app",
    "SSO and security",
    "pricing tiers",
    "data migration from spreadsheets",
    "the API limits",
    "seat count for next year",
    "the AI assistant",
    "integration with their ERP",
)
NEXT_STEPS = (
    "send a revised quote",
    "schedule a technical deep-dive",
    "loop in their CFO",
    "share two references",
    "run a 2-week pilot",
    "review the contract redlines",
    "book the QBR",
)

TICKET_SUBJECTS = (
    "Gmail sync stopped working",
    "Invoice PDF shows wrong tax amount",
    "SSO login fails with SAML error",
    "Export to Excel times out",
    "Need more seats before month end",
    "API returns 429 rate limit errors",
    "Mobile app crashes when offline",
    "Duplicate contacts after CSV import",
    "Report totals do not match",
    "How to set up territories",
    "Password reset email not received",
    "VND amounts rounded incorrectly",
)
TICKET_PRIORITY_SLA_HOURS = {"urgent": 4, "high": 8, "normal": 24, "low": 72}

NPS_PROMOTER = (
    "The pipeline view saves our team hours every week.",
    "Onboarding was excellent; our CSM knew our business.",
    "Forecasts are finally something the board trusts.",
    "Support answers within the hour, every time.",
    "Quoting in VND and USD from one place is a game changer for us.",
    "The AI assistant drafts follow-ups our reps actually send.",
)
NPS_PASSIVE = (
    "Solid product, but reports could be faster.",
    "Works well; the mobile app needs offline mode.",
    "Good value, though setup took longer than promised.",
    "Fine for now; we would like deeper ERP integration.",
)
NPS_DETRACTOR = (
    "The Android app crashes every time it syncs contacts offline.",
    "Support took five days to answer our P1 ticket about SSO.",
    "Renewal price went up 20% without any warning.",
    "Reports time out once we pass 10,000 deals.",
    "Invoices in VND are rounded wrongly and finance has to fix them by hand.",
    "Gmail sync keeps breaking and reps have stopped logging emails.",
    "We pay for 200 seats and half the team never logs in; nobody helped us roll it out.",
    "Duplicate contacts after every import; data quality is getting worse.",
)
NPS_DETRACTOR_VI = (
    "Ứng dụng di động hay bị lỗi khi đồng bộ danh bạ.",
    "Hỗ trợ phản hồi quá chậm, ticket của chúng tôi chờ 5 ngày.",
    "Hóa đơn VND bị làm tròn sai, kế toán phải sửa tay.",
)
NPS_PROMOTER_VI = (
    "Báo giá bằng VND và USD rất tiện cho đội kinh doanh.",
    "Đội ngũ hỗ trợ nhiệt tình, triển khai nhanh.",
)

TASK_TITLES = {
    "deal": (
        "Follow up on proposal with {contact}",
        "Send revised quote to {contact}",
        "Book demo for {account}",
        "Confirm decision timeline with {contact}",
    ),
    "renewal": ("Prepare renewal for {account}", "Review usage before renewal call with {account}"),
    "invoice": ("Chase overdue invoice {number}",),
    "lead": ("Call new lead {name}", "Qualify {name}: budget and authority"),
    "onboarding": ("Run onboarding kickoff for {account}", "Check adoption after 30 days at {account}"),
}
