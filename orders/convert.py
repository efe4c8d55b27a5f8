"""Rows -> messages of the orders.v1 contract."""

from __future__ import annotations

from itertools import groupby

from meshkit.wire import timestamp
from orders import tables
from orders.domain.lifecycle import OrderState, Progress
from orders.domain.order import Address, Order
from shopmesh.orders.v1 import orders_pb2 as pb

ORDER_STATES = {
    OrderState.CONFIRMED: pb.ORDER_STATE_CONFIRMED,
    OrderState.SHIPPED: pb.ORDER_STATE_SHIPPED,
    OrderState.DELIVERED: pb.ORDER_STATE_DELIVERED,
    OrderState.CANCELLED: pb.ORDER_STATE_CANCELLED,
}
ORDER_STATE_NAMES = {code: state for state, code in ORDER_STATES.items()}
PROGRESS = {
    pb.SHIPMENT_PROGRESS_LABEL_CREATED: Progress.LABEL_CREATED,
    pb.SHIPMENT_PROGRESS_IN_TRANSIT: Progress.IN_TRANSIT,
    pb.SHIPMENT_PROGRESS_DELIVERED: Progress.DELIVERED,
    pb.SHIPMENT_PROGRESS_CANCELLED: Progress.CANCELLED,
}


def money(amount_minor: int, currency: str) -> pb.Money:
    return pb.Money(amount_minor=amount_minor, currency_code=currency)


def product(row: tables.Product) -> pb.Product:
    return pb.Product(
        product_id=row.id,
        sku=row.sku,
        name=row.name,
        price=money(row.price_minor, row.currency_code),
    )


def cart(row: tables.Cart) -> pb.Cart:
    currency = row.items[0].product.currency_code if row.items else "EUR"
    return pb.Cart(
        cart_id=row.id,
        customer_id=row.customer_id,
        state=pb.CART_STATE_OPEN if row.state == "open" else pb.CART_STATE_ORDERED,
        items=[
            pb.CartItem(
                product_id=item.product_id,
                sku=item.product.sku,
                name=item.product.name,
                quantity=item.quantity,
                unit_price=money(item.product.price_minor, item.product.currency_code),
            )
            for item in row.items
        ],
        total=money(sum(i.product.price_minor * i.quantity for i in row.items), currency),
        order_id=row.order_id or 0,
        create_time=timestamp(row.create_time),
        update_time=timestamp(row.update_time),
    )


def address(value: Address) -> pb.Address:
    return pb.Address(**vars(value))


def order(value: Order) -> pb.Order:
    currency = value.currency_code
    return pb.Order(
        order_id=value.order_id,
        customer_id=value.customer_id,
        shopping_cart_id=value.cart_id,
        state=ORDER_STATES[value.state],
        lines=[
            pb.OrderLine(
                product_id=line.product_id,
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                unit_price=money(line.unit_price_minor, currency),
                line_total=money(line.unit_price_minor * line.quantity, currency),
            )
            for line in value.lines
        ],
        fulfillments=[
            pb.Fulfillment(
                warehouse_id=warehouse_id,
                warehouse_name=allocations[0].warehouse_name,
                items=[
                    pb.FulfillmentItem(product_id=a.product_id, quantity=a.quantity)
                    for a in allocations
                ],
            )
            for warehouse_id, group in groupby(value.allocations, key=lambda a: a.warehouse_id)
            for allocations in [list(group)]
        ],
        total=money(value.total_minor, currency),
        shipping_address=address(value.address),
        etag=value.etag,
        create_time=timestamp(value.create_time),
        update_time=timestamp(value.update_time),
    )


def address_input(message: pb.Address) -> Address:
    return Address(
        recipient=message.recipient,
        line1=message.line1,
        city=message.city,
        postal_code=message.postal_code,
        country_code=message.country_code.upper(),
        latitude=message.latitude,
        longitude=message.longitude,
    )
