"""Summarise a py-spy profile of a worker during ``bench_schedules.py`` into
where the fire path's time goes (beat message -> fire record -> execution ->
admission -> first node), by phase.

    py-spy record --subprocesses --pid <worker pid> --duration 30 --rate 50 --format raw -o worker.raw
    .venv/bin/python tests/performance/profile_fire_path.py worker.raw

Each sample is put in the first category whose marker occurs in its stack
(order matters: an event written while admitting counts as admission). Samples
waiting on PostgreSQL (a lock, a commit's flush) count where they wait: py-spy
sees a thread blocked in ``psycopg`` as active. ``--drill MARKER`` prints the
three frames under the deepest frame containing MARKER instead, the lines of
the code that the time goes to.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

# (category, markers): the first category with a marker in the stack wins.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("beat arming rows (ClockedSchedule/PeriodicTask)", ("arming.py",)),
    ("admission (pool lock, ledger, queue, grants)", ("resources/services.py",)),
    ("event rows + their receivers", ("emit (orchestration/events.py", "event_recorded", "receivers.py")),
    ("alert evaluation of events (monitoring)", ("monitoring/tasks.py", "alerting.py")),
    ("execution create (rows, secrets check)", ("execution_create",)),
    ("fire: schedule lock, plan, fire rows, commit", ("scheduling/firing.py", "scheduling/cursor.py")),
    ("node claim", ("node_claim",)),
    ("node finish + graph advance", ("node_finish",)),
    ("node runner (other)", ("orchestration/runner.py",)),
    ("sweeper / maintenance", ("recovery.py",)),
    ("resources heartbeat thread", ("resources/worker.py",)),
    ("celery/kombu machinery (consume, ack, pool IPC)", ("celery/", "kombu/", "billiard/")),
]


def categorise(stack: str) -> str:
    for name, markers in CATEGORIES:
        if any(marker in stack for marker in markers):
            return name
    return "other"


def samples(raw: Path) -> list[tuple[str, int]]:
    """``(stack, count)`` of a py-spy raw (collapsed) file."""
    out = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            out.append((stack, int(count)))
    return out


def drill(rows: list[tuple[str, int]], marker: str) -> Counter[str]:
    below: Counter[str] = Counter()
    for stack, n in rows:
        frames = stack.split(";")
        hits = [i for i, frame in enumerate(frames) if marker in frame]
        if hits:
            below[" > ".join(frames[hits[-1] : hits[-1] + 3])] += n
    return below


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("--drill", default="", help="show the frames under this marker instead")
    args = parser.parse_args()
    rows = samples(args.raw)
    totals = drill(rows, args.drill) if args.drill else Counter()
    if not args.drill:
        for stack, n in rows:
            totals[categorise(stack)] += n
    all_samples = sum(totals.values()) or 1
    print(f"{all_samples} samples")
    for name, n in totals.most_common(25):
        print(f"{n / all_samples:7.1%}  {name}")


if __name__ == "__main__":
    main()
