"""The one place each call passes through on its way in and out.

Incoming: bind the request id and deadline, resolve the caller's principal
from its verified bearer token (the only place that does), turn AppError into
a rich status, turn anything unexpected into INTERNAL with an error id (the
trace goes to the log, never to the client), log the call.

Outgoing: stamp the request id and this service's own internal token, and
bound the call by what is left of the incoming deadline.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc

from meshkit import auth, callctx, db, errors, principal
from meshkit.errors import AppError, Kind
from meshkit.status import to_status

log = logging.getLogger("meshkit.calls")

# Infrastructure any caller may use without an identity.
_OPEN_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


class ServerInterceptor(grpc.ServerInterceptor):
    """Every call but health and reflection needs a token `verifier` accepts."""

    def __init__(self, verifier: auth.Verifier) -> None:
        self._verifier = verifier

    def intercept_service(self, continuation: Any, details: Any) -> Any:
        return _wrapped(continuation(details), details, self._verifier)


class AsyncServerInterceptor(grpc.aio.ServerInterceptor):
    """The same, for a grpc.aio server: its `async def` methods run as
    coroutines, its plain ones in the server's thread pool."""

    def __init__(self, verifier: auth.Verifier) -> None:
        self._verifier = verifier

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        return _wrapped(await continuation(details), details, self._verifier)


def _wrapped(handler: Any, details: Any, verifier: auth.Verifier) -> Any:
    if handler is None or details.method.startswith(_OPEN_PREFIXES):
        return handler
    call = _Call(details.method, tuple(details.invocation_metadata or ()), verifier)
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            call.wrap_unary(handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream:
        stream = handler.unary_stream
        return grpc.unary_stream_rpc_method_handler(
            call.wrap_async_stream(stream)
            if inspect.isasyncgenfunction(stream)
            else call.wrap_stream(stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler  # shopmesh has no client-streaming methods


class _Call:
    def __init__(
        self, method: str, metadata: tuple[tuple[str, Any], ...], verifier: auth.Verifier
    ) -> None:
        self.method = method
        self.metadata = metadata
        self.verifier = verifier
        self.caller = ""
        request_id = next((v for k, v in metadata if k == callctx.REQUEST_ID_KEY), None)
        self.request_id = request_id or callctx.new_request_id()
        self.batch_of = callctx.batch_of(metadata)

    def resolve(self) -> principal.Principal:
        values = [value for key, value in self.metadata if key == auth.AUTHORIZATION_KEY]
        if len(values) > 1:
            raise errors.unauthenticated("more than one authorization metadata entry")
        resolved = self.verifier.principal(values[0] if values else None)
        self.caller = resolved.label
        return resolved

    def wrap_unary(self, behavior: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def unary(request: Any, context: Any) -> Any:
            with self._handled(context) as outcome, self._as_caller():
                return behavior(request, context)
            _abort(context, outcome)

        return unary

    def wrap_stream(self, behavior: Callable[[Any, Any], Iterator[Any]]) -> Callable[..., Any]:
        def stream(request: Any, context: Any) -> Iterator[Any]:
            with self._handled(context) as outcome, self._as_caller():
                yield from behavior(request, context)
            if outcome.failure is not None:
                _abort(context, outcome)

        return stream

    def wrap_async_stream(
        self, behavior: Callable[[Any, Any], AsyncIterator[Any]]
    ) -> Callable[..., AsyncIterator[Any]]:
        async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
            # The loop's thread runs other calls while this one waits: its
            # CPU time says nothing about this call.
            with self._handled(context, own_thread=False) as outcome, self._as_caller():
                async for response in behavior(request, context):
                    yield response
            if outcome.failure is not None:
                # Its trailers are set already (_handled).
                await context.abort(outcome.failure.code, outcome.failure.details)

        return stream

    @contextmanager
    def _handled(self, context: Any, *, own_thread: bool = True) -> Iterator[_Outcome]:
        """The call's body runs inside: with its request id and deadline
        bound; logged once it ends, with the CPU time its thread spent on it
        when the thread is its own. A failure is kept in the outcome, for
        the caller to answer as a status: the grpc.aio flavour must await
        its abort, which a context manager cannot."""
        outcome = _Outcome(((callctx.REQUEST_ID_KEY, self.request_id),))
        with callctx.bound(self.request_id, context.time_remaining()):
            started = time.perf_counter()
            cpu_started = time.thread_time() if own_thread else None
            code = "OK"
            try:
                yield outcome
            except Exception as exc:
                code, outcome.failure = self._failure(exc)
            except (GeneratorExit, asyncio.CancelledError):
                code = "CANCELLED"  # the client went away
                raise
            finally:
                context.set_trailing_metadata(outcome.trailing_metadata)
                self._log(code, started, cpu_started)

    @contextmanager
    def _as_caller(self) -> Iterator[None]:
        """The body runs as the verified caller (failing before it starts
        without one)."""
        token = principal.bind(self.resolve())
        try:
            yield
        finally:
            principal.unbind(token)

    def _failure(self, exc: Exception) -> tuple[str, grpc.Status]:
        if isinstance(exc, AppError):
            return exc.kind.value, to_status(exc)
        from_database = db.as_app_error(exc)
        if from_database is not None:
            # Expected in an outage: the driver's message for the operators,
            # without the trace, the SQL or its parameters.
            cause = next(iter(str(getattr(exc, "orig", exc)).strip().splitlines()), "")
            log.warning(
                "database failure",
                extra={"method": self.method, "reason": from_database.reason, "cause": cause},
            )
            return from_database.kind.value, to_status(from_database)
        error_id = uuid.uuid4().hex[:12]
        log.exception("unexpected error", extra={"method": self.method, "error_id": error_id})
        internal = AppError(
            Kind.INTERNAL,
            "INTERNAL",
            f"internal error; quote error id {error_id}",
            {"error_id": error_id},
        )
        return Kind.INTERNAL.value, to_status(internal)

    def _log(self, code: str, started: float, cpu_started: float | None) -> None:
        # The handler's own CPU (checks, SQL through the driver, building the
        # answer), not gRPC's transport around it: what `make bench` adds up
        # per method for the capacity model.
        cpu = (
            {}
            if cpu_started is None
            else {"cpu_ms": round((time.thread_time() - cpu_started) * 1000, 3)}
        )
        log.info(
            "call",
            extra={
                "method": self.method,
                "code": code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                **cpu,
                "caller": self.caller,
                **({"batch_of": self.batch_of} if self.batch_of else {}),
            },
        )


@dataclass
class _Outcome:
    """How a call ended: its trailers and, if it failed, the status to answer."""

    base_trailers: tuple[tuple[str, str], ...]
    failure: grpc.Status | None = None

    @property
    def trailing_metadata(self) -> tuple[tuple[str, Any], ...]:
        extra = tuple(self.failure.trailing_metadata) if self.failure is not None else ()
        return self.base_trailers + extra


def _abort(context: Any, outcome: _Outcome) -> NoReturn:
    """End a plain (thread-run) call with its failure, whose trailers
    _handled has set. The same on both flavours: grpc.aio hands these calls
    a context without abort_with_status."""
    assert outcome.failure is not None
    context.abort(outcome.failure.code, outcome.failure.details)
    raise AssertionError("abort() returned")


class _Details(grpc.ClientCallDetails):
    def __init__(self, base: Any, timeout: float | None, metadata: list[tuple[str, str]]) -> None:
        self.method = base.method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = base.credentials
        self.wait_for_ready = base.wait_for_ready
        self.compression = base.compression


class ClientInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Stamps outgoing calls with this service's own internal token (`tokens`)."""

    def __init__(self, tokens: auth.InternalTokens, default_timeout: float) -> None:
        self._tokens = tokens
        self._default_timeout = default_timeout

    def _details(self, details: Any) -> _Details:
        timeout = details.timeout if details.timeout is not None else self._default_timeout
        budget = callctx.work_budget()
        if budget is not None:
            timeout = max(min(timeout, budget), 0.001)
        metadata = [
            (key, value)
            for key, value in (details.metadata or ())
            if key not in (callctx.REQUEST_ID_KEY, auth.AUTHORIZATION_KEY)
        ]
        metadata.append((callctx.REQUEST_ID_KEY, callctx.request_id() or callctx.new_request_id()))
        metadata.append((auth.AUTHORIZATION_KEY, self._tokens.authorization()))
        return _Details(details, timeout, metadata)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)
