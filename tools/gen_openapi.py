"""Write the OpenAPI 3.1 document of the edge's REST API from the descriptor set.

Envoy's gRPC-JSON transcoder serves every `google.api.http` binding of the
protos; this document describes exactly those routes, read from the same
descriptor set Envoy loads (`generated/shopmesh.binpb`), so the two cannot
drift. No PyPI or npm package reads `google.api.http` annotations (those
generators are Go), hence this module.

Schemas follow the proto3 JSON mapping as Envoy prints it with
`preserve_proto_field_names: true`: snake_case names, 64-bit integers as
strings, enums by name, `Timestamp` as an RFC 3339 string, `FieldMask` as one
comma-separated string. 64-bit integers are `type: string, format: int64`
(the convention grpc-gateway also uses) rather than a `oneOf` with `integer`:
the transcoder accepts a JSON number on input too, which the info section
says once instead of every field doubling its schema.

Bindings map to operations as in `google/api/http.proto`: path variables
(`{order.order_id}`) become path parameters named by the field path; with
`body: "*"` the request message less the path fields is the body; with
`body: "order"` that field is the body; every other request field is a query
parameter, nested message fields by dotted path.

`tools/gen_protos.py` calls `write()` for `make protos`, so the staleness test
of `generated/` covers `generated/openapi.json` too. By hand:
`python tools/gen_openapi.py [--descriptor-set FILE] [--out FILE]`.
"""

from __future__ import annotations

import argparse
import json
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api import annotations_pb2, field_behavior_pb2, http_pb2
from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parent.parent
OPENAPI_FILE = "openapi.json"

Schema = dict[str, Any]
FD = descriptor_pb2.FieldDescriptorProto
FieldBehavior = field_behavior_pb2.FieldBehavior

# Paths into FileDescriptorProto, as SourceCodeInfo.Location.path spells them.
_PACKAGE, _MESSAGE, _ENUM, _SERVICE = 2, 4, 5, 6
_MESSAGE_FIELD, _MESSAGE_NESTED, _MESSAGE_ENUM = 2, 3, 4
_ENUM_VALUE, _SERVICE_METHOD = 2, 2

_INT64 = {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}
_UINT64 = {"type": "string", "format": "uint64", "pattern": "^[0-9]+$"}
_SCALARS: dict[int, Schema] = {
    FD.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FD.TYPE_FLOAT: {"type": "number", "format": "float"},
    FD.TYPE_INT64: _INT64,
    FD.TYPE_SINT64: _INT64,
    FD.TYPE_SFIXED64: _INT64,
    FD.TYPE_UINT64: _UINT64,
    FD.TYPE_FIXED64: _UINT64,
    FD.TYPE_INT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FD.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1},
    FD.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1},
    FD.TYPE_BOOL: {"type": "boolean"},
    FD.TYPE_STRING: {"type": "string"},
    FD.TYPE_BYTES: {"type": "string", "format": "byte", "description": "Base64."},
}
_WRAPPERS = {
    "google.protobuf.DoubleValue": FD.TYPE_DOUBLE,
    "google.protobuf.FloatValue": FD.TYPE_FLOAT,
    "google.protobuf.Int64Value": FD.TYPE_INT64,
    "google.protobuf.UInt64Value": FD.TYPE_UINT64,
    "google.protobuf.Int32Value": FD.TYPE_INT32,
    "google.protobuf.UInt32Value": FD.TYPE_UINT32,
    "google.protobuf.BoolValue": FD.TYPE_BOOL,
    "google.protobuf.StringValue": FD.TYPE_STRING,
    "google.protobuf.BytesValue": FD.TYPE_BYTES,
}
# Well-known types whose JSON form is a plain string or number: they may be
# path or query parameters. The others below are JSON objects or any value.
_WELL_KNOWN_SCALARS: dict[str, Schema] = {
    "google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339, e.g. `2025-01-31T09:30:00Z`.",
    },
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$",
        "description": "Seconds with an `s` suffix, e.g. `1.5s`.",
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": (
            "Comma-separated field paths, spelled in lowerCamelCase as the proto3 JSON "
            "mapping does, e.g. `lines,shippingAddress`."
        ),
    },
    **{name: _SCALARS[kind] for name, kind in _WRAPPERS.items()},
}
_WELL_KNOWN_OBJECTS: dict[str, Schema] = {
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
}

ERROR_SCHEMA: Schema = {
    "type": "object",
    "description": (
        "A `google.rpc.Status` in the proto3 JSON mapping. Clients branch on the "
        "`reason` of the `google.rpc.ErrorInfo` detail (see docs/errors.md), never on "
        "`message`. Bad input also carries a `google.rpc.BadRequest` listing each field."
    ),
    "properties": {
        "code": {
            "type": "integer",
            "format": "int32",
            "description": "The gRPC status code, e.g. 3 for INVALID_ARGUMENT.",
        },
        "message": {"type": "string", "description": "For people; may change."},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "@type": {
                        "type": "string",
                        "description": "e.g. `type.googleapis.com/google.rpc.ErrorInfo`.",
                    }
                },
                "required": ["@type"],
                "additionalProperties": True,
            },
        },
    },
    # Envoy leaves out fields at their default value, so an empty message or
    # no details means the key is absent.
    "required": ["code"],
    "examples": [
        {
            "code": 5,
            "message": "order 42 not found",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "ORDER_NOT_FOUND",
                    "domain": "shopmesh.dev",
                    "metadata": {"order_id": "42"},
                }
            ],
        }
    ],
}
# HTTP status -> (response name, what it means), as Envoy's convert_grpc_status
# maps gRPC codes.
ERROR_RESPONSES: dict[str, tuple[str, str]] = {
    "400": (
        "BadRequest",
        "INVALID_ARGUMENT (a `google.rpc.BadRequest` detail names each bad field), "
        "FAILED_PRECONDITION (e.g. OUT_OF_STOCK, CART_CLOSED) or OUT_OF_RANGE.",
    ),
    "401": ("Unauthenticated", "UNAUTHENTICATED: no bearer token, or one that is not accepted."),
    "403": ("PermissionDenied", "PERMISSION_DENIED: the caller may not make this call."),
    "404": ("NotFound", "NOT_FOUND: no such resource, or it belongs to someone else."),
    "409": (
        "Conflict",
        "ABORTED (ETAG_MISMATCH: read the resource again and retry) or ALREADY_EXISTS.",
    ),
    "429": ("TooManyRequests", "RESOURCE_EXHAUSTED: too many requests; retry later."),
    "503": ("Unavailable", "UNAVAILABLE: a service is unreachable just now; retry later."),
}
DEFAULT_RESPONSE = (
    "Error",
    "Any other failure, e.g. INTERNAL (500) with an `error_id` in the ErrorInfo metadata.",
)

INFO_DESCRIPTION = """\
The REST face of the shopmesh gRPC services, served by the edge (Envoy's
gRPC-JSON transcoder). Generated from the protos by `make protos`.

JSON follows the proto3 JSON mapping with the proto field names:

- names are snake_case, as in the `.proto` files;
- 64-bit integers are strings in responses; requests may send a string or a number;
- enums are their value names (requests may also send the number);
- timestamps are RFC 3339 strings;
- fields at their default value (0, "", false, empty list) may be absent from responses;
- unknown fields in a request body are ignored, so check their spelling.

Every call needs a bearer token (JWT). Errors are `google.rpc.Status` objects
(schema `Error`); `docs/errors.md` lists every `reason`.
"""


@dataclass(frozen=True)
class _Message:
    full_name: str
    proto: descriptor_pb2.DescriptorProto
    file: str
    path: tuple[int, ...]


@dataclass(frozen=True)
class _Enum:
    full_name: str
    proto: descriptor_pb2.EnumDescriptorProto
    file: str
    path: tuple[int, ...]


@dataclass(frozen=True)
class Binding:
    """One HTTP route of one RPC."""

    operation_id: str
    verb: str
    path: str  # the google.api.http template, e.g. /v1/orders/{order.order_id}
    body: str
    response_body: str
    primary: str | None  # for an additional binding: the operationId of the first


def load(descriptor_set: Path) -> descriptor_pb2.FileDescriptorSet:
    return descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())


def http_bindings(
    descriptors: descriptor_pb2.FileDescriptorSet,
) -> Iterator[tuple[descriptor_pb2.FileDescriptorProto, int, int, Binding]]:
    """Every HTTP binding: (file, service index, method index, binding)."""
    for file in descriptors.file:
        for s, service in enumerate(file.service):
            for m, method in enumerate(service.method):
                if not method.options.HasExtension(annotations_pb2.http):
                    continue
                rule = method.options.Extensions[annotations_pb2.http]
                first = f"{service.name}_{method.name}"
                for n, item in enumerate([rule, *rule.additional_bindings]):
                    verb, path = _verb_and_path(item)
                    yield (
                        file,
                        s,
                        m,
                        Binding(
                            operation_id=first if n == 0 else f"{first}_{n + 1}",
                            verb=verb,
                            path=path,
                            body=item.body,
                            response_body=item.response_body,
                            primary=None if n == 0 else first,
                        ),
                    )


def _verb_and_path(rule: http_pb2.HttpRule) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind == "custom":
        verb = rule.custom.kind.lower()
        if verb not in {"head", "options", "trace"}:
            raise SystemExit(f"custom HTTP verb {rule.custom.kind!r} has no OpenAPI operation")
        return verb, rule.custom.path
    if kind is None:
        raise SystemExit(f"google.api.http rule without a pattern: {rule}")
    return kind, getattr(rule, kind)


class _Builder:
    def __init__(self, descriptors: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, _Message] = {}
        self.enums: dict[str, _Enum] = {}
        self.comments: dict[tuple[str, tuple[int, ...]], str] = {}
        self.schemas: dict[str, Schema] = {}
        self._requested: set[str] = set()
        self._pending: list[str] = []
        for file in descriptors.file:
            for location in file.source_code_info.location:
                text = location.leading_comments or location.trailing_comments
                if text.strip():
                    self.comments[(file.name, tuple(location.path))] = _clean(text)
            for i, message in enumerate(file.message_type):
                self._add_message(file, file.package, message, (_MESSAGE, i))
            for i, enum in enumerate(file.enum_type):
                self._add_enum(file, file.package, enum, (_ENUM, i))

    def _add_message(
        self,
        file: descriptor_pb2.FileDescriptorProto,
        scope: str,
        message: descriptor_pb2.DescriptorProto,
        path: tuple[int, ...],
    ) -> None:
        name = f"{scope}.{message.name}" if scope else message.name
        self.messages[name] = _Message(name, message, file.name, path)
        for i, nested in enumerate(message.nested_type):
            self._add_message(file, name, nested, (*path, _MESSAGE_NESTED, i))
        for i, enum in enumerate(message.enum_type):
            self._add_enum(file, name, enum, (*path, _MESSAGE_ENUM, i))

    def _add_enum(
        self,
        file: descriptor_pb2.FileDescriptorProto,
        scope: str,
        enum: descriptor_pb2.EnumDescriptorProto,
        path: tuple[int, ...],
    ) -> None:
        name = f"{scope}.{enum.name}" if scope else enum.name
        self.enums[name] = _Enum(name, enum, file.name, path)

    # --- schemas -----------------------------------------------------------

    def ref(self, full_name: str) -> Schema:
        if full_name not in self._requested:
            self._requested.add(full_name)
            self._pending.append(full_name)
        return {"$ref": f"#/components/schemas/{full_name}"}

    def finish_schemas(self) -> None:
        while self._pending:
            name = self._pending.pop()
            if name in self.enums:
                self.schemas[name] = self.enum_schema(self.enums[name])
            else:
                self.schemas[name] = self.message_schema(self.messages[name])

    def enum_schema(self, enum: _Enum) -> Schema:
        schema: Schema = {"type": "string", "enum": [v.name for v in enum.proto.value]}
        lines = [self.comments.get((enum.file, enum.path), "")]
        for i, value in enumerate(enum.proto.value):
            comment = self.comments.get((enum.file, (*enum.path, _ENUM_VALUE, i)))
            if comment:
                lines.append(f"- `{value.name}`: {_one_line(comment)}")
        description = "\n".join(line for line in lines if line)
        if description:
            schema["description"] = description
        return schema

    def message_schema(self, message: _Message, exclude: frozenset[str] = frozenset()) -> Schema:
        """The JSON object of `message`, less the dotted field paths in `exclude`."""
        properties: dict[str, Schema] = {}
        required: list[str] = []
        for i, field in enumerate(message.proto.field):
            if field.name in exclude:
                continue
            inner = frozenset(p.split(".", 1)[1] for p in exclude if p.startswith(f"{field.name}."))
            schema = self.field_schema(message, i, exclude=inner)
            properties[field.name] = schema
            if FieldBehavior.REQUIRED in _behaviors(field):
                required.append(field.name)
        schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        notes = [self.comments.get((message.file, message.path), "")]
        oneofs: dict[int, list[str]] = {}
        for field in message.proto.field:
            if field.HasField("oneof_index") and not field.proto3_optional:
                oneofs.setdefault(field.oneof_index, []).append(f"`{field.name}`")
        notes += [f"At most one of {', '.join(names)}." for _, names in sorted(oneofs.items())]
        description = "\n\n".join(n for n in notes if n)
        if description:
            schema["description"] = description
        return schema

    def field_schema(
        self, message: _Message, index: int, exclude: frozenset[str] = frozenset()
    ) -> Schema:
        field = message.proto.field[index]
        entry = self._map_entry(field)
        if entry is not None:
            schema: Schema = {
                "type": "object",
                "additionalProperties": self._value_schema(entry.proto.field[1]),
            }
        else:
            value = self._value_schema(field, exclude)
            if field.label == FD.LABEL_REPEATED:
                schema = {"type": "array", "items": value}
            else:
                schema = dict(value)
        comment = self.comments.get((message.file, (*message.path, _MESSAGE_FIELD, index)))
        description = "\n\n".join(d for d in (comment, schema.get("description")) if d)
        if description:
            schema["description"] = description
        behaviors = _behaviors(field)
        if FieldBehavior.OUTPUT_ONLY in behaviors:
            schema["readOnly"] = True
        if FieldBehavior.INPUT_ONLY in behaviors:
            schema["writeOnly"] = True
        return schema

    def _map_entry(self, field: descriptor_pb2.FieldDescriptorProto) -> _Message | None:
        if field.type != FD.TYPE_MESSAGE or field.label != FD.LABEL_REPEATED:
            return None
        message = self.messages[field.type_name.lstrip(".")]
        return message if message.proto.options.map_entry else None

    def _value_schema(
        self, field: descriptor_pb2.FieldDescriptorProto, exclude: frozenset[str] = frozenset()
    ) -> Schema:
        """The schema of one value of `field` (an element, for a repeated field)."""
        if field.type == FD.TYPE_ENUM:
            return self.ref(field.type_name.lstrip("."))
        if field.type in (FD.TYPE_MESSAGE, FD.TYPE_GROUP):
            name = field.type_name.lstrip(".")
            if name in _WELL_KNOWN_SCALARS:
                return dict(_WELL_KNOWN_SCALARS[name])
            if name in _WELL_KNOWN_OBJECTS:
                return dict(_WELL_KNOWN_OBJECTS[name])
            if exclude:
                return self.message_schema(self.messages[name], exclude)
            return self.ref(name)
        return dict(_SCALARS[field.type])

    # --- operations --------------------------------------------------------

    def operation(
        self,
        file: descriptor_pb2.FileDescriptorProto,
        service_index: int,
        method_index: int,
        binding: Binding,
    ) -> tuple[str, Schema]:
        """(OpenAPI path, operation object) for one binding."""
        service = file.service[service_index]
        method = service.method[method_index]
        request = self.messages[method.input_type.lstrip(".")]
        response = self.messages[method.output_type.lstrip(".")]

        variables: list[tuple[str, str]] = []  # (field path, segment pattern)

        def template_variable(match: re.Match[str]) -> str:
            variables.append((match.group(1), match.group(2) or "*"))
            return "{" + match.group(1) + "}"

        path = re.sub(r"\{([^}=]+)(?:=([^}]*))?\}", template_variable, binding.path)
        path_fields = frozenset(v for v, _ in variables)
        parameters = [self._path_parameter(request, v, pattern) for v, pattern in variables]

        request_body: Schema | None = None
        if binding.body == "*":
            body = (
                self.message_schema(request, exclude=path_fields)
                if path_fields
                else self.ref(request.full_name)
            )
            request_body = _json_body(body, method.client_streaming)
            query_exclude = frozenset(f.name for f in request.proto.field)
        elif binding.body:
            index = _field_index(request, binding.body)
            inner = frozenset(
                p.split(".", 1)[1] for p in path_fields if p.startswith(f"{binding.body}.")
            )
            body = self.field_schema(request, index, exclude=inner)
            request_body = _json_body(body, method.client_streaming)
            query_exclude = path_fields | {binding.body}
        else:
            query_exclude = path_fields
        parameters += self._query_parameters(request, "", query_exclude, (request.full_name,))

        if binding.response_body:
            result = self.field_schema(response, _field_index(response, binding.response_body))
        else:
            result = self.ref(response.full_name)
        if method.server_streaming:
            result = {"type": "array", "items": result}
            ok = (
                "A stream: one JSON array whose elements arrive as the server sends them; "
                "the response stays open until the stream ends or the client hangs up. An "
                "error after the first element ends the array early, with HTTP status 200."
            )
        else:
            ok = "OK"

        comment = self.comments.get(
            (file.name, (_SERVICE, service_index, _SERVICE_METHOD, method_index)), ""
        )
        description = [comment]
        if binding.primary is not None:
            description.append(f"Another route to the same call as `{binding.primary}`.")
        if method.server_streaming:
            description.append("Server-streaming: the response is a JSON array, sent as it grows.")
        description.append(f"gRPC: `{file.package}.{service.name}/{method.name}`.")
        operation: Schema = {
            "operationId": binding.operation_id,
            "tags": [service.name],
            "summary": _first_sentence(comment) or method.name,
            "description": "\n\n".join(d for d in description if d),
            "responses": {
                "200": {"description": ok, "content": {"application/json": {"schema": result}}},
                "default": {"$ref": f"#/components/responses/{DEFAULT_RESPONSE[0]}"},
                **{
                    status: {"$ref": f"#/components/responses/{name}"}
                    for status, (name, _) in ERROR_RESPONSES.items()
                },
            },
        }
        if parameters:
            operation["parameters"] = parameters
        if request_body is not None:
            operation["requestBody"] = request_body
        return path, operation

    def _path_parameter(self, request: _Message, field_path: str, pattern: str) -> Schema:
        message, index = self._resolve(request, field_path)
        schema = self.field_schema(message, index)
        description = schema.pop("description", "")
        schema.pop("readOnly", None)
        if pattern not in ("*", "**"):
            description = f"{description}\n\nMatches `{pattern}`.".strip()
        parameter: Schema = {"name": field_path, "in": "path", "required": True, "schema": schema}
        if description:
            parameter["description"] = description
        return parameter

    def _resolve(self, request: _Message, field_path: str) -> tuple[_Message, int]:
        """The message declaring the last field of a dotted path, and its index."""
        message = request
        *parents, last = field_path.split(".")
        for name in parents:
            field = message.proto.field[_field_index(message, name)]
            message = self.messages[field.type_name.lstrip(".")]
        return message, _field_index(message, last)

    def _query_parameters(
        self, message: _Message, prefix: str, exclude: frozenset[str], seen: tuple[str, ...]
    ) -> list[Schema]:
        parameters: list[Schema] = []
        for i, field in enumerate(message.proto.field):
            name = prefix + field.name
            if name in exclude or FieldBehavior.OUTPUT_ONLY in _behaviors(field):
                continue
            type_name = field.type_name.lstrip(".")
            if field.type == FD.TYPE_MESSAGE and type_name not in _WELL_KNOWN_SCALARS:
                # Repeated messages, maps and free-form values cannot be
                # spelled in a query string; a message's fields can.
                if (
                    field.label == FD.LABEL_REPEATED
                    or type_name in _WELL_KNOWN_OBJECTS
                    or type_name in seen
                ):
                    continue
                parameters += self._query_parameters(
                    self.messages[type_name], f"{name}.", exclude, (*seen, type_name)
                )
                continue
            schema = self.field_schema(message, i)
            description = schema.pop("description", "")
            parameter: Schema = {"name": name, "in": "query", "schema": schema}
            if not prefix and FieldBehavior.REQUIRED in _behaviors(field):
                parameter["required"] = True
            if description:
                parameter["description"] = description
            parameters.append(parameter)
        return parameters

    # --- the document ------------------------------------------------------

    def tags(self, descriptors: descriptor_pb2.FileDescriptorSet) -> list[Schema]:
        tags = []
        for file in descriptors.file:
            for s, service in enumerate(file.service):
                description = self.comments.get((file.name, (_SERVICE, s))) or self.comments.get(
                    (file.name, (_PACKAGE,)), ""
                )
                tag: Schema = {"name": service.name}
                if description:
                    tag["description"] = description
                tags.append(tag)
        return sorted(tags, key=lambda t: t["name"])


def build(descriptors: descriptor_pb2.FileDescriptorSet) -> Schema:
    """The OpenAPI document of every HTTP binding in `descriptors`."""
    builder = _Builder(descriptors)
    paths: dict[str, dict[str, Schema]] = {}
    for file, s, m, binding in http_bindings(descriptors):
        path, operation = builder.operation(file, s, m, binding)
        if binding.verb in paths.setdefault(path, {}):
            raise SystemExit(f"two bindings for {binding.verb.upper()} {path}")
        paths[path][binding.verb] = operation
    builder.finish_schemas()
    error_ref = {"$ref": "#/components/schemas/Error"}
    responses = {
        name: {"description": text, "content": {"application/json": {"schema": error_ref}}}
        for name, text in [DEFAULT_RESPONSE, *ERROR_RESPONSES.values()]
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "shopmesh API", "version": "v1", "description": INFO_DESCRIPTION},
        "servers": [{"url": "/", "description": "The edge that serves this document."}],
        "tags": builder.tags(descriptors),
        "paths": paths,
        "security": [{"bearer": []}],
        "components": {
            "schemas": {**builder.schemas, "Error": ERROR_SCHEMA},
            "responses": responses,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "`Authorization: Bearer <JWT>`; the edge verifies it.",
                }
            },
        },
    }


def render(document: Schema) -> str:
    """Deterministic JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(descriptor_set: Path, out: Path) -> None:
    out.write_text(render(build(load(descriptor_set))), encoding="utf-8")


def _json_body(schema: Schema, client_streaming: bool) -> Schema:
    if client_streaming:
        schema = {"type": "array", "items": schema}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _field_index(message: _Message, name: str) -> int:
    for i, field in enumerate(message.proto.field):
        if field.name == name:
            return i
    raise SystemExit(f"{message.full_name} has no field {name!r}")


def _behaviors(field: descriptor_pb2.FieldDescriptorProto) -> list[int]:
    return list(field.options.Extensions[field_behavior_pb2.field_behavior])


def _clean(comment: str) -> str:
    return textwrap.dedent(comment).strip()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _first_sentence(comment: str) -> str:
    text = _one_line(comment)
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return match.group(1) if match else text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--descriptor-set", type=Path, default=ROOT / "generated" / "shopmesh.binpb"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "generated" / OPENAPI_FILE)
    args = parser.parse_args()
    write(args.descriptor_set, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
