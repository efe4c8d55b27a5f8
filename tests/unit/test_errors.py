"""The errors a client may see, built and collected without any transport."""

import pytest

from meshkit import errors
from meshkit.errors import AppError, FieldViolation, Kind, Violations


def test_an_error_reads_as_its_message() -> None:
    error = errors.not_found("ORDER_NOT_FOUND", "order 7 not found")
    assert str(error) == "order 7 not found"


@pytest.mark.parametrize(
    ("helper", "kind"),
    [
        (errors.not_found, Kind.NOT_FOUND),
        (errors.failed_precondition, Kind.FAILED_PRECONDITION),
        (errors.aborted, Kind.ABORTED),
        (errors.unavailable, Kind.UNAVAILABLE),
        (errors.resource_exhausted, Kind.RESOURCE_EXHAUSTED),
    ],
)
def test_helpers_carry_the_reason_message_and_metadata_as_strings(helper, kind) -> None:  # type: ignore[no-untyped-def]
    error = helper("SOME_REASON", "what went wrong", order_id=7, state="shipped")
    assert (error.kind, error.reason, error.message) == (kind, "SOME_REASON", "what went wrong")
    assert error.metadata == {"order_id": "7", "state": "shipped"}
    assert error.violations == ()


def test_a_deadline_error_carries_its_reason() -> None:
    error = errors.deadline_exceeded("DATABASE_TIMEOUT", "gave up")
    assert (error.kind, error.reason, error.message) == (
        Kind.DEADLINE_EXCEEDED,
        "DATABASE_TIMEOUT",
        "gave up",
    )


def test_permission_and_authentication_errors_use_their_code_as_reason() -> None:
    denied = errors.permission_denied("customer may not do this")
    assert (denied.kind, denied.reason, denied.message) == (
        Kind.PERMISSION_DENIED,
        "PERMISSION_DENIED",
        "customer may not do this",
    )
    anonymous = errors.unauthenticated("no token")
    assert (anonymous.kind, anonymous.reason, anonymous.message) == (
        Kind.UNAUTHENTICATED,
        "UNAUTHENTICATED",
        "no token",
    )


def test_a_bad_argument_names_the_field_in_message_and_violation() -> None:
    error = errors.invalid_argument("quantity", "must be at least 1")
    assert (error.kind, error.reason) == (Kind.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert error.message == "invalid request: quantity"
    assert error.violations == (FieldViolation("quantity", "must be at least 1"),)


def test_violations_are_all_reported_together_in_the_order_found() -> None:
    check = Violations()
    check.require(False, "quantity", "must be at least 1")
    check.require(True, "product_id", "is fine")
    check.require(False, "request_id", "is too long")
    with pytest.raises(AppError) as refused:
        check.raise_if_any()
    assert (refused.value.kind, refused.value.reason) == (Kind.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert refused.value.message == "invalid request: quantity, request_id"
    assert refused.value.violations == (
        FieldViolation("quantity", "must be at least 1"),
        FieldViolation("request_id", "is too long"),
    )


def test_a_request_that_breaks_no_rule_passes() -> None:
    check = Violations()
    check.require(True, "quantity", "must be at least 1")
    check.raise_if_any()


def test_a_batch_field_yields_each_entry_with_the_prefix_of_its_fields() -> None:
    check = Violations()
    assert check.entries("requests", ["a", "b"], most=2) == [
        ("requests[0].", "a"),
        ("requests[1].", "b"),
    ]
    assert check.entries("requests", ["a"], most=2) == [("requests[0].", "a")]
    check.raise_if_any()  # one entry, and exactly the most: both fine


@pytest.mark.parametrize("size", [0, 4])
def test_an_empty_or_oversized_batch_is_a_violation_and_only_its_head_is_checked(
    size: int,
) -> None:
    check = Violations()
    entries = check.entries("requests", list(range(size)), most=3)
    assert [entry for _, entry in entries] == list(range(min(size, 3)))
    with pytest.raises(AppError) as refused:
        check.raise_if_any()
    assert refused.value.violations == (FieldViolation("requests", "1 to 3 entries"),)
