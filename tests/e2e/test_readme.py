"""The README's "Use it" block, run as written against a fresh `shopmesh up`
on the default ports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from shopctl import mesh

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def use_it_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Use it", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


@pytest.mark.default_ports
def test_the_readme_examples_work_as_written() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.endswith("_PORT")}
    taken = mesh.ports_taken(mesh.services(env), mesh.topology(env))
    if taken:
        pytest.fail(
            f"the README uses the default ports: {taken}; if nothing listens there, an outgoing"
            " connection holds one: reserve them with"
            " `sysctl -w net.ipv4.ip_local_reserved_ports=50051-50063`"
        )
    with tempfile.TemporaryDirectory(prefix="shopmesh-readme-") as folder:
        cwd = Path(folder)
        env |= {"SHOPMESH_STATE_DIR": str(cwd / ".shopmesh"), "PATH": f"{BIN}:{env['PATH']}"}
        up = subprocess.run(
            [BIN / "shopmesh", "up"], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
        )
        try:
            assert up.returncode == 0, up.stdout + up.stderr
            ran = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", use_it_block()],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
        finally:
            subprocess.run(
                [BIN / "shopmesh", "down"], cwd=cwd, env=env, capture_output=True, timeout=90
            )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    replies = [json.loads(doc) for doc in _json_documents(ran.stdout)]
    assert any(r.get("order", {}).get("order_id") == "1" for r in replies)
    assert any(len(r.get("shipments", [])) == 1 for r in replies)
    assert any(r.get("notification", {}).get("message") == "Order completed" for r in replies)
    assert {"status": "SERVING"} in replies
    assert "shopmesh.orders.v1.OrderService" in ran.stdout


def _json_documents(text: str) -> list[str]:
    """Split the concatenated JSON replies (curl prints no newline between them)."""
    decoder = json.JSONDecoder()
    found, at = [], 0
    while (start := text.find("{", at)) != -1:
        try:
            _, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            at = start + 1
            continue
        found.append(text[start:end])
        at = end
    return found
