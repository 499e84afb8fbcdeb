"""What a node used of the machine, counting its whole process tree: the
worker process that runs it and every process it starts (a browser and the
browser's own children), measured with psutil.

CPU seconds are exact for processes that ended and were reaped inside the tree
(their time lands in their parent's ``children_user``/``children_system``) and
for the processes still alive at the end; a process orphaned to init is lost.
Memory is the peak, over samples taken every ``interval`` seconds, of the sum
of the tree's resident set sizes, less the tree's size when the node started.
RSS counts shared pages once per process, so for a multi-process browser the
figure is an upper bound: the safe side for a memory request.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

SAMPLE_INTERVAL_SECONDS = 0.25


def _cpu(times: Any) -> float:
    """Own CPU seconds plus those of reaped children (user + system)."""
    return float(times.user + times.system + getattr(times, "children_user", 0.0)
                 + getattr(times, "children_system", 0.0))


def _children_file_supported() -> bool:
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/children"):
            return True
    except OSError:
        return False


_CHILDREN_FILES = _children_file_supported()


def descendant_pids(pid: int) -> list[int] | None:
    """The pids of ``pid``'s descendants, read from each thread's
    ``/proc/<pid>/task/<tid>/children`` (Linux): a few small reads, where
    psutil's ``children()`` reads the stat file of every process on the
    machine. None when the kernel does not offer those files (the caller
    then asks psutil)."""
    if not _CHILDREN_FILES:
        return None
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tids = os.listdir(f"/proc/{current}/task")
        except OSError:  # ended meanwhile
            continue
        for tid in tids:
            try:
                with open(f"/proc/{current}/task/{tid}/children") as f:
                    children = [int(p) for p in f.read().split()]
            except OSError:  # the thread ended meanwhile
                continue
            found.extend(children)
            todo.extend(children)
    return found


_own: psutil.Process | None = None


def _own_process() -> psutil.Process:
    """This process as a ``psutil.Process``, made once per process (a forked
    pool process makes its own): creating one reads /proc/<pid>/stat, once
    per node before."""
    global _own
    if _own is None or _own.pid != os.getpid():
        _own = psutil.Process()
    return _own


@dataclass
class _Reading:
    cpu: dict[int, float] = field(default_factory=dict)  # pid -> cumulative CPU seconds
    rss: int = 0


class ProcessTreeMeter:
    """Measure a process and its descendants between ``start()`` and ``stop()``.

    ``stop()`` returns ``(cpu_seconds, peak_rss_growth_bytes)``. A background
    thread samples memory every ``interval`` seconds (psutil walks /proc: a few
    milliseconds per sample).
    """

    def __init__(self, process: psutil.Process | None = None, *, interval: float = SAMPLE_INTERVAL_SECONDS) -> None:
        self.process = process or _own_process()
        self.interval = interval
        self._baseline = _Reading()
        self._peak_rss = 0
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def _tree(self) -> list[psutil.Process]:
        pids = descendant_pids(self.process.pid)
        if pids is not None:
            tree = [self.process]
            for pid in pids:
                try:
                    tree.append(psutil.Process(pid))
                except psutil.Error:  # ended meanwhile
                    continue
            return tree
        try:
            return [self.process, *self.process.children(recursive=True)]
        except psutil.Error:
            return [self.process]

    def _read(self) -> _Reading:
        reading = _Reading()
        for proc in self._tree():
            try:
                with proc.oneshot():
                    reading.cpu[proc.pid] = _cpu(proc.cpu_times())
                    reading.rss += proc.memory_info().rss
            except psutil.Error:  # ended between the listing and the read
                continue
        return reading

    def sample(self) -> None:
        """Take one memory sample of the tree (raising the peak if higher)."""
        self._peak_rss = max(self._peak_rss, self._read().rss)

    def _sample(self) -> None:
        while not self._done.wait(self.interval):
            self.sample()

    def start(self, *, shared: bool = False) -> ProcessTreeMeter:
        """Take the baseline and start sampling: on a thread of its own, or
        with ``shared`` on the process's one long-lived sampler thread (a
        worker runs node after node, and starting a thread per node is what
        the engine's hot path avoids)."""
        self._baseline = self._read()
        self._peak_rss = self._baseline.rss
        if shared:
            _SAMPLER.add(self)
        else:
            self._thread = threading.Thread(target=self._sample, name="process-tree-meter", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> tuple[float, int]:
        """Stop sampling; return CPU seconds used by the tree since ``start()``
        and the peak growth of its summed RSS in bytes (both >= 0)."""
        self._done.set()
        _SAMPLER.remove(self)
        if self._thread is not None:
            self._thread.join(self.interval * 4 + 1)
        end = self._read()
        self._peak_rss = max(self._peak_rss, end.rss)
        root = self.process.pid
        cpu = end.cpu.get(root, 0.0) - self._baseline.cpu.get(root, 0.0)
        for pid, seconds in end.cpu.items():
            if pid != root:
                cpu += seconds - self._baseline.cpu.get(pid, 0.0)
        # A process that was there at the start and has gone is in its parent's
        # children_* with all its time, the part before the start included.
        cpu -= sum(s for pid, s in self._baseline.cpu.items() if pid != root and pid not in end.cpu)
        return max(0.0, cpu), max(0, self._peak_rss - self._baseline.rss)


class _SharedSampler:
    """One daemon thread per process that samples every running meter each
    ``SAMPLE_INTERVAL_SECONDS``; it starts on first use (so a forked pool
    process starts its own) and idles while no meter runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._meters: set[ProcessTreeMeter] = set()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, meter: ProcessTreeMeter) -> None:
        with self._lock:
            self._meters.add(meter)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="process-tree-sampler", daemon=True)
                self._thread.start()
        self._wake.set()

    def remove(self, meter: ProcessTreeMeter) -> None:
        with self._lock:
            self._meters.discard(meter)

    def _run(self) -> None:
        while True:
            with self._lock:
                meters = list(self._meters)
            if not meters:
                self._wake.wait()
                self._wake.clear()
                continue
            time.sleep(SAMPLE_INTERVAL_SECONDS)
            for meter in meters:
                try:
                    meter.sample()
                except Exception:  # a sample is best effort; the meter reads again at stop
                    continue


_SAMPLER = _SharedSampler()
