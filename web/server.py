"""The API + web pages server run detached, for `make demo` and `salesagents web start|stop|status`.

Like the embedded model server (core/llm/local_server.py): the process runs in its own session with its output
in a log file, so it outlives the command that started it; a pid file under `<data_dir>/web/` names it and a
second start reuses it. The server reads the same settings (environment) as the command that started it, so it
serves the same database.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.config import Settings
from core.errors import CrmError
from core.llm.local_server import _alive, _port_in_use

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
START_TIMEOUT_S = 60.0


class WebServerError(CrmError):
    """The web server cannot be started or stopped; the message says what to do."""


@dataclass(frozen=True)
class WebServer:
    pid: int
    host: str
    port: int
    log_path: Path
    reused: bool

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def state_dir(settings: Settings) -> Path:
    return settings.data_dir / "web"


def pid_file(settings: Settings) -> Path:
    """One server per database: a demo on another database (another helper, a test) never reuses this one.

    The name comes from the settings alone: resolving the URL would start the embedded PostgreSQL of
    `data_dir` just to name a file (a test with its own data_dir left one running)."""
    from sqlalchemy.engine import make_url

    database = make_url(settings.database_url).database if settings.database_url else settings.database_name
    return state_dir(settings) / f"server-{database or 'default'}.json"


def log_file(settings: Settings, port: int) -> Path:
    return state_dir(settings) / f"server-{port}.log"


def server_command(host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", host, "--port", str(port),
            "--proxy-headers", "--log-level", "warning"]


def _is_our_server(pid: int, port: int) -> bool:
    """Guards against a recycled pid: the process must be uvicorn serving api.app on that port."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"uvicorn" in args and b"api.app:create_app" in args and str(port).encode() in args


def running(settings: Settings) -> WebServer | None:
    """The server a pid file names, if it still runs."""
    try:
        data = json.loads(pid_file(settings).read_text())
        pid, host, port = int(data["pid"]), str(data["host"]), int(data["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _alive(pid) or not _is_our_server(pid, port):
        return None
    return WebServer(pid, host, port, log_file(settings, port), reused=True)


def healthy(host: str, port: int, timeout_s: float = 2.0) -> bool:
    try:
        return httpx.get(f"http://{host}:{port}/healthz", timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start(settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, any_port: bool = False,
          timeout_s: float = START_TIMEOUT_S) -> WebServer:
    """Start the server (or reuse the running one) and wait until /healthz answers. With `any_port`, a port
    taken by another program is replaced by a free one instead of failing."""
    current = running(settings)
    if current is not None and healthy(current.host, current.port):
        return current
    if _port_in_use(port):
        if not any_port:
            raise WebServerError(f"port {port} is used by another program: pass --port with a free port")
        port = _free_port(host)
    state_dir(settings).mkdir(parents=True, exist_ok=True)
    log = log_file(settings, port)
    pid = _spawn_detached(server_command(host, port), log, state_dir(settings))
    pid_file(settings).write_text(json.dumps({"pid": pid, "host": host, "port": port}))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if healthy(host, port):
            return WebServer(pid, host, port, log, reused=False)
        if not _alive(pid):
            break
        time.sleep(0.3)
    if _alive(pid):
        _terminate(pid)
    pid_file(settings).unlink(missing_ok=True)
    tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:]) if log.exists() else ""
    raise WebServerError(f"the web server did not come up on {host}:{port}; log {log}: {tail}")


def _spawn_detached(command: list[str], log: Path, cwd: Path) -> int:
    """Start `command` in its own session through a shell that exits at once, so the server is not our child
    (no zombie, and it outlives this command). The pages package sits beside `api`: PYTHONPATH names its root so
    it imports whatever the install mode."""
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p))
    launcher = subprocess.run(["/bin/sh", "-c", '"$@" </dev/null >>"$0" 2>&1 & echo $!', str(log), *command],
                              cwd=cwd, env=env, capture_output=True, text=True, start_new_session=True,
                              check=False, timeout=30)
    if launcher.returncode != 0 or not launcher.stdout.strip().isdigit():
        raise WebServerError(f"could not start the web server: {launcher.stderr.strip()[:200]}")
    return int(launcher.stdout.strip())


def _terminate(pid: int) -> None:
    """SIGTERM (uvicorn finishes open requests), then SIGKILL after 15 s."""
    for sig, wait_s in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)
    raise WebServerError(f"the web server (pid {pid}) did not exit")


def stop(settings: Settings) -> int | None:
    """Stop the server the pid file names; returns its pid, or None when none ran."""
    current = running(settings)
    if current is not None:
        _terminate(current.pid)
    pid_file(settings).unlink(missing_ok=True)
    return current.pid if current is not None else None
