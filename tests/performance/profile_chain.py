"""Where a chain hop's time goes, in one process, without Celery.

Creates executions of a chain of 20 no-op nodes (admit-all), then runs the
first node with ``runner.run_node`` in this process: the engine continues
the chain here (each next node claimed, run and recorded like any other), so
the whole execution is engine work and nothing else. Prints the SQL round
trips and commits per hop by statement kind, the time per hop, and
(``--cprofile FILE``) a cProfile of the hops sorted by cumulative time.

    .venv/bin/python tests/performance/profile_chain.py [--executions 30] [--cprofile /tmp/chain.prof]

Environment as for the benchmarks (its own database ``webauto_bench``).
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import os
import pstats
import statistics
import time

import benchsupport  # noqa: E402  (sits beside this script)

benchsupport.configure(database="webauto_bench", redis_db=9)
os.environ["WEBAUTO_ADMISSION_BACKEND"] = "orchestration.admission.AdmitAll"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=30)
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--cprofile", default="", help="write a cProfile of the hops to this file")
    args = parser.parse_args()
    benchsupport.setup()

    from django.db import connection

    from orchestration import runner, services
    from orchestration.models import Execution, NodeRun, NodeStatus, Task

    Task.objects.filter(task_id="profile-chain").delete()
    task = Task.objects.create(
        task_id="profile-chain", name="chain",
        workflows=[{"id": f"n{i}", "workflow": "echo", **({"dependsOn": [f"n{i-1}"]} if i else {})}
                   for i in range(args.nodes)],
    )
    statements: collections.Counter[str] = collections.Counter()

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        word = sql.lstrip().split(None, 1)[0].upper()
        if word == "WITH":
            word = "WITH (claim)"
        statements[word] += 1
        return execute(sql, params, many, context)

    def first_node(execution: Execution) -> tuple[int, str]:
        run = NodeRun.objects.get(execution=execution, status=NodeStatus.QUEUED)
        return run.pk, str(run.dispatch_id)

    profile = cProfile.Profile() if args.cprofile else None
    timings = []
    for i in range(args.executions + 1):
        execution = services.execution_create(task=task)
        node_run_id, dispatch_id = first_node(execution)
        measured = i > 0  # the first is a warm-up
        started = time.perf_counter()
        if measured:
            with connection.execute_wrapper(count):
                if profile:
                    profile.enable()
                runner.run_node(node_run_id=node_run_id, dispatch_id=dispatch_id)
                if profile:
                    profile.disable()
        else:
            runner.run_node(node_run_id=node_run_id, dispatch_id=dispatch_id)
        elapsed = time.perf_counter() - started
        status = Execution.objects.filter(pk=execution.pk).values_list("status", flat=True).get()
        assert status == "completed", status
        if measured:
            timings.append(elapsed)
    hops = args.executions * args.nodes
    print(f"chain of {args.nodes}, {args.executions} executions, one process, PostgreSQL, no broker")
    print(f"{'statement':<16}{'per hop':>10}")
    for word, n in statements.most_common():
        print(f"{word:<16}{n / hops:>10.2f}")
    print(f"{'all':<16}{sum(statements.values()) / hops:>10.2f}")
    per_hop_ms = statistics.median(timings) / args.nodes * 1000
    print(f"median time per hop: {per_hop_ms:.2f} ms")
    if profile:
        profile.dump_stats(args.cprofile)
        pstats.Stats(args.cprofile).sort_stats("cumulative").print_stats(40)
    benchsupport.print_result({
        "nodes": args.nodes, "executions": args.executions, "hop_ms": round(per_hop_ms, 2),
        "statements_per_hop": round(sum(statements.values()) / hops, 2),
        **{f"per_hop_{word.split()[0].lower()}": round(n / hops, 2) for word, n in statements.items()},
    })


if __name__ == "__main__":
    main()
