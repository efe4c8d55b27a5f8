"""Bearer tokens: verifying a caller's, minting our own.

Two issuers sign RS256 JWTs for audience `shopmesh`:

- the edge issuer, for people: `sub`, `role` (customer, ops or admin) and,
  for customers, `customer_id`. Envoy checks these at the edge and forwards
  the `authorization` header unchanged; every service checks them again.
- the internal issuer, for calls between services: `role` "service" and
  `service`, the caller's name. Each service mints its own, short-lived, and
  reuses it until shortly before it expires.

A key signs for one issuer only: the JWKS our secrets step writes names it in
each key's `iss` member (RFC 7517 lets a JWK carry members of its own), so a
service holding the internal key cannot mint a staff token, nor the edge's
issuer a service token. A key without one is trusted for the edge issuer only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from meshkit import errors
from meshkit.principal import Principal, Role

EDGE_ISSUER = "https://auth.shopmesh.localhost"
INTERNAL_ISSUER = "shopmesh-internal"
AUDIENCE = "shopmesh"
ALGORITHM = "RS256"
# gRPC metadata keys are lower case; HTTP/2 carries `Authorization` as this.
AUTHORIZATION_KEY = "authorization"
# Seconds an internal token lives, and how long before its expiry it is replaced.
INTERNAL_TOKEN_TTL = 300.0
INTERNAL_TOKEN_REFRESH = 60.0
# Clock skew tolerated on `exp`, `iat` and `nbf`.
LEEWAY_SECONDS = 30.0
STAFF_ROLES = (Role.OPS, Role.ADMIN)
# Verified tokens a service remembers: more than the callers one instance
# serves at a time.
VERIFIED_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Issuers:
    edge: str = EDGE_ISSUER
    internal: str = INTERNAL_ISSUER
    audience: str = AUDIENCE


@dataclass(frozen=True)
class VerifyingKey:
    kid: str
    public_key: rsa.RSAPublicKey
    # The one issuer whose tokens this key may sign.
    issuer: str


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey


@dataclass(frozen=True)
class AuthSettings:
    """What a service trusts (`keys`, by kid) and signs its own calls with."""

    keys: Mapping[str, VerifyingKey]
    signing_key: SigningKey | None = None
    issuers: Issuers = field(default_factory=Issuers)


def key_id(public_key: rsa.RSAPublicKey) -> str:
    """The key's RFC 7638 thumbprint: the same key always gets the same kid."""
    numbers = public_key.public_numbers()
    members = {"e": _b64_uint(numbers.e), "kty": "RSA", "n": _b64_uint(numbers.n)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64(hashlib.sha256(canonical).digest())


def public_jwk(public_key: rsa.RSAPublicKey, *, issuer: str | None = None) -> dict[str, str]:
    """The key as a JWK, with its kid and, if given, the issuer it signs for."""
    numbers = public_key.public_numbers()
    jwk = {
        "kty": "RSA",
        "use": "sig",
        "alg": ALGORITHM,
        "kid": key_id(public_key),
        "n": _b64_uint(numbers.n),
        "e": _b64_uint(numbers.e),
    }
    if issuer is not None:
        jwk["iss"] = issuer
    return jwk


def parse_jwks(document: Any, issuers: Issuers) -> dict[str, VerifyingKey]:
    """kid -> key for every RSA signing key of a JWKS document."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('not a JWKS document (an object with a "keys" list)')
    keys: dict[str, VerifyingKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ValueError("a key has no kid")
        issuer = jwk.get("iss", issuers.edge)
        if issuer not in (issuers.edge, issuers.internal):
            raise ValueError(f"key {kid} signs for an issuer we do not trust: {issuer!r}")
        try:
            public_key = RSAAlgorithm.from_jwk(jwk)
        except (jwt.InvalidKeyError, ValueError, TypeError) as error:
            raise ValueError(f"key {kid} is not a valid RSA key: {error}") from None
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise ValueError(f"key {kid} is a private key; a JWKS holds public keys only")
        keys[kid] = VerifyingKey(kid, public_key, issuer)
    if not keys:
        raise ValueError("it holds no RSA signing key")
    return keys


def load_jwks(path: Path, issuers: Issuers) -> dict[str, VerifyingKey]:
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from None
    return parse_jwks(document, issuers)


def load_signing_key(path: Path) -> SigningKey:
    try:
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise ValueError(f"not an unencrypted PEM private key: {error}") from None
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key (tokens are RS256)")
    return SigningKey(key_id(private_key.public_key()), private_key)


def sign(key: SigningKey, claims: Mapping[str, Any]) -> str:
    return jwt.encode(dict(claims), key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def internal_claims(service: str, issuers: Issuers, *, now: float, ttl: float) -> dict[str, Any]:
    return {
        "iss": issuers.internal,
        "aud": issuers.audience,
        "sub": f"service:{service}",
        "role": Role.SERVICE.value,
        "service": service,
        "iat": int(now),
        "exp": int(now + ttl),
    }


class Verifier:
    """Turns the `authorization` metadata of a call into its Principal, or
    refuses it with UNAUTHENTICATED. Messages say what is wrong, never the token.

    A client sends the same token on call after call, and checking its RS256
    signature costs more than the rest of a small call, so tokens that passed
    are remembered (up to `cache_size` of them, oldest forgotten first) until
    they expire. Refusals are not remembered: they stay as slow as they are."""

    def __init__(
        self,
        settings: AuthSettings,
        *,
        leeway: float = LEEWAY_SECONDS,
        cache_size: int = VERIFIED_CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = dict(settings.keys)
        self._issuers = settings.issuers
        self._leeway = leeway
        self._cache_size = cache_size
        self._clock = clock
        # token -> (its principal, the time after which jwt.decode would refuse it)
        self._verified: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def principal(self, authorization: str | None) -> Principal:
        token = _bearer(authorization)
        known = self._verified.get(token)
        if known is not None and self._clock() < known[1]:
            return known[0]
        principal, expires = self._verify(token)
        with self._lock:
            if len(self._verified) >= self._cache_size:
                # Dicts keep insertion order: the first key is the oldest.
                self._verified.pop(next(iter(self._verified)), None)
            self._verified[token] = (principal, expires + self._leeway)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        """The token's principal and expiry (`exp`), or UNAUTHENTICATED."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise errors.unauthenticated("malformed bearer token") from None
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise errors.unauthenticated("token signed by an unknown key")
        try:
            claims = jwt.decode(
                token,
                key.public_key,
                algorithms=[ALGORITHM],
                audience=self._issuers.audience,
                issuer=key.issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise errors.unauthenticated(_why(error)) from None
        if key.issuer == self._issuers.internal:
            return _service(claims), float(claims["exp"])
        return _person(claims), float(claims["exp"])


class InternalTokens:
    """This service's own token for its calls to others: minted on first use,
    reused, and replaced `refresh` seconds before it expires."""

    def __init__(
        self,
        settings: AuthSettings,
        service: str,
        *,
        ttl: float = INTERNAL_TOKEN_TTL,
        refresh: float = INTERNAL_TOKEN_REFRESH,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if settings.signing_key is None:
            raise ValueError(f"{service} has no internal signing key to call other services with")
        self._key = settings.signing_key
        self._issuers = settings.issuers
        self._service = service
        self._ttl = ttl
        self._refresh = min(refresh, ttl / 2)
        self._clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._expires = 0.0

    def authorization(self) -> str:
        """The `authorization` metadata value: `Bearer <token>`."""
        with self._lock:
            now = self._clock()
            if now >= self._expires - self._refresh:
                claims = internal_claims(self._service, self._issuers, now=now, ttl=self._ttl)
                self._token = sign(self._key, claims)
                self._expires = claims["exp"]
            return f"Bearer {self._token}"


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise errors.unauthenticated("no bearer token: send `authorization: Bearer <token>`")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise errors.unauthenticated("the authorization metadata is not `Bearer <token>`")
    return token


def _why(error: jwt.PyJWTError) -> str:
    if isinstance(error, jwt.ExpiredSignatureError):
        return "token expired"
    if isinstance(error, jwt.ImmatureSignatureError):
        return "token not valid yet"
    if isinstance(error, jwt.InvalidAudienceError):
        return "token is for another audience"
    if isinstance(error, jwt.InvalidIssuerError):
        return "token issuer is not trusted for its signing key"
    if isinstance(error, jwt.InvalidSignatureError):
        return "token signature does not verify"
    if isinstance(error, jwt.InvalidAlgorithmError):
        return f"token is not signed with {ALGORITHM}"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"token has no {error.claim} claim"
    return "malformed bearer token"


def _service(claims: Mapping[str, Any]) -> Principal:
    service = claims.get("service")
    if claims.get("role") != Role.SERVICE.value or not (
        isinstance(service, str) and service.isidentifier()
    ):
        raise errors.unauthenticated("internal token names no calling service")
    return Principal(Role.SERVICE, service=service)


def _person(claims: Mapping[str, Any]) -> Principal:
    role = claims.get("role")
    if role == Role.CUSTOMER.value:
        customer_id = claims.get("customer_id")
        # bool is an int too; a customer id is not.
        if type(customer_id) is not int or customer_id <= 0:
            raise errors.unauthenticated("customer token has no valid customer_id")
        return Principal(Role.CUSTOMER, customer_id=customer_id)
    if role in {r.value for r in STAFF_ROLES}:
        return Principal(Role(role))
    raise errors.unauthenticated("token carries no role a person may have")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64_uint(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))
