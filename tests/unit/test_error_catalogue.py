"""Every ErrorInfo reason the services can send is documented in docs/errors.md."""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("meshkit", "orders", "shipping", "notifications")
# Helpers in meshkit.errors whose first argument is the reason.
HELPERS = {"not_found", "failed_precondition", "aborted", "unavailable", "deadline_exceeded"}
DOCUMENTED = re.compile(r"^\| `([A-Z_]+)` \|", re.MULTILINE)
# `make mutation` (mutmut) runs this test on a copy of the code in which every
# function also exists in mutated versions beside the original, named
# `x_<name>__mutmut_<n>`; only one of them runs at a time, chosen at run time,
# so those copies are not code a client can get an answer from.
MUTANT_COPY = re.compile(r"__mutmut_")


def nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of `tree` but those inside mutant copies."""
    if isinstance(tree, ast.FunctionDef | ast.AsyncFunctionDef) and MUTANT_COPY.search(tree.name):
        return
    yield tree
    for child in ast.iter_child_nodes(tree):
        yield from nodes(child)


def reasons_raised(tree: ast.AST) -> Iterator[str]:
    """The reason strings of the AppErrors built in `tree`."""
    for node in nodes(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", getattr(node.func, "id", ""))
        reason: ast.expr | None
        if name in HELPERS and node.args:
            reason = node.args[0]
        elif name == "AppError" and len(node.args) > 1:
            reason = node.args[1]
        else:
            reason = next((k.value for k in node.keywords if k.arg == "reason"), None)
        if isinstance(reason, ast.Constant) and isinstance(reason.value, str):
            yield reason.value


def reasons_in_code() -> set[str]:
    found: set[str] = set()
    for package in PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            found |= set(reasons_raised(ast.parse(source.read_text())))
    return found


def test_every_reason_raised_is_in_the_catalogue() -> None:
    documented = set(DOCUMENTED.findall((ROOT / "docs" / "errors.md").read_text()))
    raised = reasons_in_code()
    assert {"ORDER_NOT_FOUND", "INVALID_ARGUMENT", "PERMISSION_DENIED"} <= raised, (
        "the scan no longer finds reasons it should: update it"
    )
    assert raised <= documented, f"undocumented reasons: {sorted(raised - documented)}"


def test_the_scan_finds_reasons_however_the_error_is_built() -> None:
    source = """
errors.not_found("A_REASON", "m")
failed_precondition(
    "B_REASON", "m")
AppError(Kind.ABORTED, "C_REASON", "m")
AppError(kind=Kind.ABORTED, reason="D_REASON", message="m")
def f__mutmut_1():
    not_found("XXA_REASONXX", "m")
"""
    assert set(reasons_raised(ast.parse(source))) == {
        "A_REASON",
        "B_REASON",
        "C_REASON",
        "D_REASON",
    }
