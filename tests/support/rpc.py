"""Calling services the way a client does, and reading their errors.

Callers prove who they are with bearer tokens signed by the test session's
keys (tests/support/keys.py): people with edge tokens, as the edge's identity
provider issues them, services with internal tokens, as they mint their own.
"""

from __future__ import annotations

import functools
import time

import grpc
from cryptography.hazmat.primitives.asymmetric import rsa
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from meshkit import auth
from meshkit.status import error_info
from shopctl import tokens
from tests.support import keys

Metadata = tuple[tuple[str, str], ...]


def bearer(token: str) -> Metadata:
    return ((auth.AUTHORIZATION_KEY, f"Bearer {token}"),)


def as_customer(customer_id: int) -> Metadata:
    return bearer(edge_token(customer_id=customer_id))


def as_role(role: str) -> Metadata:
    """A member of staff: `ops` or `admin`."""
    return bearer(edge_token(role=role))


def as_service(name: str) -> Metadata:
    return bearer(internal_token(name))


def edge_token(
    *, customer_id: int | None = None, role: str | None = None, ttl: float = tokens.DEFAULT_TTL
) -> str:
    """A person's token from the edge issuer; a negative `ttl` gives one that
    expired that long ago."""
    return tokens.edge_token(
        keys.edge_key(), keys.ISSUERS, customer_id=customer_id, role=role, ttl=ttl
    )


def internal_token(service: str, ttl: float = auth.INTERNAL_TOKEN_TTL) -> str:
    claims = auth.internal_claims(service, keys.ISSUERS, now=time.time(), ttl=ttl)
    return auth.sign(keys.internal_key(), claims)


def foreign_edge_token(customer_id: int) -> str:
    """Claims the edge issuer and its key's kid, but signed by another key."""
    edge_kid = keys.edge_key().kid
    claims = tokens.edge_claims(
        keys.ISSUERS, customer_id=customer_id, now=time.time(), ttl=tokens.DEFAULT_TTL
    )
    return auth.sign(auth.SigningKey(edge_kid, _foreign_key()), claims)


@functools.cache
def _foreign_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def reason(error: grpc.RpcError) -> str:
    """The ErrorInfo reason a failed call carries ('' when it has none)."""
    info = error_info(error)
    return info.reason if info else ""


def violations(error: grpc.RpcError) -> dict[str, str]:
    """Field -> description from the google.rpc.BadRequest a call carries."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status else ():
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            return {v.field: v.description for v in bad.field_violations}
    return {}
