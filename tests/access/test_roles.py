"""The role groups, the grant_role command and the Django admin."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from orchestration.access.roles import Role, role_of

pytestmark = pytest.mark.django_db


def test_the_migration_creates_four_cumulative_groups():
    perms = {
        g.name: {p.codename for p in g.permissions.all()}
        for g in Group.objects.filter(name__in=["viewer", "operator", "editor", "admin"])
    }
    assert perms["viewer"] == {"read"}
    assert perms["operator"] == {"read", "operate"}
    assert perms["editor"] == {"read", "operate", "edit"}
    assert {"read", "operate", "edit", "administer", "change_user"} <= perms["admin"]


def test_grant_role_gives_and_takes_a_role(django_user_model):
    user = django_user_model.objects.create_user("ann", password="pw-ann-12345")
    assert role_of(user) is None
    out = io.StringIO()
    call_command("grant_role", "ann", "Operator", stdout=out)
    assert "ann: operator" in out.getvalue()
    user = django_user_model.objects.get(pk=user.pk)
    assert role_of(user) is Role.OPERATOR and not user.is_staff
    call_command("grant_role", "ann", "admin", stdout=out)
    user = django_user_model.objects.get(pk=user.pk)
    assert role_of(user) is Role.ADMIN and user.is_staff
    assert list(user.groups.values_list("name", flat=True)) == ["admin"]
    call_command("grant_role", "ann", "none", stdout=out)
    user = django_user_model.objects.get(pk=user.pk)
    assert role_of(user) is None and not user.is_staff


def test_grant_role_names_the_choices_for_an_unknown_role_or_user(django_user_model):
    django_user_model.objects.create_user("bob", password="pw-bob-123456")
    with pytest.raises(CommandError, match="viewer, operator, editor, admin"):
        call_command("grant_role", "bob", "owner")
    with pytest.raises(CommandError, match="no account named 'nobody'"):
        call_command("grant_role", "nobody", "viewer")


def test_a_superuser_is_an_admin(admin_user):
    assert role_of(admin_user) is Role.ADMIN


def test_an_admin_gives_a_role_in_the_django_admin(client, role_user):
    admin = role_user("admin", username="boss")
    member = role_user(None, username="newcomer")
    client.force_login(admin)
    page = client.get(f"/admin/auth/user/{member.pk}/change/")
    assert page.status_code == 200
    editor_group = Group.objects.get(name="editor")
    assert f'value="{editor_group.pk}"' in page.content.decode()
    client.post(
        f"/admin/auth/user/{member.pk}/change/",
        {"username": "newcomer", "groups": [editor_group.pk], "is_active": "on",
         "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00", "initial-date_joined_0": "2026-01-01",
         "initial-date_joined_1": "00:00:00"},
    )
    member.refresh_from_db()
    assert role_of(type(member).objects.get(pk=member.pk)) is Role.EDITOR


def test_an_admin_manages_secrets_and_channels_in_the_django_admin_and_an_editor_cannot(client, role_user):
    client.force_login(role_user("admin", username="boss2"))
    assert client.get("/admin/orchestration/secret/add/").status_code == 200
    assert client.get("/admin/monitoring/channel/add/").status_code == 200
    client.force_login(role_user("editor", username="writer"))
    assert client.get("/admin/orchestration/secret/add/").status_code == 302  # not staff: to the admin login


def test_the_admin_role_cannot_make_itself_a_superuser_in_the_django_admin(client, role_user, django_user_model):
    """A role admin has auth.change_user and is staff; the stock UserAdmin
    would let it tick is_superuser on itself or grant any permission."""
    from django.contrib.auth.models import Permission

    admin = role_user("admin", username="roleadmin")
    client.force_login(admin)
    page = client.get(f"/admin/auth/user/{admin.pk}/change/")
    assert page.status_code == 200
    stray = Group.objects.create(name="stray")
    any_permission = Permission.objects.get(codename="delete_secret")
    client.post(
        f"/admin/auth/user/{admin.pk}/change/",
        {
            "username": "roleadmin", "email": "roleadmin@example.com", "is_active": "on", "is_staff": "on",
            "is_superuser": "on", "user_permissions": [any_permission.pk],
            "groups": [Group.objects.get(name="admin").pk, stray.pk],
            "date_joined_0": "2026-12-01", "date_joined_1": "02:00:00",
            "initial-date_joined_0": "2026-12-01", "initial-date_joined_1": "02:00:00", "_save": "Save",
        },
    )
    saved = django_user_model.objects.get(pk=admin.pk)
    assert not saved.is_superuser
    assert not saved.user_permissions.exists()
    assert list(saved.groups.values_list("name", flat=True)) == ["admin"]
    assert f'value="{stray.pk}"' not in client.get(f"/admin/auth/user/{admin.pk}/change/").content.decode()


def test_the_admin_role_cannot_change_a_superuser_account(client, role_user, admin_user):
    client.force_login(role_user("admin", username="roleadmin2"))
    client.post(f"/admin/auth/user/{admin_user.pk}/password/", {"password1": "Taken-over-123", "password2": "Taken-over-123"})
    client.post(f"/admin/auth/user/{admin_user.pk}/delete/", {"post": "yes"})
    admin_user.refresh_from_db()
    assert not admin_user.check_password("Taken-over-123")
