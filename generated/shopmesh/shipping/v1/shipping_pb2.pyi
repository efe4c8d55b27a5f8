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

class ShipmentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHIPMENT_STATE_UNSPECIFIED: _ClassVar[ShipmentState]
    SHIPMENT_STATE_LABEL_CREATED: _ClassVar[ShipmentState]
    SHIPMENT_STATE_IN_TRANSIT: _ClassVar[ShipmentState]
    SHIPMENT_STATE_DELIVERED: _ClassVar[ShipmentState]
    SHIPMENT_STATE_CANCELLED: _ClassVar[ShipmentState]
SHIPMENT_STATE_UNSPECIFIED: ShipmentState
SHIPMENT_STATE_LABEL_CREATED: ShipmentState
SHIPMENT_STATE_IN_TRANSIT: ShipmentState
SHIPMENT_STATE_DELIVERED: ShipmentState
SHIPMENT_STATE_CANCELLED: ShipmentState

class ShipmentItem(_message.Message):
    __slots__ = ("product_id", "quantity")
    PRODUCT_ID_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    product_id: int
    quantity: int
    def __init__(self, product_id: _Optional[int] = ..., quantity: _Optional[int] = ...) -> None: ...

class Shipment(_message.Message):
    __slots__ = ("shipment_id", "order_id", "customer_id", "warehouse_id", "state", "items", "tracking_number", "etag", "create_time", "update_time")
    SHIPMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    WAREHOUSE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    TRACKING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    shipment_id: int
    order_id: int
    customer_id: int
    warehouse_id: int
    state: ShipmentState
    items: _containers.RepeatedCompositeFieldContainer[ShipmentItem]
    tracking_number: str
    etag: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, shipment_id: _Optional[int] = ..., order_id: _Optional[int] = ..., customer_id: _Optional[int] = ..., warehouse_id: _Optional[int] = ..., state: _Optional[_Union[ShipmentState, str]] = ..., items: _Optional[_Iterable[_Union[ShipmentItem, _Mapping]]] = ..., tracking_number: _Optional[str] = ..., etag: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ReceiveOrderAlertRequest(_message.Message):
    __slots__ = ("order_id", "customer_id")
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    order_id: int
    customer_id: int
    def __init__(self, order_id: _Optional[int] = ..., customer_id: _Optional[int] = ...) -> None: ...

class ReceiveOrderAlertResponse(_message.Message):
    __slots__ = ("shipments",)
    SHIPMENTS_FIELD_NUMBER: _ClassVar[int]
    shipments: _containers.RepeatedCompositeFieldContainer[Shipment]
    def __init__(self, shipments: _Optional[_Iterable[_Union[Shipment, _Mapping]]] = ...) -> None: ...

class BatchReceiveOrderAlertsRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[ReceiveOrderAlertRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[ReceiveOrderAlertRequest, _Mapping]]] = ...) -> None: ...

class BatchReceiveOrderAlertsResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[ReceiveOrderAlertResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[ReceiveOrderAlertResponse, _Mapping]]] = ...) -> None: ...

class GetShipmentRequest(_message.Message):
    __slots__ = ("shipment_id",)
    SHIPMENT_ID_FIELD_NUMBER: _ClassVar[int]
    shipment_id: int
    def __init__(self, shipment_id: _Optional[int] = ...) -> None: ...

class GetShipmentResponse(_message.Message):
    __slots__ = ("shipment",)
    SHIPMENT_FIELD_NUMBER: _ClassVar[int]
    shipment: Shipment
    def __init__(self, shipment: _Optional[_Union[Shipment, _Mapping]] = ...) -> None: ...

class ListShipmentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "order_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ORDER_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    order_id: int
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., order_id: _Optional[int] = ...) -> None: ...

class ListShipmentsResponse(_message.Message):
    __slots__ = ("shipments", "next_page_token")
    SHIPMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    shipments: _containers.RepeatedCompositeFieldContainer[Shipment]
    next_page_token: str
    def __init__(self, shipments: _Optional[_Iterable[_Union[Shipment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateShipmentRequest(_message.Message):
    __slots__ = ("shipment", "update_mask")
    SHIPMENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    shipment: Shipment
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, shipment: _Optional[_Union[Shipment, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateShipmentResponse(_message.Message):
    __slots__ = ("shipment",)
    SHIPMENT_FIELD_NUMBER: _ClassVar[int]
    shipment: Shipment
    def __init__(self, shipment: _Optional[_Union[Shipment, _Mapping]] = ...) -> None: ...
