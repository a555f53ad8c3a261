"""What every benchmark shares: a throwaway migrated database, the machine's description, percentiles, the
figures each benchmark hands to the summary (`benchmarks.run`), and a scripted model at the HTTP boundary."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import URL, Engine

from core.db.throwaway import throwaway_database as _throwaway


@contextmanager
def throwaway_database(label: str) -> Iterator[tuple[URL, Engine]]:
    with _throwaway(f"bench_{label}") as pair:
        yield pair


def _proc_field(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        return None
    return None


def machine() -> dict[str, Any]:
    """CPU model, cores and RAM from /proc, so every figure says what it was measured on."""
    mem_kb = _proc_field("/proc/meminfo", "MemTotal")
    ram_gb = round(int(mem_kb.split()[0]) / 1024 / 1024, 1) if mem_kb else None
    return {"cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
            "cores": os.cpu_count(), "ram_gb": ram_gb, "python": platform.python_version(),
            "kernel": platform.release(), "load_avg": [round(x, 2) for x in os.getloadavg()]}


def machine_line(info: dict[str, Any] | None = None) -> str:
    info = info or machine()
    load = " / ".join(f"{x:.1f}" for x in info["load_avg"])
    return f"{info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB RAM (load average 1/5/15 min: {load})"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), inclusive method; a single value is its own percentile."""
    if not values:
        raise ValueError("no values to take a percentile of")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@dataclass(frozen=True)
class Figure:
    """One measured figure next to the baseline measured in the same run; ratio = value / baseline."""

    benchmark: str
    measure: str
    value: float
    unit: str
    baseline: str
    baseline_value: float | None
    size: str
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline_value is None or self.baseline_value == 0:
            return None
        return self.value / self.baseline_value

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"ratio": None if self.ratio is None else round(self.ratio, 4)}


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def summary_table(figures: list[Figure], title: str) -> Any:
    """The one table `make bench` ends with (rich)."""
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col, justify in (("benchmark", "left"), ("measure", "left"), ("value", "right"), ("unit", "left"),
                         ("baseline (same run)", "left"), ("baseline", "right"), ("ratio", "right"),
                         ("size", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for f in figures:
        ratio = f"{f.ratio:,.2f}x" if f.ratio is not None else "-"
        table.add_row(f.benchmark, f.measure, fmt(f.value), f.unit, f.baseline, fmt(f.baseline_value), ratio, f.size)
    return table


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The summary as a Markdown table, from the figures' JSON (for docs/PERFORMANCE.md)."""
    lines = ["| benchmark | measure | value | unit | baseline (same run) | baseline | ratio | size | note |",
             "|---|---|--:|---|---|--:|--:|---|---|"]
    for r in rows:
        ratio = f"{r['ratio']:,.2f}x" if r.get("ratio") is not None else "-"
        cells = [r["benchmark"], r["measure"], fmt(r["value"]), r["unit"], r["baseline"], fmt(r["baseline_value"]),
                 ratio, r["size"], r.get("note", "")]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def write_results(path: Path, figures: list[Figure], *, mode: str, info: dict[str, Any],
                  extra: dict[str, Any] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"mode": mode, "machine": info, "figures": [f.as_json() for f in figures]} | (extra or {})
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


def _completion(body: dict[str, Any], message: dict[str, Any], usage: tuple[int, int]) -> httpx.Response:
    return httpx.Response(200, json={
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": body.get("model", "scripted"),
        "choices": [{"index": 0, "message": message,
                     "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}})


def scripted_client(answer: Callable[[dict[str, Any]], dict[str, Any] | str]) -> tuple[httpx.Client, list[int]]:
    """An OpenAI-compatible model behind httpx.MockTransport (the only stand-in, at the HTTP boundary).

    `answer(body)` returns tool-call arguments (a dict: the request's first tool is called) or reply text.
    Tokens are estimated at 4 characters each. The returned list grows by one per request (its count).
    """
    calls: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls.append(1)
        prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4
        reply = answer(body)
        if isinstance(reply, dict) and body.get("tools"):
            args = json.dumps(reply)
            call = {"id": "call_1", "type": "function",
                    "function": {"name": body["tools"][0]["function"]["name"], "arguments": args}}
            return _completion(body, {"role": "assistant", "content": None, "tool_calls": [call]},
                               (max(1, prompt), max(1, len(args) // 4)))
        content = reply if isinstance(reply, str) else json.dumps(reply)
        return _completion(body, {"role": "assistant", "content": content}, (max(1, prompt), max(1, len(content) // 4)))

    return httpx.Client(transport=httpx.MockTransport(handle)), calls
