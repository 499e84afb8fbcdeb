"""Admission control: the hook that decides when a queued execution starts.

The backend named by ``settings.WEBAUTO_ADMISSION_BACKEND`` is asked, inside
the transaction that queues an execution, whether it may start now. A backend
that says no must later call ``orchestration.services.execution_begin`` for it
when capacity frees up, and is told through ``release`` when an execution no
longer needs its share (finished, cancelled or preempted).
"""

from __future__ import annotations

from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class AdmissionBackend(Protocol):
    def request(self, execution_id: int) -> bool: ...

    def release(self, execution_id: int) -> None: ...


class AdmitAll:
    """Starts every execution at once (no capacity accounting)."""

    def request(self, execution_id: int) -> bool:
        return True

    def release(self, execution_id: int) -> None:
        return None


@cache
def get_backend() -> AdmissionBackend:
    backend: AdmissionBackend = import_string(settings.WEBAUTO_ADMISSION_BACKEND)()
    return backend
