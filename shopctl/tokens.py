"""`shopmesh token`: edge tokens for people, signed with the development edge
key, as a real identity provider would issue them."""

from __future__ import annotations

import time
from typing import Any

from meshkit import auth

DEFAULT_TTL = 3600
STAFF_ROLES = ("ops", "admin")


def edge_claims(
    issuers: auth.Issuers,
    *,
    customer_id: int | None = None,
    role: str | None = None,
    now: float,
    ttl: float,
) -> dict[str, Any]:
    """A customer's claims (`customer_id`) or a member of staff's (`role`)."""
    if (customer_id is None) == (role is None):
        raise ValueError("a token is for a customer or for a member of staff: give one")
    if customer_id is not None:
        if customer_id <= 0:
            raise ValueError(f"customer ids are positive, not {customer_id}")
        who: dict[str, Any] = {
            "sub": f"customer:{customer_id}",
            "role": "customer",
            "customer_id": customer_id,
        }
    elif role in STAFF_ROLES:
        who = {"sub": f"staff:{role}", "role": role}
    else:
        raise ValueError(f"a staff role is one of {', '.join(STAFF_ROLES)}, not {role!r}")
    return {
        "iss": issuers.edge,
        "aud": issuers.audience,
        **who,
        "iat": int(now),
        "exp": int(now + ttl),
    }


def edge_token(
    key: auth.SigningKey,
    issuers: auth.Issuers,
    *,
    customer_id: int | None = None,
    role: str | None = None,
    ttl: float = DEFAULT_TTL,
    now: float | None = None,
) -> str:
    claims = edge_claims(
        issuers,
        customer_id=customer_id,
        role=role,
        now=time.time() if now is None else now,
        ttl=ttl,
    )
    return auth.sign(key, claims)
