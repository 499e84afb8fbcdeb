"""Retries in one vocabulary (issue 15.7): Python names only. The columns keep
their names (``db_column``), so the database is not touched."""

from django.db import migrations, models


def _rename(model: str, old: str, new: str, field: models.Field) -> list[migrations.operations.base.Operation]:
    return [migrations.RenameField(model, old, new), migrations.AlterField(model, new, field)]


class Migration(migrations.Migration):

    dependencies = [
        ("orchestration", "0004_subscriber_generation"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                *_rename(
                    "execution", "retry_number", "previous_attempts",
                    models.PositiveIntegerField(default=0, db_column="retry_number"),
                ),
                *_rename("noderun", "retries_used", "retries", models.PositiveIntegerField(default=0, db_column="retries_used")),
                *_rename(
                    "noderun", "attempt_history", "attempt_log",
                    models.JSONField(default=list, blank=True, db_column="attempt_history"),
                ),
            ],
            database_operations=[],
        ),
    ]
