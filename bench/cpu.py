"""CPU seconds each process of a benchmark spent in its timed window (Linux /proc):
where a throughput figure's cost goes, service by service — and how busy the (shared) machine was."""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, children excluded (0 for a process that has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(pid: int) -> list[int]:
    """Direct child processes of pid (every thread's children)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(child) for child in (task / "children").read_text().split()]
    return sorted(out)


def host_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, over all cores (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


class CpuMeter:
    """Snapshot at construction; used() gives each named process's CPU seconds since, host() how much
    of the machine's CPU everything (other users included) took in the same window."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.host_start = host_busy_seconds()

    def used(self) -> dict[str, float]:
        return {name: round(cpu_seconds(pid) - self.start[name], 3) for name, pid in self.pids.items()}

    def host(self) -> dict[str, float]:
        busy, total = host_busy_seconds()
        busy -= self.host_start[0]
        total -= self.host_start[1]
        return {"busy_cpu_seconds": round(busy, 2), "busy_pct": round(100 * busy / total, 1) if total else 0.0}


def per_quote(cpu: dict[str, float], quotes: int, exclude: tuple[str, ...] = ()) -> dict[str, object]:
    """CPU ms per quote, per process and summed over the processes not excluded (the load generator
    is reported but not part of the service's cost)."""
    n = max(1, quotes)
    per_process = {name: round(seconds * 1000 / n, 3) for name, seconds in cpu.items()}
    total = sum(seconds for name, seconds in cpu.items() if name not in exclude)
    return {"per_process": per_process, "services_total": round(total * 1000 / n, 3), "quotes": quotes}
