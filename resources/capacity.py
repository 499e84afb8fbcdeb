"""Capacity arithmetic: what each live worker offers, what is left after the
open allocations, and where a request fits. Pure Python over plain values so
the rules can be tested exhaustively; ``services`` feeds it from the database
under the pool lock."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from resources.requirements import format_bytes, format_cpu


@dataclass(frozen=True)
class Amount:
    cpu_millicores: int = 0
    memory_bytes: int = 0
    disk_bytes: int = 0
    network_bytes_per_second: int = 0

    def __add__(self, other: Amount) -> Amount:
        return Amount(
            self.cpu_millicores + other.cpu_millicores,
            self.memory_bytes + other.memory_bytes,
            self.disk_bytes + other.disk_bytes,
            self.network_bytes_per_second + other.network_bytes_per_second,
        )

    def __sub__(self, other: Amount) -> Amount:
        return Amount(
            self.cpu_millicores - other.cpu_millicores,
            self.memory_bytes - other.memory_bytes,
            self.disk_bytes - other.disk_bytes,
            self.network_bytes_per_second - other.network_bytes_per_second,
        )

    @property
    def cores(self) -> float:
        return self.cpu_millicores / 1000

    def covers(self, need: Amount) -> bool:
        return (
            self.cpu_millicores >= need.cpu_millicores
            and self.memory_bytes >= need.memory_bytes
            and self.disk_bytes >= need.disk_bytes
            and self.network_bytes_per_second >= need.network_bytes_per_second
        )

    def describe(self) -> str:
        """"2 CPU, 1GB" (memory is what people think of; disk and network are
        only named when asked for beyond the base)."""
        return f"{format_cpu(self.cpu_millicores)}, {format_bytes(self.memory_bytes)}"

    def as_json(self) -> dict[str, float | int]:
        return {
            "cpu": self.cpu_millicores / 1000,
            "memoryBytes": self.memory_bytes,
            "diskBytes": self.disk_bytes,
            "networkBytesPerSecond": self.network_bytes_per_second,
        }


@dataclass(frozen=True)
class WorkerFigures:
    """What a worker reported in its last heartbeat."""

    id: int
    host: str
    cores: int
    memory_total_bytes: int
    disk_free_bytes: int
    cpu_limit_millicores: int | None = None
    memory_limit_bytes: int | None = None


@dataclass(frozen=True)
class Policy:
    cpu_overcommit: float = 4.0
    memory_overcommit: float = 1.0
    host_network_bytes_per_second: int = 1024 * 1024 * 1024
    pool_cpu_limit_millicores: int | None = None
    pool_memory_limit_bytes: int | None = None


def worker_capacities(workers: Iterable[WorkerFigures], policy: Policy) -> dict[int, Amount]:
    """Capacity per live worker. Several workers on one host share it evenly,
    so starting a second worker on a machine does not double the machine."""
    workers = list(workers)
    per_host = Counter(w.host for w in workers)
    out: dict[int, Amount] = {}
    for w in workers:
        share = per_host[w.host]
        cpu = int(w.cores * 1000 * policy.cpu_overcommit / share)
        memory = int(w.memory_total_bytes * policy.memory_overcommit / share)
        if w.cpu_limit_millicores is not None:
            cpu = min(cpu, w.cpu_limit_millicores)
        if w.memory_limit_bytes is not None:
            memory = min(memory, w.memory_limit_bytes)
        out[w.id] = Amount(cpu, memory, w.disk_free_bytes // share, policy.host_network_bytes_per_second // share)
    return out


@dataclass
class Ledger:
    """Free capacity per worker and for the cluster, updated as the dispatcher
    grants and frees within one locked pass."""

    capacity: dict[int, Amount]
    used: dict[int, Amount] = field(default_factory=dict)
    unplaced: Amount = Amount()
    policy: Policy = Policy()

    @classmethod
    def build(
        cls,
        workers: Iterable[WorkerFigures],
        open_allocations: Iterable[tuple[int | None, Amount]],
        policy: Policy,
    ) -> Ledger:
        capacity = worker_capacities(workers, policy)
        ledger = cls(capacity=capacity, used={wid: Amount() for wid in capacity}, policy=policy)
        for worker_id, amount in open_allocations:
            ledger.take(worker_id, amount)
        return ledger

    def clone(self) -> Ledger:
        return Ledger(capacity=dict(self.capacity), used=dict(self.used), unplaced=self.unplaced, policy=self.policy)

    def take(self, worker_id: int | None, amount: Amount) -> None:
        if worker_id is None or worker_id not in self.used:
            self.unplaced = self.unplaced + amount
        else:
            self.used[worker_id] = self.used[worker_id] + amount

    def give_back(self, worker_id: int | None, amount: Amount) -> None:
        if worker_id is None or worker_id not in self.used:
            self.unplaced = self.unplaced - amount
        else:
            self.used[worker_id] = self.used[worker_id] - amount

    @property
    def total_capacity(self) -> Amount:
        total = sum(self.capacity.values(), Amount())
        cpu, memory = total.cpu_millicores, total.memory_bytes
        if self.policy.pool_cpu_limit_millicores is not None:
            cpu = min(cpu, self.policy.pool_cpu_limit_millicores)
        if self.policy.pool_memory_limit_bytes is not None:
            memory = min(memory, self.policy.pool_memory_limit_bytes)
        return replace(total, cpu_millicores=cpu, memory_bytes=memory)

    @property
    def total_used(self) -> Amount:
        return sum(self.used.values(), Amount()) + self.unplaced

    def free(self, worker_id: int) -> Amount:
        return self.capacity[worker_id] - self.used[worker_id]

    def _cluster_room(self) -> Amount:
        return self.total_capacity - self.total_used

    def place(self, need: Amount) -> int | None:
        """The worker to run ``need`` on (the one with most free CPU, then
        memory, to spread load), or None when it does not fit now."""
        if not self.capacity or not self._cluster_room().covers(need):
            return None
        candidates = [wid for wid in self.capacity if self.free(wid).covers(need)]
        if not candidates:
            return None
        return max(candidates, key=lambda wid: (self.free(wid).cpu_millicores, self.free(wid).memory_bytes, -wid))

    def could_ever_fit(self, need: Amount) -> bool:
        """False when even an idle cluster could not run ``need``."""
        if not self.total_capacity.covers(need):
            return False
        return any(cap.covers(need) for cap in self.capacity.values())

    def largest_worker(self) -> Amount:
        if not self.capacity:
            return Amount()
        return max(self.capacity.values(), key=lambda a: (a.cpu_millicores, a.memory_bytes))
