"""The request id and deadline that follow a call downstream."""

import pytest

from meshkit import callctx


def test_outside_a_call_there_is_no_request_id_and_no_budget() -> None:
    assert callctx.request_id() == ""
    assert callctx.work_budget() is None


def test_work_stops_an_answer_margin_before_the_callers_deadline() -> None:
    with callctx.bound("req-1", time_remaining=2.0):
        budget = callctx.work_budget()
        assert callctx.request_id() == "req-1"
    assert budget is not None
    assert 2.0 - callctx.ANSWER_MARGIN - 0.05 < budget <= 2.0 - callctx.ANSWER_MARGIN
    assert pytest.approx(0.1) == callctx.ANSWER_MARGIN


def test_a_deadline_nearer_than_the_margin_leaves_a_negative_budget() -> None:
    with callctx.bound("req-2", time_remaining=callctx.ANSWER_MARGIN / 2):
        budget = callctx.work_budget()
    assert budget is not None and budget < 0


def test_a_call_without_a_deadline_gives_no_budget() -> None:
    # gRPC reports "no deadline" as a remaining time of centuries.
    with callctx.bound("req-3", time_remaining=10**10):
        assert callctx.work_budget() is None
    with callctx.bound("req-4", time_remaining=None):
        assert callctx.work_budget() is None


def test_request_ids_are_new_each_time_and_the_outer_call_is_restored() -> None:
    assert callctx.new_request_id() != callctx.new_request_id()
    with callctx.bound("outer", 5.0):
        with callctx.bound("inner", None):
            assert callctx.request_id() == "inner" and callctx.work_budget() is None
        assert callctx.request_id() == "outer" and callctx.work_budget() is not None
    assert callctx.request_id() == ""


def test_a_batch_call_names_the_requests_it_carries() -> None:
    metadata = [("authorization", "Bearer x"), ("x-batch-of", "req-a,req-b,,req-c")]
    assert callctx.batch_of(metadata) == ["req-a", "req-b", "req-c"]
    assert callctx.batch_of([("x-request-id", "req-a")]) == []


def test_a_batch_names_at_most_a_hundred_requests_in_the_log() -> None:
    named = ",".join(f"req-{n}" for n in range(150))
    carried = callctx.batch_of([(callctx.BATCH_OF_KEY, named)])
    assert carried == [f"req-{n}" for n in range(100)]
    assert callctx.BATCH_OF_KEY == "x-batch-of"
