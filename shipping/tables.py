"""Tables Shipping owns and alone writes."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from meshkit.db import Base, Timestamps
from meshkit.outbox import OutboxRow


class Shipment(Timestamps, Base):
    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Orders' ids; no foreign key, Shipping does not own those rows.
    order_id: Mapped[int] = mapped_column(BigInteger)
    customer_id: Mapped[int] = mapped_column(BigInteger)
    warehouse_id: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    tracking_number: Mapped[str] = mapped_column(String(32), unique=True)
    version: Mapped[int] = mapped_column(default=1)
    items: Mapped[list[ShipmentItem]] = relationship(
        order_by="ShipmentItem.product_id", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        # At most one live shipment per order and warehouse: this is what makes
        # order alerts idempotent even when two arrive at once.
        Index(
            "uq_shipments_live_order_warehouse",
            "order_id",
            "warehouse_id",
            unique=True,
            postgresql_where=text("state <> 'cancelled'"),
        ),
        Index("ix_shipments_order_id", "order_id"),
    )


class ShipmentItem(Base):
    __tablename__ = "shipment_items"

    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    quantity: Mapped[int]


class ShippingOutbox(OutboxRow, Base):
    __tablename__ = "shipping_outbox"
