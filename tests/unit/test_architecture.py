"""The boundaries the design relies on, checked on the import statements."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("orders", "shipping", "notifications")


def imported_roots(package: str) -> dict[str, set[str]]:
    """file -> top-level modules it imports, for every file of `package`."""
    found: dict[str, set[str]] = {}
    for source in (ROOT / package).rglob("*.py"):
        roots: set[str] = set()
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                roots.add(node.module.split(".")[0])
        found[str(source.relative_to(ROOT))] = roots
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_services_never_import_each_other(service: str) -> None:
    others = set(SERVICES) - {service}
    offending = {f: r & others for f, r in imported_roots(service).items() if r & others}
    assert offending == {}


@pytest.mark.parametrize("service", SERVICES)
def test_domain_modules_import_neither_grpc_nor_sqlalchemy(service: str) -> None:
    domain = imported_roots(f"{service}/domain")
    offending = {
        f: r & {"grpc", "sqlalchemy"} for f, r in domain.items() if r & {"grpc", "sqlalchemy"}
    }
    assert offending == {}


def test_the_shared_package_knows_no_service() -> None:
    offending = {
        f: r & {*SERVICES, "shopctl"}
        for f, r in imported_roots("meshkit").items()
        if r & {*SERVICES, "shopctl"}
    }
    assert offending == {}
