"""Scheduling benchmark: many interval schedules fired by the real beat.

Starts one ``celery beat`` (DatabaseScheduler) and one Celery worker on Redis +
PostgreSQL, creates ``--schedules`` interval schedules of ``--interval``
seconds (each on its own one-node task, all on the same grid so they fire
together: the harsh case), lets them run for ``--duration`` seconds, pauses
them, waits for what is in flight, and prints:

- lag from scheduled time to beat sending the fire (read from beat's log), to
  execution enqueue, and to the first node start (p50 / p95 / p99 / max);
- the on-time fraction (enqueue lag < 1 s);
- duplicates (more than one run for a schedule and instant) and misses
  (instants in the window with no run, or recorded as missed);
- the CPU time of the worker (all its processes) per started run and of beat,
  the figures to compare on a shared machine.

    .venv/bin/python tests/performance/bench_schedules.py [--schedules 200] [--duration 120]

Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/webauto_bench_sched),
REDIS_URL (default redis://127.0.0.1:6379/11). The database is created and
migrated if needed; the Redis database is flushed.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import benchsupport  # noqa: E402  (sits beside this script)

ROOT = benchsupport.ROOT
benchsupport.configure(database="webauto_bench_sched", redis_db=11)

PREFIX = "bench-sched-"



def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def spread(label: str, values_ms: list[float]) -> str:
    return (
        f"{label:<28} n={len(values_ms):<6} p50={percentile(values_ms, 50):8.1f} ms  "
        f"p95={percentile(values_ms, 95):8.1f} ms  p99={percentile(values_ms, 99):8.1f} ms  "
        f"max={max(values_ms, default=float('nan')):8.1f} ms"
    )


SENT = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO celery\.beat Scheduler: "
    r"Sending due (?:task webauto-schedule (\d+) @ (\S+) |schedules (.*))"
)


def beat_send_lags(log: Path, pks: set[int], until: datetime) -> list[float]:
    """Scheduled time -> beat sending the message (ms), from beat's INFO log
    (first send per schedule and instant; the log's clock is local time).
    Reads both beat's batches (``Sending due schedules 12@<instant> ...``)
    and the one-off entries of earlier versions."""
    seen: dict[tuple[int, str], float] = {}
    for line in log.read_text(errors="replace").splitlines():
        match = SENT.match(line)
        if not match:
            continue
        sent = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").astimezone()
        pairs = [(match[2], match[3])] if match[2] else [item.split("@", 1) for item in match[4].split()]
        for pk_text, instant in pairs:
            key = (int(pk_text), instant)
            if key[0] not in pks or key in seen:
                continue
            scheduled = datetime.fromisoformat(instant)
            if scheduled > until:
                continue
            seen[key] = (sent - scheduled).total_seconds() * 1000
    return list(seen.values())


def machine() -> str:
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return f"{cpu}, {psutil.cpu_count()} logical CPUs, {memory:.1f} GiB RAM, Python {platform.python_version()}"


def start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def tree_cpu_seconds(proc: subprocess.Popen[bytes]) -> float:
    """User + system CPU seconds used so far by ``proc`` and its live
    children (a worker's pool processes): the figure to compare on a busy
    machine, where wall-clock lags are mostly the wait for a core."""
    import psutil

    try:
        root = psutil.Process(proc.pid)
        total = 0.0
        for member in [root, *root.children(recursive=True)]:
            times = member.cpu_times()
            total += times.user + times.system
        return total
    except psutil.Error:
        return float("nan")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=200, help="interval schedules (default 200)")
    parser.add_argument("--interval", type=int, default=1, help="seconds between fires (default 1)")
    parser.add_argument("--duration", type=float, default=120, help="seconds to let them run (default 120)")
    parser.add_argument("--concurrency", type=int, default=8, help="worker processes (default 8)")
    parser.add_argument("--tail", type=float, default=10, help="seconds the last instants get to fire (default 10)")
    parser.add_argument("--settle", type=float, default=30, help="max seconds to wait for in-flight fires")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark's tasks and history")
    parser.add_argument("--scheduler", default="", help="beat scheduler class (default: the CELERY_BEAT_SCHEDULER setting)")
    parser.add_argument("--log-level", default="WARNING", help="worker and beat log level (logs go to a temp folder)")
    args = parser.parse_args()
    # A plain SIGTERM (e.g. from `timeout`) unwinds through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    benchsupport.setup(fresh=True)

    from django.db.models import Min
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTasks

    from orchestration import services as core
    from orchestration.models import Execution, NodeRun, Task
    from scheduling import arming, services
    from scheduling.models import Fire, Schedule
    from webauto.celery import app

    Task.objects.filter(task_id__startswith=PREFIX).delete()
    arming.collect_garbage(timezone.now() + timedelta(days=1))

    folder = Path(tempfile.mkdtemp(prefix="bench-schedules-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = start(
        [sys.executable, "-m", "celery", "-A", "webauto", "worker", "-P", "prefork", "-c", str(args.concurrency),
         "-n", f"bench-sched-{os.getpid()}@%h", "--without-mingle", "--without-gossip", "--loglevel", args.log_level],
        folder / "worker.log", env,
    )

    procs = [worker]
    try:
        print(f"creating {args.schedules} tasks with an interval schedule of {args.interval} s ...", flush=True)
        tasks = [
            core.task_create(definition={
                "taskId": f"{PREFIX}{n:04d}", "name": f"bench schedule {n}",
                "workflows": [{"id": "only", "name": "only", "workflow": "echo", "config": {"output": {"n": n}}}],
            })
            for n in range(args.schedules)
        ]
        # All on one grid, starting once every schedule exists: each tick fires them all at once.
        started_at = time.monotonic()
        probe = services.schedule_create(task=tasks[0], block={"type": "manual"})
        per_schedule = time.monotonic() - started_at
        services.schedule_delete(schedule=probe)
        anchor = (timezone.now() + timedelta(seconds=5 + 2 * per_schedule * args.schedules)).replace(microsecond=0)
        schedules = [
            services.schedule_create(task=task, block={
                "type": "interval", "interval": args.interval, "unit": "s", "concurrent": "allow",
                "startDate": anchor.isoformat(),
            })
            for task in tasks
        ]
        PeriodicTasks.update_changed()
        procs.append(start(
            [sys.executable, "-m", "celery", "-A", "webauto", "beat", "--loglevel", "INFO",
             "--pidfile", str(folder / "beat.pid"), "--schedule", str(folder / "beat-schedule"),
             *(["--scheduler", args.scheduler] if args.scheduler else [])],
            folder / "beat.log", env,
        ))
        wait = (anchor - timezone.now()).total_seconds()
        print(f"beat + worker started; first fire in {wait:.1f} s; running for {args.duration:.0f} s ...", flush=True)
        time.sleep(max(0.0, wait) + args.duration)
        window_end = timezone.now()
        # Instants up to window_end get this long to fire before the schedules pause.
        time.sleep(args.tail)
        pks = [s.pk for s in schedules]
        for schedule in schedules:
            services.schedule_pause(schedule=schedule, reason="benchmark over")
        # Let fires already sent (and their first nodes) land before counting.
        deadline = time.monotonic() + args.settle
        previous = -1
        while time.monotonic() < deadline:
            count = Fire.objects.filter(schedule_id__in=pks).count()
            if count == previous:
                break
            previous = count
            time.sleep(3)
        time.sleep(3)
        worker_cpu = tree_cpu_seconds(worker)
        beat_cpu = tree_cpu_seconds(procs[1])
    finally:
        # Beat and worker run in their own sessions: stop them whatever happened here.
        for proc in reversed(procs):
            stop(proc)

    step = timedelta(seconds=args.interval)
    expected_per_schedule = int((window_end - anchor) / step) + 1  # instants anchor .. window_end
    fires = list(
        Fire.objects.filter(schedule_id__in=pks, scheduled_at__lte=window_end)
        .values("schedule_id", "scheduled_at", "outcome", "lag_ms", "execution_id")
    )
    started = [f for f in fires if f["outcome"] == "started"]
    execution_ids = [f["execution_id"] for f in started]
    first_node = dict(
        NodeRun.objects.filter(execution_id__in=execution_ids)
        .values("execution_id").annotate(first=Min("started_at")).values_list("execution_id", "first")
    )
    node_lag = [
        (first_node[f["execution_id"]] - f["scheduled_at"]).total_seconds() * 1000
        for f in started if first_node.get(f["execution_id"])
    ]
    enqueue_lag = [f["lag_ms"] for f in started if f["lag_ms"] is not None]
    per_instant = Counter(
        Execution.objects.filter(pk__in=execution_ids).values_list("schedule_fires__schedule_id", "schedule_fires__scheduled_at")
    )
    duplicates = sum(n - 1 for n in per_instant.values() if n > 1)
    expected = expected_per_schedule * len(pks)
    recorded = {(f["schedule_id"], f["scheduled_at"]) for f in fires}
    never_recorded = expected - len(recorded)
    missed = sum(1 for f in fires if f["outcome"] == "missed")
    other = Counter(f["outcome"] for f in fires if f["outcome"] not in ("started", "missed"))
    on_time = sum(1 for lag in enqueue_lag if lag < 1000)

    print()
    print(f"machine: {machine()}")
    print(f"schedules={len(pks)} interval={args.interval}s window={(window_end - anchor).total_seconds():.0f}s "
          f"worker concurrency={args.concurrency} beat max loop interval={app.conf.beat_max_loop_interval}s")
    print(f"expected instants: {expected}; fires recorded: {len(fires)}; runs started: {len(started)}")
    print(spread("lag to beat sending it", beat_send_lags(folder / "beat.log", set(pks), window_end)))
    print(spread("lag to enqueue", enqueue_lag))
    print(spread("lag to first node start", node_lag))
    print(f"on time (enqueue lag < 1 s): {on_time}/{len(enqueue_lag)} = {on_time / max(1, len(enqueue_lag)):.4%}")
    print(f"duplicates: {duplicates}")
    print(f"misses: {never_recorded + missed} (not fired within {args.tail:.0f} s of the window's end "
          f"{never_recorded}, recorded missed {missed})"
          + (f"; other outcomes {dict(other)}" if other else ""))
    print(f"CPU: worker (all processes) {worker_cpu:.1f} s = {1000 * worker_cpu / max(1, len(started)):.1f} ms "
          f"per started run; beat {beat_cpu:.1f} s")
    print(f"logs: {folder}")
    benchsupport.print_result({
        "schedules": len(pks),
        "interval_s": args.interval,
        "on_time_fraction": round(on_time / max(1, len(enqueue_lag)), 5),
        "enqueue_p99_ms": round(percentile(enqueue_lag, 99), 1),
        "first_node_p99_ms": round(percentile(node_lag, 99), 1),
        "duplicates": duplicates,
        "misses": never_recorded + missed,
        "worker_cpu_ms_per_run": round(1000 * worker_cpu / max(1, len(started)), 1),
        "beat_cpu_s": round(beat_cpu, 1),
        "duration_s": args.duration,
        "concurrency": args.concurrency,
    })

    if not args.keep:
        Task.objects.filter(task_id__startswith=PREFIX).delete()
        Schedule.objects.filter(pk__in=pks).delete()
        arming.collect_garbage(timezone.now() + timedelta(days=1))


if __name__ == "__main__":
    main()
