"""``orchestration.subscribers``: the change marker a process's subscriber
caches compare with (read after every successful run by the alert rules)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction

from orchestration import subscribers
from orchestration.models import SubscriberGeneration
from tests.orchestration.conftest import Statements

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_current_token_is_the_committed_one_read_in_one_statement():
    assert subscribers.current_token("test.nothing-yet") is None

    with transaction.atomic():
        subscribers.bump("test.marker")
    first = SubscriberGeneration.objects.get(name="test.marker").token
    statements = Statements()
    with connection.execute_wrapper(statements):
        read = subscribers.current_token("test.marker")
    assert read == first and isinstance(read, uuid.UUID)
    assert len(statements.sql) == 1

    with transaction.atomic():
        subscribers.bump("test.marker")
    assert subscribers.current_token("test.marker") not in (None, first)
    assert subscribers.current_token("test.marker") == SubscriberGeneration.objects.get(name="test.marker").token
