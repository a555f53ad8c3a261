"""Load test on loopback: a sustained stream of leads through the real API, beat, two workers and the Lead Scorer.

Every piece runs as its own process, as deployed: `uvicorn api.app:create_app` (one process), `celery beat`
(the outbox dispatcher every `dispatch_interval_s`, the sweeper every minute) and N `celery worker`s (prefork), on
a throwaway database of the embedded PostgreSQL and a private `redis-server` on a spare port. The client sends
`POST /leads` (bearer API key) at a fixed rate from a small thread pool; each new lead commits a `lead.created`
outbox event, beat turns it into a run, a worker scores it. Afterwards every accepted lead must have exactly one
event run and one score: lost and duplicated are counted, and must be 0.

Run: `.venv/bin/python -m benchmarks.load_test [--rate 50] [--duration 120] [--workers 2] [--json PATH]`;
`--quick` is 10 leads/s for 15 s. The Lead Scorer runs without its optional model calls (lead_scorer_llm off):
this measures the event pipeline, not the language model. Exit status 1 when anything was lost or duplicated.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import URL, Engine
from sqlalchemy.orm import Session

from agents.runtime.checkpoint import setup_checkpointer
from benchmarks.common import machine, machine_line, percentile
from core.config import REPO_ROOT, get_settings
from core.db.throwaway import throwaway_database
from core.models import AgentRun, AgentScore, Lead, OutboxEvent
from core.models.enums import LeadSource, LeadStatus, Role
from core.services import auth as auth_service
from tools.lead_scoring import training

AGENT = "lead_scorer"
CLOSED_HISTORY = 150  # closed leads the first scoring model is trained from (before the stream starts)


@dataclass
class Sent:
    index: int
    sent_at: datetime
    status: int
    api_ms: float
    lead_id: int | None


@dataclass
class LoadReport:
    """What one load test measured; `lost` and `duplicated` must be 0."""

    rate: float
    duration_s: float
    workers: int
    concurrency: int
    dispatch_interval_s: float
    machine: dict[str, Any]
    sent: int = 0
    accepted: int = 0
    api_errors: int = 0
    offered_rate: float = 0.0
    api_ms_p50: float = 0.0
    api_ms_p95: float = 0.0
    scored: int = 0
    lost: int = 0
    backlog: int = 0
    duplicated: int = 0
    failed_runs: int = 0
    undispatched_events: int = 0
    throughput_per_s: float = 0.0
    drain_s: float = 0.0
    latency_s: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.accepted > 0 and self.lost == self.duplicated == self.backlog == self.api_errors == 0

    def table(self) -> str:
        lat = self.latency_s
        rows = [
            ("machine", machine_line(self.machine)),
            ("stream", f"{self.rate:g} leads/s for {self.duration_s:g} s; {self.workers} workers x "
                       f"{self.concurrency} process(es), beat dispatch every {self.dispatch_interval_s:g} s"),
            ("sent / accepted / API errors", f"{self.sent} / {self.accepted} / {self.api_errors} "
                                             f"(offered {self.offered_rate:.1f}/s)"),
            ("API latency p50 / p95", f"{self.api_ms_p50:.0f} ms / {self.api_ms_p95:.0f} ms"),
            ("scored (throughput)", f"{self.scored} ({self.throughput_per_s:.1f} scores/s, drained "
                                    f"{self.drain_s:.1f} s after the last request)"),
            ("event -> score p50 / p95 / p99 / max",
             " / ".join(f"{lat.get(k, 0.0):.2f} s" for k in ("p50", "p95", "p99", "max"))),
            ("lost / duplicated", f"{self.lost} / {self.duplicated}"
                                  + (f" ({self.backlog} still queued at the drain timeout)" if self.backlog else "")),
            ("failed runs / undispatched events", f"{self.failed_runs} / {self.undispatched_events}"),
            ("run statuses", ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items()))),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


# --- processes -----------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Proc:
    """A child process in its own group, its output in a log file; stop() always reaps the whole group."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], logdir: Path) -> None:
        self.name, self.log_path = name, logdir / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.log():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not print {text!r} within {timeout_s} s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


def _service_env(url: URL, broker_url: str, dispatch_interval_s: float) -> dict[str, str]:
    """The environment every service process shares: the throwaway database, the private Redis, one agent."""
    env = dict(os.environ)
    env.update({"SALESAGENTS_DATABASE_NAME": str(url.database), "SALESAGENTS_BROKER_URL": broker_url,
                "SALESAGENTS_BROKER_KEY_PREFIX": "", "SALESAGENTS_AGENT_MODULES": json.dumps([f"agents.{AGENT}"]),
                "SALESAGENTS_LEAD_SCORER_LLM": "false", "SALESAGENTS_DISPATCH_INTERVAL_S": str(dispatch_interval_s),
                "PYTHONUNBUFFERED": "1"})
    if get_settings().database_url:
        env["DATABASE_URL"] = url.render_as_string(hide_password=False)
    return env


@contextlib.contextmanager
def _services(url: URL, workers: int, concurrency: int, dispatch_interval_s: float,
              logdir: Path) -> Iterator[str]:
    """Redis, the API, beat and the workers; yields the API's base URL and stops everything afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    redis_port, api_port = _free_port(), _free_port()
    broker_url = f"redis://127.0.0.1:{redis_port}/0"
    env = _service_env(url, broker_url, dispatch_interval_s)
    procs: list[_Proc] = []
    try:
        procs.append(_Proc("redis", [binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                     "--appendonly", "no", "--dir", str(logdir)], env, logdir))
        procs[-1].wait_for("Ready to accept connections", 20)
        celery = [sys.executable, "-m", "celery", "-A", "agents.worker_entry"]
        for n in range(workers):
            procs.append(_Proc(f"worker{n + 1}", [*celery, "worker", "--pool=prefork", f"--concurrency={concurrency}",
                                                  f"--hostname=load{n + 1}@%h", "--loglevel=INFO",
                                                  "--without-gossip", "--without-mingle"], env, logdir))
        procs.append(_Proc("beat", [*celery, "beat", "--loglevel=INFO", "-s", str(logdir / "celerybeat-schedule")],
                           env, logdir))
        procs.append(_Proc("api", [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host",
                                   "127.0.0.1", "--port", str(api_port), "--log-level", "info"], env, logdir))
        base = f"http://127.0.0.1:{api_port}"
        for proc in procs:
            if proc.name.startswith("worker"):
                proc.wait_for("ready.", 90)
        procs[-2].wait_for("beat: Starting", 60)
        _wait_http(base + "/healthz", 60, procs[-1])
        yield base
    finally:
        for proc in reversed(procs):
            proc.stop()


def _wait_http(url: str, timeout_s: float, proc: _Proc) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        if proc.proc.poll() is not None:
            break
        time.sleep(0.3)
    raise RuntimeError(f"the API did not answer {url} within {timeout_s} s:\n{proc.log()[-3000:]}")


# --- data ----------------------------------------------------------------------------------------------------


def _prepare(engine: Engine, keys: int) -> list[str]:
    """Closed-lead history, the first promoted scoring model, an admin and `keys` API keys (their secrets)."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        for n in range(CLOSED_HISTORY):
            employees = rng.choice([5, 20, 80, 300, 1500])
            source = rng.choice([LeadSource.web_form, LeadSource.campaign, LeadSource.manual])
            visits = rng.randint(0, 12)
            converted = (employees >= 300) * 1.2 + (source == LeadSource.campaign) * 1.5 + visits * 0.25 \
                - 2.4 + rng.gauss(0, 0.7) > 0
            session.add(Lead(first_name=f"Hist{n}", last_name="Lead", email=f"hist{n}@history.test",
                             employees=employees, source=source, custom_fields={"site_visits": visits},
                             status=LeadStatus.qualified if converted else LeadStatus.disqualified,
                             converted_at=now - timedelta(days=30) if converted else None,
                             disqualified_reason=None if converted else "no budget"))
        session.flush()
        training.train_and_store(session, now)
        admin = auth_service.create_user(session, email="load@bench.test", full_name="Load Test", role=Role.admin)
        secrets = [auth_service.create_api_key(session, admin.id, f"load test {n + 1}")[1] for n in range(keys)]
    return secrets


def _lead_body(index: int, run_tag: str) -> dict[str, Any]:
    rng = random.Random(index)
    return {"first_name": f"Load{index}", "last_name": "Stream", "email": f"load{index}.{run_tag}@stream.test",
            "company_name": f"Stream Co {index % 97}", "employees": rng.choice([5, 20, 80, 300, 1500]),
            "industry": rng.choice(["Logistics", "Retail", "Software", None]), "source": "campaign",
            "country": rng.choice(["DE", "FR", "US"])}


def _stream(base: str, keys: list[str], rate: float, duration_s: float) -> tuple[list[Sent], float]:
    """POST /leads at `rate` per second for `duration_s`, paced by a clock, from one sender thread per key."""
    total = max(1, int(rate * duration_s))
    run_tag = f"{int(time.time())}"
    threads = len(keys)
    client = httpx.Client(base_url=base, timeout=30,
                          limits=httpx.Limits(max_connections=threads, max_keepalive_connections=threads))
    sent: list[Sent] = []
    lock = threading.Lock()
    local = threading.local()
    free_keys = list(keys)

    def one(index: int) -> None:
        if not hasattr(local, "key"):
            with lock:
                local.key = free_keys.pop()
        at = datetime.now(UTC)
        started = time.perf_counter()
        try:
            response = client.post("/leads", json=_lead_body(index, run_tag),
                                   headers={"authorization": f"Bearer {local.key}"})
            status = response.status_code
            lead_id = response.json().get("id") if status == 201 else None
        except httpx.HTTPError:
            status, lead_id = 0, None
        with lock:
            sent.append(Sent(index, at, status, (time.perf_counter() - started) * 1000, lead_id))

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for index in range(total):
            delay = t0 + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, index)
    elapsed = time.monotonic() - t0
    client.close()
    return sorted(sent, key=lambda s: s.index), elapsed


def _books(engine: Engine, lead_ids: list[int]) -> dict[str, Any]:
    """Scores and runs of the streamed leads, and lead.created events not yet dispatched."""
    with Session(engine) as session:
        scores: dict[int, list[datetime]] = {}
        for lead_id, created in session.execute(
                select(AgentScore.subject_id, AgentScore.created_at)
                .where(AgentScore.agent == AGENT, AgentScore.subject_id.in_(lead_ids))):
            scores.setdefault(int(lead_id), []).append(created)
        runs: dict[int, list[str]] = {}
        for run_subject, status in session.execute(
                select(AgentRun.subject_id, AgentRun.status)
                .where(AgentRun.agent == AGENT, AgentRun.trigger == "event", AgentRun.subject_id.in_(lead_ids))):
            runs.setdefault(int(run_subject or 0), []).append(status)
        statuses = {str(status): int(count) for status, count in session.execute(
            select(AgentRun.status, func.count()).where(AgentRun.agent == AGENT).group_by(AgentRun.status))}
        pending = {int(lead_id or 0) for lead_id in session.scalars(
            select(OutboxEvent.aggregate_id).where(OutboxEvent.topic == "lead.created",
                                                   OutboxEvent.dispatched_at.is_(None)))}
    return {"scores": scores, "runs": runs, "statuses": statuses, "pending": pending}


def _drain(engine: Engine, lead_ids: list[int], timeout_s: float) -> tuple[dict[str, Any], float]:
    """Wait until every accepted lead has a score and no run is waiting or running (or the timeout passes)."""
    started = time.monotonic()
    while True:
        books = _books(engine, lead_ids)
        busy = books["statuses"].get("queued", 0) + books["statuses"].get("running", 0) + len(books["pending"])
        if (len(books["scores"]) >= len(lead_ids) and not busy) or time.monotonic() - started > timeout_s:
            return books, time.monotonic() - started
        time.sleep(0.5)


def run_load(rate: float = 50.0, duration_s: float = 120.0, *, workers: int = 2, concurrency: int = 1,
             dispatch_interval_s: float | None = None, drain_timeout_s: float = 300.0,
             threads: int = 8, shared_key: bool = False, logdir: Path | None = None) -> LoadReport:
    """One load test on a throwaway database; returns the report (callable from a test at a tiny size).

    Each sender thread uses its own API key: concurrent requests with ONE key currently stall the API (see
    docs/RELIABILITY.md, "API"); `shared_key=True` reproduces that.
    """
    interval = dispatch_interval_s if dispatch_interval_s is not None else get_settings().dispatch_interval_s
    report = LoadReport(rate=rate, duration_s=duration_s, workers=workers, concurrency=concurrency,
                        dispatch_interval_s=interval, machine=machine())
    with throwaway_database("load", prepare=setup_checkpointer) as (url, engine), \
            tempfile.TemporaryDirectory(prefix="salesagents-load-") as tmp:
        keys = _prepare(engine, 1 if shared_key else threads)
        logs = logdir or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        with _services(url, workers, concurrency, interval, logs) as base:
            sent, elapsed = _stream(base, keys * threads if shared_key else keys, rate, duration_s)
            lead_ids = [s.lead_id for s in sent if s.lead_id is not None]
            books, report.drain_s = _drain(engine, lead_ids, drain_timeout_s)
        report.machine["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    report.sent, report.accepted = len(sent), len(lead_ids)
    report.api_errors = report.sent - report.accepted
    report.offered_rate = report.sent / elapsed if elapsed else 0.0
    api_ms = [s.api_ms for s in sent]
    report.api_ms_p50, report.api_ms_p95 = percentile(api_ms, 50), percentile(api_ms, 95)
    scores, runs = books["scores"], books["runs"]
    report.scored = len(scores)
    in_flight = {lead for lead in lead_ids if lead in books["pending"]
                 or any(s in ("queued", "running") for s in runs.get(lead, []))}
    unscored = [lead for lead in lead_ids if lead not in scores]
    report.backlog = sum(1 for lead in unscored if lead in in_flight)  # still in the pipeline at the timeout
    report.lost = len(unscored) - report.backlog  # no score and nothing left that would make one
    report.duplicated = sum(1 for lead in lead_ids if len(scores.get(lead, [])) > 1 or len(runs.get(lead, [])) > 1)
    report.statuses = books["statuses"]
    report.failed_runs = report.statuses.get("failed", 0)
    report.undispatched_events = len(books["pending"])
    sent_at = {s.lead_id: s.sent_at for s in sent if s.lead_id is not None}
    latencies = [(min(at) - sent_at[lead]).total_seconds() for lead, at in scores.items() if lead in sent_at]
    if latencies:
        report.latency_s = {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                            "p99": percentile(latencies, 99), "max": max(latencies)}
        first = min(s.sent_at for s in sent)
        last = max(min(at) for at in scores.values())
        window = (last - first).total_seconds()
        report.throughput_per_s = report.scored / window if window > 0 else float(report.scored)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load_test", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="leads per second (default 50)")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of streaming (default 120)")
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=1, help="pool processes per worker (default 1)")
    parser.add_argument("--dispatch-interval", type=float, default=None,
                        help="beat's outbox dispatch interval in seconds (default: the setting, 2 s)")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds to wait for the backlog")
    parser.add_argument("--logs", type=Path, default=None, help="keep the services' logs in this directory")
    parser.add_argument("--shared-key", action="store_true",
                        help="all sender threads use one API key (reproduces the API stall, see RELIABILITY.md)")
    parser.add_argument("--quick", action="store_true", help="10 leads/s for 15 s")
    parser.add_argument("--json", type=Path, default=None,
                        help="results file (default <data_dir>/bench/load_test.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rate, args.duration = 10.0, 15.0
    if args.rate <= 0 or args.duration <= 0 or args.workers < 1 or args.concurrency < 1:
        parser.error("--rate and --duration must be positive, --workers and --concurrency at least 1")
    report = run_load(args.rate, args.duration, workers=args.workers, concurrency=args.concurrency,
                      dispatch_interval_s=args.dispatch_interval, drain_timeout_s=args.drain_timeout,
                      shared_key=args.shared_key, logdir=args.logs)
    print(report.table())
    out = args.json or get_settings().data_dir / "bench" / "load_test.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(asdict(report) | {"ok": report.ok, "at": datetime.now(UTC).isoformat()}, indent=2))
    print(f"results: {out}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
