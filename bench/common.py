"""Small helpers the benchmarks share: percentiles and a one-line latency summary."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` lie (nearest rank; 0.5 is the median)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[min(len(ordered), rank) - 1]


def latency_line(seconds: list[float]) -> str:
    """ "p50 … p95 … p99 …" in milliseconds."""
    return "   ".join(
        f"p{round(share * 100)} {percentile(seconds, share) * 1000:7.1f} ms"
        for share in (0.5, 0.95, 0.99)
    )


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def family(pid: int) -> list[int]:
    """A process and all its descendants alive now (only what still runs)."""
    found = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found += family(int(child))
    except OSError:
        pass  # gone meanwhile
    return found


def family_cpu_seconds(pid: int) -> float:
    """CPU time used so far by a process and its live descendants (a server's workers)."""
    total = 0.0
    for member in family(pid):
        with contextlib.suppress(OSError):
            total += cpu_seconds(member)
    return total
