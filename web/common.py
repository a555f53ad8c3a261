"""What every page shares: the Jinja2 environment, "who is asking" for pages (redirect to sign-in instead of a
401), role checks that render a 403 page, and errors shown as HTML (a message, never a stack trace)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from api.deps import OptionalUser
from core.errors import Conflict, CrmError, InvalidInput, NotFound
from core.models.enums import Role
from core.repositories.scoping import Principal
from core.services.auth import Forbidden, Unauthenticated

HERE = Path(__file__).resolve().parent
PAGE_PREFIX = "/app"
MAX_FIELD = 20_000


class LoginRequired(Exception):
    """Raised by page dependencies when nobody is signed in: the handler redirects to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url



async def read_form(request: Request) -> FormData:
    """The posted form, read on the event loop; the handler itself is a plain `def` and runs in the thread pool,
    so its database work (row locks included) never stalls other requests."""
    return await request.form()


FormDep = Annotated[FormData, Depends(read_form)]

def _money(value: Any, currency: str = "") -> str:
    if value is None:
        return "-"
    return f"{Decimal(value):,.0f} {currency}".strip()


def _cents(value: Any, currency: str = "") -> str:
    """Exact money (reports and orders compare to the cent; `money` rounds to whole units for overviews)."""
    if value is None:
        return "-"
    return f"{Decimal(value):,.2f} {currency}".strip()


def _ratio(value: Any) -> str:
    """A ratio as the service rounded it (ROI has four places); none is a dash."""
    return "-" if value is None else f"{Decimal(value):.4f}"


def _plain(value: Any) -> str:
    """A quantity without trailing zeros (2.000 seats are 2 seats)."""
    if value is None:
        return "-"
    number = Decimal(value)
    return f"{number.normalize():f}" if number.is_finite() else str(number)


def _when(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.0f}%"


def _tojson_pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


@cache
def templates() -> Jinja2Templates:
    """Built on first use (nothing at import time); autoescaping is on for .html."""
    t = Jinja2Templates(directory=str(HERE / "templates"))
    t.env.filters.update(money=_money, cents=_cents, ratio=_ratio, plain=_plain, when=_when, pct=_pct,
                         pretty=_tojson_pretty)
    t.env.globals["Role"] = Role
    return t


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """A page with the signed-in user and the CSRF token every form and htmx request carries."""
    user: Principal | None = getattr(request.state, "principal", None)
    base = {"user": user, "csrf": getattr(request.state, "csrf_token", ""), "flash": request.query_params.get("msg")}
    return templates().TemplateResponse(request, name, base | context, status_code=status_code)


def page_user(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """Dependency: the signed-in person (else a redirect to sign-in); roles not listed get a 403 page.
    No roles listed: every signed-in role. Admins always pass."""
    allowed = frozenset(roles) | {Role.admin} if roles else None

    async def dep(request: Request, user: OptionalUser) -> Principal:
        if user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        if allowed is not None and user.role not in allowed:
            raise Forbidden(f"this page is not for the {user.role.value} role")
        return user

    return dep


def form_text(form: FormData, name: str, *, required: bool = True, max_len: int = MAX_FIELD) -> str:
    """One text field of a submitted form, validated: a problem is an InvalidInput naming the field."""
    value = form.get(name)
    text = value.strip() if isinstance(value, str) else ""
    if required and not text:
        raise InvalidInput(name, "is required")
    if len(text) > max_len:
        raise InvalidInput(name, f"is longer than {max_len} characters")
    if "\x00" in text:
        raise InvalidInput(name, "must not contain NUL characters")
    return text


def form_int(form: FormData, name: str) -> int:
    raw = form_text(form, name, max_len=19)
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(name, "must be a positive whole number")
    return int(raw)


def status_of(exc: CrmError) -> int:
    if isinstance(exc, Unauthenticated):
        return 401
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, InvalidInput):
        return 422
    if isinstance(exc, Conflict):
        return 409
    if type(exc).__name__ == "RateLimited":
        return 429
    return 400


def message_of(exc: CrmError) -> str:
    if isinstance(exc, InvalidInput):
        return f"{exc.field}: {exc.message}" if exc.field else str(exc.message)
    return str(exc)


def error_page(request: Request, exc: CrmError) -> HTMLResponse:
    status = status_of(exc)
    titles = {401: "Please sign in", 403: "Not allowed", 404: "Not found", 409: "Conflict", 422: "Invalid input"}
    return render(request, "error.html", {"title": titles.get(status, "Request failed"), "message": message_of(exc),
                                          "status": status}, status_code=status)


def is_page(request: Request) -> bool:
    return request.url.path == PAGE_PREFIX or request.url.path.startswith(PAGE_PREFIX + "/")


def install_error_pages(app: Any) -> None:
    """Page paths answer HTML errors; every other path keeps the JSON API's handlers (wrapped, not replaced)."""
    api_crm = app.exception_handlers.get(CrmError)
    api_validation = app.exception_handlers.get(RequestValidationError)

    async def crm(request: Request, exc: Exception) -> Response:
        if is_page(request) and isinstance(exc, CrmError):
            if isinstance(exc, Unauthenticated):
                return RedirectResponse(f"{PAGE_PREFIX}/login", status_code=303)
            return error_page(request, exc)
        assert api_crm is not None
        return await api_crm(request, exc)  # type: ignore[no-any-return]

    async def validation(request: Request, exc: Exception) -> Response:
        if is_page(request) and isinstance(exc, RequestValidationError):
            errors = exc.errors()
            first = errors[0] if errors else {"loc": ("request",), "msg": "invalid request"}
            field = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
            return error_page(request, InvalidInput(field, str(first.get("msg", "invalid"))))
        assert api_validation is not None
        return await api_validation(request, exc)  # type: ignore[no-any-return]

    async def login_required(request: Request, exc: Exception) -> Response:
        target = exc.next_url if isinstance(exc, LoginRequired) else PAGE_PREFIX + "/"
        return RedirectResponse(f"{PAGE_PREFIX}/login?next={quote(target, safe='')}", status_code=303)

    app.add_exception_handler(CrmError, crm)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(LoginRequired, login_required)


def safe_next(value: str | None) -> str:
    """Only local page paths (no open redirect to another site)."""
    if value and value.startswith(PAGE_PREFIX) and not value.startswith("//") and "\\" not in value:
        return value
    return PAGE_PREFIX + "/"
