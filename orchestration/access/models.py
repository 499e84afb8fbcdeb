"""The permissions behind the roles. ``AccessPolicy`` has no table: it only
gives the four role permissions a content type (``access.<codename>``)."""

from __future__ import annotations

from django.db import models


class AccessPolicy(models.Model):
    """Holder of the role permissions (see :mod:`orchestration.access.roles`)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("read", "Read pages and the API (viewer)"),
            ("operate", "Run, cancel, re-run, pause and resume schedules, acknowledge alerts (operator)"),
            ("edit", "Create and change tasks, templates, schedules and step workflows (editor)"),
            ("administer", "Manage secrets, channels, the resource pool and users (admin)"),
        ]

    def __str__(self) -> str:
        return "access policy"
