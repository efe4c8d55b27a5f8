"""The /docs page renders every route of the OpenAPI document in a real browser
(headless Chromium), with no token and nothing loaded from outside."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import socket
import ssl
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway_envoy import docs_site
from tests.e2e.edge_fixtures import edge
from tests.support.edge import EdgeMesh

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "generated" / "openapi.json"
CHROMIUM = shutil.which("chromium")

__all__ = ["edge"]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium: apt-get install -y chromium"
)


@dataclass(frozen=True)
class DocsPage:
    url: str
    # For an https URL: the CA that signed the server's certificate.
    ca_file: Path | None = None


@pytest.fixture
def docs_url(edge: EdgeMesh) -> DocsPage:
    """The docs page as a browser reaches it: through the real edge over TLS,
    with no token, under the edge's content security policy."""
    return DocsPage(f"{edge.base_url}{docs_site.PREFIX}", edge.ca_file)


@pytest.mark.parametrize("suffix", ["", "/"], ids=["docs", "docs-slash"])
def test_docs_page_renders_every_route(docs_url: DocsPage, suffix: str, tmp_path: Path) -> None:
    dom, console = rendered_dom(docs_url, docs_url.url + suffix, tmp_path / "profile")
    page = _Page.parse(dom)
    context = f"browser console:\n{console}"

    assert "Failed to load API definition" not in page.text, context
    assert "shopmesh API" in page.text, context
    for route in ("/v1/orders", "/orders/request", "/api/shipping/receive", "POST", "GET"):
        assert route in page.text, context
    assert page.operations == documented_operations(), context


def documented_operations() -> set[tuple[str, str, str]]:
    """(METHOD, path, operationId) of every operation in the generated document."""
    document = json.loads(OPENAPI.read_text())
    return {
        (method.upper(), path, operation["operationId"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


def rendered_dom(page: DocsPage, url: str, profile: Path) -> tuple[str, str]:
    """The DOM once the page has settled, and what the page logged to its console.

    `--virtual-time-budget` lets the page run (fetching the document, rendering
    it) until it is idle, up to that much virtual time, before the DOM is dumped;
    no waiting on wall-clock time."""
    assert CHROMIUM is not None
    args = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=30000",
    ]
    if page.ca_file is not None:
        args.append(
            f"--ignore-certificate-errors-spki-list={_verified_spki_pin(url, page.ca_file)}"
        )
    done = subprocess.run(
        [*args, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=False
    )
    console = "\n".join(line for line in done.stderr.splitlines() if ":CONSOLE" in line)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, console


class _Page(HTMLParser):
    """The visible text of a Swagger UI page and the operations it lists."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self.operations: set[tuple[str, str, str]] = set()
        self._capturing: str | None = None
        self._operation: dict[str, str] = {}
        self._skip = 0

    @classmethod
    def parse(cls, html: str) -> _Page:
        page = cls()
        page.feed(html)
        page.close()
        return page

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "title"):
            self._skip += 1
        classes = (dict(attrs).get("class") or "").split()
        if "opblock-summary-method" in classes:
            self._capturing = "method"
        elif "opblock-summary-operation-id" in classes:
            self._capturing = "operation_id"
        elif "opblock-summary-path" in classes:
            self._operation["path"] = dict(attrs).get("data-path") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "title"):
            self._skip -= 1
        if tag == "span":
            self._capturing = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.chunks.append(data)
        if self._capturing:
            self._operation[self._capturing] = data.strip()
            if self._capturing == "operation_id":
                op = self._operation
                self.operations.add((op["method"], op["path"], op["operation_id"]))
                self._operation = {}


def _verified_spki_pin(url: str, ca_file: Path) -> str:
    """Check the server's certificate against `ca_file`, then pin its key for
    Chromium, which cannot be handed a CA file."""
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or 443
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        certificate = tls.getpeercert(binary_form=True)
    assert certificate is not None
    return base64.b64encode(hashlib.sha256(_subject_public_key_info(certificate)).digest()).decode()


def _subject_public_key_info(der: bytes) -> bytes:
    """The SubjectPublicKeyInfo of a DER X.509 certificate (RFC 5280 4.1)."""

    def element(at: int) -> tuple[int, int, int]:
        """(tag, start of content, end) of the DER element at `at`."""
        tag, length, at = der[at], der[at + 1], at + 2
        if length & 0x80:
            size = length & 0x7F
            length, at = int.from_bytes(der[at : at + size], "big"), at + size
        return tag, at, at + length

    _, tbs, _ = element(0)  # Certificate
    _, at, _ = element(tbs)  # TBSCertificate
    tag, _, end = element(at)
    if tag == 0xA0:  # [0] version
        at = end
    for _ in range(5):  # serialNumber, signature, issuer, validity, subject
        at = element(at)[2]
    return der[at : element(at)[2]]
