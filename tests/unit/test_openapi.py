"""generated/openapi.json, the document the edge serves at /docs, describes every
REST route Envoy transcodes, in the JSON Envoy speaks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from google.api import annotations_pb2, field_behavior_pb2
from google.protobuf import descriptor_pb2
from openapi_spec_validator import validate

from tools import gen_openapi

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR_SET = ROOT / "generated" / "shopmesh.binpb"
OPENAPI = ROOT / "generated" / "openapi.json"

FD = descriptor_pb2.FieldDescriptorProto
INT64_TYPES = {FD.TYPE_INT64, FD.TYPE_UINT64, FD.TYPE_SINT64, FD.TYPE_FIXED64, FD.TYPE_SFIXED64}
ERROR_STATUSES = {"400", "401", "403", "404", "409", "429", "503"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(OPENAPI.read_text())


@pytest.fixture(scope="module")
def descriptors() -> descriptor_pb2.FileDescriptorSet:
    return descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, by_method in document["paths"].items()
        for method, operation in by_method.items()
    }


def body_schema(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return resolve(document, schema)


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def message_types(
    descriptors: descriptor_pb2.FileDescriptorSet,
) -> dict[str, descriptor_pb2.DescriptorProto]:
    found = {}

    def add(scope: str, message: descriptor_pb2.DescriptorProto) -> None:
        found[f"{scope}.{message.name}"] = message
        for nested in message.nested_type:
            add(f"{scope}.{message.name}", nested)

    for file in descriptors.file:
        for message in file.message_type:
            add(file.package, message)
    return found


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_http_binding_in_the_descriptor_set_is_an_operation(
    document: dict[str, Any], descriptors: descriptor_pb2.FileDescriptorSet
) -> None:
    bindings = []
    for file in descriptors.file:
        for service in file.service:
            for method in service.method:
                if method.options.HasExtension(annotations_pb2.http):
                    rule = method.options.Extensions[annotations_pb2.http]
                    for item in [rule, *rule.additional_bindings]:
                        verb = item.WhichOneof("pattern")
                        assert verb is not None
                        path = re.sub(r"\{([^}=]+)(=[^}]*)?\}", r"{\1}", getattr(item, verb))
                        bindings.append((verb.upper(), path))
    documented = operations(document)

    assert len(bindings) > 4  # the four seed routes and the /v1 ones
    assert sorted(bindings) == sorted(documented)
    ids = [op["operationId"] for op in documented.values()]
    assert len(ids) == len(set(ids))
    assert "OrderService_CreateOrder" in ids
    assert documented[("POST", "/orders/request")]["operationId"] == "OrderService_CreateOrder_2"


@pytest.mark.parametrize(
    ("method", "path", "fields"),
    [
        ("GET", "/orders", None),
        ("POST", "/orders/request", {"shopping_cart_id"}),
        ("POST", "/api/shipping/receive", {"order_id", "customer_id"}),
        ("POST", "/notifications/send", {"customer_id", "message"}),
    ],
)
def test_the_seed_routes_are_documented_with_their_bodies(
    document: dict[str, Any], method: str, path: str, fields: set[str] | None
) -> None:
    operation = operations(document)[(method, path)]
    if fields is None:
        assert "requestBody" not in operation
        query = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
        assert {"customer_id", "page_size", "page_token", "state"} <= query
    else:
        body = body_schema(document, operation)
        assert fields <= set(body["properties"])
        assert fields <= set(body["required"])


def test_int64_fields_are_strings(
    document: dict[str, Any], descriptors: descriptor_pb2.FileDescriptorSet
) -> None:
    schemas = document["components"]["schemas"]
    checked = 0
    for name, message in message_types(descriptors).items():
        if name not in schemas:
            continue
        for field in message.field:
            if field.type in INT64_TYPES:
                schema = schemas[name]["properties"][field.name]
                if field.label == FD.LABEL_REPEATED:
                    schema = schema["items"]
                assert schema["type"] == "string", f"{name}.{field.name}"
                assert schema["format"] in ("int64", "uint64")
                checked += 1
    assert checked > 10
    get_order = operations(document)[("GET", "/v1/orders/{order_id}")]
    assert get_order["parameters"][0]["schema"]["type"] == "string"


def test_field_behavior_becomes_read_only_and_required(
    document: dict[str, Any], descriptors: descriptor_pb2.FileDescriptorSet
) -> None:
    schemas = document["components"]["schemas"]
    for name, message in message_types(descriptors).items():
        if name not in schemas:
            continue
        for field in message.field:
            behaviors = field.options.Extensions[field_behavior_pb2.field_behavior]
            schema = schemas[name]["properties"][field.name]
            assert schema.get("readOnly", False) == (field_behavior_pb2.OUTPUT_ONLY in behaviors), (
                f"{name}.{field.name}"
            )
            assert (field.name in schemas[name].get("required", [])) == (
                field_behavior_pb2.REQUIRED in behaviors
            ), f"{name}.{field.name}"


def test_json_mapping_of_enums_timestamps_and_field_masks(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    order = schemas["shopmesh.orders.v1.Order"]["properties"]
    assert resolve(document, order["state"])["enum"][1] == "ORDER_STATE_CONFIRMED"
    assert order["create_time"]["type"] == "string"
    assert order["create_time"]["format"] == "date-time"
    update = operations(document)[("PATCH", "/v1/orders/{order.order_id}")]
    parameters = {p["name"]: p for p in update["parameters"]}
    assert parameters["order.order_id"]["in"] == "path"
    assert parameters["update_mask"]["in"] == "query"
    assert parameters["update_mask"]["schema"]["type"] == "string"
    # The body is the `order` field, less the field the path already carries.
    assert "order_id" not in body_schema(document, update)["properties"]
    assert "lines" in body_schema(document, update)["properties"]


def test_server_streaming_is_a_json_array(document: dict[str, Any]) -> None:
    watch = operations(document)[("GET", "/v1/customers/{customer_id}/notifications:watch")]
    ok = watch["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["type"] == "array"
    assert "stream" in ok["description"]


def test_errors_share_one_schema_and_bearer_auth_is_global(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert error["properties"]["code"]["type"] == "integer"
    assert error["properties"]["message"]["type"] == "string"
    assert error["properties"]["details"]["items"]["properties"]["@type"]["type"] == "string"
    for name, response in document["components"]["responses"].items():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, name
    for key, operation in operations(document).items():
        assert {"default", *ERROR_STATUSES} <= set(operation["responses"]), key
        assert "security" not in operation, key  # nothing opts out of the global scheme

    assert document["security"] == [{"bearer": []}]
    bearer = document["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"], bearer["bearerFormat"]) == ("http", "bearer", "JWT")


def test_generation_is_deterministic() -> None:
    descriptors = gen_openapi.load(DESCRIPTOR_SET)
    first = gen_openapi.render(gen_openapi.build(descriptors))
    assert first == gen_openapi.render(gen_openapi.build(descriptors))
    assert first == OPENAPI.read_text(), "run `make protos`"
    assert first.endswith("}\n")
