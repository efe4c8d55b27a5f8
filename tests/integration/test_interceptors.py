"""The shared interceptors on real unary and streaming calls over loopback."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from meshkit import auth, callctx, errors, principal
from meshkit.interceptors import ClientInterceptor, ServerInterceptor
from tests.support import keys
from tests.support.rpc import as_customer, bearer, edge_token, reason

SERVICE = "test.Probe"


def _echo_caller(request: bytes, context: Any) -> bytes:
    return f"{principal.current().label} {callctx.request_id()}".encode()


def _fail(request: bytes, context: Any) -> bytes:
    if request == b"app":
        raise errors.not_found("THING_NOT_FOUND", "no such thing")
    raise RuntimeError("SELECT secret FROM internals")  # must never reach the client


def _count(request: bytes, context: Any) -> Iterator[bytes]:
    for n in range(3):
        yield f"{principal.current().customer_id}:{n}".encode()
    if request == b"fail":
        raise errors.failed_precondition("STREAM_BROKE", "stopped after 3")


@pytest.fixture(scope="module")
def channel(secrets_dir: object) -> Iterator[grpc.Channel]:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), interceptors=[ServerInterceptor(keys.verifier())]
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                SERVICE,
                {
                    "Echo": grpc.unary_unary_rpc_method_handler(_echo_caller),
                    "Fail": grpc.unary_unary_rpc_method_handler(_fail),
                    "Count": grpc.unary_stream_rpc_method_handler(_count),
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    server.stop(0).wait()


def test_the_caller_and_request_id_reach_the_handler_and_come_back(channel: grpc.Channel) -> None:
    echo = channel.unary_unary(f"/{SERVICE}/Echo")
    reply, call = echo.with_call(
        b"", metadata=(*as_customer(7), (callctx.REQUEST_ID_KEY, "req-123"))
    )
    assert reply == b"customer:7 req-123"
    assert (callctx.REQUEST_ID_KEY, "req-123") in call.trailing_metadata()


def test_a_call_without_identity_is_unauthenticated(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        channel.unary_unary(f"/{SERVICE}/Echo")(b"")
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert reason(refused.value) == "UNAUTHENTICATED"


def test_a_stream_with_an_expired_token_is_unauthenticated_before_it_starts(
    channel: grpc.Channel,
) -> None:
    count = channel.unary_stream(f"/{SERVICE}/Count")
    received = []
    with pytest.raises(grpc.RpcError) as refused:
        for message in count(b"", metadata=bearer(edge_token(customer_id=5, ttl=-120))):
            received.append(message)
    assert received == []
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert reason(refused.value) == "UNAUTHENTICATED"
    assert "expired" in refused.value.details()


def test_app_errors_keep_their_code_and_reason(channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        channel.unary_unary(f"/{SERVICE}/Fail")(b"app", metadata=as_customer(1))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(refused.value) == "THING_NOT_FOUND"


def test_unexpected_errors_are_internal_with_an_id_and_no_internals(
    channel: grpc.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(grpc.RpcError) as refused:
        channel.unary_unary(f"/{SERVICE}/Fail")(b"bug", metadata=as_customer(1))
    assert refused.value.code() == grpc.StatusCode.INTERNAL
    assert "SELECT" not in refused.value.details() and "Traceback" not in refused.value.details()
    error_id = refused.value.details().rsplit(" ", 1)[-1]
    logged = [r for r in caplog.records if getattr(r, "error_id", None) == error_id]
    assert logged and logged[0].exc_info is not None


def test_streams_see_the_caller_and_end_with_the_mapped_error(channel: grpc.Channel) -> None:
    count = channel.unary_stream(f"/{SERVICE}/Count")
    assert list(count(b"", metadata=as_customer(5))) == [b"5:0", b"5:1", b"5:2"]
    received = []
    with pytest.raises(grpc.RpcError) as broke:
        for message in count(b"fail", metadata=as_customer(5)):
            received.append(message)
    assert received == [b"5:0", b"5:1", b"5:2"]
    assert broke.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert reason(broke.value) == "STREAM_BROKE"


def test_outgoing_calls_carry_the_request_id_a_service_token_and_a_shorter_deadline() -> None:
    own = auth.AuthSettings({}, keys.internal_key(), keys.ISSUERS)
    interceptor = ClientInterceptor(auth.InternalTokens(own, "orders"), default_timeout=5)
    seen: dict[str, Any] = {}

    def continuation(details: grpc.ClientCallDetails, request: bytes) -> None:
        seen["timeout"], seen["metadata"] = details.timeout, dict(details.metadata or ())

    base = type(
        "Details",
        (),
        {
            "method": "/x/Y",
            "timeout": None,
            "metadata": None,
            "credentials": None,
            "wait_for_ready": None,
            "compression": None,
        },
    )
    with callctx.bound("req-9", time_remaining=1.0):
        interceptor.intercept_unary_unary(continuation, base(), b"")
    assert 0 < seen["timeout"] < 1.0
    assert seen["metadata"][callctx.REQUEST_ID_KEY] == "req-9"
    caller = keys.verifier().principal(seen["metadata"][auth.AUTHORIZATION_KEY])
    assert caller.label == "service:orders"


def _busy(request: bytes, context: Any) -> bytes:
    deadline = time.thread_time() + 0.02  # 20 ms of this thread's CPU
    while time.thread_time() < deadline:
        pass
    return b""


def test_each_call_is_logged_with_the_cpu_its_handler_spent(
    secrets_dir: object, caplog: pytest.LogCaptureFixture
) -> None:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=2), interceptors=[ServerInterceptor(keys.verifier())]
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                SERVICE, {"Busy": grpc.unary_unary_rpc_method_handler(_busy)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with caplog.at_level(logging.INFO), grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            channel.unary_unary(f"/{SERVICE}/Busy")(b"", metadata=as_customer(7), timeout=10)
    finally:
        server.stop(0).wait()

    (line,) = [r for r in caplog.records if getattr(r, "method", "") == f"/{SERVICE}/Busy"]
    assert 20 <= line.cpu_ms < 1000  # type: ignore[attr-defined]
    assert line.code == "OK" and line.caller == "customer:7"  # type: ignore[attr-defined]
