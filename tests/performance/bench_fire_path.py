"""Fire path benchmark, in one process: what firing N due interval schedules
costs, without beat, broker or worker in the way.

Creates ``--schedules`` one-node tasks with an interval schedule, a live
worker record with room for all of them (so every run is admitted), moves
their cursors to a moment ago and fires them ``--mode batch`` (one
``schedule_fire_batch`` per ``--batch`` schedules: one transaction, one
admission pass) or ``--mode single`` (``schedule_fire_due`` per schedule: a
transaction and an admission each, as before batching). Prints, per fire,
the SQL statements (savepoints included; the event receivers that run after
commit too), the CPU time of this process and the wall time, median of
``--repeat`` rounds, then ``RESULT {json}``. The CPU and statement figures
are the ones to compare on a shared machine.

    .venv/bin/python tests/performance/bench_fire_path.py [--schedules 20] [--mode batch|single]

Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/webauto_bench_fire),
REDIS_URL (default redis://127.0.0.1:6379/12; the run's first nodes are sent
there, and the Redis database is flushed).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

import benchsupport  # noqa: E402  (sits beside this script)

benchsupport.configure(database="webauto_bench_fire", redis_db=12)

PREFIX = "bench-fire-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=20)
    parser.add_argument("--mode", choices=["batch", "single"], default="batch")
    parser.add_argument("--batch", type=int, default=10, help="schedules per batch (default 10, beat's default)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    benchsupport.setup()

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from orchestration import services as core
    from orchestration.models import Task
    from resources import services as resources
    from resources.models import Worker
    from scheduling import services
    from scheduling.models import Schedule

    rounds: list[tuple[float, float, float]] = []
    for _ in range(args.repeat):
        Task.objects.filter(task_id__startswith=PREFIX).delete()
        resources.worker_heartbeat(beat=resources.Heartbeat(
            name=f"{PREFIX}worker", host=PREFIX, pid=1, slots=4, cores=4 * args.schedules, cpu_percent=0,
            load_1m=0, memory_total_bytes=2**40, memory_available_bytes=2**40, disk_free_bytes=2**40, rss_bytes=0,
        ))
        tasks = [
            core.task_create(definition={
                "taskId": f"{PREFIX}{n}", "name": f"fire {n}",
                "workflows": [{"id": "only", "name": "only", "workflow": "echo", "config": {"output": {"n": n}}}],
            })
            for n in range(args.schedules)
        ]
        ids = [
            services.schedule_create(task=task, block={"type": "interval", "interval": 1, "unit": "h", "concurrent": "allow"}).pk
            for task in tasks
        ]
        due = timezone.now() - timedelta(milliseconds=100)
        Schedule.objects.filter(pk__in=ids).update(next_fire_at=due, anchor_at=due)
        cpu, wall = time.process_time(), time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            if args.mode == "batch":
                fired = sum(
                    len(services.schedule_fire_batch(schedule_ids=ids[i : i + args.batch]))
                    for i in range(0, len(ids), args.batch)
                )
            else:
                fired = sum(len(services.schedule_fire_due(schedule_id=pk)) for pk in ids)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        assert fired == len(ids), f"{fired} of {len(ids)} fired"
        rounds.append((len(queries.captured_queries) / fired, 1000 * cpu / fired, 1000 * wall / fired))
    Task.objects.filter(task_id__startswith=PREFIX).delete()
    Worker.objects.filter(name=f"{PREFIX}worker").delete()

    statements, cpu_ms, wall_ms = (statistics.median(r[i] for r in rounds) for i in range(3))
    print(f"{args.schedules} schedules, mode {args.mode}" + (f" (batches of {args.batch})" if args.mode == "batch" else ""))
    print(f"{'per fire':<28}{'median':>10}   rounds")
    print(f"{'SQL statements':<28}{statements:>10.1f}   " + ", ".join(f"{r[0]:.1f}" for r in rounds))
    print(f"{'CPU of this process (ms)':<28}{cpu_ms:>10.1f}   " + ", ".join(f"{r[1]:.1f}" for r in rounds))
    print(f"{'wall (ms)':<28}{wall_ms:>10.1f}   " + ", ".join(f"{r[2]:.1f}" for r in rounds))
    benchsupport.print_result({
        "schedules": args.schedules, "mode": args.mode, "statements_per_fire": round(statements, 1),
        "cpu_ms_per_fire": round(cpu_ms, 1), "wall_ms_per_fire": round(wall_ms, 1),
    })


if __name__ == "__main__":
    main()
