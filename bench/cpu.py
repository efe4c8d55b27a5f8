"""CPU time and memory of processes, read from /proc (Linux).

A process tree's CPU time is the sum, over the root and every live
descendant, of utime + stime (its own threads) and cutime + cstime (children
it has reaped). That sum only grows, whatever starts and exits in between:
a PostgreSQL backend that exits moves its time into the postmaster's cutime.
So the difference of two readings is the CPU the tree used in between.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable, Mapping
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat from the state on (field 3 is index 0);
    the command name before it is in parentheses and may hold spaces."""
    line = (PROC / str(pid) / "stat").read_text()
    return line[line.rindex(")") + 2 :].split()


def parent_of(pid: int) -> int:
    return int(_stat(pid)[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime (fields 14 to 17)."""
    fields = _stat(pid)
    return sum(int(ticks) for ticks in fields[11:15]) / TICKS_PER_SECOND


def _parents() -> dict[int, int]:
    parents = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = parent_of(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue  # exited while we looked
    return parents


def tree(root: int) -> list[int]:
    """`root` and its live descendants."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def tree_cpu_seconds(root: int) -> float:
    total = 0.0
    for pid in tree(root):
        try:
            total += cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited just now: its time is in its parent's cutime
    return total


def snapshot(roots: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process tree."""
    return {name: tree_cpu_seconds(pid) for name, pid in roots.items()}


def used(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in before}


def own_cpu_seconds() -> float:
    """This process's CPU time so far, all threads (the load generator's)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_bytes(pid: int) -> int:
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"process {pid} reports no VmRSS")


def is_local(pid: int, names: Iterable[str]) -> bool:
    """Whether `pid` runs on this machine as one of the programs `names`."""
    try:
        return (PROC / str(pid) / "comm").read_text().strip() in set(names)
    except OSError:
        return False
