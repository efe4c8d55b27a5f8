"""The secrets a test session signs and verifies tokens with.

The session fixture `secrets_dir` (tests/conftest.py) generates them, as
`shopmesh run` does into .shopmesh/secrets, and hands them to `use`; the
helpers in rpc.py and settings.py find them here, so that their ~100 call
sites need no fixture of their own.
"""

from __future__ import annotations

import functools

from meshkit import auth
from shopctl import secrets
from shopctl.secrets import Secrets

# Tests run the services with the default issuers and audience.
ISSUERS = auth.Issuers()

_in_use: Secrets | None = None


def use(found: Secrets | None) -> None:
    global _in_use
    _in_use = found
    for cached in (edge_key, internal_key, verifier):
        cached.cache_clear()


def current() -> Secrets:
    if _in_use is None:
        raise RuntimeError(
            "no test secrets yet: tokens are made inside tests, where the session "
            "fixture `secrets_dir` has generated them (not at import or collection)"
        )
    return _in_use


def service_env() -> dict[str, str]:
    """JWKS_FILE and INTERNAL_SIGNING_KEY_FILE, for every service a test starts."""
    return current().service_env()


@functools.cache
def edge_key() -> auth.SigningKey:
    return current().edge_signing_key()


@functools.cache
def internal_key() -> auth.SigningKey:
    return current().internal_signing_key()


@functools.cache
def verifier() -> auth.Verifier:
    """Verifies tokens as the services do."""
    trusted = auth.load_jwks(current().path(secrets.JWKS), ISSUERS)
    return auth.Verifier(auth.AuthSettings(trusted, issuers=ISSUERS))
