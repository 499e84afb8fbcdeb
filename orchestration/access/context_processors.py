"""``role`` in every template: what the current user may do, to hide what they may not."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from orchestration.access.roles import Role, has_role, role_of


class RoleView:
    """Template-friendly answers (``role.can_operate``...); computed per request."""

    def __init__(self, user: Any) -> None:
        self.role = role_of(user)
        self.name = self.role.label if self.role else ""
        self.can_read = has_role(user, Role.VIEWER)
        self.can_operate = has_role(user, Role.OPERATOR)
        self.can_edit = has_role(user, Role.EDITOR)
        self.can_admin = has_role(user, Role.ADMIN)


def role(request: HttpRequest) -> dict[str, Any]:
    """Adds ``role`` (a :class:`RoleView`) to the template context."""
    return {"role": RoleView(getattr(request, "user", None))}
