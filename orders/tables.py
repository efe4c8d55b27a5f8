"""Tables Orders owns and alone writes: customers, the catalogue, warehouses
and their stock, carts, orders and the orders outbox."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from meshkit.db import Base, Timestamps
from meshkit.outbox import OutboxRow


class AddressColumns:
    recipient: Mapped[str] = mapped_column(String(200))
    line1: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    postal_code: Mapped[str] = mapped_column(String(20))
    country_code: Mapped[str] = mapped_column(String(2))
    latitude: Mapped[float]
    longitude: Mapped[float]


class Customer(AddressColumns, Timestamps, Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    phone: Mapped[str] = mapped_column(String(40))


class Product(Timestamps, Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency_code: Mapped[str] = mapped_column(String(3))

    __table_args__ = (CheckConstraint("price_minor >= 0", name="price_not_negative"),)


class Warehouse(Timestamps, Base):
    __tablename__ = "warehouses"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    latitude: Mapped[float]
    longitude: Mapped[float]


class Stock(Base):
    """Units free to reserve. Reserving an order subtracts from it; the CHECK
    is the last line against overselling."""

    __tablename__ = "stock"

    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    available: Mapped[int]

    __table_args__ = (
        CheckConstraint("available >= 0", name="available_not_negative"),
        Index("ix_stock_product_id", "product_id"),
    )


class Cart(Timestamps, Base):
    __tablename__ = "carts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="open")
    order_id: Mapped[int | None] = mapped_column(BigInteger)
    items: Mapped[list[CartItem]] = relationship(
        order_by="CartItem.product_id", cascade="all, delete-orphan", lazy="selectin"
    )


class CartItem(Base):
    __tablename__ = "cart_items"

    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    quantity: Mapped[int]
    product: Mapped[Product] = relationship(lazy="joined")

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)


class Order(AddressColumns, Timestamps, Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    # One order per cart: retrying a create for the same cart finds this one.
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id"), unique=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    currency_code: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    # Bumped on every write; the etag is derived from it.
    version: Mapped[int] = mapped_column(default=1)

    lines: Mapped[list[OrderLine]] = relationship(
        order_by="OrderLine.product_id", cascade="all, delete-orphan", lazy="selectin"
    )
    allocations: Mapped[list[Allocation]] = relationship(
        order_by="[Allocation.warehouse_id, Allocation.product_id]",
        cascade="all, delete-orphan",
        lazy="selectin",
    )
    shipments: Mapped[list[OrderShipment]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        Index("uq_orders_customer_request", "customer_id", "request_id", unique=True),
        Index("ix_orders_customer_id_id", "customer_id", "id"),
    )


class OrderLine(Base):
    """A product in an order, with its price as it was when ordered."""

    __tablename__ = "order_lines"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int]
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)


class Allocation(Base):
    """Stock reserved for an order in one warehouse."""

    __tablename__ = "order_allocations"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    quantity: Mapped[int]
    warehouse: Mapped[Warehouse] = relationship(lazy="joined")


class OrderShipment(Base):
    """Orders' own record of how far each of its shipments has got, as
    Shipping reports it; the order's state is derived from these."""

    __tablename__ = "order_shipments"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    shipment_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    progress: Mapped[str] = mapped_column(String(16))


class OrdersOutbox(OutboxRow, Base):
    __tablename__ = "orders_outbox"
