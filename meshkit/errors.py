"""Errors a client may see, free of any transport.

Domain and handler code raises `AppError`; the server interceptor turns it
into a gRPC status carrying a `google.rpc.ErrorInfo` (and, for bad input, a
`google.rpc.BadRequest`). Every `reason` is catalogued in docs/errors.md.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

DOMAIN = "shopmesh.dev"

T = TypeVar("T")


class Kind(enum.Enum):
    """The gRPC status code an error maps to, named as gRPC names it."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    ABORTED = "ABORTED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    INTERNAL = "INTERNAL"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


@dataclass
class AppError(Exception):
    kind: Kind
    reason: str
    message: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    violations: tuple[FieldViolation, ...] = ()

    def __post_init__(self) -> None:
        super().__init__(self.message)


def not_found(reason: str, message: str, **metadata: object) -> AppError:
    return AppError(Kind.NOT_FOUND, reason, message, _strings(metadata))


def failed_precondition(reason: str, message: str, **metadata: object) -> AppError:
    return AppError(Kind.FAILED_PRECONDITION, reason, message, _strings(metadata))


def aborted(reason: str, message: str, **metadata: object) -> AppError:
    return AppError(Kind.ABORTED, reason, message, _strings(metadata))


def resource_exhausted(reason: str, message: str, **metadata: object) -> AppError:
    """The caller holds, or the service has, as much of something as it may."""
    return AppError(Kind.RESOURCE_EXHAUSTED, reason, message, _strings(metadata))


def unavailable(reason: str, message: str, **metadata: object) -> AppError:
    """A retryable failure: the caller should try again shortly."""
    return AppError(Kind.UNAVAILABLE, reason, message, _strings(metadata))


def deadline_exceeded(reason: str, message: str) -> AppError:
    return AppError(Kind.DEADLINE_EXCEEDED, reason, message)


def permission_denied(message: str) -> AppError:
    return AppError(Kind.PERMISSION_DENIED, "PERMISSION_DENIED", message)


def unauthenticated(message: str) -> AppError:
    return AppError(Kind.UNAUTHENTICATED, "UNAUTHENTICATED", message)


def invalid_argument(field_path: str, description: str) -> AppError:
    return AppError(
        Kind.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        f"invalid request: {field_path}",
        violations=(FieldViolation(field_path, description),),
    )


def _strings(metadata: Mapping[str, object]) -> dict[str, str]:
    return {key: str(value) for key, value in metadata.items()}


class Violations:
    """Collects every problem with a request before answering, so that a
    client fixes them all in one go.

        check = Violations()
        check.require(request.quantity > 0, "quantity", "must be at least 1")
        check.raise_if_any()
    """

    def __init__(self) -> None:
        self._found: list[FieldViolation] = []

    def require(self, ok: bool, field_path: str, description: str) -> None:
        if not ok:
            self._found.append(FieldViolation(field_path, description))

    def entries(self, field_path: str, entries: Sequence[T], most: int) -> list[tuple[str, T]]:
        """A batch request's repeated field: it must hold 1 to `most`
        entries. Returns those to check (the first `most`), each with the
        prefix its own fields' paths start with (`requests[2].`)."""
        self.require(0 < len(entries) <= most, field_path, f"1 to {most} entries")
        return [(f"{field_path}[{index}].", entry) for index, entry in enumerate(entries[:most])]

    def raise_if_any(self) -> None:
        if self._found:
            fields = ", ".join(v.field for v in self._found)
            raise AppError(
                Kind.INVALID_ARGUMENT,
                "INVALID_ARGUMENT",
                f"invalid request: {fields}",
                violations=tuple(self._found),
            )
