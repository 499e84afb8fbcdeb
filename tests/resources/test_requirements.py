from __future__ import annotations

import pytest

from resources.requirements import (
    GB,
    MB,
    RequirementsInvalid,
    derive_requirements,
    format_bytes,
    graph_complexity,
    parse_block,
    parse_requirements,
    requirements_for,
)


def test_the_seed_example_is_read_exactly():
    need = parse_requirements({"cpu": 2, "memory": "1GB", "disk": "500MB", "network": "50MB/s"})
    assert (need.cpu_millicores, need.memory_bytes, need.disk_bytes, need.network_bytes_per_second) == (
        2000, GB, 500 * MB, 50 * MB,
    )
    assert need.source == "explicit"


def test_fields_left_out_take_the_base_and_fractions_of_a_core_are_kept():
    need = parse_requirements({"cpu": 0.5})
    assert need.cpu_millicores == 500
    assert (need.memory_bytes, need.disk_bytes, need.network_bytes_per_second) == (256 * MB, 100 * MB, 10 * MB)


def test_every_problem_is_listed_with_its_path():
    block = parse_block({"cpu": "two", "memory": "lots", "disk": 500, "network": "50MB", "gpu": 1})
    assert block.requirements is None
    errors = block.errors
    paths = [e["path"] for e in errors]
    assert paths == [
        "resourceRequirements.gpu",
        "resourceRequirements.cpu",
        "resourceRequirements.memory",
        "resourceRequirements.disk",
        "resourceRequirements.network",
    ]
    messages = {e["path"]: e["message"] for e in errors}
    assert "'lots' is not a size" in messages["resourceRequirements.memory"]
    assert "not a rate" in messages["resourceRequirements.network"]
    assert "not 500" in messages["resourceRequirements.disk"]


@pytest.mark.parametrize("cpu", [0, -1, True, 5000, float("nan")])
def test_nonsense_cpu_is_rejected(cpu):
    with pytest.raises(RequirementsInvalid) as info:
        parse_requirements({"cpu": cpu})
    assert info.value.errors[0]["path"] == "resourceRequirements.cpu"


def test_complexity_counts_nodes_edges_and_browser_nodes_twice_more():
    workflows = [
        {"id": "a", "workflow": "page-monitor"},
        {"id": "b", "workflow": "browser-steps", "dependsOn": ["a"]},
        {"id": "c", "workflow": "notify", "dependsOn": ["a", "b"]},
    ]
    assert graph_complexity(workflows) == 3 + 3
    assert graph_complexity(workflows, browser_kinds={"browser-steps"}) == 3 + 3 + 2


def test_small_graphs_get_the_seed_base_and_big_ones_scale():
    base = derive_requirements(7)
    assert (base.cpu_millicores, base.memory_bytes, base.disk_bytes, base.network_bytes_per_second) == (
        1000, 256 * MB, 100 * MB, 10 * MB,
    )
    big = derive_requirements(25)  # multiplier 2.5
    assert big.cpu_millicores == 3000  # rounded up to whole cores
    assert big.memory_bytes == 640 * MB
    assert big.disk_bytes == 250 * MB
    assert big.network_bytes_per_second == 10 * MB
    assert big.source == "derived" and big.complexity == 25


def test_explicit_requirements_win_over_the_graph():
    workflows = [{"id": str(i), "workflow": "echo"} for i in range(40)]
    assert requirements_for({"workflows": workflows}).cpu_millicores == 4000
    explicit = requirements_for({"workflows": workflows, "resourceRequirements": {"cpu": 1}})
    assert explicit.cpu_millicores == 1000 and explicit.source == "explicit" and explicit.complexity == 40


def test_sizes_are_written_the_way_they_are_read():
    assert [format_bytes(v) for v in (GB, 256 * MB, 1536 * MB, 120 * MB, 512)] == [
        "1GB", "256MB", "1.5GB", "120MB", "512B",
    ]
