"""What the commands print: one aligned line per step, errors on stderr."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

WIDTH = 15


class Failure(Exception):
    """A problem to tell the user about in plain words; the command exits 1."""


def step(label: str, text: str) -> None:
    print(f"{label:<{WIDTH}} {text}", flush=True)


def error(label: str, text: str) -> None:
    print(f"{label:<{WIDTH}} {text}", file=sys.stderr, flush=True)


def block(lines: Iterable[str], *, indent: str = "  ", stderr: bool = False) -> None:
    stream = sys.stderr if stderr else sys.stdout
    for line in lines:
        print(f"{indent}{line}", file=stream)
    stream.flush()


def show(path: Path) -> str:
    """A path as short as it can be said from here."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
