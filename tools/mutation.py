"""Mutation testing: would the tests notice if the code did something else?

mutmut changes the code one small edit at a time (`<` to `<=`, `and` to `or`,
a constant, a dropped call) and runs the tests that reach the changed
function; a mutant the tests pass on is a behaviour change nobody would notice.

    python tools/mutation.py
        `make mutation`: the pure modules ([tool.mutmut] in pyproject.toml)
        against tests/unit. Fails below FAIL_UNDER, or on any mutant that
        survives and is not listed, with the reason it changes nothing, in
        tests/unit/equivalent_mutants.toml.

    python tools/mutation.py --module orders/handlers.py \\
            --tests tests/integration/test_orders.py [--sample 30] [PATTERN ...]
        One handler module against its integration tests (real PostgreSQL;
        set DATABASE_URL to skip starting an embedded server per mutant).
        Reports the score and every survivor's diff; fails only below
        --fail-under when one is given. PATTERNs (fnmatch) pick mutants, e.g.
        'orders.handlers.xǁOrderHandlersǁcreate_order*'.

Mutants are written to mutants/ (git-ignored), made afresh on every run.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import io
import json
import os
import random
import shutil
import sys
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = ROOT / "tests" / "unit" / "equivalent_mutants.toml"
FAIL_UNDER = 95.0

# mutmut's command line, run in this process: `mutmut(["run"])`.
Mutmut = Callable[[list[str]], None]


@dataclass(frozen=True)
class Result:
    name: str
    status: str

    @property
    def module(self) -> str:
        return self.name.rsplit(".", 1)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", help="a module to mutate instead of the pure ones")
    parser.add_argument("--tests", nargs="+", help="the tests to run against --module")
    parser.add_argument("--sample", type=int, help="check this many mutants, picked at random")
    parser.add_argument("--seed", type=int, default=0, help="for --sample (default 0)")
    parser.add_argument("--fail-under", type=float, help="with --module: the score to reach")
    parser.add_argument("patterns", nargs="*", help="mutant names to check (fnmatch patterns)")
    args = parser.parse_args(argv)
    if bool(args.module) != bool(args.tests):
        parser.error("--module and --tests go together")

    os.chdir(ROOT)  # mutmut reads pyproject.toml and writes mutants/ here
    shutil.rmtree("mutants", ignore_errors=True)
    mutmut = _configured(args.module, args.tests)
    patterns = list(args.patterns)
    if args.sample:
        # Generate every mutant and map tests to them without running any:
        # mutmut stops with an AssertionError when no mutant matches the
        # pattern, by which point that is done. Then check a sample.
        with contextlib.suppress(AssertionError):
            _quietly(mutmut, ["run", "no-mutant-is-named-this"])
        names = sorted(r.name for r in _results(patterns))
        patterns = sorted(random.Random(args.seed).sample(names, min(args.sample, len(names))))
    mutmut(["run", *patterns])

    results = _results(patterns)
    print()
    _report(results)
    if args.module:
        _show_survivors(mutmut, [r for r in results if r.status != "killed"])
        return 0 if args.fail_under is None or _score(results) >= args.fail_under else 1
    return _judge(mutmut, results)


def _configured(module: str | None, tests: list[str] | None) -> Mutmut:
    """mutmut's command line, its settings read from pyproject.toml and, for
    --module, changed before mutmut reads them at import."""
    from mutmut import configuration

    settings = configuration.config()
    if module:
        settings.only_mutate = [module]
        settings.pytest_add_cli_args_test_selection = list(tests or [])
        # The integration tests start gRPC servers, whose threads do not
        # survive a fork: mutants are forked from a process that runs none.
        settings.process_isolation = configuration.ProcessIsolation.FORKSERVER
    from mutmut.__main__ import cli

    def run(args: list[str]) -> None:
        try:
            cli(args, standalone_mode=False)
        except SystemExit as stop:
            if stop.code:
                raise

    return run


def _quietly(mutmut: Mutmut, args: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        mutmut(args)


def _results(patterns: list[str]) -> list[Result]:
    from mutmut.stats import status_by_exit_code

    results = []
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if not patterns or any(fnmatch.fnmatch(name, p) for p in patterns):
                results.append(Result(name, status_by_exit_code[code]))
    return results


def _score(results: list[Result]) -> float:
    killed = sum(r.status == "killed" for r in results)
    return 100.0 * killed / len(results) if results else 100.0


def _report(results: list[Result]) -> None:
    by_module: dict[str, Counter[str]] = {}
    for r in results:
        by_module.setdefault(r.module, Counter())[r.status] += 1
    print(f"{'module':<34} {'mutants':>7} {'killed':>7} {'left':>5} {'score':>6}")
    for module, counts in sorted(by_module.items()):
        total = sum(counts.values())
        print(
            f"{module:<34} {total:>7} {counts['killed']:>7} {total - counts['killed']:>5}"
            f" {100.0 * counts['killed'] / total:>5.0f}%"
        )
    print(f"{'all':<34} {len(results):>7} {'':>7} {'':>5} {_score(results):>5.1f}%")


def _change(mutmut: Mutmut, name: str) -> str:
    """A mutant's edit in one line: `old -> new`."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        mutmut(["show", name])
    lines = out.getvalue().splitlines()
    removed = [line[1:].strip() for line in lines if line.startswith("-") and line[1:2] != "-"]
    added = [line[1:].strip() for line in lines if line.startswith("+") and line[1:2] != "+"]
    return f"{' / '.join(removed)} -> {' / '.join(added)}"


def _show_survivors(mutmut: Mutmut, left: list[Result]) -> None:
    for r in left:
        print(f"\n{r.status}: {r.name}\n    {_change(mutmut, r.name)}")


def _judge(mutmut: Mutmut, results: list[Result]) -> int:
    listed = {e["mutant"]: e for e in tomllib.loads(EQUIVALENTS.read_text())["equivalent"]}
    problems = []
    equivalent = 0
    for r in results:
        entry = listed.pop(r.name, None)
        if r.status == "killed":
            if entry:
                problems.append(f"{r.name} is killed now: remove it from {EQUIVALENTS.name}")
            continue
        change = _change(mutmut, r.name)
        if entry is None:
            problems.append(
                f"{r.status}: {r.name}\n    {change}\n  kill it with a test, or if it cannot"
                f" change behaviour, list it in {EQUIVALENTS.name}:\n"
                f'[[equivalent]]\nmutant = "{r.name}"\nchange = {json.dumps(change)}\n'
                'why = "..."'
            )
        elif entry["change"] != change:
            problems.append(
                f"{r.name} is listed as {entry['change']!r} but is now {change!r}:"
                " the code changed; check it again and update the entry"
            )
        else:
            equivalent += 1
    problems += [f"{name} no longer exists: remove it from {EQUIVALENTS.name}" for name in listed]
    score = _score(results)
    if score < FAIL_UNDER:
        problems.append(f"mutation score {score:.1f}% is under {FAIL_UNDER:.0f}%")
    print(f"{equivalent} listed as equivalent in {EQUIVALENTS.relative_to(ROOT)}")
    for problem in problems:
        print(f"\n{problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
