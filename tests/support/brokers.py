"""A throw-away Redis broker for tests that must not share the suite's."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throw-away ``redis-server`` without persistence: a restart empties it,
    as a broker restart loses every message it held."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=(self.folder / "redis.log").open("ab"), stderr=subprocess.STDOUT,
        )

        def answers() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        deadline = time.monotonic() + 20
        while not answers():
            if time.monotonic() > deadline:
                raise AssertionError(f"redis-server on port {self.port} did not answer within 20 s")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def use_broker(url: str) -> None:
    """Point this (test) process's Celery app at ``url``, dropping pooled connections."""
    from kombu import pools

    from webauto.celery import app

    # Celery's ``broker_url`` setting reads the CELERY_BROKER_URL environment
    # variable before its own value (celery.app.utils.Settings.broker_url), and
    # scripts/test exports it: without this, this process's sends would still
    # go to the suite's shared broker.
    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url
    # kombu keeps connection and producer pools in a process-wide registry:
    # reset it, so that neither URL's pool outlives the switch half-closed.
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
