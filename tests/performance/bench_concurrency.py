"""Concurrency benchmark: many executions of short nodes pushed at once through
one machine under the resource manager's admission control.

Starts one Celery worker (prefork) that admits through the resource manager,
creates ``--executions`` executions from several threads at once, waits for
all of them, and prints throughput, queue wait p50/p99 (queued to started),
peak RSS of this ("web") process and of the worker's process
tree, the peak number of executions holding capacity, and any lost or doubled
node run (counted by the ``test-marker`` kind, which appends a line per real
run), plus whether capacity accounting balanced to zero.

    .venv/bin/python tests/performance/bench_concurrency.py [--executions 1000] [--backend admit-all]

Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/webauto_bench_res),
REDIS_URL (default redis://127.0.0.1:6379/10). The database is created and
migrated if needed; the Redis database is flushed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import benchsupport  # noqa: E402  (sits beside this script)

ROOT = benchsupport.ROOT
benchsupport.configure(database="webauto_bench_res", redis_db=10)
BACKENDS = {
    "resources": "resources.backend.ResourceAdmission",
    "admit-all": "orchestration.admission.AdmitAll",
}
os.environ["WEBAUTO_EXTRA_KIND_MODULES"] = "tests.support.kinds"
os.environ.setdefault("WEBAUTO_WORKER_HEARTBEAT_SECONDS", "1")



def tree_rss(pid: int) -> int:
    import psutil

    try:
        process = psutil.Process(pid)
        total = process.memory_info().rss
        for child in process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
        return total
    except psutil.Error:
        return 0


def percentile(values: list[float], q: float) -> float:
    from resources.analysis import percentile as nearest_rank

    return nearest_rank(values, q) or 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=1000, help="how many executions to push (default 1000)")
    parser.add_argument("--nodes", type=int, default=2, help="nodes per execution, in a chain (default 2)")
    parser.add_argument("--cpu", type=float, default=0.1, help="CPU each execution requests (default 0.1)")
    parser.add_argument("--memory", default="32MB", help="memory each execution requests (default 32MB)")
    parser.add_argument("--concurrency", type=int, default=4, help="worker processes (default 4)")
    parser.add_argument("--threads", type=int, default=10, help="threads creating executions (default 10)")
    parser.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds")
    parser.add_argument(
        "--backend", choices=list(BACKENDS), default="resources",
        help="admission backend; admit-all measures the engine alone, for comparison",
    )
    args = parser.parse_args()
    os.environ["WEBAUTO_ADMISSION_BACKEND"] = BACKENDS[args.backend]

    benchsupport.setup(fresh=True)

    import psutil
    from django.db import connection
    from django.db.models import Sum

    from orchestration import services
    from orchestration.models import EXECUTION_FINAL, Execution, Task
    from resources.models import Allocation, ResourcePool, ResourceRequest, Worker
    from resources.selectors import capacity_summary
    from resources.services import live_workers

    Task.objects.filter(task_id="bench-concurrency").delete()
    Worker.objects.all().delete()
    ResourcePool.objects.filter(name="default").update(cpu_limit_millicores=None, memory_limit_bytes=None)

    load_before = os.getloadavg()[0]
    marks = Path(tempfile.mkdtemp(prefix="bench-concurrency-")) / "marks.log"
    task = Task.objects.create(
        task_id="bench-concurrency", name="bench: short nodes",
        resource_requirements={"cpu": args.cpu, "memory": args.memory},
        workflows=[
            {"id": f"n{i}", "workflow": "test-marker", "config": {"file": str(marks)},
             **({"dependsOn": [f"n{i - 1}"]} if i else {})}
            for i in range(args.nodes)
        ],
    )

    worker_log = marks.with_name("worker.log")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webauto", "worker", "-P", "prefork", "-c", str(args.concurrency),
         "--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
        cwd=ROOT, env=dict(os.environ), start_new_session=True,
        stdout=worker_log.open("wb"), stderr=subprocess.STDOUT,
    )
    peaks = {"web": 0, "worker": 0, "holding": 0, "cpu_millicores": 0, "running": 0}
    stop = threading.Event()

    def sample() -> None:
        me = os.getpid()
        try:
            while not stop.is_set():
                peaks["web"] = max(peaks["web"], psutil.Process(me).memory_info().rss)
                peaks["worker"] = max(peaks["worker"], tree_rss(worker.pid))
                held = Allocation.objects.filter(released_at__isnull=True).aggregate(
                    cpu=Sum("cpu_millicores")
                )["cpu"] or 0
                peaks["cpu_millicores"] = max(peaks["cpu_millicores"], held)
                peaks["holding"] = max(
                    peaks["holding"], Allocation.objects.filter(released_at__isnull=True).count()
                )
                peaks["running"] = max(peaks["running"], Execution.objects.filter(status="running").count())
                stop.wait(0.25)
        finally:
            connection.close()

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        deadline = time.monotonic() + 60
        while not live_workers().exists():
            if time.monotonic() > deadline or worker.poll() is not None:
                raise SystemExit("the worker did not report a heartbeat within 60 s")
            time.sleep(0.2)
        capacity = capacity_summary()["capacity"]
        sampler.start()

        def create(count: int) -> list[int]:
            try:
                return [services.execution_create(task=task).pk for _ in range(count)]
            finally:
                connection.close()

        share, rest = divmod(args.executions, args.threads)
        chunks = [share + (1 if i < rest else 0) for i in range(args.threads)]
        started = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            ids = [pk for chunk in pool.map(create, chunks) for pk in chunk]
        created = time.perf_counter() - started
        pending = set(ids)
        deadline = time.monotonic() + args.timeout
        while pending and time.monotonic() < deadline:
            done = set(
                Execution.objects.filter(pk__in=pending, status__in=list(EXECUTION_FINAL)).values_list("pk", flat=True)
            )
            pending -= done
            if pending:
                time.sleep(0.2)
        elapsed = time.perf_counter() - started
        settle = time.monotonic() + 10  # releases run on commit, just after the final status
        while Allocation.objects.filter(released_at__isnull=True).exists() and time.monotonic() < settle:
            time.sleep(0.1)
    finally:
        stop.set()
        if sampler.is_alive():
            sampler.join()
        stopping = time.perf_counter()
        worker.terminate()
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        stopped_in = time.perf_counter() - stopping

    statuses = Counter(Execution.objects.filter(pk__in=ids).values_list("status", flat=True))
    granted = Allocation.objects.filter(execution_id__in=ids).count()
    waits = [
        (started_at - queued_at).total_seconds()
        for queued_at, started_at in Execution.objects.filter(pk__in=ids).values_list("queued_at", "started_at")
        if queued_at and started_at
    ]
    runs = Counter(tuple(line.split(":")[:2]) for line in marks.read_text().splitlines()) if marks.exists() else {}
    expected = {(str(pk), f"n{i}") for pk in ids for i in range(args.nodes)}
    lost = len(expected - set(runs))
    doubled = sum(1 for key, n in runs.items() if n > 1)
    still_open = Allocation.objects.filter(released_at__isnull=True).count()
    still_waiting = ResourceRequest.objects.filter(waiting_since__isnull=False).count()
    finished = sum(n for s, n in statuses.items() if s in EXECUTION_FINAL)

    mb = 1024 * 1024
    print(f"{args.executions} executions x {args.nodes} test-marker nodes; one worker (prefork, "
          f"{args.concurrency} processes); Redis broker, PostgreSQL; {psutil.cpu_count()} CPUs; "
          f"admission: {args.backend}; load average before: {load_before:.1f}")
    print(f"capacity offered: {capacity['cpu']:g} CPU, {capacity['memoryBytes'] / mb:.0f}MB; each execution "
          f"requests {args.cpu:g} CPU, {args.memory}")
    print(f"created in            {created:8.2f} s  ({args.executions / created:.0f} executions/s)")
    print(f"all finished in       {elapsed:8.2f} s  ({finished / elapsed:.1f} executions/s, "
          f"{finished * args.nodes / elapsed:.1f} nodes/s)")
    print(f"final statuses        {dict(statuses)}")
    print(f"queue wait p50 / p99  {percentile(waits, 50):8.2f} s / {percentile(waits, 99):.2f} s  "
          "(queued -> started)")
    print(f"peak running          {peaks['running']:8d} executions")
    print(f"peak holding capacity {peaks['holding']:8d} executions ({peaks['cpu_millicores'] / 1000:g} CPU "
          f"of {capacity['cpu']:g})")
    print(f"peak RSS web          {peaks['web'] / mb:8.0f} MB  (this process, creating executions)")
    print(f"peak RSS worker       {peaks['worker'] / mb:8.0f} MB  (main process + pool)")
    print(f"lost node runs        {lost:8d}")
    print(f"doubled node runs     {doubled:8d}")
    print(f"worker stopped in     {stopped_in:8.1f} s  (log: {worker_log})")
    print(f"allocations           {granted} granted, {still_open} still open, {still_waiting} still waiting")
    benchsupport.print_result({
        "backend": args.backend,
        "executions": args.executions,
        "nodes": args.nodes,
        "executions_per_s": round(finished / elapsed, 2),
        "nodes_per_s": round(finished * args.nodes / elapsed, 2),
        "queue_wait_p99_s": round(percentile(waits, 99), 3),
        "lost": lost,
        "doubled": doubled,
        "peak_rss_web_mb": round(peaks["web"] / mb, 1),
        "peak_rss_worker_mb": round(peaks["worker"] / mb, 1),
        "concurrency": args.concurrency,
        "load_before": round(load_before, 2),
    })
    if (args.backend == "resources" and (still_open or still_waiting)) or lost or doubled or finished != len(ids):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
