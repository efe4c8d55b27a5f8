"""The development secrets `shopmesh run` generates, and the tokens
`shopmesh token` prints with them."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import jwt
import pytest
from cryptography import x509

from meshkit import auth, config
from shopctl import cli, mesh, prepare, secrets

PRIVATE = (
    secrets.EDGE_SIGNING_KEY,
    secrets.INTERNAL_SIGNING_KEY,
    secrets.CA_KEY,
    secrets.SERVER_KEY,
)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOPMESH_STATE_DIR", str(tmp_path / "state"))
    for name in ("JWT_ISSUER", "INTERNAL_JWT_ISSUER", "JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "state"


def contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_every_secret_is_generated_once_and_private_keys_are_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"

    first = secrets.ensure(folder)
    before = contents(folder)
    again = secrets.ensure(folder)

    assert set(first.written) == set(secrets.FILES) == set(before)
    assert again.written == ()
    assert contents(folder) == before
    for name in PRIVATE:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name


def test_only_what_is_missing_is_made_again(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    secrets.ensure(folder)
    internal_key = (folder / secrets.INTERNAL_SIGNING_KEY).read_bytes()
    edge_jwks = (folder / secrets.EDGE_JWKS).read_bytes()
    (folder / secrets.EDGE_SIGNING_KEY).unlink()
    (folder / secrets.CA_KEY).unlink()

    redone = secrets.ensure(folder)

    # A new edge key: both key sets name it; a new CA: the server is certified again.
    assert set(redone.written) == {
        secrets.EDGE_SIGNING_KEY,
        secrets.JWKS,
        secrets.EDGE_JWKS,
        secrets.CA_KEY,
        secrets.CA,
        secrets.SERVER,
    }
    assert (folder / secrets.INTERNAL_SIGNING_KEY).read_bytes() == internal_key
    assert (folder / secrets.EDGE_JWKS).read_bytes() != edge_jwks
    server = x509.load_pem_x509_certificate((folder / secrets.SERVER).read_bytes())
    server.verify_directly_issued_by(
        x509.load_pem_x509_certificate((folder / secrets.CA).read_bytes())
    )


def test_the_key_sets_name_each_key_with_its_kid_and_issuer(tmp_path: Path) -> None:
    found = secrets.ensure(tmp_path / "secrets")
    edge, internal = found.edge_signing_key(), found.internal_signing_key()

    both = json.loads(found.path(secrets.JWKS).read_text())["keys"]
    edge_only = json.loads(found.path(secrets.EDGE_JWKS).read_text())["keys"]

    assert {(k["kid"], k["iss"]) for k in both} == {
        (edge.kid, auth.EDGE_ISSUER),
        (internal.kid, auth.INTERNAL_ISSUER),
    }
    assert [k["kid"] for k in edge_only] == [edge.kid]
    assert all(k["alg"] == "RS256" and k["use"] == "sig" and "d" not in k for k in both)


def test_the_edge_certificate_is_for_localhost_and_signed_by_the_ca(tmp_path: Path) -> None:
    found = secrets.ensure(tmp_path / "secrets")
    ca = x509.load_pem_x509_certificate(found.path(secrets.CA).read_bytes())
    server = x509.load_pem_x509_certificate(found.path(secrets.SERVER).read_bytes())

    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_prepare_says_whether_it_generated_or_reused(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prepare.ensure_secrets()
    prepare.ensure_secrets()

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["secrets", "generated", "in", str(state / "secrets")]
    assert lines[1].split() == ["secrets", "reused", "in", str(state / "secrets")]


def test_every_service_gets_the_key_files(state: Path) -> None:
    specs = mesh.services({})
    env = mesh.child_env(
        specs[0], mesh.topology({}), "postgresql://db", {"SHOPMESH_STATE_DIR": str(state)}
    )

    assert env["JWKS_FILE"] == str(state / "secrets" / secrets.JWKS)
    assert env["INTERNAL_SIGNING_KEY_FILE"] == str(state / "secrets" / secrets.INTERNAL_SIGNING_KEY)


def verified(token: str, state: Path) -> dict[str, object]:
    trusted = auth.load_jwks(state / "secrets" / secrets.JWKS, auth.Issuers())
    key = trusted[jwt.get_unverified_header(token)["kid"]]
    assert key.issuer == auth.EDGE_ISSUER
    return jwt.decode(
        token, key.public_key, algorithms=["RS256"], audience="shopmesh", issuer=auth.EDGE_ISSUER
    )


def test_shopmesh_token_prints_a_customer_token_the_services_accept(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["token", "--customer-id", "42"]) == 0
    token = capsys.readouterr().out.strip()

    claims = verified(token, state)
    assert {k: claims[k] for k in ("sub", "role", "customer_id")} == {
        "sub": "customer:42",
        "role": "customer",
        "customer_id": 42,
    }
    assert 3590 <= int(claims["exp"]) - time.time() <= 3600  # type: ignore[call-overload]


def test_shopmesh_token_for_staff_with_a_lifetime(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["token", "--role", "ops", "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip()

    claims = verified(token, state)
    assert claims["sub"] == "staff:ops" and claims["role"] == "ops"
    assert "customer_id" not in claims
    assert int(claims["exp"]) - int(claims["iat"]) == 60  # type: ignore[call-overload]


def test_shopmesh_token_refuses_what_it_cannot_sign(
    state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["token", "--customer-id", "0"]) == 1
    assert "--customer-id must be positive" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["token", "--role", "service"])
    with pytest.raises(SystemExit):
        cli.main(["token", "--role", "ops", "--customer-id", "1"])


DATABASE = {"DATABASE_URL": "postgresql://nobody@127.0.0.1/nothing"}


def test_a_service_will_not_start_without_a_usable_jwks(tmp_path: Path) -> None:
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{")

    with pytest.raises(config.ConfigError, match="JWKS_FILE is not set"):
        config.load("orders", 50051, DATABASE)
    with pytest.raises(config.ConfigError, match=r"JWKS_FILE .*absent.json cannot be used"):
        config.load("orders", 50051, {**DATABASE, "JWKS_FILE": str(tmp_path / "absent.json")})
    with pytest.raises(config.ConfigError, match="not JSON"):
        config.load("orders", 50051, {**DATABASE, "JWKS_FILE": str(garbled)})


def test_a_service_signs_only_with_the_key_the_others_trust_for_services(tmp_path: Path) -> None:
    found = secrets.ensure(tmp_path / "secrets")
    env = {**DATABASE, **found.service_env()}

    settings = config.load("orders", 50051, env)
    assert settings.auth.signing_key is not None
    assert settings.auth.signing_key.kid == found.internal_signing_key().kid
    assert set(settings.auth.keys) == {
        found.edge_signing_key().kid,
        found.internal_signing_key().kid,
    }
    wrong = {**env, "INTERNAL_SIGNING_KEY_FILE": str(found.path(secrets.EDGE_SIGNING_KEY))}
    with pytest.raises(config.ConfigError, match="not the internal issuer's key"):
        config.load("orders", 50051, wrong)
