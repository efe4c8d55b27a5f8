"""The bench's one table: each figure, its anchor and their ratio, or its
target; printed as Markdown and written as JSON for the docs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shopctl import state


@dataclass(frozen=True)
class Row:
    figure: str
    value: float | None
    # How `value` reads: "ms", "/s", "s", "MiB", "count", or "" with `text`.
    unit: str
    anchor: str = ""
    anchor_value: float | None = None
    target: str = ""
    # Whether `value` meets `target`; None when there is none to meet.
    met: bool | None = None
    # Shown instead of a number (or after it).
    text: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.anchor_value:
            return None
        return self.value / self.anchor_value

    def cells(self) -> list[str]:
        ratio = self.ratio
        verdict = {True: " (met)", False: " (missed)", None: ""}[self.met] if self.target else ""
        return [
            self.figure,
            " ".join(filter(None, (show(self.value, self.unit), self.text))),
            self.anchor,
            show(self.anchor_value, self.unit),
            "" if ratio is None else f"{ratio:.3f}",
            self.target + verdict,
        ]


HEADER = ["figure", "value", "anchor", "anchor value", "ratio", "target"]


def show(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "count":
        return f"{value:.0f}"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "/s":
        return f"{value:.1f}/s"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"
    if unit == "MiB":
        return f"{value:.0f} MiB"
    return f"{value:g} {unit}".strip()


def table(rows: Sequence[Row]) -> str:
    """A Markdown table, its columns aligned for the terminal."""
    cells = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADER))]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(HEADER), rule, *(line(c) for c in cells[1:])])


def write_json(rows: Sequence[Row], about: Mapping[str, Any]) -> Path:
    """To `.shopmesh/bench/last.json` (the state folder, git-ignored)."""
    path = state.state_dir() / "bench" / "last.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        **about,
        "rows": [{**asdict(row), "ratio": row.ratio} for row in rows],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path
