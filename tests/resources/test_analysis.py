"""Usage totals per execution and the analysis over a range."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orchestration.models import ExecutionStatus, NodeRun
from resources import services
from resources.analysis import percentile, resource_analysis
from resources.models import Allocation, SystemSample
from resources.usage import (
    execution_usage,
    system_sample_record,
    system_samples_prune,
)
from tests.resources.conftest import GB, MB

pytestmark = pytest.mark.django_db


def _finish(execution, *, seconds: float, nodes: list[tuple[float, int]]) -> None:
    """Mark ``execution`` as run for ``seconds`` with node (cpu s, peak rss) figures."""
    end = timezone.now()
    execution.status = ExecutionStatus.COMPLETED
    execution.started_at = end - timedelta(seconds=seconds)
    execution.finished_at = end
    execution.save()
    runs = list(NodeRun.objects.filter(execution=execution).order_by("pk"))
    for run, (cpu, rss) in zip(runs, nodes, strict=True):
        run.status = "completed"
        run.cpu_seconds = cpu
        run.peak_rss_bytes = rss
        run.save()


def test_execution_usage_totals_node_figures_against_the_request(make_worker, make_task, queued):
    make_worker()
    task = make_task("two-nodes", cpu=2, memory="1GB",
                     workflows=[{"id": "a", "workflow": "echo"}, {"id": "b", "workflow": "echo", "dependsOn": ["a"]}])
    execution = queued(task)
    assert services.admission_request(execution_id=execution.pk)
    _finish(execution, seconds=10, nodes=[(1.5, 100 * MB), (2.5, 300 * MB)])

    usage = execution_usage(execution=execution)
    assert usage.cpu_seconds == 4.0 and usage.peak_rss_bytes == 300 * MB and usage.measured_nodes == 2
    assert usage.average_cores == pytest.approx(0.4)
    assert usage.requested_memory_bytes == GB and usage.memory_ratio == pytest.approx(300 / 1024)
    assert usage.as_json()["requested"] == {"cpu": 2.0, "memoryBytes": GB}


def test_analysis_finds_averages_peaks_waits_waste_and_says_what_to_do(make_worker, make_task, queued):
    make_worker()
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    for i, cpu in enumerate([20.0, 40.0, 96.0]):
        SystemSample.objects.create(
            host="box", taken_at=start + timedelta(minutes=5 + 10 * i), cpu_percent=cpu, cores=2,
            memory_used_bytes=(i + 1) * GB, memory_total_bytes=8 * GB, disk_used_bytes=GB, disk_total_bytes=10 * GB,
            load_1m=1, load_5m=1, load_15m=1,
        )
    greedy = make_task("greedy", cpu=2, memory="1GB")
    tight = make_task("tight", cpu=1, memory="256MB")
    for _ in range(3):
        execution = queued(greedy)
        assert services.admission_request(execution_id=execution.pk)
        _finish(execution, seconds=100, nodes=[(5.0, 120 * MB)])
    execution = queued(tight)
    assert services.admission_request(execution_id=execution.pk)
    _finish(execution, seconds=10, nodes=[(9.0, 400 * MB)])
    Allocation.objects.filter(execution=execution).update(requested_at=timezone.now() - timedelta(seconds=90))

    analysis = resource_analysis(start=start, end=timezone.now() + timedelta(seconds=1))

    assert analysis.samples == 3
    assert analysis.cpu_average == pytest.approx(52.0) and analysis.cpu_peak == 96.0
    assert analysis.memory_peak_bytes == 3 * GB and analysis.memory_average_bytes == 2 * GB
    assert analysis.peak_hours[0] == {"hour": start.hour, "cpuAveragePercent": 52.0, "executionsStarted": 0}
    assert sum(h["executionsStarted"] for h in analysis.hourly) == 4
    assert analysis.queue_wait["admissions"] == 4 and analysis.queue_wait["maxSeconds"] >= 89
    waste = {w.task_id: w for w in analysis.waste}
    assert waste["greedy"].runs == 3 and waste["greedy"].peak_rss_bytes == 120 * MB
    assert waste["greedy"].wasted_memory_bytes == GB - 120 * MB
    assert waste["greedy"].average_cores == pytest.approx(0.05)
    text = "\n".join(analysis.suggestions)
    assert 'Task greedy requests 1GB and never uses more than 120MB (over 3 runs); "memory": "192MB"' in text
    assert "Task greedy requests 2 CPU but keeps 0.05 CPU busy on average" in text
    assert "Task tight requests 256MB but used up to 400MB" in text
    assert "CPU peaked at 96%" in text
    body = analysis.as_json()
    assert body["cpu"] == {"averagePercent": 52.0, "peakPercent": 96.0}
    assert len(body["hourly"]) == 24


def test_an_empty_range_gives_an_empty_analysis():
    analysis = resource_analysis(start=timezone.now() - timedelta(hours=1), end=timezone.now())
    assert analysis.samples == 0 and analysis.cpu_average is None and analysis.waste == []
    assert analysis.suggestions == []


def test_percentiles_use_the_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0 and percentile([], 50) is None


def test_the_sampling_job_records_this_host_and_prunes_old_samples(settings):
    sample = system_sample_record(cpu_interval=0.05)
    assert 0.0 <= sample.cpu_percent <= 100.0
    assert 0 < sample.memory_used_bytes < sample.memory_total_bytes
    assert sample.disk_total_bytes > 0 and sample.cores >= 1
    old = SystemSample.objects.create(
        host="box", taken_at=timezone.now() - timedelta(days=settings.WEBAUTO_RESOURCES_SAMPLE_RETENTION_DAYS + 1),
        cpu_percent=1, cores=1, memory_used_bytes=1, memory_total_bytes=2, disk_used_bytes=1, disk_total_bytes=2,
        load_1m=0, load_5m=0, load_15m=0,
    )
    assert system_samples_prune() == 1
    assert not SystemSample.objects.filter(pk=old.pk).exists()
    assert SystemSample.objects.filter(pk=sample.pk).exists()
