"""The generated Envoy config is one Envoy accepts, and it says what we mean."""

from __future__ import annotations

import json
from pathlib import Path

from gateway_envoy import render, topology


def test_envoy_validates_the_config_make_run_generates(secrets_dir: Path, tmp_path: Path) -> None:
    default = topology.from_env({})
    path = render.write(default, render.edge_files(secrets_dir), tmp_path)
    render.validate(path)

    config = json.loads(path.read_text())
    admin = config["admin"]["address"]["socket_address"]
    assert (admin["address"], admin["port_value"]) == ("127.0.0.1", 9901)
    listeners = {
        listener["name"]: listener["address"]["socket_address"]["port_value"]
        for listener in config["static_resources"]["listeners"]
    }
    assert listeners == {"https": 8443, "http": 8080}
    [https] = [x for x in config["static_resources"]["listeners"] if x["name"] == "https"]
    tls = https["filter_chains"][0]["transport_socket"]["typed_config"]["common_tls_context"]
    assert tls["tls_params"]["tls_minimum_protocol_version"] == "TLSv1_2"
    assert tls["alpn_protocols"] == ["h2", "http/1.1"]
    clusters = {
        cluster["name"]: [
            e["endpoint"]["address"]["socket_address"]["port_value"]
            for e in cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
        ]
        for cluster in config["static_resources"]["clusters"]
    }
    assert clusters == {
        "orders": [50051, 50061],
        "shipping": [50052, 50062],
        "notifications": [50053, 50063],
    }


def test_a_broken_config_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "envoy.json"
    broken.write_text(
        json.dumps({"static_resources": {"clusters": [{"name": "x", "type": "NOPE"}]}})
    )
    try:
        render.validate(broken)
    except render.InvalidConfig as refused:
        assert "NOPE" in str(refused)
    else:
        raise AssertionError("envoy accepted a broken config")


def test_a_real_certificate_can_replace_the_development_one(tmp_path: Path) -> None:
    real = {"EDGE_TLS_CERT": "/etc/ssl/shop.pem", "EDGE_TLS_KEY": "/etc/ssl/shop-key.pem"}
    files = render.edge_files(tmp_path, real)
    assert (files.certificate, files.private_key) == (
        Path("/etc/ssl/shop.pem"),
        Path("/etc/ssl/shop-key.pem"),
    )
    assert render.edge_files(tmp_path, {}).certificate == tmp_path / "server.pem"
    try:
        render.edge_files(tmp_path, {"EDGE_TLS_CERT": "/etc/ssl/shop.pem"})
    except render.InvalidConfig as refused:
        assert "EDGE_TLS_KEY" in str(refused)
    else:
        raise AssertionError("a certificate without its key was accepted")
