"""Expression cost benchmark: how long validation (``check_syntax``) and
evaluation take for the costly expressions of the breaker1 review (issue 16
point 5) and a few ordinary ones. No database or broker is needed.

    .venv/bin/python tests/performance/bench_expressions.py [--repeat 3]

Prints one row per expression (best of ``--repeat`` runs, milliseconds, and
whether it was refused), then ``RESULT {json}`` with the slowest time.
Before the deep-size limits, the first rows took 65 s, 203 s and 1.8 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from orchestration import expressions  # noqa: E402

CASES = [
    "len(str([[1]*99999]*1000)) > 0",
    "[[1]*99999]*2000 == [[1]*99999]*2000",
    "[[1]*99999]*100 == [[1]*99999]*100",
    '"%*d" % (999999999, 1) == ""',
    'f"{1:>999999999}" == ""',
    '"%s" % ([[1]*99999]*1000,) == ""',
    "max([[1]*99999]*100) == 1",
    "[1]*99999 == [1]*99999",
    '"%5.2f" % 3.14159 == " 3.14"',
    "len([1, 2, 3]) == 3 and 'a' in 'abc'",
]


def measure(expression: str, repeat: int) -> tuple[float, bool]:
    """Best wall time in ms of validating then (if valid) evaluating, and
    whether the expression was refused."""
    best = float("inf")
    refused = False
    for _ in range(repeat):
        start = time.perf_counter()
        refused = expressions.check_syntax(expression) is not None
        if not refused:
            try:
                expressions.evaluate(expression, names={})
            except expressions.ExpressionError:
                refused = True
        best = min(best, (time.perf_counter() - start) * 1000)
    return best, refused


def main() -> None:
    """Run the table and print RESULT."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    slowest = 0.0
    print(f"{'expression':48} {'ms':>9}  refused")
    for expression in CASES:
        elapsed, refused = measure(expression, args.repeat)
        slowest = max(slowest, elapsed)
        print(f"{expression[:48]:48} {elapsed:9.1f}  {refused}")
    print("RESULT " + json.dumps({"cases": len(CASES), "slowest_ms": round(slowest, 1)}))


if __name__ == "__main__":
    main()
