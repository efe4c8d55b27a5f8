"""Every RPC the edge serves, read from the descriptor set, with the policy
the edge applies to it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

# Repeating these after the service applied them changes something (another
# cart, another unit in a cart, a second update against a now-stale etag, a
# second message), so the edge never retries them once they may have arrived.
NOT_IDEMPOTENT = frozenset({"CreateCart", "AddCartItem", "UpdateOrder", "SendNotification"})
# Only staff reach these through the edge; the services check again.
STAFF_ONLY = frozenset(
    {"ReceiveOrderAlert", "UpdateShipment", "SendNotification", "RecordShipmentProgress"}
)
# The services' outbox relays call these on each other directly; the edge
# does not serve them at all.
INTERNAL_ONLY = frozenset(
    {
        "BatchSendNotifications",
        "BatchRecordShipmentProgress",
        "BatchGetOrders",
        "BatchReceiveOrderAlerts",
    }
)


@dataclass(frozen=True)
class Binding:
    verb: str
    template: str

    @property
    def path_regex(self) -> str:
        """The template's paths as an RE2 regex (query strings are not part of the path)."""
        parts = re.split(r"(\{[^}]+\})", self.template)
        pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        return f"^{pattern}$"


@dataclass(frozen=True)
class Method:
    grpc_service: str
    name: str
    bindings: tuple[Binding, ...]
    server_streaming: bool

    @property
    def path(self) -> str:
        return f"/{self.grpc_service}/{self.name}"

    @property
    def idempotent(self) -> bool:
        return self.name not in NOT_IDEMPOTENT

    @property
    def staff_only(self) -> bool:
        return self.name in STAFF_ONLY


def read(descriptor_set: Path, services: set[str]) -> list[Method]:
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    found = []
    for file in files.file:
        for service in file.service:
            full_name = f"{file.package}.{service.name}"
            if full_name not in services:
                continue
            for method in service.method:
                if method.name in INTERNAL_ONLY:
                    continue
                found.append(
                    Method(
                        full_name,
                        method.name,
                        _bindings(method.options.Extensions[annotations_pb2.http]),
                        method.server_streaming,
                    )
                )
    return found


def _bindings(rule: object) -> tuple[Binding, ...]:
    bindings = []
    for one in [rule, *getattr(rule, "additional_bindings", [])]:
        verb = one.WhichOneof("pattern")  # type: ignore[attr-defined]
        if verb and verb != "custom":
            bindings.append(Binding(verb.upper(), getattr(one, verb)))
    return tuple(bindings)
