"""Secrets on a real worker against a local HTTP server: a secret restricted
to other hosts fails its node (HTTP client, redirects, browser) and never
reaches the server; a secret with a space is redacted, raw and
percent-encoded, from the execution API, the events and the worker's log."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, quote_plus

import pytest
from rest_framework.test import APIClient

from orchestration import services
from orchestration.models import Event, NodeRun, Secret
from tests.support.http import send_html
from tests.webflows.test_seed_end_to_end import finished_execution

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class Site:
    """A local site: /page answers a small HTML page, /hop redirects to
    ``localhost`` (another host name for the same server); every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server hook name)
                site.requests.append((self.path, dict(self.headers)))
                if self.path.startswith("/hop"):
                    self.send_response(302)
                    self.send_header("Location", f"http://localhost:{site.port}/page")
                    self.end_headers()
                    return
                body = b"<html><head><title>Local</title></head><body><p>Hello</p></body></html>"
                send_html(self, body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def saw(self, text: str) -> bool:
        return any(text in path or any(text in v for v in headers.values()) for path, headers in self.requests)


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    yield served
    served.server.shutdown()
    served.server.server_close()


def _run(task_id: str, config: dict) -> NodeRun:
    task = services.task_create(
        definition={"taskId": task_id, "name": task_id, "workflows": [{"id": "watch", "workflow": "page-monitor", "config": config}]}
    )
    execution = finished_execution(services.execution_create(task=task))
    return NodeRun.objects.get(execution=execution, node_id="watch")


def test_a_restricted_secret_fails_its_node_for_another_host_and_passes_for_its_own(site, celery_worker):
    Secret.objects.create(name="partner_key", value="partner-key-0042", allowed_hosts=["api.partner.example"])
    refused = _run("to-wrong-host", {"url": site.url("/page"), "headers": {"X-Key": "${partner_key}"}})
    assert refused.status == "failed"
    assert refused.error == (
        'secret "partner_key" may not be sent to host 127.0.0.1: its allowedHosts are api.partner.example'
    )
    assert not site.saw("partner-key-0042")

    Secret.objects.filter(name="partner_key").update(allowed_hosts=["127.0.0.1"])
    allowed = _run("to-right-host", {"url": site.url("/page"), "headers": {"X-Key": "${partner_key}"}})
    assert allowed.status == "completed", allowed.error
    assert site.saw("partner-key-0042")

    # A redirect to another host would carry the header along: refused before it leaves.
    site.requests.clear()
    hop = _run("redirected", {"url": site.url("/hop"), "headers": {"X-Key": "${partner_key}"}})
    assert hop.status == "failed" and "may not be sent to host localhost" in hop.error
    assert [path for path, _ in site.requests] == ["/hop"]


@pytest.mark.browser
@pytest.mark.slow
def test_the_browser_does_not_carry_a_restricted_secret_to_another_host(site, celery_worker):
    Secret.objects.create(name="page_token", value="page-token-0042", allowed_hosts=["*.partner.example"])
    node = _run("browser-wrong-host", {"url": site.url("/page?token=${page_token}"), "mode": "browser"})
    assert node.status == "failed"
    assert 'secret "page_token" may not be sent to host 127.0.0.1' in node.error
    assert not site.saw("page-token-0042")


def test_a_secret_with_a_space_is_redacted_in_every_form_from_api_events_and_worker_log(
    site, celery_worker, admin_user
):
    secret = "open sesame+4242"
    Secret.objects.create(name="spaced", value=secret)
    node = _run("spaced-secret", {"url": site.url("/page?token=${spaced}")})
    assert node.status == "completed", node.error
    assert site.saw(quote(secret, safe="+"))  # it was really sent, percent-encoded
    forms = {secret, quote(secret, safe=""), quote(secret, safe="+"), quote_plus(secret), "open%20sesame", "open sesame"}

    client = APIClient()
    client.force_authenticate(admin_user)
    shown = client.get(f"/api/v1/executions/{node.execution_id}/").content.decode()
    shown += client.get(f"/api/v1/events/?execution={node.execution_id}").content.decode()
    shown += json.dumps(list(Event.objects.filter(execution_id=node.execution_id).values_list("data", flat=True)))
    client_page = APIClient()
    client_page.force_login(admin_user)
    shown += client_page.get(f"/executions/{node.execution_id}/").content.decode()
    assert "********" in shown
    assert not [form for form in forms if form in shown]

    log = celery_worker.log_file.read_text()
    assert "HTTP Request: GET" in log  # httpx's own line, whose URL held the secret
    assert not [form for form in forms if form in log]


def test_a_restricted_secret_with_a_quote_in_a_url_query_never_reaches_another_host(site, celery_worker):
    """httpx writes ``rq%20ab'cd|ef{x}`` (space encoded, ' | { } kept): the
    node completed and the server received it, although allowedHosts was
    ``*.example.com``."""
    Secret.objects.create(name="rq", value="rq ab'cd|ef{x}", allowed_hosts=["*.example.com"])
    node = _run("quoted-restricted", {"url": site.url("/page?t=${rq}")})
    assert node.status == "failed"
    assert 'secret "rq" may not be sent to host 127.0.0.1' in node.error
    assert not site.requests


def test_a_secret_with_a_hash_and_quotes_is_redacted_from_output_api_events_and_worker_log(
    site, celery_worker, admin_user
):
    """``s3cr et#%'"é✓xyz`` in ``?token=``: httpx writes
    ``s3cr%20et#%'%22%C3%A9%E2%9C%93xyz`` and the server sees ``s3cr%20et``;
    both showed in finalUrl, the API, events and the worker's httpx log line."""
    secret = "s3cr et#%'\"é✓xyz"
    Secret.objects.create(name="tok", value=secret)
    node = _run("hashed-secret", {"url": site.url("/page?token=${tok}")})
    assert node.status == "completed", node.error
    assert site.saw("s3cr%20et")  # it was really sent (the part before '#')
    forms = ["s3cr%20et", "s3cr et", "%C3%A9%E2%9C%93xyz", "xyz"]

    client = APIClient()
    client.force_authenticate(admin_user)
    shown = json.dumps(node.output) + json.dumps(node.input)
    shown += client.get(f"/api/v1/executions/{node.execution_id}/").content.decode()
    shown += client.get(f"/api/v1/events/?execution={node.execution_id}").content.decode()
    client.force_login(admin_user)
    shown += client.get(f"/executions/{node.execution_id}/").content.decode()
    assert "********" in shown
    assert not [form for form in forms if form in shown]

    log = celery_worker.log_file.read_text()
    assert "HTTP Request: GET" in log
    assert not [form for form in forms if form in log]
