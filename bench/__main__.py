"""`python -m bench` (`make bench`): run the bench, print its table, keep it
as JSON."""

from __future__ import annotations

import dataclasses
import datetime
import os
import subprocess
import time
from typing import Any

from bench import options, report, runner
from shopctl import console


def main() -> None:
    chosen = options.parse()
    started = time.monotonic()
    about: dict[str, Any] = {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "code": _code(),
        "options": {
            k: sorted(v) if isinstance(v, frozenset) else v
            for k, v in dataclasses.asdict(chosen).items()
        },
    }
    _say_what_is_measured(about)
    results = runner.run(chosen)
    about["seconds"] = round(time.monotonic() - started, 1)
    about["machine"]["load_average_at_end"] = os.getloadavg()
    print()
    print(report.table(results.rows))
    print()
    path = report.write_json(results.rows, about)
    console.step(
        "done", f"in {about['seconds']:.0f} s; table also in {console.show(path.resolve())}"
    )


def _say_what_is_measured(about: dict[str, Any]) -> None:
    code, machine = about["code"], about["machine"]
    if code["services_changed_since_commit"]:
        console.step(
            "code", f"uncommitted changes to the services are measured (HEAD {code['commit'][:7]})"
        )
    load = machine["load_average_at_start"][0]
    if machine["cpus"] and load > machine["cpus"] / 2:
        console.step(
            "machine", f"busy before the start: load average {load:.1f} on {machine['cpus']} CPUs"
        )


def _machine() -> dict[str, Any]:
    """What else ran: the figures move with the machine's other load."""
    return {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()}


def _code() -> dict[str, Any]:
    """Which code was measured: the commit, and whether the services' files
    differed from it."""

    def git(*args: str) -> str:
        try:
            run = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        except OSError:
            return ""
        return run.stdout.strip()

    changed = git("status", "--porcelain", "--", "meshkit", "orders", "shipping", "notifications")
    return {"commit": git("rev-parse", "HEAD"), "services_changed_since_commit": bool(changed)}


if __name__ == "__main__":
    main()
