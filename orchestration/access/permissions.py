"""The DRF permission class enforcing :mod:`orchestration.access.policy`."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from orchestration.access.policy import required_role
from orchestration.access.roles import has_role, role_of


class RolePermission(BasePermission):
    """Allow a request when the user has the role the policy table requires
    for this view and action; default-deny for writes the table does not name.

    Sets ``message`` so the 403 body says which role was needed.
    """

    message = "You do not have the role this action needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        needed = required_role(type(view), action=getattr(view, "action", None), method=request.method or "GET")
        if needed is None:
            self.message = "This action is not open to any role."
            return False
        if has_role(request.user, needed):
            return True
        current = role_of(request.user)
        if current is None:
            self.message = "Your account has no role yet: ask an admin to give you one."
        else:
            self.message = f"This action needs the {needed.label} role; your role is {current.label}."
        return False
