"""The admission backend the engine talks to (``WEBAUTO_ADMISSION_BACKEND =
"resources.backend.ResourceAdmission"``)."""

from __future__ import annotations

from orchestration.models import Execution
from resources import services


class ResourceAdmission:
    """Starts an execution only when its requirements fit the live workers'
    capacity; queues it by priority otherwise, preempting lower-priority work
    for critical and high executions."""

    def enqueue(self, execution: Execution) -> None:
        """Record the request in the caller's transaction without locking the
        pool; ``admit_queued`` decides it right after the caller commits (see
        ``orchestration.admission``)."""
        services.admission_enqueue(execution=execution)

    def admit_queued(self) -> None:
        """A dispatch pass: start what fits, in queue order."""
        services.admission_dispatch()

    def request(self, execution_id: int) -> bool:
        return services.admission_request(execution_id=execution_id)

    def request_many(self, execution_ids: list[int]) -> list[int]:
        return services.admission_request_many(execution_ids=execution_ids)

    def release(self, execution_id: int) -> None:
        services.admission_release(execution_id=execution_id)
