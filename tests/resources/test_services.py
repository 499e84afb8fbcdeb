"""Admission, queueing, preemption and reconciliation against the database
(the engine's own functions start and preempt; nodes are not sent anywhere
because these tests never commit)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orchestration.models import Event, ExecutionStatus, NodeStatus
from resources import services
from resources.models import (
    Allocation,
    Preemption,
    ReleaseReason,
    ResourcePool,
    ResourceRequest,
    Worker,
    WorkerStatus,
)
from tests.resources.conftest import GB, MB

pytestmark = pytest.mark.django_db


def start(execution) -> bool:
    """What the engine does: ask, and begin when admitted."""
    from orchestration import services as core

    if services.admission_request(execution_id=execution.pk):
        core.execution_begin(execution_id=execution.pk)
        return True
    return False


def test_it_admits_an_execution_that_fits_and_records_the_allocation(make_worker, make_task, queued):
    worker = make_worker()
    execution = queued(make_task("fits", cpu=2, memory="1GB"))

    assert services.admission_request(execution_id=execution.pk) is True

    allocation = Allocation.objects.get(execution=execution)
    assert allocation.worker == worker
    assert (allocation.cpu_millicores, allocation.memory_bytes) == (2000, GB)
    assert allocation.released_at is None
    request = ResourceRequest.objects.get(execution=execution)
    assert request.waiting_since is None and request.admissions == 1 and request.source == "explicit"


def test_it_queues_with_the_reason_when_capacity_is_short(make_worker, make_task, queued):
    make_worker(cpu_limit_millicores=2000)
    assert start(queued(make_task("first", cpu=1)))
    second = queued(make_task("second", cpu=2, memory="1GB"))

    assert services.admission_request(execution_id=second.pk) is False

    second.refresh_from_db()
    assert second.status == ExecutionStatus.QUEUED
    assert second.status_reason == "waiting for 2 CPU, 1GB"
    assert ResourceRequest.objects.get(execution=second).waiting_since is not None
    assert not Allocation.objects.filter(execution=second).exists()


def test_nothing_is_admitted_without_a_live_worker(make_worker, make_task, queued):
    make_worker(heartbeat=timezone.now() - timedelta(minutes=5))  # silent: not trusted
    execution = queued(make_task("orphan"))

    assert services.admission_request(execution_id=execution.pk) is False
    execution.refresh_from_db()
    assert execution.status_reason == "no live worker"


def test_a_request_that_can_never_fit_says_so_and_does_not_hold_up_others(make_worker, make_task, queued):
    make_worker(cores=2)  # 8 CPU with the default overcommit of 4
    huge = queued(make_task("huge", cpu=64))
    assert services.admission_request(execution_id=huge.pk) is False
    huge.refresh_from_db()
    assert huge.status_reason.startswith("needs 64 CPU, 256MB, more than the cluster can offer")

    small = queued(make_task("small"))
    assert services.admission_request(execution_id=small.pk) is True


def test_release_frees_capacity_and_dispatch_starts_waiting_work_by_priority_then_age(
    make_worker, make_task, queued
):
    make_worker(cpu_limit_millicores=1000)
    running = queued(make_task("running", priority="high"))
    assert start(running)
    low_old = queued(make_task("low-old", priority="low"))
    normal_old = queued(make_task("normal-old"))
    high_new = queued(make_task("high-new", priority="high"))
    normal_new = queued(make_task("normal-new"))
    for execution in (low_old, normal_old, high_new, normal_new):
        assert services.admission_request(execution_id=execution.pk) is False
    # high-new may preempt only lower priorities, and "running" is high too.
    assert not Preemption.objects.exists()

    order = []
    for finished in [running, None, None, None]:
        current = finished or Allocation.objects.get(released_at__isnull=True).execution
        current.status = ExecutionStatus.COMPLETED
        current.save(update_fields=["status"])
        services.admission_release(execution_id=current.pk)
        assert services.admission_dispatch() == 1
        admitted = Allocation.objects.get(released_at__isnull=True).execution
        admitted.refresh_from_db()
        assert admitted.status == ExecutionStatus.RUNNING
        order.append(admitted.task.task_id)

    assert order == ["high-new", "normal-old", "normal-new", "low-old"]


def test_a_newcomer_does_not_jump_the_queue_even_when_it_would_fit(make_worker, make_task, queued):
    make_worker(cpu_limit_millicores=2000)
    assert start(queued(make_task("busy")))
    big = queued(make_task("big", cpu=2))
    assert services.admission_request(execution_id=big.pk) is False
    small = queued(make_task("small", cpu=1))

    assert services.admission_request(execution_id=small.pk) is False
    small.refresh_from_db()
    assert small.status_reason == "waiting for 1 CPU, 256MB; 1 ahead in queue"


def test_ageing_lets_a_long_waiting_low_priority_execution_go_first(settings, make_worker, make_task, queued):
    settings.WEBAUTO_RESOURCES_AGEING_SECONDS = 60
    make_worker(cpu_limit_millicores=1000)
    busy = queued(make_task("busy"))
    assert start(busy)
    low = queued(make_task("patient", priority="low"))
    assert services.admission_request(execution_id=low.pk) is False
    # Waited 4 minutes: low + 4 steps, capped at critical; older than the newcomer.
    ResourceRequest.objects.filter(execution=low).update(first_requested_at=timezone.now() - timedelta(minutes=4))
    high = queued(make_task("eager", priority="high"))
    assert services.admission_request(execution_id=high.pk) is False

    busy.status = ExecutionStatus.COMPLETED
    busy.save(update_fields=["status"])
    services.admission_release(execution_id=busy.pk)
    assert services.admission_dispatch() == 1
    assert Allocation.objects.get(released_at__isnull=True).execution == low


def test_a_critical_execution_preempts_the_lowest_priority_running_one(make_worker, make_task, queued):
    make_worker(cpu_limit_millicores=2000)
    low = queued(make_task("low", priority="low"))
    normal = queued(make_task("normal"))
    assert start(low) and start(normal)
    NodeRun = low.node_runs.model
    NodeRun.objects.filter(execution=low).update(status=NodeStatus.RUNNING)
    critical = queued(make_task("urgent", priority="critical"))

    assert services.admission_request(execution_id=critical.pk) is True

    low.refresh_from_db()
    normal.refresh_from_db()
    assert low.status == ExecutionStatus.QUEUED
    assert low.status_reason == f"preempted by execution #{critical.pk} (critical)"
    assert normal.status == ExecutionStatus.RUNNING
    assert NodeRun.objects.get(execution=low).stop_requested == "preempt"
    freed = Allocation.objects.get(execution=low)
    assert freed.release_reason == ReleaseReason.PREEMPTED and freed.released_at is not None
    preemption = Preemption.objects.get()
    assert (preemption.victim, preemption.beneficiary) == (low, critical)
    assert (preemption.victim_priority, preemption.beneficiary_priority) == ("low", "critical")
    assert Event.objects.filter(type="resource.preempted", execution=low).exists()
    request = ResourceRequest.objects.get(execution=low)
    assert request.waiting_since is not None and request.preemptions == 1

    # The victim comes back when capacity frees, ahead of newer work of its rank.
    later_low = queued(make_task("later-low", priority="low"))
    assert services.admission_request(execution_id=later_low.pk) is False
    critical.status = ExecutionStatus.COMPLETED
    critical.save(update_fields=["status"])
    services.admission_release(execution_id=critical.pk)
    assert services.admission_dispatch() == 1
    low.refresh_from_db()
    assert low.status == ExecutionStatus.RUNNING
    assert Preemption.objects.get().resumed_at is not None
    assert Event.objects.filter(type="execution.resumed", execution=low).exists()


def test_preemption_only_takes_what_is_needed_and_spares_equal_priority(make_worker, make_task, queued):
    make_worker(cpu_limit_millicores=3000)
    lows = [queued(make_task(f"low-{i}", priority="low")) for i in range(2)]
    high = queued(make_task("high-running", priority="high"))
    for execution in (*lows, high):
        assert start(execution)
    newcomer = queued(make_task("high-new", priority="high"))

    assert services.admission_request(execution_id=newcomer.pk) is True
    # One low execution (the most recently started) is enough; the high one is spared.
    assert Preemption.objects.count() == 1
    assert Preemption.objects.get().victim == lows[1]
    high.refresh_from_db()
    assert high.status == ExecutionStatus.RUNNING


def test_no_preemption_when_it_would_not_make_room(make_worker, make_task, queued):
    make_worker(cpu_limit_millicores=2000)
    low = queued(make_task("low", priority="low"))
    high = queued(make_task("high", priority="high"))
    assert start(low) and start(high)
    critical = queued(make_task("critical-big", priority="critical", cpu=2))
    # Freeing "low" (1 CPU) alone does not fit 2 CPU; "high" may be preempted too.
    assert services.admission_request(execution_id=critical.pk) is True
    assert Preemption.objects.count() == 2

    critical2 = queued(make_task("critical-2", priority="critical", cpu=1))
    # Only critical work runs now: nothing lower to take from.
    assert services.admission_request(execution_id=critical2.pk) is False
    assert Preemption.objects.count() == 2


def test_preemption_can_be_turned_off(settings, make_worker, make_task, queued):
    settings.WEBAUTO_RESOURCES_PREEMPTION = False
    make_worker(cpu_limit_millicores=1000)
    low = queued(make_task("low", priority="low"))
    assert start(low)
    critical = queued(make_task("critical", priority="critical"))

    assert services.admission_request(execution_id=critical.pk) is False
    low.refresh_from_db()
    assert low.status == ExecutionStatus.RUNNING
    assert not Preemption.objects.exists()


def test_the_pool_limit_caps_the_cluster_below_its_workers(make_worker, make_task, queued):
    make_worker()
    make_worker("w2@host-b", host="host-b")
    ResourcePool.objects.create(name="default", cpu_limit_millicores=1000)
    assert start(queued(make_task("one")))
    assert services.admission_request(execution_id=queued(make_task("two")).pk) is False


def test_a_lost_workers_allocations_are_reclaimed(settings, make_worker, make_task, queued):
    settings.WEBAUTO_WORKER_LOST_SECONDS = 30
    doomed = make_worker("doomed@host-a", cpu_limit_millicores=1000)
    running = queued(make_task("was-on-doomed"))
    assert start(running)
    Worker.objects.filter(pk=doomed.pk).update(last_heartbeat_at=timezone.now() - timedelta(seconds=60))
    survivor = make_worker("survivor@host-b", host="host-b", cpu_limit_millicores=1000)

    counts = services.admission_reconcile()

    doomed.refresh_from_db()
    assert doomed.status == WorkerStatus.LOST and doomed.lost_at is not None
    assert counts["workers_lost"] == 1 and counts["reclaimed"] == 1
    old = Allocation.objects.get(execution=running, worker=doomed)
    assert old.release_reason == ReleaseReason.WORKER_LOST and old.released_at is not None
    # Still running (the engine re-dispatches its nodes), so it is accounted on the survivor.
    moved = Allocation.objects.get(execution=running, released_at__isnull=True)
    assert moved.worker == survivor
    assert services.admission_request(execution_id=queued(make_task("next")).pk) is False


def test_reconcile_frees_what_finished_executions_still_hold_and_queues_orphans(make_worker, make_task, queued):
    make_worker(cpu_limit_millicores=1000)
    finished = queued(make_task("finished"))
    assert start(finished)
    finished.status = ExecutionStatus.FAILED
    finished.save(update_fields=["status"])  # the release call was lost (crash)
    orphan = queued(make_task("orphan"))  # queued while another backend was in charge

    counts = services.admission_reconcile()

    assert counts["released"] == 1 and counts["requeued"] == 1
    assert Allocation.objects.get(execution=finished).release_reason == ReleaseReason.RECONCILED
    orphan.refresh_from_db()
    assert orphan.status == ExecutionStatus.RUNNING


def test_a_heartbeat_registers_the_worker_and_a_stop_frees_its_capacity(make_task, queued):
    beat = services.Heartbeat(
        name="celery@box", host="box", pid=123, slots=4, cores=2, cpu_percent=12.5, load_1m=0.3,
        memory_total_bytes=4 * GB, memory_available_bytes=3 * GB, disk_free_bytes=50 * GB,
        rss_bytes=80 * MB, cpu_limit_millicores=1000,
    )
    worker = services.worker_heartbeat(beat=beat)
    assert worker.status == WorkerStatus.ALIVE and worker.slots == 4 and worker.cpu_limit_millicores == 1000
    execution = queued(make_task("on-box"))
    assert start(execution)

    services.worker_stop(name="celery@box")

    worker.refresh_from_db()
    assert worker.status == WorkerStatus.STOPPED
    assert Allocation.objects.get(execution=execution, worker=worker).release_reason == ReleaseReason.WORKER_LOST
    assert Allocation.objects.get(execution=execution, released_at__isnull=True).worker is None


def test_dispatch_skips_what_can_never_fit_and_says_no_live_worker_when_all_are_gone(
    make_worker, make_task, queued
):
    worker = make_worker(cpu_limit_millicores=1000)
    busy = queued(make_task("busy"))
    assert start(busy)
    huge = queued(make_task("huge", priority="critical", cpu=8))
    small = queued(make_task("small"))
    for execution in (huge, small):
        assert services.admission_request(execution_id=execution.pk) is False

    busy.status = ExecutionStatus.COMPLETED
    busy.save(update_fields=["status"])
    services.admission_release(execution_id=busy.pk)
    assert services.admission_dispatch() == 1  # the huge head is passed over, small runs
    small.refresh_from_db()
    huge.refresh_from_db()
    assert small.status == ExecutionStatus.RUNNING
    assert huge.status_reason.startswith("needs 8 CPU, 256MB, more than the cluster can offer")

    later = queued(make_task("later"))
    Worker.objects.filter(pk=worker.pk).update(last_heartbeat_at=timezone.now() - timedelta(hours=1))
    assert services.admission_request(execution_id=later.pk) is False
    assert services.admission_dispatch() == 0
    for execution in (huge, later):
        execution.refresh_from_db()
        assert execution.status_reason == "no live worker"


def test_a_dispatch_sent_for_freed_capacity_is_skipped_when_a_later_pass_saw_it(make_worker, make_task, queued):
    make_worker(cpu_limit_millicores=1000)
    busy = queued(make_task("busy"))
    assert start(busy)
    waiting = queued(make_task("waiting"))
    assert services.admission_request(execution_id=waiting.pk) is False
    assert services.admission_dispatch() == 0  # pass 1: still full
    seen = ResourcePool.objects.get(name="default").dispatch_seq

    busy.status = ExecutionStatus.COMPLETED
    busy.save(update_fields=["status"])
    services.admission_release(execution_id=busy.pk)
    # One pass since the caller looked may have begun before its release: not enough.
    ResourcePool.objects.filter(name="default").update(dispatch_seq=seen + 1)
    assert services.admission_dispatch(seen_seq=seen) == 1
    after = ResourcePool.objects.get(name="default").dispatch_seq
    assert after == seen + 2
    # Nobody waits now: the pass does not even take the lock.
    assert services.admission_dispatch(seen_seq=0) == 0
    assert ResourcePool.objects.get(name="default").dispatch_seq == after
    # Someone waits, but two passes began since the caller looked: one saw its capacity.
    assert services.admission_request(execution_id=queued(make_task("third")).pk) is False
    assert services.admission_dispatch(seen_seq=seen) == 0
    assert ResourcePool.objects.get(name="default").dispatch_seq == after


def test_derived_requirements_larger_than_the_cluster_are_capped_at_the_largest_worker(
    make_worker, make_task, queued
):
    make_worker(cores=2)  # 8 CPU with the default overcommit of 4
    chain = [{"id": f"n{i}", "workflow": "echo", **({"dependsOn": [f"n{i - 1}"]} if i else {})} for i in range(60)]
    big = queued(make_task("big-graph", workflows=chain, requirements={}))

    assert start(big)

    request = ResourceRequest.objects.get(execution=big)
    assert request.source == "derived" and request.cpu_millicores == 12000
    assert Allocation.objects.get(execution=big).cpu_millicores == 8000


# --- Several requests in one pass (the scheduler's batch of fires) --------------------------


def test_a_batch_is_decided_as_one_request_after_another_would_be(make_worker, make_task, queued):
    make_worker(cpu_limit_millicores=2000)
    first, second, third = (queued(make_task(f"batch-{n}", cpu=1)) for n in range(3))
    ResourcePool.objects.get_or_create(name="default")

    with CaptureQueriesContext(connection) as queries:
        admitted = services.admission_request_many(execution_ids=[first.pk, second.pk, third.pk])

    pool_locks = [q for q in queries.captured_queries if "resources_resourcepool" in q["sql"] and "FOR UPDATE" in q["sql"]]
    assert len(pool_locks) == 1  # one pass under the pool lock for the whole batch
    assert admitted == [first.pk, second.pk]  # in the order given: these came first
    assert set(Allocation.objects.filter(released_at__isnull=True).values_list("execution_id", flat=True)) == {
        first.pk, second.pk,
    }
    third.refresh_from_db()
    assert third.status == ExecutionStatus.QUEUED and third.status_reason == "waiting for 1 CPU, 256MB"
    assert ResourceRequest.objects.get(execution=third).waiting_since is not None


def test_a_batch_does_not_jump_the_queue_and_later_ones_wait_behind_its_first_misfit(make_worker, make_task, queued):
    make_worker(cpu_limit_millicores=2000)
    assert start(queued(make_task("busy")))
    big = queued(make_task("big", cpu=2))
    assert services.admission_request(execution_id=big.pk) is False
    small_a, small_b = queued(make_task("small-a", cpu=1)), queued(make_task("small-b", cpu=1))

    assert services.admission_request_many(execution_ids=[small_a.pk, small_b.pk]) == []

    small_a.refresh_from_db()
    small_b.refresh_from_db()
    assert small_a.status_reason == "waiting for 1 CPU, 256MB; 1 ahead in queue"
    assert small_b.status_reason == "waiting for 1 CPU, 256MB; 2 ahead in queue"


def test_a_batch_without_a_live_worker_queues_every_run_with_the_reason(make_worker, make_task, queued):
    make_worker(heartbeat=timezone.now() - timedelta(minutes=5))
    runs = [queued(make_task(f"orphan-{n}")) for n in range(2)]
    assert services.admission_request_many(execution_ids=[r.pk for r in runs]) == []
    for run in runs:
        run.refresh_from_db()
        assert run.status_reason == "no live worker"
