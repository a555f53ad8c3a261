"""Which agents exist: specs registered explicitly or loaded lazily from the modules in settings.agent_modules.

An agent module exposes `agent_specs() -> list[AgentSpec]`; nothing registers at import time, so importing a
module has no effect until the registry asks for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.config import get_settings
from core.errors import InvalidInput
from core.models import OutboxEvent

GraphBuilder = Callable[[Any], Any]
Gather = Callable[[Session, int | None, datetime], dict[str, Any]]
Subjects = Callable[[Session, datetime], list[int]]
EventSubject = Callable[[OutboxEvent], int | None]


def _aggregate_id(event: OutboxEvent) -> int | None:
    return event.aggregate_id


@dataclass(frozen=True)
class AgentSpec:
    """How to run one agent: its graph, its deterministic inputs, and what triggers it."""

    name: str
    subject_type: str
    build_graph: GraphBuilder  # (checkpointer) -> compiled LangGraph graph with context_schema=RunContext
    gather: Gather  # (session, subject_id, now) -> JSON-able inputs; their sha256 is the run's input_hash
    events: tuple[str, ...] = ()  # outbox topics that trigger a run
    event_subject: EventSubject = _aggregate_id  # event -> subject id (None: the event is not for this agent)
    schedule: str | None = None  # key into settings.agent_schedules
    subjects: Subjects | None = None  # (session, now) -> subject ids for a scheduled sweep
    needs_llm: bool = False

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 60:
            raise InvalidInput("agent", f"name must be 1 to 60 characters, got {self.name!r}")
        if self.schedule is not None and self.subjects is None:
            raise InvalidInput("subjects", f"scheduled agent {self.name} needs a subjects(session, now) function")


_explicit: dict[str, AgentSpec] = {}


def register(spec: AgentSpec) -> AgentSpec:
    """Add an agent (tests, plugins); registering the same name twice with another spec is a mistake."""
    known = _explicit.get(spec.name)
    if known is not None and known is not spec:
        raise InvalidInput("agent", f"{spec.name} is already registered")
    _explicit[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    _explicit.pop(name, None)


def _module_specs(module_name: str) -> list[AgentSpec]:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput("agent_modules", f"cannot import {module_name}: {exc}") from exc
    specs = getattr(module, "agent_specs", None)
    if specs is None:
        raise InvalidInput("agent_modules", f"{module_name} has no agent_specs() function")
    return list(specs())


def _all() -> dict[str, AgentSpec]:
    found: dict[str, AgentSpec] = {}
    for module_name in get_settings().agent_modules:
        for spec in _module_specs(module_name):
            if spec.name in found and found[spec.name] != spec:
                raise InvalidInput("agent_modules", f"agent {spec.name} is defined twice")
            found[spec.name] = spec
    return found | _explicit


def get(name: str) -> AgentSpec:
    specs = _all()
    if name not in specs:
        known = ", ".join(sorted(specs)) or "none (set SALESAGENTS_AGENT_MODULES)"
        raise InvalidInput("agent", f"unknown agent {name!r}; registered: {known}")
    return specs[name]


def all_specs() -> list[AgentSpec]:
    return sorted(_all().values(), key=lambda s: s.name)


def for_topic(topic: str) -> list[AgentSpec]:
    """Agents an outbox topic triggers."""
    return [spec for spec in all_specs() if topic in spec.events]


def scheduled() -> list[AgentSpec]:
    """Agents with a schedule key (the beat schedule reads their cron from settings.agent_schedules)."""
    return [spec for spec in all_specs() if spec.schedule is not None]
