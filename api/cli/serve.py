"""`salesagents api`: serve the REST API with uvicorn (the app is built by api.app.create_app)."""

from __future__ import annotations

from typing import Annotated

import typer


def api(host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8000,
        workers: Annotated[int, typer.Option("--workers", help="Worker processes.", min=1, max=64)] = 1,
        reload: Annotated[bool, typer.Option("--reload", help="Restart on code changes (development).")]
        = False,
        factory: Annotated[str, typer.Option(
            "--app", help="App factory MODULE:FUNCTION (e.g. one that adds the web pages to the API).")]
        = "api.app:create_app") -> None:
    """Run the API (OpenAPI docs at /docs, spec at /openapi.json, metrics at /metrics)."""
    import uvicorn

    from core.config import get_settings
    from core.db.engine import ensure_database, resolve_url
    from core.errors import InvalidInput

    settings = get_settings()
    ensure_database(resolve_url(settings))
    if workers > 1 and not settings.rate_limit_shared:
        typer.echo(f"note: {workers} processes each keep their own per-IP limits (sign-in, web form); set "
                   "SALESAGENTS_RATE_LIMIT_SHARED=true to share them through Redis", err=True)
    module, _, function = factory.partition(":")
    if not module or not function:
        raise InvalidInput("--app", f"expected MODULE:FUNCTION, got {factory!r}")
    uvicorn.run(factory, factory=True, host=host, port=port, workers=workers, reload=reload,
                proxy_headers=True)
