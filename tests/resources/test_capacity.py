from __future__ import annotations

from resources.capacity import (
    Amount,
    Ledger,
    Policy,
    WorkerFigures,
    worker_capacities,
)

GB = 1024**3


def figures(wid: int, host: str = "a", cores: int = 2, memory: int = 8 * GB, **kw) -> WorkerFigures:
    return WorkerFigures(id=wid, host=host, cores=cores, memory_total_bytes=memory, disk_free_bytes=100 * GB, **kw)


def test_a_worker_offers_cores_times_overcommit_and_its_memory():
    cap = worker_capacities([figures(1)], Policy(cpu_overcommit=4.0, memory_overcommit=1.0))
    assert cap[1].cpu_millicores == 8000 and cap[1].memory_bytes == 8 * GB


def test_two_workers_on_one_host_share_it_instead_of_doubling_it():
    cap = worker_capacities([figures(1), figures(2), figures(3, host="b")], Policy(cpu_overcommit=1.0))
    assert cap[1].cpu_millicores == cap[2].cpu_millicores == 1000
    assert cap[3].cpu_millicores == 2000
    assert cap[1].memory_bytes == 4 * GB


def test_a_worker_limit_caps_what_it_offers():
    cap = worker_capacities([figures(1, cpu_limit_millicores=500, memory_limit_bytes=GB)], Policy())
    assert cap[1].cpu_millicores == 500 and cap[1].memory_bytes == GB


def test_placement_spreads_load_and_refuses_what_does_not_fit_anywhere():
    ledger = Ledger.build([figures(1), figures(2, host="b")], [(1, Amount(3000, GB))], Policy(cpu_overcommit=2.0))
    need = Amount(1000, GB)
    assert ledger.place(need) == 2  # the idler worker
    ledger.take(2, Amount(3500, GB))
    # 1000 free on worker 1 and 500 on worker 2: 1000 fits on 1 only, 1500 nowhere.
    assert ledger.place(need) == 1
    assert ledger.place(Amount(1500, GB)) is None
    assert ledger.could_ever_fit(Amount(1500, GB))
    assert not ledger.could_ever_fit(Amount(5000, GB))


def test_the_pool_limit_caps_the_cluster_total():
    ledger = Ledger.build([figures(1), figures(2, host="b")], [], Policy(pool_cpu_limit_millicores=1500))
    assert ledger.total_capacity.cpu_millicores == 1500
    ledger.take(1, Amount(1000, GB))
    assert ledger.place(Amount(1000, GB)) is None
    assert ledger.place(Amount(500, GB)) == 2


def test_allocations_without_a_live_worker_still_count_against_the_cluster():
    ledger = Ledger.build([figures(1)], [(None, Amount(7500, GB)), (99, Amount(0, GB))], Policy())
    assert ledger.unplaced == Amount(7500, 2 * GB)
    assert ledger.place(Amount(1000, GB)) is None
    assert ledger.place(Amount(500, GB)) == 1


def test_no_worker_means_nothing_fits():
    ledger = Ledger.build([], [], Policy())
    assert ledger.place(Amount(1, 1)) is None and not ledger.could_ever_fit(Amount(1, 1))
