"""Tables Notifications owns and alone writes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, Text, column, func, table
from sqlalchemy.orm import Mapped, mapped_column

from meshkit.db import Base
from meshkit.outbox import OutboxRow


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    subject: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16))
    delivery_state: Mapped[str] = mapped_column(String(16), default="pending")
    order_id: Mapped[int | None] = mapped_column(BigInteger)
    # The sender's idempotency key (the outbox event id for internal senders).
    request_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    create_time: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    deliver_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_notifications_customer_id_id", "customer_id", "id"),)


class DeliveryOutbox(OutboxRow, Base):
    """Deliveries still to make; the relay sends each through its channel."""

    __tablename__ = "notifications_outbox"


# Read-only view of Orders' customers, for the e-mail address. Not mapped into
# the metadata: Notifications never writes it and migrations do not own it here.
customers = table("customers", column("id"), column("email"), column("name"))
