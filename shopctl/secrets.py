"""Development secrets, generated on this machine and never committed.

In `<state dir>/secrets/` (`.shopmesh/secrets/`, git-ignored):

- `edge-signing-key.pem`: signs the edge tokens `shopmesh token` prints (a
  stand-in for a real identity provider).
- `internal-signing-key.pem`: the services sign their calls to each other.
- `jwks.json`: the public keys of both, each naming the issuer it signs for;
  the services verify every token with it.
- `edge-jwks.json`: the edge key alone, for Envoy, so that an internal token
  never passes the edge.
- `ca.pem`, `ca-key.pem`, `server.pem`, `server-key.pem`: a development CA and
  the edge's TLS certificate for localhost, 127.0.0.1 and ::1.

Only what is missing is created, so the keys (and the tokens signed with them)
stay valid across runs; what derives from a key (the key sets, certificates)
is rewritten only when it no longer matches. Private keys are mode 0600.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from meshkit import auth
from shopctl import state

EDGE_SIGNING_KEY = "edge-signing-key.pem"
INTERNAL_SIGNING_KEY = "internal-signing-key.pem"
JWKS = "jwks.json"
EDGE_JWKS = "edge-jwks.json"
CA = "ca.pem"
CA_KEY = "ca-key.pem"
SERVER = "server.pem"
SERVER_KEY = "server-key.pem"
FILES = (EDGE_SIGNING_KEY, INTERNAL_SIGNING_KEY, JWKS, EDGE_JWKS, CA, CA_KEY, SERVER, SERVER_KEY)

CA_DAYS = 3650
SERVER_DAYS = 365
# A server certificate this close to its end is issued again.
RENEW_BEFORE = datetime.timedelta(days=7)
SERVER_NAMES = ("localhost",)
SERVER_ADDRESSES = ("127.0.0.1", "::1")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Secrets:
    folder: Path
    # The files this call created or rewrote, by name.
    written: tuple[str, ...] = field(default=(), compare=False)

    def path(self, name: str) -> Path:
        return self.folder / name

    def service_env(self) -> dict[str, str]:
        """What every service needs: the keys to verify with and to sign with."""
        return {
            "JWKS_FILE": str(self.path(JWKS)),
            "INTERNAL_SIGNING_KEY_FILE": str(self.path(INTERNAL_SIGNING_KEY)),
        }

    def edge_signing_key(self) -> auth.SigningKey:
        return auth.load_signing_key(self.path(EDGE_SIGNING_KEY))

    def internal_signing_key(self) -> auth.SigningKey:
        return auth.load_signing_key(self.path(INTERNAL_SIGNING_KEY))


def folder(env: Mapping[str, str] | None = None) -> Path:
    return state.state_dir(env) / "secrets"


def ensure(where: Path, issuers: auth.Issuers | None = None) -> Secrets:
    """Create whatever is missing in `where`; reuse the rest."""
    issuers = issuers or auth.Issuers()
    where.mkdir(mode=0o700, parents=True, exist_ok=True)
    written: list[str] = []

    def key(name: str, generate: Callable[[], PrivateKey]) -> PrivateKey:
        if not (where / name).exists():
            _write(where / name, _pem(generate()), private=True)
            written.append(name)
        return _read_key(where / name)  # another process may have won a race

    def derived(name: str, content: bytes) -> None:
        _write(where / name, content, private=False, replace=True)
        written.append(name)

    edge = _rsa_key(key(EDGE_SIGNING_KEY, _rsa), EDGE_SIGNING_KEY)
    internal = _rsa_key(key(INTERNAL_SIGNING_KEY, _rsa), INTERNAL_SIGNING_KEY)
    edge_jwk = auth.public_jwk(edge.public_key())
    internal_jwk = auth.public_jwk(internal.public_key(), issuer=issuers.internal)
    for name, keys in (
        (JWKS, [{**edge_jwk, "iss": issuers.edge}, internal_jwk]),
        (EDGE_JWKS, [edge_jwk]),
    ):
        document = (json.dumps({"keys": keys}, indent=2) + "\n").encode()
        if _read(where / name) != document:
            derived(name, document)

    ca_key = key(CA_KEY, _ec)
    ca = _read_certificate(where / CA)
    if ca is None or not _same_key(ca, ca_key):
        ca = _ca_certificate(ca_key)
        derived(CA, ca.public_bytes(serialization.Encoding.PEM))
    server_key = key(SERVER_KEY, _ec)
    server = _read_certificate(where / SERVER)
    if server is None or not _server_current(server, server_key, ca):
        server = _server_certificate(server_key, ca, ca_key)
        derived(SERVER, server.public_bytes(serialization.Encoding.PEM))
    return Secrets(where, tuple(written))


def _rsa() -> PrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ec() -> PrivateKey:
    # The TLS keys: quick to make, and what modern clients prefer.
    return ec.generate_private_key(ec.SECP256R1())


def _rsa_key(key: PrivateKey, name: str) -> rsa.RSAPrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{name} is not an RSA key (tokens are RS256); remove it to regenerate")
    return key


def _pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _read_key(path: Path) -> PrivateKey:
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # a private key is for its owner's eyes only
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an RSA or EC private key; remove it to regenerate")
    return loaded


def _read_certificate(path: Path) -> x509.Certificate | None:
    data = _read(path)
    return None if data is None else x509.load_pem_x509_certificate(data)


def _write(path: Path, content: bytes, *, private: bool, replace: bool = False) -> None:
    """Write through a temporary file, so that no reader ever sees half a
    file. A key is never replaced: when two processes race, the first wins."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        if replace:
            os.replace(temporary, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _same_key(certificate: x509.Certificate, key: PrivateKey) -> bool:
    return _public_der(certificate.public_key()) == _public_der(key.public_key())


def _public_der(public_key: object) -> bytes:
    assert isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _server_current(server: x509.Certificate, key: PrivateKey, ca: x509.Certificate) -> bool:
    if not _same_key(server, key):
        return False
    try:
        server.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return server.not_valid_after_utc - RENEW_BEFORE > _now()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _ca_certificate(key: PrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shopmesh development CA")])
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


def _server_certificate(
    key: PrivateKey, ca: x509.Certificate, ca_key: PrivateKey
) -> x509.Certificate:
    now = _now()
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in SERVER_NAMES]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in SERVER_ADDRESSES]
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAMES[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
