"""Helpers for the Celery tests: settings overrides, polling, worker subprocesses (fixtures: celery_fixtures)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.config import REPO_ROOT, Settings, get_settings

REDIS_TEST_DB = 13  # the benchmark uses 14; the service's default is 0
REDIS_TEST_URL = f"redis://127.0.0.1:6379/{REDIS_TEST_DB}"
SAMPLE_MODULES = '["tests.sample_agents"]'


@dataclass(frozen=True)
class BrokerSpace:
    """Redis db 13 with a key prefix of this test's own, so concurrent test runs never see each other's messages."""

    url: str
    prefix: str

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"


def settings_with(**overrides: Any) -> Settings:
    return get_settings().model_copy(update=overrides)


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.05) -> Any:
    """Poll until `check()` is truthy; fail naming what we waited for."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


class WorkerProcess:
    """`celery -A agents.worker_entry worker` in its own process group, so SIGKILL takes parent and children."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path, pool: str = "prefork") -> None:
        self.name = name
        self.log_path = log_path
        self._log = log_path.open("wb")
        cmd = [sys.executable, "-m", "celery", "-A", "agents.worker_entry", "worker", f"--pool={pool}",
               "--concurrency=1", f"--hostname={name}@%h", "--loglevel=INFO", "--without-gossip",
               "--without-mingle", "--without-heartbeat"]
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=os.environ | env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = 30) -> None:
        wait_for(lambda: "ready." in self.log() or self.proc.poll() is not None, timeout_s, f"worker {self.name}")
        if self.proc.poll() is not None:
            pytest.fail(f"worker {self.name} exited with {self.proc.returncode}:\n{self.log()[-3000:]}")

    def pool_children(self) -> list[int]:
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def kill(self) -> None:
        """SIGKILL the whole process group: what a crashed host or an OOM-killed container looks like."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it lingers; always reaps the process group."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # orphaned pool children, if any
        self._log.close()
