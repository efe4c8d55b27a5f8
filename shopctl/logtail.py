"""Reading the ends of log files: a tail for post-mortems, and a follower
that hands over the lines written since it last looked."""

from __future__ import annotations

import json
from pathlib import Path

# Service log levels worth showing on the console.
LOUD = {"error", "critical"}


def tail(path: Path, lines: int = 20, start: int = 0) -> list[str]:
    """The last `lines` lines of `path` written after byte offset `start`."""
    try:
        with path.open("rb") as log:
            log.seek(start)
            text = log.read().decode(errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class Follower:
    """New complete lines of a growing file."""

    def __init__(self, path: Path, start: int = 0) -> None:
        self.path = path
        self.offset = start

    def lines(self) -> list[str]:
        try:
            with self.path.open("rb") as log:
                log.seek(self.offset)
                chunk = log.read()
        except OSError:
            return []
        complete = chunk.rpartition(b"\n")[0]
        if not complete:
            return []
        self.offset += len(complete) + 1
        return complete.decode(errors="replace").splitlines()


def loud(line: str) -> str | None:
    """A service's JSON log line at error level or above, made readable;
    None for anything else."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict) or entry.get("level") not in LOUD:
        return None
    skip = {"time", "level", "service", "logger", "message", "trace"}
    details = " ".join(f"{key}={value}" for key, value in entry.items() if key not in skip)
    return f"{entry['level']}: {entry.get('message', '')}" + (f" ({details})" if details else "")
