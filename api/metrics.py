"""Prometheus metrics: requests by route template and status, and latency; one registry per app instance."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("salesagents_http_requests_total", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("salesagents_http_request_seconds", "Time to answer an HTTP request",
                                 ["method", "route"], registry=self.registry)
        self.rate_limited = Counter("salesagents_public_leads_rate_limited_total",
                                    "Web-form lead submissions refused by the per-IP limit", registry=self.registry)
        self.agent_runs = Counter("salesagents_api_agent_runs_total", "Agent runs started through the API",
                                  ["agent"], registry=self.registry)

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI, metrics: Metrics) -> None:
    """Label by route template (/deals/{deal_id}), never the raw path, so label cardinality stays bounded."""

    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            template = getattr(route, "path", "unmatched")
            metrics.requests.labels(request.method, template, str(status)).inc()
            metrics.latency.labels(request.method, template).observe(time.perf_counter() - start)
