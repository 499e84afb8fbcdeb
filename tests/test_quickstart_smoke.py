"""The README's quick start, end to end: the embedded default (SQLite and the
file-system broker) with web + worker + beat, running a task through the API."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.slow, pytest.mark.integration]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def embedded_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "MEDIA_ROOT"}}
    env.update({"WEBAUTO_VAR_DIR": str(var_dir), "WEBAUTO_ADMIN_PASSWORD": "smoke-test-pw",
                "DJANGO_SETTINGS_MODULE": "webauto.settings"})
    return env


def api(port: int, token: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read() or b"{}")


def test_quickstart_runs_a_task_to_completion_on_the_embedded_default(tmp_path):
    port = free_port()
    env = embedded_env(tmp_path / "var")
    log = (tmp_path / "quickstart.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "quickstart", "--port", str(port), "--concurrency", "2"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        def web_up() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for(web_up, timeout=120, interval=0.5)
        assert "Admin login created" in (tmp_path / "quickstart.log").read_text()
        token_out = subprocess.run(
            [sys.executable, "manage.py", "drf_create_token", "admin"], cwd=ROOT, env=env,
            capture_output=True, text=True, check=True,
        ).stdout
        token = token_out.split()[2]
        status, _ = api(port, token, "/api/v1/tasks/", {
            "taskId": "smoke", "name": "Smoke",
            "workflows": [
                {"id": "a", "workflow": "echo", "config": {"output": {"x": 1}}},
                {"id": "b", "workflow": "delay", "dependsOn": ["a"], "config": {"seconds": 1}},
                # A fan-out and its fan-in: on SQLite too, a branch's worker
                # continues with a queued sibling (engine._claim_queued).
                *({"id": f"f{i}", "workflow": "echo", "dependsOn": ["a"]} for i in range(4)),
                {"id": "join", "workflow": "echo", "dependsOn": ["b", *(f"f{i}" for i in range(4))]},
            ],
        })
        assert status == 201
        status, started = api(port, token, "/api/v1/tasks/smoke/execute/", {"input": {}})
        assert status == 202
        execution_id = started["executionId"]

        def finished() -> dict | None:
            _, body = api(port, token, f"/api/v1/executions/{execution_id}/")
            return body if body["status"] in ("completed", "failed", "completed_with_errors") else None

        result = wait_for(finished, timeout=120, interval=0.5)
        assert result["status"] == "completed"
        assert {n["nodeId"]: (n["status"], n["attempts"]) for n in result["nodes"]} == {
            node_id: ("completed", 1) for node_id in ("a", "b", "f0", "f1", "f2", "f3", "join")}

        # The shipped demo watches the sandbox served by the same stack.
        status, started = api(port, token, "/api/v1/tasks/sandbox-weibo-demo/execute/", {"input": {}})
        assert status == 202
        execution_id = started["executionId"]
        demo = wait_for(finished, timeout=180, interval=0.5)
        assert demo["status"] == "completed", demo
        nodes = {n["nodeId"]: n for n in demo["nodes"]}
        assert all(n["status"] == "completed" for n in nodes.values()), nodes
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    assert proc.returncode == 0, (tmp_path / "quickstart.log").read_text()[-3000:]
