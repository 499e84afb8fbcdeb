"""Per task and day rollups of finished executions (issue 13, point 10).

Creates ``ExecutionRollup`` and fills it from the finished executions already
in the database, with the very statement the engine's finish runs for one
execution (``monitoring.rollups.upsert_sql``; on SQLite the same sums in
Python), so backfilled rows and rows kept at finish time agree. Executions
that retention already pruned are not in it (their ``DailyRollup`` rows keep
no percentiles); the 7- and 30-day figures only read days retention keeps.
Reversing drops the table.
"""

import django.db.models.deletion
from django.db import migrations, models


def backfill(apps, schema_editor):
    from monitoring.rollups import rollups_backfill

    rollups_backfill(apps)


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0004_host_samples_to_resources'),
        ('orchestration', '0003_secret_allowed_hosts'),
    ]

    operations = [
        migrations.CreateModel(
            name='ExecutionRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('completed', models.PositiveBigIntegerField(default=0)),
                ('completed_with_errors', models.PositiveBigIntegerField(default=0)),
                ('failed', models.PositiveBigIntegerField(default=0)),
                ('cancelled', models.PositiveBigIntegerField(default=0)),
                ('timed_out', models.PositiveBigIntegerField(default=0)),
                ('d_count', models.PositiveBigIntegerField(default=0)),
                ('d_sum', models.FloatField(default=0.0)),
                ('d_min', models.FloatField(blank=True, null=True)),
                ('d_max', models.FloatField(blank=True, null=True)),
                ('d_hist', models.JSONField(default=dict)),
                ('w_count', models.PositiveBigIntegerField(default=0)),
                ('w_sum', models.FloatField(default=0.0)),
                ('w_min', models.FloatField(blank=True, null=True)),
                ('w_max', models.FloatField(blank=True, null=True)),
                ('w_hist', models.JSONField(default=dict)),
                ('node_cpu_sum', models.FloatField(default=0.0)),
                ('node_cpu_count', models.PositiveBigIntegerField(default=0)),
                ('node_rss_max', models.PositiveBigIntegerField(blank=True, null=True)),
                ('node_failures', models.JSONField(default=dict)),
                ('task', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='orchestration.task')),
            ],
            options={
                'indexes': [models.Index(fields=['day'], name='executionrollup_day')],
                'constraints': [models.UniqueConstraint(fields=('task', 'day'), name='executionrollup_unique_task_day')],
            },
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
