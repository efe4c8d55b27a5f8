import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CartState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CART_STATE_UNSPECIFIED: _ClassVar[CartState]
    CART_STATE_OPEN: _ClassVar[CartState]
    CART_STATE_ORDERED: _ClassVar[CartState]

class OrderState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORDER_STATE_UNSPECIFIED: _ClassVar[OrderState]
    ORDER_STATE_CONFIRMED: _ClassVar[OrderState]
    ORDER_STATE_SHIPPED: _ClassVar[OrderState]
    ORDER_STATE_DELIVERED: _ClassVar[OrderState]
    ORDER_STATE_CANCELLED: _ClassVar[OrderState]

class ShipmentProgress(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHIPMENT_PROGRESS_UNSPECIFIED: _ClassVar[ShipmentProgress]
    SHIPMENT_PROGRESS_LABEL_CREATED: _ClassVar[ShipmentProgress]
    SHIPMENT_PROGRESS_IN_TRANSIT: _ClassVar[ShipmentProgress]
    SHIPMENT_PROGRESS_DELIVERED: _ClassVar[ShipmentProgress]
    SHIPMENT_PROGRESS_CANCELLED: _ClassVar[ShipmentProgress]
CART_STATE_UNSPECIFIED: CartState
CART_STATE_OPEN: CartState
CART_STATE_ORDERED: CartState
ORDER_STATE_UNSPECIFIED: OrderState
ORDER_STATE_CONFIRMED: OrderState
ORDER_STATE_SHIPPED: OrderState
ORDER_STATE_DELIVERED: OrderState
ORDER_STATE_CANCELLED: OrderState
SHIPMENT_PROGRESS_UNSPECIFIED: ShipmentProgress
SHIPMENT_PROGRESS_LABEL_CREATED: ShipmentProgress
SHIPMENT_PROGRESS_IN_TRANSIT: ShipmentProgress
SHIPMENT_PROGRESS_DELIVERED: ShipmentProgress
SHIPMENT_PROGRESS_CANCELLED: ShipmentProgress

class Money(_message.Message):
    __slots__ = ("amount_minor", "currency_code")
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_CODE_FIELD_NUMBER: _ClassVar[int]
    amount_minor: int
    currency_code: str
    def __init__(self, amount_minor: _Optional[int] = ..., currency_code: _Optional[str] = ...) -> None: ...

class Product(_message.Message):
    __slots__ = ("product_id", "sku", "name", "price")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRICE_FIELD_NUMBER: _ClassVar[int]
    product_id: int
    sku: str
    name: str
    price: Money
    def __init__(self, product_id: _Optional[int] = ..., sku: _Optional[str] = ..., name: _Optional[str] = ..., price: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class Address(_message.Message):
    __slots__ = ("recipient", "line1", "city", "postal_code", "country_code", "latitude", "longitude")
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    LINE1_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    POSTAL_CODE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    recipient: str
    line1: str
    city: str
    postal_code: str
    country_code: str
    latitude: float
    longitude: float
    def __init__(self, recipient: _Optional[str] = ..., line1: _Optional[str] = ..., city: _Optional[str] = ..., postal_code: _Optional[str] = ..., country_code: _Optional[str] = ..., latitude: _Optional[float] = ..., longitude: _Optional[float] = ...) -> None: ...

class CartItem(_message.Message):
    __slots__ = ("product_id", "sku", "name", "quantity", "unit_price")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    product_id: int
    sku: str
    name: str
    quantity: int
    unit_price: Money
    def __init__(self, product_id: _Optional[int] = ..., sku: _Optional[str] = ..., name: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class Cart(_message.Message):
    __slots__ = ("cart_id", "customer_id", "state", "items", "total", "order_id", "create_time", "update_time")
    CART_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    cart_id: int
    customer_id: int
    state: CartState
    items: _containers.RepeatedCompositeFieldContainer[CartItem]
    total: Money
    order_id: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, cart_id: _Optional[int] = ..., customer_id: _Optional[int] = ..., state: _Optional[_Union[CartState, str]] = ..., items: _Optional[_Iterable[_Union[CartItem, _Mapping]]] = ..., total: _Optional[_Union[Money, _Mapping]] = ..., order_id: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class OrderLine(_message.Message):
    __slots__ = ("product_id", "sku", "name", "quantity", "unit_price", "line_total")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    SKU_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    LINE_TOTAL_FIELD_NUMBER: _ClassVar[int]
    product_id: int
    sku: str
    name: str
    quantity: int
    unit_price: Money
    line_total: Money
    def __init__(self, product_id: _Optional[int] = ..., sku: _Optional[str] = ..., name: _Optional[str] = ..., quantity: _Optional[int] = ..., unit_price: _Optional[_Union[Money, _Mapping]] = ..., line_total: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class Fulfillment(_message.Message):
    __slots__ = ("warehouse_id", "warehouse_name", "items")
    WAREHOUSE_ID_FIELD_NUMBER: _ClassVar[int]
    WAREHOUSE_NAME_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    warehouse_id: int
    warehouse_name: str
    items: _containers.RepeatedCompositeFieldContainer[FulfillmentItem]
    def __init__(self, warehouse_id: _Optional[int] = ..., warehouse_name: _Optional[str] = ..., items: _Optional[_Iterable[_Union[FulfillmentItem, _Mapping]]] = ...) -> None: ...

class FulfillmentItem(_message.Message):
    __slots__ = ("product_id", "quantity")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    product_id: int
    quantity: int
    def __init__(self, product_id: _Optional[int] = ..., quantity: _Optional[int] = ...) -> None: ...

class Order(_message.Message):
    __slots__ = ("order_id", "customer_id", "shopping_cart_id", "state", "lines", "fulfillments", "total", "shipping_address", "etag", "create_time", "update_time")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    SHOPPING_CART_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    FULFILLMENTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    SHIPPING_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    customer_id: int
    shopping_cart_id: int
    state: OrderState
    lines: _containers.RepeatedCompositeFieldContainer[OrderLine]
    fulfillments: _containers.RepeatedCompositeFieldContainer[Fulfillment]
    total: Money
    shipping_address: Address
    etag: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, order_id: _Optional[int] = ..., customer_id: _Optional[int] = ..., shopping_cart_id: _Optional[int] = ..., state: _Optional[_Union[OrderState, str]] = ..., lines: _Optional[_Iterable[_Union[OrderLine, _Mapping]]] = ..., fulfillments: _Optional[_Iterable[_Union[Fulfillment, _Mapping]]] = ..., total: _Optional[_Union[Money, _Mapping]] = ..., shipping_address: _Optional[_Union[Address, _Mapping]] = ..., etag: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListProductsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProductsResponse(_message.Message):
    __slots__ = ("products", "next_page_token")
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    products: _containers.RepeatedCompositeFieldContainer[Product]
    next_page_token: str
    def __init__(self, products: _Optional[_Iterable[_Union[Product, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateCartRequest(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: int
    def __init__(self, customer_id: _Optional[int] = ...) -> None: ...

class CreateCartResponse(_message.Message):
    __slots__ = ("cart",)
    CART_FIELD_NUMBER: _ClassVar[int]
    cart: Cart
    def __init__(self, cart: _Optional[_Union[Cart, _Mapping]] = ...) -> None: ...

class GetCartRequest(_message.Message):
    __slots__ = ("cart_id",)
    CART_ID_FIELD_NUMBER: _ClassVar[int]
    cart_id: int
    def __init__(self, cart_id: _Optional[int] = ...) -> None: ...

class GetCartResponse(_message.Message):
    __slots__ = ("cart",)
    CART_FIELD_NUMBER: _ClassVar[int]
    cart: Cart
    def __init__(self, cart: _Optional[_Union[Cart, _Mapping]] = ...) -> None: ...

class AddCartItemRequest(_message.Message):
    __slots__ = ("cart_id", "product_id", "quantity")
    CART_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    cart_id: int
    product_id: int
    quantity: int
    def __init__(self, cart_id: _Optional[int] = ..., product_id: _Optional[int] = ..., quantity: _Optional[int] = ...) -> None: ...

class AddCartItemResponse(_message.Message):
    __slots__ = ("cart",)
    CART_FIELD_NUMBER: _ClassVar[int]
    cart: Cart
    def __init__(self, cart: _Optional[_Union[Cart, _Mapping]] = ...) -> None: ...

class RemoveCartItemRequest(_message.Message):
    __slots__ = ("cart_id", "product_id")
    CART_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    cart_id: int
    product_id: int
    def __init__(self, cart_id: _Optional[int] = ..., product_id: _Optional[int] = ...) -> None: ...

class RemoveCartItemResponse(_message.Message):
    __slots__ = ("cart",)
    CART_FIELD_NUMBER: _ClassVar[int]
    cart: Cart
    def __init__(self, cart: _Optional[_Union[Cart, _Mapping]] = ...) -> None: ...

class CreateOrderRequest(_message.Message):
    __slots__ = ("shopping_cart_id", "request_id", "shipping_address")
    SHOPPING_CART_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SHIPPING_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    shopping_cart_id: int
    request_id: str
    shipping_address: Address
    def __init__(self, shopping_cart_id: _Optional[int] = ..., request_id: _Optional[str] = ..., shipping_address: _Optional[_Union[Address, _Mapping]] = ...) -> None: ...

class CreateOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class GetOrderRequest(_message.Message):
    __slots__ = ("order_id",)
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    def __init__(self, order_id: _Optional[int] = ...) -> None: ...

class GetOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class ListOrdersRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "customer_id", "state")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    customer_id: int
    state: OrderState
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., customer_id: _Optional[int] = ..., state: _Optional[_Union[OrderState, str]] = ...) -> None: ...

class ListOrdersResponse(_message.Message):
    __slots__ = ("orders", "next_page_token")
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    next_page_token: str
    def __init__(self, orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateOrderRequest(_message.Message):
    __slots__ = ("order", "update_mask")
    ORDER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    order: Order
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class DeleteOrderRequest(_message.Message):
    __slots__ = ("order_id", "etag")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    etag: str
    def __init__(self, order_id: _Optional[int] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteOrderResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class RecordShipmentProgressRequest(_message.Message):
    __slots__ = ("order_id", "shipment_id", "progress")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    SHIPMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    shipment_id: int
    progress: ShipmentProgress
    def __init__(self, order_id: _Optional[int] = ..., shipment_id: _Optional[int] = ..., progress: _Optional[_Union[ShipmentProgress, str]] = ...) -> None: ...

class RecordShipmentProgressResponse(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: Order
    def __init__(self, order: _Optional[_Union[Order, _Mapping]] = ...) -> None: ...

class BatchRecordShipmentProgressRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[RecordShipmentProgressRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[RecordShipmentProgressRequest, _Mapping]]] = ...) -> None: ...

class BatchRecordShipmentProgressResponse(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    def __init__(self, orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ...) -> None: ...

class BatchGetOrdersRequest(_message.Message):
    __slots__ = ("order_ids",)
    ORDER_IDS_FIELD_NUMBER: _ClassVar[int]
    order_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, order_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class BatchGetOrdersResponse(_message.Message):
    __slots__ = ("orders",)
    ORDERS_FIELD_NUMBER: _ClassVar[int]
    orders: _containers.RepeatedCompositeFieldContainer[Order]
    def __init__(self, orders: _Optional[_Iterable[_Union[Order, _Mapping]]] = ...) -> None: ...
