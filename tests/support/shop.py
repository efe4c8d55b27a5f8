"""Shopping as a customer does, through the Orders API."""

from __future__ import annotations

from shopmesh.orders.v1 import orders_pb2 as pb
from shopmesh.orders.v1 import orders_pb2_grpc
from tests.support.rpc import as_customer


def cart_with(
    stub: orders_pb2_grpc.OrderServiceStub, customer_id: int, items: dict[int, int]
) -> int:
    """A new cart of `customer_id` holding `items` (product id -> quantity)."""
    who = as_customer(customer_id)
    cart = stub.CreateCart(pb.CreateCartRequest(), metadata=who).cart
    for product_id, quantity in items.items():
        stub.AddCartItem(
            pb.AddCartItemRequest(cart_id=cart.cart_id, product_id=product_id, quantity=quantity),
            metadata=who,
        )
    return cart.cart_id
