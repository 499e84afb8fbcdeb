"""Reading and changing the sandbox's revision (the whole of its state)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from webflows.models import SandboxState

_ROW = 1


def sandbox_revision() -> int:
    row, _ = SandboxState.objects.get_or_create(pk=_ROW)
    return row.revision


def sandbox_advance(*, steps: int = 1) -> int:
    """Add ``steps`` revisions (each: one new post with new images, one new
    headline, an edited headline, new JS-page data). Returns the new revision."""
    with transaction.atomic():
        SandboxState.objects.get_or_create(pk=_ROW)
        # F() makes concurrent advances add up instead of overwriting each other.
        SandboxState.objects.filter(pk=_ROW).update(revision=F("revision") + steps)
        return SandboxState.objects.get(pk=_ROW).revision


def sandbox_reset() -> int:
    SandboxState.objects.update_or_create(pk=_ROW, defaults={"revision": 0})
    return 0
