"""The telco customers mapped onto the facts the product's health signals read (tools.health.signals).

Mapping (each column used once; gender, SeniorCitizen, PaperlessBilling and TotalCharges, which is about
tenure x MonthlyCharges, are not used; Churn is only the label):
- contract: Contract -> term (1, 12 or 24 months, never auto-renewing) and days to renewal (month-to-month: 30,
  otherwise the rest of the current term from tenure); tenure -> customer age in months.
- finance: PaymentMethod -> share of automatic payments (1 for "(automatic)" methods, else 0);
  MonthlyCharges -> open AR (one month's bill outstanding); no overdue or lateness data (days overdue and
  on-time share unknown).
- usage: the add-on services the customer could have (MultipleLines with phone; OnlineSecurity, OnlineBackup,
  DeviceProtection, StreamingTV, StreamingMovies with internet) -> features adopted / available; no logins.
- support: an internet customer without TechSupport -> one open support need (open ticket), else none.
- engagement: Partner and Dependents -> people on the account (contacts 1..3); no meetings or NPS.
- products held (the product-mix signal: learned retention per product): "Phone" with PhoneService,
  "Internet: DSL" / "Internet: Fiber optic" from InternetService, and each add-on taken (MultipleLines,
  OnlineSecurity, OnlineBackup, DeviceProtection, TechSupport, StreamingTV, StreamingMovies) by its name.
- payment method on file (the payment-method signal: learned retention per method): PaymentMethod as is.
"""

from __future__ import annotations

from typing import Any

from core.errors import InvalidInput
from tools.health.signals import Facts

COLUMNS = ("customerID", "tenure", "Contract", "PaymentMethod", "MonthlyCharges", "PhoneService", "MultipleLines",
           "InternetService", "OnlineSecurity", "OnlineBackup", "DeviceProtection", "TechSupport", "StreamingTV",
           "StreamingMovies", "Partner", "Dependents", "Churn")
TERMS = {"Month-to-month": 1, "One year": 12, "Two year": 24}
INTERNET_ADDONS = ("OnlineSecurity", "OnlineBackup", "DeviceProtection", "StreamingTV", "StreamingMovies")


def _int(row: dict[str, str], column: str, n: int) -> int:
    try:
        return int(float(row[column]))
    except ValueError as exc:
        raise InvalidInput(f"row {n}: {column}", f"{row[column]!r} is not a number") from exc


def label(row: dict[str, str], n: int) -> int:
    value = row["Churn"].strip().lower()
    if value not in ("yes", "no"):
        raise InvalidInput(f"row {n}: Churn", f"{row['Churn']!r} is not Yes/No")
    return int(value == "yes")


def facts(row: dict[str, str], n: int) -> Facts:
    """One customer as the facts `account_facts` would return for a CRM account."""
    tenure = _int(row, "tenure", n)
    term = TERMS.get(row["Contract"])
    if term is None:
        raise InvalidInput(f"row {n}: Contract", f"{row['Contract']!r} is not one of {', '.join(TERMS)}")
    try:
        monthly = float(row["MonthlyCharges"])
    except ValueError as exc:
        raise InvalidInput(f"row {n}: MonthlyCharges", f"{row['MonthlyCharges']!r} is not a number") from exc
    internet = row["InternetService"] != "No"
    available = (["MultipleLines"] if row["PhoneService"] == "Yes" else []) + (list(INTERNET_ADDONS) if internet
                                                                               else [])
    adopted = sum(row[c] == "Yes" for c in available)
    automatic = "(automatic)" in row["PaymentMethod"]
    usage: list[dict[str, Any]] = ([{"captured_on": None, "logins": 0, "active_users": 0, "seats_used": 0,
                                     "features": adopted}] if available else [])
    held = (["Phone"] if row["PhoneService"] == "Yes" else []) + ([f"Internet: {row['InternetService']}"]
                                                                   if internet else [])
    held += [c for c in ("MultipleLines", *INTERNET_ADDONS[:3], "TechSupport", *INTERNET_ADDONS[3:])
             if row[c] == "Yes"]
    return {
        "products": held,
        "features_available": len(available),
        "usage": usage,
        "support": {"open_tickets": 1 if internet and row["TechSupport"] == "No" else 0, "sla_breaches_90d": None,
                    "satisfaction_avg": None, "satisfaction_count": 0, "new_tickets_7d": 0},
        "finance": {"open_ar": monthly, "overdue_invoices": 0, "overdue_ar": 0.0, "max_days_overdue": None,
                    "invoices_due_12m": 0, "paid_on_time_12m": 0, "payments_12m": 1,
                    "autopay_payments_12m": int(automatic), "payment_methods": [row["PaymentMethod"]]},
        "engagement": {"meetings_90d": None, "nps_latest": None,
                       "contacts": 1 + (row["Partner"] == "Yes") + (row["Dependents"] == "Yes")},
        "contract": {"in_force": 1, "arr": monthly * 12, "seat_limit": None,
                     "days_to_renewal": 30 if term == 1 else 30 * (term - tenure % term), "auto_renew": False,
                     "term_months": term, "tenure_months": tenure},
    }
