"""Summarise a py-spy profile of a worker (raw/collapsed stacks) into where a
node's CPU time goes, by engine phase.

    py-spy record --subprocesses --pid <worker pid> --duration 20 --format raw -o worker.raw
    .venv/bin/python tests/performance/profile_summary.py worker.raw [--nodes N]

Each sample is put in the first category whose marker occurs in its stack
(order matters: an event written inside ``node_finish`` counts as events).
Samples of threads blocked in a wait (py-spy reports some on a loaded
machine) are left out; "DB wait" is the part spent waiting for PostgreSQL's
answers (round trips), the rest is Python's own work.
With ``--nodes`` (nodes run during the recording), it also prints the CPU
milliseconds per node at py-spy's sampling rate (``--rate``, default 100/s).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

# (category, markers): the first category with a marker in the stack wins.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("heartbeat thread (watchdog per node)", ("Watchdog.run", "Watchdog._beat")),
    ("thread start", ("Thread.start ",)),
    ("config schema validation (jsonschema)", ("jsonschema/",)),
    ("event rows + receivers", ("emit (orchestration/events.py", "batch (orchestration/events.py",
                                "_announce (orchestration/events.py", "event_recorded", "monitoring/receivers",
                                "scheduling/receivers")),
    ("broker publish (apply_async)", ("apply_async",)),
    ("admission", ("admission",)),
    ("DB commit", ("commit (psycopg", "Connection.commit (psycopg", "_commit (django/db")),
    ("claim (ORM + queries)", ("node_claim",)),
    ("finish + graph advance (ORM + queries)", ("node_finish",)),
    ("the node's own work (workflow kind)", ("_execute (orchestration/runner",)),
    ("runner setup (psutil, context, secrets)", ("run_node (orchestration/runner",)),
    ("sweeper / maintenance", ("recovery.py",)),
    ("resources heartbeat thread", ("resources/worker.py",)),
    ("alert evaluation (monitoring, per execution)", ("monitoring/",)),
    ("celery/kombu machinery (consume, ack, pool IPC)", ("celery/", "kombu/", "billiard/")),
]


# Threads blocked in these waits are idle; on a loaded machine py-spy still
# reports some of them (a thread woken but not yet scheduled). Left out.
# So are a pool process blocked reading its next job from the pipe and the
# main process blocked in its event loop's poll; the process-tree sampler sleeping.
IDLE_LEAVES = ("Event.wait (", "Condition.wait (", "Condition._acquire_restore (",
               "Connection._recv (billiard/", "_epoll.poll (", "_SharedSampler._run (")
# The innermost frame of a thread waiting for PostgreSQL's answer (a round
# trip: the server's work, its locks, and the machine's load).
DB_WAIT_LEAVES = ("Connection.wait (psycopg/",)


def is_idle(stack: str) -> bool:
    """Whether the sample's innermost frame is a wait (the thread is idle)."""
    leaf = stack.rsplit(";", 1)[-1]
    return leaf.startswith(IDLE_LEAVES)


def categorise(stack: str) -> str:
    for name, markers in CATEGORIES:
        if any(marker in stack for marker in markers):
            return name
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("--nodes", type=int, default=0, help="nodes run while recording")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    args = parser.parse_args()

    totals: Counter[str] = Counter()
    db_wait: Counter[str] = Counter()
    processes: Counter[str] = Counter()
    idle = 0
    for line in args.raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        if is_idle(stack):
            idle += n
            continue
        processes["pool processes" if stack.count("process ") > 1 else "main process"] += n
        category = categorise(stack)
        totals[category] += n
        if stack.rsplit(";", 1)[-1].startswith(DB_WAIT_LEAVES):
            db_wait[category] += n
    all_samples = sum(totals.values())
    print(f"{all_samples} on-CPU samples at {args.rate}/s; " + ", ".join(f"{k}: {v}" for k, v in processes.items())
          + f" (left out: {idle} samples of threads blocked in a wait)")
    print(f"{'where the CPU time goes':<50}{'share':>8}{'of it DB wait':>15}"
          + (f"{'ms/node':>10}" if args.nodes else ""))
    for name, n in totals.most_common():
        per_node = f"{n / args.rate * 1000 / args.nodes:>10.2f}" if args.nodes else ""
        print(f"{name:<50}{n / all_samples:>8.1%}{db_wait[name] / all_samples:>15.1%}{per_node}")
    print(f"{'all':<50}{1:>8.1%}{sum(db_wait.values()) / all_samples:>15.1%}"
          + (f"{all_samples / args.rate * 1000 / args.nodes:>10.2f}" if args.nodes else ""))


if __name__ == "__main__":
    main()
