"""The one place each call passes through on its way in and out.

Incoming: bind the request id and deadline, resolve the caller's principal
from its verified bearer token (the only place that does), turn AppError into
a rich status, turn anything unexpected into INTERNAL with an error id (the
trace goes to the log, never to the client), log the call.

Outgoing: stamp the request id and this service's own internal token, and
bound the call by what is left of the incoming deadline.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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
        handler = continuation(details)
        if handler is None or details.method.startswith(_OPEN_PREFIXES):
            return handler
        call = _Call(details.method, tuple(details.invocation_metadata or ()), self._verifier)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                call.wrap_unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                call.wrap_stream(handler.unary_stream),
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

    def resolve(self) -> principal.Principal:
        values = [value for key, value in self.metadata if key == auth.AUTHORIZATION_KEY]
        if len(values) > 1:
            raise errors.unauthenticated("more than one authorization metadata entry")
        resolved = self.verifier.principal(values[0] if values else None)
        self.caller = resolved.label
        return resolved

    def wrap_unary(self, behavior: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            with self._handled(context):
                return behavior(request, context)

        return unary

    def wrap_stream(self, behavior: Callable[[Any, Any], Iterator[Any]]) -> Callable[..., Any]:
        def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            with self._handled(context):
                yield from behavior(request, context)

        return stream

    @contextmanager
    def _handled(self, context: grpc.ServicerContext) -> Iterator[None]:
        """The call's body runs inside: with its request id, deadline and
        principal bound; logged once it ends; failures answered as statuses."""
        failure: grpc.Status | None = None
        with callctx.bound(self.request_id, context.time_remaining()):
            started = time.perf_counter()
            code = "OK"
            try:
                token = principal.bind(self.resolve())
                try:
                    yield
                finally:
                    principal.unbind(token)
            except Exception as exc:
                code, failure = self._failure(exc)
            finally:
                self._finish(context, code, started)
        if failure is not None:
            context.abort_with_status(failure)

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

    def _finish(self, context: grpc.ServicerContext, code: str, started: float) -> None:
        context.set_trailing_metadata(((callctx.REQUEST_ID_KEY, self.request_id),))
        log.info(
            "call",
            extra={
                "method": self.method,
                "code": code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "caller": self.caller,
            },
        )


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
