"""Every ErrorInfo reason the services can send is documented in docs/errors.md."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("meshkit", "orders", "shipping", "notifications")
# The first string argument of the helpers that build an AppError.
RAISED = re.compile(
    r"(?:not_found|failed_precondition|aborted|unavailable|deadline_exceeded|AppError)\(\s*"
    r"(?:Kind\.\w+,\s*)?\"([A-Z][A-Z_]+)\""
)
DOCUMENTED = re.compile(r"^\| `([A-Z_]+)` \|", re.MULTILINE)


def reasons_in_code() -> set[str]:
    found: set[str] = set()
    for package in PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            found |= set(RAISED.findall(source.read_text()))
    return found


def test_every_reason_raised_is_in_the_catalogue() -> None:
    documented = set(DOCUMENTED.findall((ROOT / "docs" / "errors.md").read_text()))
    raised = reasons_in_code()
    assert raised, "the pattern no longer finds any reason: update it"
    assert raised <= documented, f"undocumented reasons: {sorted(raised - documented)}"
