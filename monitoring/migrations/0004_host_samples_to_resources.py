"""Host samples have one owner: the resource manager's ``SystemSample``
(issue 15, point 5). Monitoring's ``HostSample`` is dropped after its rows are
copied over, so a history taken before the resource manager sampled is kept.

A ``HostSample`` kept only percentages. Its copy keeps the host, the time
(``taken_at`` = ``created_at``) and the CPU %; memory is stored as a ratio
over a nominal total of ``NOMINAL_TOTAL`` bytes (so ``memory_percent`` reads
back the same to 1e-4 %); cores, disk and load, never measured, are 0 (a real
sample has at least one core, so ``cores == 0`` marks a copied row).
Reversing recreates the table and copies the copied rows (``cores == 0``) back.
"""

from django.db import migrations

NOMINAL_TOTAL = 1_000_000
BATCH = 2000


def copy_to_resources(apps, schema_editor):
    host_sample = apps.get_model("monitoring", "HostSample")
    system_sample = apps.get_model("resources", "SystemSample")
    rows = host_sample.objects.order_by("pk").values_list("pk", "host", "created_at", "cpu_percent", "memory_percent")
    last = 0
    while batch := list(rows.filter(pk__gt=last)[:BATCH]):
        system_sample.objects.bulk_create(
            system_sample(
                host=host[:255], taken_at=created_at, cpu_percent=cpu,
                cores=0, memory_used_bytes=round(min(max(memory, 0.0), 100.0) * NOMINAL_TOTAL / 100),
                memory_total_bytes=NOMINAL_TOTAL, disk_used_bytes=0, disk_total_bytes=0,
                load_1m=0.0, load_5m=0.0, load_15m=0.0,
            )
            for _, host, created_at, cpu, memory in batch
        )
        last = batch[-1][0]


def copy_back(apps, schema_editor):
    host_sample = apps.get_model("monitoring", "HostSample")
    system_sample = apps.get_model("resources", "SystemSample")
    copied = system_sample.objects.filter(cores=0).order_by("pk")
    for sample in copied.iterator(chunk_size=BATCH):
        total = sample.memory_total_bytes
        row = host_sample.objects.create(
            host=sample.host[:200], cpu_percent=sample.cpu_percent,
            memory_percent=100.0 * sample.memory_used_bytes / total if total else 0.0,
        )
        host_sample.objects.filter(pk=row.pk).update(created_at=sample.taken_at)
    copied.delete()


class Migration(migrations.Migration):

    dependencies = [
        ("monitoring", "0003_metrics_covering_indexes"),
        ("resources", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(copy_to_resources, copy_back),
        migrations.DeleteModel(name="HostSample"),
    ]

