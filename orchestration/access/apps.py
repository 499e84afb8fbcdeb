from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    name = "orchestration.access"
    label = "access"
    verbose_name = "Access"

    def ready(self) -> None:
        # The data migration creates the groups once; a database emptied by a
        # flush (tests, `manage.py flush`) gets them back after migrate/flush.
        post_migrate.connect(_ensure_groups, sender=self)


def _ensure_groups(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    from django.apps import apps as global_apps

    from orchestration.access.roles import ensure_role_groups

    ensure_role_groups(global_apps, using=using)
