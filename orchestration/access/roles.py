"""The four roles and what each may do (modelled on Airflow's default roles).

Roles are cumulative: an operator is also a viewer, an editor also an
operator, an admin also an editor. Each role is a Django group holding its own
permission and every permission of the roles below it, so ``user.has_perm``
answers "has at least this role" (a superuser has every permission, so is an
admin). Checks go through :func:`has_role`; nothing else reads group names.

============  ==================================================================
``viewer``    read every page and every ``GET`` of the API
``operator``  run tasks, cancel and re-run executions, pause, resume and trigger
              schedules, acknowledge and resolve alerts
``editor``    create, change and delete tasks, templates, schedules and step
              workflows
``admin``     secrets, notification channels, the resource pool, browser
              sessions, users (the Django admin)
============  ==================================================================
"""

from __future__ import annotations

import enum
from typing import Any

APP_LABEL = "access"

# Extra permissions of the admin group, so an admin can manage users (and
# their roles), secrets and shared channels in the Django admin too
# (``grant_role ... admin`` also makes them staff).
USER_ADMIN_PERMISSIONS = [
    ("auth", "user", "view_user", "Can view user"),
    ("auth", "user", "add_user", "Can add user"),
    ("auth", "user", "change_user", "Can change user"),
    ("auth", "user", "delete_user", "Can delete user"),
    ("auth", "group", "view_group", "Can view group"),
    *[
        (app, model, f"{action}_{model}", f"Can {action} {model}")
        for app, model in (("orchestration", "secret"), ("monitoring", "channel"))
        for action in ("view", "add", "change", "delete")
    ],
]


class Role(enum.IntEnum):
    """A role; a higher value includes every right of the lower ones."""

    VIEWER = 1
    OPERATOR = 2
    EDITOR = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        """The role's name as users type and see it (``"operator"``); also its group's name."""
        return self.name.lower()

    @property
    def codename(self) -> str:
        """The codename of this role's own permission (see ``AccessPolicy``)."""
        return _CODENAMES[self]

    @property
    def permission(self) -> str:
        """``"access.<codename>"``, for ``user.has_perm``."""
        return f"{APP_LABEL}.{self.codename}"

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named ``text`` (case-insensitive); ValueError naming the choices otherwise."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(r.label for r in cls)
            raise ValueError(f"unknown role {text!r}: choose one of {choices}") from None


_CODENAMES = {Role.VIEWER: "read", Role.OPERATOR: "operate", Role.EDITOR: "edit", Role.ADMIN: "administer"}


def has_role(user: Any, role: Role) -> bool:
    """Whether ``user`` is an active, logged-in account with at least ``role``."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return bool(user.has_perm(role.permission))


def role_of(user: Any) -> Role | None:
    """The highest role ``user`` has, or None (not logged in, or no role yet)."""
    for role in sorted(Role, reverse=True):
        if has_role(user, role):
            return role
    return None


def ensure_role_groups(apps: Any, *, using: str = "default") -> None:
    """Create (or complete) the four role groups with their permissions.

    ``apps`` is a registry (the migration's historical one, or the global one);
    idempotent, so both the data migration and ``post_migrate`` call it.
    """
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    content_type_model = apps.get_model("contenttypes", "ContentType")

    def permission(app_label: str, model: str, codename: str, name: str) -> Any:
        content_type, _ = content_type_model.objects.using(using).get_or_create(app_label=app_label, model=model)
        perm, _ = permission_model.objects.using(using).get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        return perm

    from orchestration.access.models import AccessPolicy

    names = dict(AccessPolicy._meta.permissions)
    for role in Role:
        group, _ = group_model.objects.using(using).get_or_create(name=role.label)
        wanted = [
            permission(APP_LABEL, "accesspolicy", lower.codename, names[lower.codename])
            for lower in Role
            if lower <= role
        ]
        if role is Role.ADMIN:
            wanted += [permission(*spec) for spec in USER_ADMIN_PERMISSIONS]
        group.permissions.add(*wanted)


def grant_role(*, user: Any, role: Role | None) -> None:
    """Give ``user`` exactly ``role`` (None removes every role). Admins
    become staff, so the Django admin opens for them; others stop being staff
    unless they are superusers."""
    from django.contrib.auth.models import Group

    ensure_role_groups(_global_apps())
    role_groups = Group.objects.filter(name__in=[r.label for r in Role])
    user.groups.remove(*role_groups)
    if role is not None:
        user.groups.add(Group.objects.get(name=role.label))
    user.is_staff = user.is_superuser or role is Role.ADMIN
    user.save(update_fields=["is_staff"])


def _global_apps() -> Any:
    from django.apps import apps

    return apps
