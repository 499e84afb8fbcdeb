"""Lock order: an admission pass holds the pool, which comes after execution
rows, so it must never wait for an execution (see orchestration.engine)."""

from __future__ import annotations

import pytest

from orchestration import engine
from orchestration.models import Execution
from resources import services as resources
from resources.models import ResourceRequest
from tests.support.locks import held_in_another_transaction, lock_timeout

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admission_pass_under_the_pool_lock_never_waits_for_an_execution(make_task, queued):
    # No live worker: the pass marks every waiting execution "no live worker".
    waiting = [queued(make_task(f"wait-{n}")) for n in range(2)]
    for execution in waiting:
        assert resources.admission_request(execution_id=execution.pk) is False
    Execution.objects.filter(pk__in=[e.pk for e in waiting]).update(status_reason="")
    ResourceRequest.objects.update(reason="")
    busy = waiting[0]
    # The engine holds one of them (cancelling it, say), execution before pool.
    with held_in_another_transaction(lambda: engine.lock_execution(busy.pk)):
        with lock_timeout(2):
            assert resources.admission_dispatch() == 0
    reasons = dict(Execution.objects.filter(pk__in=[e.pk for e in waiting]).values_list("pk", "status_reason"))
    assert reasons == {busy.pk: "", waiting[1].pk: resources.NO_LIVE_WORKER}  # the busy one is left for later
