"""Notifications, wired: database, delivery channels and relay, change feed."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from meshkit import db, outbox, serving
from meshkit.config import ConfigError, Settings
from notifications import channels, delivery, handlers, tables, watch
from notifications.domain.notification import Channel
from notifications.servicer import NotificationServicer
from shopmesh.notifications.v1 import notifications_pb2, notifications_pb2_grpc

DEFAULT_PORT = 50053


def build(settings: Settings) -> serving.Service:
    engine = db.make_engine(settings.database_url, application_name="notifications")
    sessions = db.make_sessions(engine)
    hub = watch.Hub(
        engine,
        per_customer=settings.count("WATCH_STREAMS_PER_CUSTOMER", 4),
        most=settings.count("WATCH_STREAMS_MAX", 10_000),
    )
    servicer = NotificationServicer(
        handlers.NotificationHandlers(sessions, _default_channel(settings)), hub
    )

    def register(server: grpc.Server) -> Sequence[str]:
        notifications_pb2_grpc.add_NotificationServiceServicer_to_server(servicer, server)
        return [notifications_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name]

    deliver = delivery.Deliverer(
        sessions,
        {
            Channel.LOG: channels.LogChannel(),
            Channel.EMAIL: channels.EmailChannel(channels.SmtpServer.from_settings(settings)),
        },
    )
    relay = outbox.Relay.for_service(
        settings, engine, tables.DeliveryOutbox, {handlers.DELIVER: deliver}
    )
    return serving.Service(
        settings, engine, register, relays=[relay], workers=[hub.run], asynchronous=True
    )


def _default_channel(settings: Settings) -> Channel:
    name = settings.get("NOTIFY_CHANNEL", Channel.LOG.value)
    try:
        return Channel(name)
    except ValueError:
        known = ", ".join(c.value for c in Channel)
        raise ConfigError(f"NOTIFY_CHANNEL must be one of {known}, got {name!r}") from None
