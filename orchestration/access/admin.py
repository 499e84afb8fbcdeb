"""The Django admin's user pages, kept inside the role model.

``grant_role <user> admin`` gives ``auth.change_user`` and staff status, and
Django's stock ``UserAdmin`` would then let that account tick
``is_superuser`` (on itself too) or grant any permission. For an account
that is not a superuser this admin shows ``is_superuser`` and
``user_permissions`` read-only, offers only the four role groups, and
refuses to change or delete a superuser account. Superusers see the stock
pages.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest

from orchestration.access.roles import Role

User = get_user_model()

# Fields only a superuser may change.
SUPERUSER_ONLY_FIELDS = ("is_superuser", "user_permissions")


class RoleUserAdmin(UserAdmin):  # type: ignore[type-arg]
    """``UserAdmin`` that keeps a role admin (not a superuser) from leaving the role model."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += [f for f in SUPERUSER_ONLY_FIELDS if f not in fields]
        return fields

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=[role.label for role in Role])
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, RoleUserAdmin)
