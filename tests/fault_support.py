"""Real servers that fault tests take down and bring back: an OpenAI-compatible model server and a Redis.

Both listen on real loopback sockets (a stopped server refuses connections, as a crashed one does); neither is a
mock. The model server answers from a script of behaviours so a test decides when it is healthy, slow or broken.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis

Behaviour = Callable[["_Handler", dict[str, Any]], None]


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def completion(content: str) -> Behaviour:
    """A well-formed chat completion whose message is `content`."""

    def answer(handler: _Handler, body: dict[str, Any]) -> None:
        handler.send_json(200, {
            "id": "chatcmpl-fault", "object": "chat.completion", "created": 1_700_000_000,
            "model": body.get("model", "fault-model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 20, "total_tokens": 60}})

    return answer


def garbage(payload: bytes = b"<html>\x00\xff upstream exploded", content_type: str = "application/json") -> Behaviour:
    """HTTP 200 whose body is not a chat completion (a broken proxy or a crashed server's half answer)."""

    def answer(handler: _Handler, body: dict[str, Any]) -> None:
        handler.send_raw(200, payload, content_type)

    return answer


def stall(seconds: float, then: Behaviour) -> Behaviour:
    """Answer only after `seconds` (longer than the client's timeout: the client gives up first)."""

    def answer(handler: _Handler, body: dict[str, Any]) -> None:
        time.sleep(seconds)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client timed out and left
            then(handler, body)

    return answer


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer

    def do_POST(self) -> None:  # noqa: N802 - the http.server naming
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(body)
            behaviour = owner.script.pop(0) if owner.script else owner.default
        behaviour(self, body)

    def send_json(self, code: int, payload: dict[str, Any]) -> None:
        self.send_raw(code, json.dumps(payload).encode(), "application/json")

    def send_raw(self, code: int, payload: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the http.server signature
        return


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, owner: ModelServer) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.owner = owner


class ModelServer:
    """An OpenAI-compatible /v1/chat/completions on a fixed loopback port that can be stopped and restarted."""

    def __init__(self, default: Behaviour) -> None:
        self.port = free_port()
        self.default = default
        self.script: list[Behaviour] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def up(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = _HttpServer(self.port, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the listening socket: from now on connections are refused."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def user_texts(self) -> list[str]:
        """The user-message text of every request received, in order."""
        with self.lock:
            return ["\n".join(str(m.get("content")) for m in body.get("messages", []) if m.get("role") == "user")
                    for body in self.requests]


class RedisServer:
    """A private `redis-server` on its own port, without persistence: a restart loses every queued message."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; the Redis restart tests need it")
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10) -> None:
        log = (self.workdir / f"redis-{self.port}.log").open("ab")
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.workdir)],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2, socket_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError):
                    time.sleep(0.05)
            raise RuntimeError(f"redis-server on port {self.port} did not answer within {timeout_s} s")
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL: what a crashed or restarted Redis container looks like to its clients."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def queued(self, key: str) -> int:
        client = redis.Redis.from_url(self.url)
        try:
            return int(client.llen(key))
        finally:
            client.close()
