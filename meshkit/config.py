"""Settings from the environment, read once at start-up.

A missing required setting stops the process with a message naming it,
rather than failing later on first use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from meshkit import auth


class ConfigError(SystemExit):
    pass


@dataclass(frozen=True)
class Settings:
    service: str
    database_url: str
    port: int
    host: str
    log_level: str
    # Seconds a call to another service may take when no incoming deadline
    # bounds it (the outbox relay's calls).
    call_timeout: float
    # Seconds a SIGTERM'd server keeps serving calls already in flight.
    shutdown_grace: float
    # First retry delay of an outbox delivery, and the most it grows to.
    outbox_backoff: float
    outbox_backoff_cap: float
    # The keys callers' tokens are verified with, and this service's own.
    auth: auth.AuthSettings
    env: Mapping[str, str]

    def target(self, service: str, default_port: int) -> str:
        """Where to reach another service: `<SERVICE>_TARGET`, e.g. `ORDERS_TARGET`."""
        return self.env.get(f"{service.upper()}_TARGET", f"127.0.0.1:{default_port}")

    def get(self, name: str, default: str) -> str:
        return self.env.get(name, default)

    def count(self, name: str, default: int) -> int:
        """A setting that is a whole number of at least 1."""
        value = self.env.get(name, str(default))
        if not value.isdigit() or int(value) < 1:
            raise ConfigError(f"{name} must be a whole number of at least 1, got {value!r}")
        return int(value)


def load(service: str, default_port: int, env: Mapping[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    database_url = env.get("DATABASE_URL", "")
    if not database_url:
        raise ConfigError(
            f"{service}: DATABASE_URL is not set. Start the mesh with `shopmesh run` "
            "(it provides an embedded PostgreSQL) or point DATABASE_URL at a PostgreSQL database."
        )
    return Settings(
        service=service,
        database_url=database_url,
        port=_int(env, "GRPC_PORT", default_port),
        host=env.get("GRPC_HOST", "127.0.0.1"),
        log_level=env.get("LOG_LEVEL", "INFO"),
        call_timeout=_float(env, "CALL_TIMEOUT_SECONDS", 5.0),
        shutdown_grace=_float(env, "SHUTDOWN_GRACE_SECONDS", 5.0),
        outbox_backoff=_float(env, "OUTBOX_BACKOFF_SECONDS", 0.2),
        outbox_backoff_cap=_float(env, "OUTBOX_BACKOFF_CAP_SECONDS", 60.0),
        auth=_auth(service, env),
        env=env,
    )


def token_issuers(env: Mapping[str, str]) -> auth.Issuers:
    """Who signs the tokens we accept, and for which audience."""
    return auth.Issuers(
        edge=env.get("JWT_ISSUER") or auth.EDGE_ISSUER,
        internal=env.get("INTERNAL_JWT_ISSUER") or auth.INTERNAL_ISSUER,
        audience=env.get("JWT_AUDIENCE") or auth.AUDIENCE,
    )


def _auth(service: str, env: Mapping[str, str]) -> auth.AuthSettings:
    """`JWKS_FILE` (required): the public keys of both token issuers.
    `INTERNAL_SIGNING_KEY_FILE`: the key this service signs its own calls with
    (required by those that call others). `JWT_ISSUER`, `INTERNAL_JWT_ISSUER`,
    `JWT_AUDIENCE` override the defaults."""
    issuers = token_issuers(env)
    jwks_file = env.get("JWKS_FILE", "")
    if not jwks_file:
        raise ConfigError(
            f"{service}: JWKS_FILE is not set: it names the JSON Web Key Set that callers' "
            "tokens are verified with. `shopmesh run` generates one in .shopmesh/secrets."
        )
    try:
        keys = auth.load_jwks(Path(jwks_file), issuers)
    except (OSError, ValueError) as error:
        raise ConfigError(f"{service}: JWKS_FILE {jwks_file} cannot be used: {error}") from None
    signing_key = None
    if key_file := env.get("INTERNAL_SIGNING_KEY_FILE", ""):
        try:
            signing_key = auth.load_signing_key(Path(key_file))
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"{service}: INTERNAL_SIGNING_KEY_FILE {key_file} cannot be used: {error}"
            ) from None
        trusted = keys.get(signing_key.kid)
        if trusted is None or trusted.issuer != issuers.internal:
            raise ConfigError(
                f"{service}: INTERNAL_SIGNING_KEY_FILE {key_file} is not the internal issuer's "
                f"key in JWKS_FILE {jwks_file}; the other services would refuse its tokens"
            )
    return auth.AuthSettings(keys, signing_key, issuers)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, default))
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {env[name]!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        return float(env.get(name, default))
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {env[name]!r}") from None
