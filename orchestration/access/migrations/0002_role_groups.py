"""Create the four role groups (viewer, operator, editor, admin) with their permissions."""

from typing import Any

from django.db import migrations


def create_groups(apps: Any, schema_editor: Any) -> None:
    from orchestration.access.roles import ensure_role_groups

    ensure_role_groups(apps, using=schema_editor.connection.alias)


def remove_groups(apps: Any, schema_editor: Any) -> None:
    from orchestration.access.roles import Role

    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(
        name__in=[role.label for role in Role]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
