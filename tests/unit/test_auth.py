"""Bearer tokens in, principals out: the verifier and the internal token minter,
with keys made in memory (tests/integration/test_secrets.py reads them from files)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from meshkit import auth
from meshkit.errors import AppError, Kind
from meshkit.principal import Principal, Role

ISSUERS = auth.Issuers()


def new_key() -> auth.SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return auth.SigningKey(auth.key_id(private.public_key()), private)


EDGE = new_key()
INTERNAL = new_key()
JWKS = {
    "keys": [
        auth.public_jwk(EDGE.private_key.public_key(), issuer=ISSUERS.edge),
        auth.public_jwk(INTERNAL.private_key.public_key(), issuer=ISSUERS.internal),
    ]
}
SETTINGS = auth.AuthSettings(auth.parse_jwks(JWKS, ISSUERS), INTERNAL, ISSUERS)
VERIFIER = auth.Verifier(SETTINGS)


def person(**claims: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUERS.edge, "aud": ISSUERS.audience, "iat": now, "exp": now + 600, **claims}


def customer(customer_id: Any = 42, **changes: Any) -> dict[str, Any]:
    return person(
        sub=f"customer:{customer_id}", role="customer", customer_id=customer_id, **changes
    )


def service(name: str = "shipping", **changes: Any) -> dict[str, Any]:
    return {**auth.internal_claims(name, ISSUERS, now=time.time(), ttl=300), **changes}


def verify(token: str) -> Principal:
    return VERIFIER.principal(f"Bearer {token}")


def refusal(authorization: str | None) -> str:
    with pytest.raises(AppError) as refused:
        VERIFIER.principal(authorization)
    assert refused.value.kind is Kind.UNAUTHENTICATED
    assert refused.value.reason == "UNAUTHENTICATED"
    token = (authorization or "").split()[-1:]
    if token and len(token[0]) > 16:
        assert token[0] not in refused.value.message
    return refused.value.message


def test_a_customer_token_is_that_customer() -> None:
    assert verify(auth.sign(EDGE, customer(42))) == Principal(Role.CUSTOMER, customer_id=42)


@pytest.mark.parametrize("role", ["ops", "admin"])
def test_a_staff_token_is_that_role(role: str) -> None:
    assert verify(auth.sign(EDGE, person(sub=f"staff:{role}", role=role))) == Principal(Role(role))


def test_an_internal_token_is_the_service_it_names() -> None:
    principal = verify(auth.sign(INTERNAL, service("shipping")))
    assert principal == Principal(Role.SERVICE, service="shipping")
    assert principal.is_staff


def test_the_scheme_is_case_insensitive() -> None:
    assert VERIFIER.principal(f"bearer {auth.sign(EDGE, customer(7))}").customer_id == 7


@pytest.mark.parametrize(
    ("authorization", "why"),
    [
        (None, "no bearer token"),
        ("", "no bearer token"),
        ("Bearer", "not `Bearer <token>`"),
        ("Basic b3BzOm9wcw==", "not `Bearer <token>`"),
        ("Bearer not-a-jwt", "malformed"),
        ("Bearer a.b.c", "malformed"),
    ],
)
def test_missing_or_garbled_tokens_are_refused(authorization: str | None, why: str) -> None:
    assert why in refusal(authorization)


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        (customer(exp=int(time.time()) - 120), "expired"),
        (customer(iat=int(time.time()) + 600, exp=int(time.time()) + 900), "not valid yet"),
        (customer(aud="another-api"), "audience"),
        (customer(iss="https://auth.elsewhere.example"), "issuer"),
        ({k: v for k, v in customer().items() if k != "exp"}, "no exp claim"),
        ({k: v for k, v in customer().items() if k != "aud"}, "no aud claim"),
    ],
)
def test_tokens_out_of_date_or_for_someone_else_are_refused(
    claims: dict[str, Any], why: str
) -> None:
    assert why in refusal(f"Bearer {auth.sign(EDGE, claims)}")


def test_a_token_signed_by_another_key_under_our_kid_is_refused() -> None:
    forger = new_key()
    forged = auth.sign(auth.SigningKey(EDGE.kid, forger.private_key), customer())
    assert "signature does not verify" in refusal(f"Bearer {forged}")


def test_a_token_signed_by_an_unknown_key_is_refused() -> None:
    assert "unknown key" in refusal(f"Bearer {auth.sign(new_key(), customer())}")


def test_the_internal_key_cannot_make_a_person_nor_the_edge_key_a_service() -> None:
    as_admin = auth.sign(INTERNAL, person(sub="staff:admin", role="admin"))
    as_service = auth.sign(EDGE, service("orders"))
    assert "issuer" in refusal(f"Bearer {as_admin}")
    assert "issuer" in refusal(f"Bearer {as_service}")


def test_only_rs256_is_accepted() -> None:
    # The classic confusion: HS256 keyed with the public key, which anyone has.
    public_pem = EDGE.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signed = ".".join(
        _b64(json.dumps(part).encode())
        for part in ({"alg": "HS256", "typ": "JWT", "kid": EDGE.kid}, customer())
    )
    mac = hmac.new(public_pem, signed.encode(), hashlib.sha256).digest()
    confused = f"{signed}.{_b64(mac)}"
    unsigned = jwt.encode(customer(), None, algorithm="none", headers={"kid": EDGE.kid})
    assert "RS256" in refusal(f"Bearer {confused}")
    assert refusal(f"Bearer {unsigned}")


@pytest.mark.parametrize(
    "claims",
    [
        customer(customer_id=None),
        customer(customer_id="42"),
        customer(customer_id=0),
        customer(customer_id=True),
        person(sub="x", role="superuser"),
        person(sub="x"),
        person(sub="service:orders", role="service", service="orders"),
    ],
)
def test_edge_tokens_must_name_a_customer_or_a_staff_role(claims: dict[str, Any]) -> None:
    refusal(f"Bearer {auth.sign(EDGE, claims)}")


@pytest.mark.parametrize(
    "claims", [service(role="admin"), service(service=""), service(service="not a name")]
)
def test_internal_tokens_must_name_a_service(claims: dict[str, Any]) -> None:
    assert "names no calling service" in refusal(f"Bearer {auth.sign(INTERNAL, claims)}")


def test_a_services_token_is_reused_and_replaced_before_it_expires() -> None:
    now = [1_000_000.0]
    tokens = auth.InternalTokens(SETTINGS, "orders", ttl=300, refresh=60, clock=lambda: now[0])

    first = tokens.authorization()
    now[0] += 200
    assert tokens.authorization() == first
    now[0] += 41  # 59 s left: time for a new one
    second = tokens.authorization()

    assert second != first
    claims = jwt.decode(
        second.removeprefix("Bearer "),
        INTERNAL.private_key.public_key(),
        algorithms=["RS256"],
        audience=ISSUERS.audience,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["iss"] == ISSUERS.internal and claims["service"] == "orders"
    assert claims["exp"] - claims["iat"] == 300


def test_a_service_without_a_signing_key_cannot_mint() -> None:
    with pytest.raises(ValueError, match="no internal signing key"):
        auth.InternalTokens(auth.AuthSettings(SETTINGS.keys), "orders")


def test_a_jwks_naming_an_untrusted_issuer_or_holding_no_rsa_key_is_refused() -> None:
    stranger = auth.public_jwk(new_key().private_key.public_key(), issuer="https://evil.example")
    with pytest.raises(ValueError, match="issuer we do not trust"):
        auth.parse_jwks({"keys": [stranger]}, ISSUERS)
    with pytest.raises(ValueError, match="no RSA signing key"):
        auth.parse_jwks({"keys": [{"kty": "EC", "kid": "x"}]}, ISSUERS)
    with pytest.raises(ValueError, match="not a JWKS"):
        auth.parse_jwks([], ISSUERS)


def test_a_key_without_an_issuer_signs_for_the_edge_only() -> None:
    plain = {"keys": [auth.public_jwk(EDGE.private_key.public_key())]}
    verifier = auth.Verifier(auth.AuthSettings(auth.parse_jwks(plain, ISSUERS)))
    assert verifier.principal(f"Bearer {auth.sign(EDGE, customer(3))}").customer_id == 3
    with pytest.raises(AppError):
        verifier.principal(f"Bearer {auth.sign(EDGE, service())}")


def test_the_kid_is_the_rfc7638_thumbprint() -> None:
    # RFC 7638 section 3.1's example key and its thumbprint.
    n = int.from_bytes(
        jwt.utils.base64url_decode(
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
            "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YG"
            "jQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt"
            "-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqD"
            "Kgw"
        ),
        "big",
    )
    public = rsa.RSAPublicNumbers(65537, n).public_key()
    assert auth.key_id(public) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_token_used_again_is_still_that_caller() -> None:
    token = auth.sign(EDGE, customer(7))
    assert [verify(token) for _ in range(3)] == [Principal(Role.CUSTOMER, customer_id=7)] * 3


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    verifier = auth.Verifier(SETTINGS)
    with time_machine.travel(1_900_000_000, tick=False) as clock:
        token = auth.sign(EDGE, customer(7, iat=1_900_000_000, exp=1_900_000_600))
        assert verifier.principal(f"Bearer {token}").customer_id == 7
        clock.move_to(1_900_000_600 + auth.LEEWAY_SECONDS - 1)
        assert verifier.principal(f"Bearer {token}").customer_id == 7
        clock.move_to(1_900_000_600 + auth.LEEWAY_SECONDS + 1)
        with pytest.raises(AppError, match="token expired"):
            verifier.principal(f"Bearer {token}")


def test_a_full_memory_of_tokens_still_verifies_every_caller() -> None:
    verifier = auth.Verifier(SETTINGS, cache_size=2)
    tokens = {n: auth.sign(EDGE, customer(n)) for n in range(1, 6)}
    for _ in range(2):
        for n, token in tokens.items():
            assert verifier.principal(f"Bearer {token}").customer_id == n
