"""Where a node's time goes, in one process, without Celery.

Creates executions of a chain of 20 no-op nodes (admit-all), then runs the
first node with ``runner.run_node`` in this process: the engine continues
the chain here (each next node claimed, run and recorded like any other), so
the whole execution is engine work and nothing else. With ``--shape fan``
the graph is a fan-out/fan-in (``start`` -> ``--nodes`` branches -> ``join``,
as in ``bench_engine.py``): the branches the engine sent to the broker are
run here one by one with ``runner.run_node`` and their message's arguments,
as a worker would take them (the broker's messages are left unread). Prints
the SQL round trips and commits per node ("hop") by statement kind, the
time per node, and (``--cprofile FILE``) a cProfile of the nodes sorted by
cumulative time.

    .venv/bin/python tests/performance/profile_chain.py [--shape chain|fan] [--executions 30] [--cprofile /tmp/chain.prof]

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
    parser.add_argument("--shape", choices=["chain", "fan"], default="chain")
    parser.add_argument("--nodes", type=int, default=None, help="chain length or fan width (20, 50)")
    parser.add_argument("--cprofile", default="", help="write a cProfile of the hops to this file")
    args = parser.parse_args()
    if args.nodes is None:
        args.nodes = 20 if args.shape == "chain" else 50
    benchsupport.setup()

    from django.db import connection

    from orchestration import runner, services
    from orchestration.models import Execution, NodeRun, NodeStatus, Task

    Task.objects.filter(task_id="profile-chain").delete()
    if args.shape == "chain":
        workflows = [{"id": f"n{i}", "workflow": "echo", **({"dependsOn": [f"n{i-1}"]} if i else {})}
                     for i in range(args.nodes)]
    else:
        workflows = ([{"id": "start", "workflow": "echo"}]
                     + [{"id": f"b{i}", "workflow": "echo", "dependsOn": ["start"]} for i in range(args.nodes)]
                     + [{"id": "join", "workflow": "echo", "dependsOn": [f"b{i}" for i in range(args.nodes)]}])
    task = Task.objects.create(task_id="profile-chain", name=args.shape, workflows=workflows)
    node_count = len(workflows)
    statements: collections.Counter[str] = collections.Counter()
    seconds: collections.Counter[str] = collections.Counter()

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        word = sql.lstrip().split(None, 1)[0].upper()
        if word == "WITH":
            word = "WITH (claim)" if "claimed AS" in sql else "WITH (write)"
        statements[word] += 1
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            seconds[word] += time.perf_counter() - started

    def first_node(execution: Execution) -> tuple[int, str]:
        run = NodeRun.objects.get(execution=execution, status=NodeStatus.QUEUED)
        return run.pk, str(run.dispatch_id)

    def run_all(execution: Execution, node_run_id: int, dispatch_id: str, measured: bool) -> None:
        """The first node, then (a fan-out) every node left queued, as their
        messages say; statements are counted (and profiled) inside run_node only."""
        def run(**kwargs: object) -> None:
            if not measured:
                runner.run_node(**kwargs)  # type: ignore[arg-type]
                return
            with connection.execute_wrapper(count):
                if profile:
                    profile.enable()
                runner.run_node(**kwargs)  # type: ignore[arg-type]
                if profile:
                    profile.disable()

        run(node_run_id=node_run_id, dispatch_id=dispatch_id)
        while True:
            queued = list(NodeRun.objects.filter(execution=execution, status=NodeStatus.QUEUED)
                          .values_list("pk", "dispatch_id", "node_id"))
            if not queued:
                return
            for pk, dispatch, node_id in queued:
                run(node_run_id=pk, dispatch_id=str(dispatch), execution_id=execution.pk, node_id=node_id)

    profile = cProfile.Profile() if args.cprofile else None
    timings = []
    for i in range(args.executions + 1):
        execution = services.execution_create(task=task)
        node_run_id, dispatch_id = first_node(execution)
        measured = i > 0  # the first is a warm-up
        started = time.perf_counter()
        run_all(execution, node_run_id, dispatch_id, measured)
        elapsed = time.perf_counter() - started
        status = Execution.objects.filter(pk=execution.pk).values_list("status", flat=True).get()
        assert status == "completed", status
        if measured:
            timings.append(elapsed)
    hops = args.executions * node_count
    print(f"{args.shape} of {args.nodes} ({node_count} nodes), {args.executions} executions, one process, "
          "PostgreSQL, no broker")
    print(f"{'statement':<16}{'per hop':>10}{'ms each':>10}")
    for word, n in statements.most_common():
        print(f"{word:<16}{n / hops:>10.2f}{seconds[word] / n * 1000:>10.3f}")
    print(f"{'all':<16}{sum(statements.values()) / hops:>10.2f}")
    per_hop_ms = statistics.median(timings) / node_count * 1000
    print(f"median time per hop: {per_hop_ms:.2f} ms")
    if profile:
        profile.dump_stats(args.cprofile)
        pstats.Stats(args.cprofile).sort_stats("cumulative").print_stats(40)
    benchsupport.print_result({
        "shape": args.shape, "nodes": node_count, "executions": args.executions, "hop_ms": round(per_hop_ms, 2),
        "statements_per_hop": round(sum(statements.values()) / hops, 2),
        **{f"per_hop_{word.split()[0].lower()}": round(n / hops, 2) for word, n in statements.items()},
    })


if __name__ == "__main__":
    main()
