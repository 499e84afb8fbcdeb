"""Engine overhead benchmark: WebAuto DAG execution vs a plain Celery canvas.

Runs on Redis + PostgreSQL with one worker (prefork, 2 processes) and prints,
for a chain of 20 no-op nodes and a fan-out/fan-in of 50 no-op nodes:
end-to-end time, orchestration overhead per node, and the same work as a
Celery chain / chord in the same run, with the ratio between the two. Each
measurement starts with the broker drained (``benchsupport.wait_broker_idle``):
neither side waits behind the other's messages.

    .venv/bin/python tests/performance/bench_engine.py [--repeat 5]

Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/webauto_bench),
REDIS_URL (default redis://127.0.0.1:6379/9). The database is created and
migrated if needed; the Redis database is flushed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import benchsupport  # noqa: E402  (sits beside this script)

ROOT = benchsupport.ROOT
benchsupport.configure(database="webauto_bench", redis_db=9)
# Canvases need a result backend (the engine does not).
os.environ.setdefault("CELERY_RESULT_BACKEND", os.environ["REDIS_URL"])



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    benchsupport.setup(fresh=True)

    from celery import chain, chord

    from orchestration import services
    from orchestration.models import EXECUTION_FINAL, Execution, NodeRun, Task
    from orchestration.tasks import ping


    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webauto", "worker", "-P", "prefork", "-c", str(args.concurrency),
         "--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
        cwd=ROOT, env=dict(os.environ), start_new_session=True,
    )
    try:
        time.sleep(4)
        Task.objects.filter(task_id__startswith="bench-").delete()
        chain_task = Task.objects.create(
            task_id="bench-chain-20", name="chain of 20",
            workflows=[{"id": f"n{i}", "workflow": "echo", **({"dependsOn": [f"n{i-1}"]} if i else {})}
                       for i in range(20)],
        )
        fan_task = Task.objects.create(
            task_id="bench-fan-50", name="fan-out/fan-in of 50",
            workflows=[{"id": "start", "workflow": "echo"}]
            + [{"id": f"b{i}", "workflow": "echo", "dependsOn": ["start"]} for i in range(50)]
            + [{"id": "join", "workflow": "echo", "dependsOn": [f"b{i}" for i in range(50)]}],
        )

        def run_engine(task: Task) -> tuple[float, float]:
            benchsupport.wait_broker_idle()
            started = time.perf_counter()
            execution = services.execution_create(task=task)
            while True:
                status = Execution.objects.filter(pk=execution.pk).values_list("status", flat=True).first()
                if status in EXECUTION_FINAL:
                    break
                time.sleep(0.005)
            elapsed = time.perf_counter() - started
            assert status == "completed", status
            work = sum(
                (nr.finished_at - nr.started_at).total_seconds()
                for nr in NodeRun.objects.filter(execution_id=execution.pk)
            )
            return elapsed, work

        def run_canvas(kind: str) -> float:
            benchsupport.wait_broker_idle()
            started = time.perf_counter()
            if kind == "chain":
                chain(*[ping.si(i) for i in range(20)]).apply_async().get(timeout=120)
            else:
                chord([ping.si(i) for i in range(50)])(ping.si("join")).get(timeout=120)
            return time.perf_counter() - started

        run_engine(chain_task)  # warm-up: imports, connections, worker pool
        run_canvas("chain")
        rows = []
        for label, task, canvas, nodes in [("chain of 20", chain_task, "chain", 20),
                                           ("fan-out/fan-in of 50", fan_task, "chord", 52)]:
            engine_times, canvas_times, overheads = [], [], []
            for _ in range(args.repeat):
                elapsed, work = run_engine(task)
                engine_times.append(elapsed)
                overheads.append((elapsed - work) / nodes * 1000)
                canvas_times.append(run_canvas(canvas))
            rows.append((label, statistics.median(engine_times), statistics.median(overheads),
                         statistics.median(canvas_times)))
        print(f"one worker (prefork, {args.concurrency} processes), Redis broker, PostgreSQL; "
              f"median of {args.repeat} runs")
        print(f"{'graph':<22}{'engine e2e':>12}{'overhead/node':>15}{'celery canvas':>15}{'ratio':>8}")
        for label, e2e, overhead, canvas_time in rows:
            print(f"{label:<22}{e2e * 1000:>10.0f}ms{overhead:>13.1f}ms{canvas_time * 1000:>13.0f}ms"
                  f"{e2e / canvas_time:>8.2f}")
        (_, chain_ms, _, chain_canvas), (_, fan_ms, _, fan_canvas) = rows
        benchsupport.print_result({
            "chain20_ms": round(chain_ms * 1000, 1),
            "chain20_canvas_ms": round(chain_canvas * 1000, 1),
            "chain20_ratio": round(chain_ms / chain_canvas, 2),
            "fan50_ms": round(fan_ms * 1000, 1),
            "fan50_canvas_ms": round(fan_canvas * 1000, 1),
            "fan50_ratio": round(fan_ms / fan_canvas, 2),
            "repeat": args.repeat,
        })
    finally:
        worker.terminate()
        worker.wait(20)


if __name__ == "__main__":
    main()
