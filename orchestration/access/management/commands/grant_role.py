"""``manage.py grant_role <username> <role>``: give an account its role."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestration.access.roles import Role, grant_role


class Command(BaseCommand):
    help = (
        "Give an account one role: viewer, operator, editor or admin (roles include the ones "
        "below them). 'none' takes every role away."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("role", help="viewer, operator, editor, admin or none")

    def handle(self, *args: Any, username: str, role: str, **options: Any) -> None:
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: username})
        except user_model.DoesNotExist:
            raise CommandError(f"no account named {username!r}") from None
        if role.strip().lower() == "none":
            chosen = None
        else:
            try:
                chosen = Role.parse(role)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        grant_role(user=user, role=chosen)
        self.stdout.write(f"{username}: {chosen.label if chosen else 'no role'}")
