"""Concurrent writers of the same template get distinct versions, not errors."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from templates_app import services
from templates_app.models import Template

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_updates_each_get_their_own_patch_version(seed_template):
    services.template_create(document=seed_template)
    start = threading.Barrier(4)
    made: list[str] = []
    failures: list[BaseException] = []

    def update(n: int) -> None:
        try:
            start.wait()
            version = services.template_version_create(
                template_id="weibo-monitoring-template", changes={"description": f"writer {n}"}
            )
            made.append(version.version)
        except BaseException as exc:  # reported below with the thread's failure
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=update, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    assert sorted(made) == ["1.0.1", "1.0.2", "1.0.3", "1.0.4"]
    assert Template.objects.filter(template_id="weibo-monitoring-template").count() == 5
