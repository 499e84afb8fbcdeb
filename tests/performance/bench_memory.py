"""Memory benchmark: RSS of the web process and of EACH worker pool process
while 1,000 executions run, in waves.

Starts one Celery worker (prefork, ``--concurrency`` pool processes) and one
web process (gunicorn, one worker process with 4 threads, as the Dockerfile
runs each of its workers), then pushes ``--waves`` waves of ``--wave``
executions through ``POST /api/v1/tasks/<taskId>/execute/`` (from 4 client
threads), waiting for each wave to finish; between waves it reads the pages
and API an operator would (execution list and detail, task list, dashboard,
metrics, the OpenAPI document). After the first wave and after the last it
records, after every wave, for every pool process (psutil children of the
worker's main process), its RSS and its USS (memory no other process shares); growth is
the last figure minus the first for the same process id. The web figure is
the peak RSS of gunicorn's worker process over the whole run.

    .venv/bin/python tests/performance/bench_memory.py [--waves 10] [--wave 100] [--nodes 3]

``RESULT`` figures: ``executions``, ``rss_pool_first_mb`` / ``rss_pool_last_mb``
(per pool process, after the first and the last wave), ``rss_pool_max_mb``
(largest pool process after the last wave), ``rss_pool_max_by_wave_mb``
(the same after each wave), ``rss_pool_growth_mb`` (largest
growth of one process between the two), ``uss_pool_max_mb``,
``uss_pool_growth_mb``, ``rss_worker_main_mb``, ``rss_web_mb`` (peak),
``pool_replaced`` (pool processes that were replaced between the two
snapshots, e.g. by ``--max-tasks-per-child``).

Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/webauto_bench_mem),
REDIS_URL (default redis://127.0.0.1:6379/11). The database is created and
migrated if needed; the Redis database is flushed.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import benchsupport  # noqa: E402  (sits beside this script)

ROOT = benchsupport.ROOT
benchsupport.configure(database="webauto_bench_mem", redis_db=11)
os.environ["WEBAUTO_EXTRA_KIND_MODULES"] = "tests.support.kinds"
os.environ.setdefault("WEBAUTO_WORKER_HEARTBEAT_SECONDS", "1")
os.environ.setdefault("WEBAUTO_ADMISSION_BACKEND", "orchestration.admission.AdmitAll")
MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pool_memory(worker_pid: int) -> dict[int, tuple[int, int]]:
    """{pid: (rss, uss)} in bytes of each direct child (pool process) of the worker."""
    import psutil

    figures: dict[int, tuple[int, int]] = {}
    for child in psutil.Process(worker_pid).children():
        try:
            info = child.memory_full_info()
        except psutil.Error:
            continue
        figures[child.pid] = (info.rss, info.uss)
    return figures


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waves", type=int, default=10, help="waves of executions (default 10)")
    parser.add_argument("--wave", type=int, default=100, help="executions per wave (default 100)")
    parser.add_argument("--nodes", type=int, default=3, help="nodes per execution, in a chain (default 3)")
    parser.add_argument("--concurrency", type=int, default=4, help="worker pool processes (default 4)")
    parser.add_argument("--max-tasks-per-child", type=int, default=0,
                        help="pass --max-tasks-per-child to the worker (default 0: never replace)")
    parser.add_argument("--timeout", type=float, default=600, help="give up on a wave after this many seconds")
    args = parser.parse_args()

    benchsupport.setup()

    import httpx
    import psutil
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from rest_framework.authtoken.models import Token

    from orchestration.models import EXECUTION_FINAL, Execution, Task
    from resources.models import Worker
    from resources.services import live_workers

    Task.objects.filter(task_id="bench-memory").delete()
    Worker.objects.all().delete()
    get_user_model().objects.filter(username="bench-memory").delete()
    user = get_user_model().objects.create_superuser("bench-memory", "bench@example.com", "pw-bench-memory-123")
    token = Token.objects.get_or_create(user=user)[0].key

    folder = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    marks = folder / "marks.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    worker_cmd = [sys.executable, "-m", "celery", "-A", "webauto", "worker", "-P", "prefork",
                  "-c", str(args.concurrency), "--without-mingle", "--without-gossip", "--loglevel", "WARNING"]
    if args.max_tasks_per_child:
        worker_cmd += ["--max-tasks-per-child", str(args.max_tasks_per_child)]
    worker = subprocess.Popen(worker_cmd, cwd=ROOT, env=env, start_new_session=True,
                              stdout=(folder / "worker.log").open("wb"), stderr=subprocess.STDOUT)
    port = free_port()
    web = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "webauto.wsgi", "-b", f"127.0.0.1:{port}",
         "-w", "1", "--threads", "4"],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=(folder / "web.log").open("wb"), stderr=subprocess.STDOUT,
    )
    load_before = os.getloadavg()[0]
    peak = {"web": 0}
    done = threading.Event()

    def web_rss() -> int:
        try:
            return max((c.memory_info().rss for c in psutil.Process(web.pid).children()), default=0)
        except psutil.Error:
            return 0

    def sample() -> None:
        while not done.is_set():
            peak["web"] = max(peak["web"], web_rss())
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    snapshots: list[dict[int, tuple[int, int]]] = []
    worker_main: list[int] = []
    wave_seconds: list[float] = []
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                              headers={"Authorization": f"Token {token}"})
        deadline = time.monotonic() + 90
        while True:
            try:
                if client.get("/api/v1/tasks/").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or web.poll() is not None:
                raise SystemExit(f"the web process did not answer within 90 s (log: {folder / 'web.log'})")
            time.sleep(0.3)
        while not live_workers().exists():
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit(f"the worker did not report a heartbeat (log: {folder / 'worker.log'})")
            time.sleep(0.2)
        created = client.post("/api/v1/tasks/", json={
            "taskId": "bench-memory", "name": "bench: memory",
            "workflows": [
                {"id": f"n{i}", "name": f"n{i}", "workflow": "test-marker", "config": {"file": str(marks)},
                 **({"dependsOn": [f"n{i - 1}"]} if i else {})}
                for i in range(args.nodes)
            ],
        })
        if created.status_code != 201:
            raise SystemExit(f"creating the task failed: {created.status_code} {created.text[:500]}")
        sampler.start()

        def execute(_: int) -> int:
            answer = client.post("/api/v1/tasks/bench-memory/execute/", json={})
            if answer.status_code not in (200, 201, 202):
                raise RuntimeError(f"execute answered {answer.status_code}: {answer.text[:300]}")
            return int(answer.json()["executionId"])

        # The pages need a session: log in through the login form, as a person would.
        pages = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        pages.get("/accounts/login/")
        login = pages.post("/accounts/login/", data={
            "username": "bench-memory", "password": "pw-bench-memory-123",
            "csrfmiddlewaretoken": pages.cookies["csrftoken"],
        }, headers={"Referer": f"http://127.0.0.1:{port}/accounts/login/"})
        if login.status_code != 302:
            raise SystemExit(f"logging in failed: {login.status_code}")

        def browse(execution_id: int) -> None:
            api_paths = ("/api/v1/executions/?page_size=50", f"/api/v1/executions/{execution_id}/",
                         "/api/v1/tasks/", "/api/v1/metrics/summary/?range=24h", "/api/schema/")
            page_paths = ("/", "/tasks/", "/executions/", f"/executions/{execution_id}/")
            for session, path in [(client, p) for p in api_paths] + [(pages, p) for p in page_paths]:
                answer = session.get(path)
                if answer.status_code != 200:
                    raise RuntimeError(f"GET {path} answered {answer.status_code}")

        for wave in range(args.waves):
            started = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                ids = list(pool.map(execute, range(args.wave)))
            until = time.monotonic() + args.timeout
            while Execution.objects.filter(pk__in=ids).exclude(status__in=list(EXECUTION_FINAL)).exists():
                if time.monotonic() > until:
                    raise SystemExit(f"wave {wave + 1} did not finish in {args.timeout} s")
                time.sleep(0.2)
            wave_seconds.append(time.perf_counter() - started)
            browse(ids[-1])
            time.sleep(1)  # the last node's follow-up writes land
            snapshots.append(pool_memory(worker.pid))
            worker_main.append(psutil.Process(worker.pid).memory_info().rss)
        client.close()
        pages.close()
    finally:
        done.set()
        if sampler.is_alive():
            sampler.join()
        stop(web)
        stop(worker)

    statuses = dict(
        Execution.objects.filter(task__task_id="bench-memory").values_list("status").order_by()
        .annotate(n=Count("id"))
    )
    first, last = snapshots[0], snapshots[-1]
    kept = sorted(set(first) & set(last))
    growth_rss = max((last[p][0] - first[p][0] for p in kept), default=0)
    growth_uss = max((last[p][1] - first[p][1] for p in kept), default=0)
    replaced = len(set(first) - set(last))
    total = args.waves * args.wave

    print(f"{total} executions ({args.waves} waves of {args.wave}) x {args.nodes} test-marker nodes through "
          f"POST /api/v1/tasks/<id>/execute/; one worker (prefork, {args.concurrency} processes"
          f"{f', max tasks per child {args.max_tasks_per_child}' if args.max_tasks_per_child else ''}); "
          f"web: gunicorn, 1 worker x 4 threads; {psutil.cpu_count()} CPUs; load average before: {load_before:.1f}")
    print(f"final statuses        {statuses}")
    print(f"wave time first/last  {wave_seconds[0]:6.1f} s / {wave_seconds[-1]:.1f} s")
    print("pool process          RSS after first  RSS after last  growth   USS after first  USS after last")
    for pid in sorted(set(first) | set(last)):
        f_rss, f_uss = first.get(pid, (0, 0))
        l_rss, l_uss = last.get(pid, (0, 0))
        growth = f"{(l_rss - f_rss) / MB:+6.1f}" if pid in first and pid in last else "   n/a"
        print(f"  pid {pid:<14d} {f_rss / MB:10.1f} MB {l_rss / MB:11.1f} MB {growth} MB "
              f"{f_uss / MB:11.1f} MB {l_uss / MB:11.1f} MB")
    print("after wave            " + " ".join(f"{n + 1:>6d}" for n in range(len(snapshots))))
    print("  largest pool RSS MB " + " ".join(
        f"{max((v[0] for v in snap.values()), default=0) / MB:6.1f}" for snap in snapshots))
    print("  largest pool USS MB " + " ".join(
        f"{max((v[1] for v in snap.values()), default=0) / MB:6.1f}" for snap in snapshots))
    print(f"worker main process   {worker_main[0] / MB:6.1f} MB / {worker_main[-1] / MB:.1f} MB RSS")
    print(f"web process peak RSS  {peak['web'] / MB:6.1f} MB  (gunicorn worker, logs in {folder})")

    def per_process(snapshot: dict[int, tuple[int, int]], index: int) -> list[float]:
        return [round(snapshot[p][index] / MB, 1) for p in sorted(snapshot)]

    figures: dict[str, Any] = {
        "executions": total,
        "nodes": args.nodes,
        "concurrency": args.concurrency,
        "rss_pool_first_mb": per_process(first, 0),
        "rss_pool_last_mb": per_process(last, 0),
        "rss_pool_max_mb": max(per_process(last, 0), default=0),
        "rss_pool_max_by_wave_mb": [max(per_process(snap, 0), default=0) for snap in snapshots],
        "rss_pool_growth_mb": round(growth_rss / MB, 1),
        "uss_pool_max_mb": max(per_process(last, 1), default=0),
        "uss_pool_growth_mb": round(growth_uss / MB, 1),
        "pool_replaced": replaced,
        "rss_worker_main_mb": round(worker_main[-1] / MB, 1),
        "rss_web_mb": round(peak["web"] / MB, 1),
        "load_before": round(load_before, 2),
    }
    benchsupport.print_result(figures)


if __name__ == "__main__":
    main()
