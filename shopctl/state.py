"""Run-time state on disk: the state folder, the services' logs and the
supervisor's pid file. Git-ignored; `make clean` removes it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

PROC = Path("/proc")


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """`.shopmesh/` in the working directory, or `SHOPMESH_STATE_DIR`."""
    env = os.environ if env is None else env
    return Path(env.get("SHOPMESH_STATE_DIR") or Path.cwd() / ".shopmesh").absolute()


def logs_dir() -> Path:
    return state_dir() / "logs"


def log_path(name: str) -> Path:
    return logs_dir() / f"{name}.log"


def pid_path() -> Path:
    return state_dir() / "mesh.pid"


def running_supervisor() -> int | None:
    """The pid of the live supervisor named in the pid file, if any."""
    try:
        pid = int(pid_path().read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if is_running(pid) and _is_shopmesh(pid) else None


def write_pid(pid: int) -> None:
    pid_path().parent.mkdir(parents=True, exist_ok=True)
    pid_path().write_text(f"{pid}\n")


def remove_pid(pid: int) -> None:
    """Remove the pid file if it still names `pid` (a newer supervisor may own it)."""
    with contextlib.suppress(OSError, ValueError):
        if int(pid_path().read_text().strip()) == pid:
            pid_path().unlink()


def is_running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie. A detached supervisor's
    parent is init, and not every init reaps promptly (or at all)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not PROC.joinpath("self").exists():
        return True
    try:
        stat = PROC.joinpath(str(pid), "stat").read_text()
    except OSError:
        return False
    # The command name in parentheses may contain spaces; the state follows it.
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _is_shopmesh(pid: int) -> bool:
    """Guards against a stale pid file whose pid now belongs to something else."""
    try:
        command = PROC.joinpath(str(pid), "cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust the pid file
    return b"shopmesh" in command or b"shopctl" in command


def children_of(pid: int) -> list[int]:
    """The live child processes of `pid` (empty without /proc)."""
    children = []
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            children.append(int(stat.parent.name))
    return children
