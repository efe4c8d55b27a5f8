"""NotificationService over gRPC: check the request, call the handler, answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from meshkit import outbox, principal
from meshkit.errors import Violations
from meshkit.principal import Role
from notifications import convert
from notifications.domain.notification import (
    MAX_MESSAGE,
    MAX_REQUEST_ID,
    MAX_SUBJECT,
    is_single_line,
    is_storable,
)
from notifications.handlers import Draft, NotificationHandlers
from notifications.watch import Hub
from shopmesh.notifications.v1 import notifications_pb2 as pb
from shopmesh.notifications.v1 import notifications_pb2_grpc


class NotificationServicer(notifications_pb2_grpc.NotificationServiceServicer):
    def __init__(self, handlers: NotificationHandlers, hub: Hub) -> None:
        self._handlers = handlers
        self._hub = hub

    def SendNotification(self, request: pb.SendNotificationRequest, context: Any) -> Any:
        # Before looking at the input: a caller who may not send learns nothing from it.
        principal.current().require(Role.OPS, Role.SERVICE)
        check = Violations()
        draft = _checked_draft(check, request)
        check.raise_if_any()
        stored = self._handlers.send(draft)
        return pb.SendNotificationResponse(notification=convert.notification(stored))

    def BatchSendNotifications(
        self, request: pb.BatchSendNotificationsRequest, context: Any
    ) -> Any:
        principal.current().require(Role.SERVICE)
        check = Violations()
        drafts = [
            _checked_draft(check, one, at)
            for at, one in check.entries("requests", request.requests, outbox.MAX_BATCH)
        ]
        check.raise_if_any()
        stored = self._handlers.send_many(drafts)
        return pb.BatchSendNotificationsResponse(
            notifications=[convert.notification(row) for row in stored]
        )

    def ListNotifications(self, request: pb.ListNotificationsRequest, context: Any) -> Any:
        check = Violations()
        check.require(request.customer_id > 0, "customer_id", "must be a positive id")
        check.require(request.page_size >= 0, "page_size", "must not be negative")
        check.raise_if_any()
        page = self._handlers.list_notifications(
            principal.current(), request.customer_id, request.page_size, request.page_token
        )
        return pb.ListNotificationsResponse(
            notifications=[convert.notification(n) for n in page.items],
            next_page_token=page.next_token,
        )

    async def WatchNotifications(
        self, request: pb.WatchNotificationsRequest, context: Any
    ) -> AsyncIterator[pb.WatchNotificationsResponse]:
        # A coroutine on the grpc.aio server (meshkit/servers.py): thousands
        # may wait at once. Database reads run in threads.
        check = Violations()
        check.require(request.customer_id > 0, "customer_id", "must be a positive id")
        check.raise_if_any()
        customer_id = request.customer_id
        await asyncio.to_thread(self._handlers.check_may_watch, principal.current(), customer_id)
        async with self._hub.subscribe(customer_id) as changes:
            # Headers go out once the subscription is in place: a client that
            # waits for them misses no change made afterwards.
            await context.send_initial_metadata(())
            async for notification_id in changes.follow():
                row = await asyncio.to_thread(
                    self._handlers.notification, customer_id, notification_id
                )
                if row is not None:
                    yield pb.WatchNotificationsResponse(notification=convert.notification(row))


def _checked_draft(check: Violations, request: pb.SendNotificationRequest, at: str = "") -> Draft:
    """The request as a Draft, its problems noted in `check` under field
    paths prefixed with `at`."""
    check.require(request.customer_id > 0, f"{at}customer_id", "must be a positive id")
    check.require(
        bool(request.message.strip()) and len(request.message) <= MAX_MESSAGE,
        f"{at}message",
        f"required, at most {MAX_MESSAGE} characters",
    )
    check.require(
        len(request.subject) <= MAX_SUBJECT, f"{at}subject", f"at most {MAX_SUBJECT} characters"
    )
    check.require(is_single_line(request.subject), f"{at}subject", "must be a single line")
    check.require(
        request.channel == pb.CHANNEL_UNSPECIFIED or request.channel in convert.CHANNEL_NAMES,
        f"{at}channel",
        "unknown channel",
    )
    check.require(request.order_id >= 0, f"{at}order_id", "must not be negative")
    check.require(
        len(request.request_id) <= MAX_REQUEST_ID,
        f"{at}request_id",
        f"at most {MAX_REQUEST_ID} characters",
    )
    for name in ("message", "subject", "request_id"):
        check.require(
            is_storable(getattr(request, name)), f"{at}{name}", "must not contain NUL characters"
        )
    return Draft(
        customer_id=request.customer_id,
        message=request.message,
        subject=request.subject,
        channel=convert.CHANNEL_NAMES.get(request.channel),
        order_id=request.order_id,
        request_id=request.request_id,
    )
