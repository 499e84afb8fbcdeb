"""Many threads admitting, releasing and dispatching at once on PostgreSQL:
capacity is never over-spent, nothing is granted twice, nothing leaks."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.db.models import Sum

from orchestration.models import Execution, ExecutionStatus
from resources import services
from resources.models import Allocation, ReleaseReason

pytestmark = pytest.mark.django_db(transaction=True)

EXECUTIONS = 40
CAPACITY_MILLICORES = 5000


def _in_thread(fn, *args):
    try:
        return fn(*args)
    finally:
        connection.close()


def _open_cpu() -> int:
    return Allocation.objects.filter(released_at__isnull=True).aggregate(n=Sum("cpu_millicores"))["n"] or 0


def test_concurrent_admissions_never_over_allocate_and_never_leak(make_worker, make_task, queued):
    make_worker(cpu_limit_millicores=CAPACITY_MILLICORES)
    executions = [queued(make_task(f"t{i}", priority=["low", "normal", "high"][i % 3])) for i in range(EXECUTIONS)]

    over: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            used = _open_cpu()
            if used > CAPACITY_MILLICORES:
                over.append(used)

    watcher = threading.Thread(target=_in_thread, args=(watch,))
    watcher.start()
    barrier = threading.Barrier(EXECUTIONS)

    def ask(execution_id: int) -> bool:
        barrier.wait()
        return services.admission_request(execution_id=execution_id)

    try:
        with ThreadPoolExecutor(EXECUTIONS) as pool:
            admitted = list(pool.map(lambda e: _in_thread(ask, e.pk), executions))
        assert sum(admitted) == CAPACITY_MILLICORES // 1000
        assert _open_cpu() == CAPACITY_MILLICORES

        # Let the admitted ones "run" so dispatch can start the rest; then
        # finish everything running, concurrently with dispatch passes.
        for execution, ok in zip(executions, admitted, strict=True):
            if ok:
                Execution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.RUNNING)

        def finish(execution_id: int) -> None:
            Execution.objects.filter(pk=execution_id).update(status=ExecutionStatus.COMPLETED)
            services.admission_release(execution_id=execution_id)

        for _round in range(EXECUTIONS):
            running = list(Execution.objects.filter(status=ExecutionStatus.RUNNING).values_list("pk", flat=True))
            if not running and not Execution.objects.filter(status=ExecutionStatus.QUEUED).exists():
                break
            with ThreadPoolExecutor(16) as pool:
                jobs = [pool.submit(_in_thread, finish, pk) for pk in running]
                jobs += [pool.submit(_in_thread, services.admission_dispatch) for _ in range(6)]
                for job in jobs:
                    job.result()
            # The test process plays the worker: a last pass after the releases.
            services.admission_dispatch()
    finally:
        stop.set()
        watcher.join()

    assert over == []
    assert set(Execution.objects.values_list("status", flat=True)) == {ExecutionStatus.COMPLETED}
    assert _open_cpu() == 0
    # Exactly one grant per execution, each released once, as finished.
    allocations = list(Allocation.objects.values_list("execution_id", "release_reason"))
    assert sorted(e for e, _ in allocations) == sorted(e.pk for e in executions)
    assert {reason for _, reason in allocations} == {ReleaseReason.FINISHED}
