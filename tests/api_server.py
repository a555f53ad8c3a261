"""A real HTTP server for tests that need one (browser tests, other processes): uvicorn in a thread of the test
process, serving a given app on a free 127.0.0.1 port. Data it serves must be committed (committing_engine)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from tests.test_mail import free_port

START_POLLS = 400  # x 25 ms: how long uvicorn may take to bind before the fixture gives up


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Yields the base URL (http://127.0.0.1:PORT); stops the server on exit."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-api", daemon=True)
    thread.start()
    for _ in range(START_POLLS):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.025)
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(10)
