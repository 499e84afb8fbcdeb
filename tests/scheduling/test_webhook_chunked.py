"""A signed webhook sent with chunked transfer encoding, by a real HTTP client
to the real server the project ships (gunicorn, through webauto.wsgi)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from orchestration.models import Execution
from scheduling import services
from tests.conftest import ROOT, worker_env
from webauto.webhook_signatures import legacy_signature, standard_headers

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "chunked-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path) -> Iterator[str]:
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "webauto.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1"],
        cwd=ROOT, env=worker_env(), stdout=log.open("wb"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/hooks/none/", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: {log.read_text()}") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def chunks(body: bytes, size: int = 7) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_a_chunked_signed_request_is_read_whole(make_task, server):
    schedule = services.schedule_create(
        task=make_task(), block={"type": "manual", "trigger": "webhook", "webhookSecret": SECRET}
    )
    url = f"{server}/hooks/{schedule.new_webhook_token}/"
    body = b'{"user": "1671109627", "pad": "' + b"x" * 5000 + b'"}'
    legacy = httpx.post(
        url, content=chunks(body),
        headers={"Content-Type": "application/json", "X-Webauto-Signature": legacy_signature(SECRET, body)},
    )
    assert legacy.request.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in legacy.request.headers
    assert legacy.status_code == 202, legacy.text
    standard = httpx.post(
        url, content=chunks(body),
        headers={"Content-Type": "application/json", **standard_headers(SECRET, "chunked-1", body)},
    )
    assert standard.status_code == 202, standard.text
    inputs = [e.input for e in Execution.objects.order_by("pk")]
    assert [i["user"] for i in inputs] == ["1671109627", "1671109627"]
    assert len(inputs[0]["pad"]) == 5000
    too_big = b"x" * (1024 * 1024 + 1)
    refused = httpx.post(url, content=chunks(too_big, 65536), headers={"Content-Type": "text/plain"})
    assert refused.status_code == 413
    assert refused.json()["errors"][0]["path"] == "body"


def test_a_server_that_passes_chunked_framing_through_gets_a_clear_411():
    """Django's runserver hands the application the raw chunked stream and no
    length: the body cannot be read, and the client is told so."""
    import io
    import json
    from wsgiref.util import setup_testing_defaults

    from webauto.wsgi import application

    environ: dict[str, object] = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/hooks/x/", "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(b"5\r\nhello\r\n0\r\n\r\n"),
    }
    setup_testing_defaults(environ)
    seen: list[str] = []
    body = b"".join(application(environ, lambda status, headers: seen.append(status)))
    assert seen == ["411 Length Required"]
    assert json.loads(body)["errors"][0]["message"].startswith("this server cannot read chunked request bodies")
