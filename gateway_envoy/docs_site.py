"""The API docs page the edge serves at /docs: Swagger UI on `openapi.json`.

The Swagger UI files are those of the npm package `swagger-ui-dist` 5.31.0,
byte for byte: the PyPI wheel `swagger-ui-bundle-v2` 5.31.0 carries that
package's dist folder unmodified (every file it ships compared equal to the
npm tarball's), so `pip install` alone brings them and machines without npm
can still `make run`. Nothing is fetched from a CDN at run time.

Only three of its files are served: `swagger-ui-bundle.js` (React and Swagger
UI in one file), `swagger-ui.css` and a favicon. The page itself (`index.html`)
is ours and has no inline script, so the edge's `default-src 'self'` policy
holds; it starts Swagger UI from `init.js`. Asset URLs are absolute paths
under /docs, because the page is served at both `/docs` and `/docs/`, where
relative URLs would resolve differently, and the edge's `base-uri 'none'`
rules out a `<base>` element.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from swagger_ui_bundle import swagger_ui_path

PREFIX = "/docs"
OPENAPI_URL = f"{PREFIX}/openapi.json"
# File in the swagger-ui-dist folder -> its content type.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
HTML = "text/html; charset=utf-8"

INDEX_HTML = f"""\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shopmesh API</title>
<link rel="icon" type="image/png" href="{PREFIX}/favicon-32x32.png">
<link rel="stylesheet" href="{PREFIX}/swagger-ui.css">
<script src="{PREFIX}/swagger-ui-bundle.js" defer></script>
<script src="{PREFIX}/init.js" defer></script>
</head>
<body>
<div id="swagger-ui"></div>
<noscript>This page needs JavaScript; the document itself is
<a href="{OPENAPI_URL}">{OPENAPI_URL}</a>.</noscript>
</body>
</html>
"""

INIT_JS = f"""\
// Starts Swagger UI on the edge's OpenAPI document (gateway_envoy/docs_site.py).
"use strict";
window.ui = SwaggerUIBundle({{
  url: "{OPENAPI_URL}",
  dom_id: "#swagger-ui",
  deepLinking: true,
  displayOperationId: true,
  // The default would send the document's URL to validator.swagger.io.
  validatorUrl: null,
}});
"""


@dataclass(frozen=True)
class StaticFile:
    url_path: str
    file: Path
    content_type: str


def assemble(out_dir: Path, openapi: Path) -> list[StaticFile]:
    """Write the docs site into `out_dir` and say what to serve at which path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    index = out_dir / "index.html"
    index.write_text(INDEX_HTML, encoding="utf-8")
    (out_dir / "init.js").write_text(INIT_JS, encoding="utf-8")
    shutil.copyfile(openapi, out_dir / "openapi.json")
    dist = Path(str(swagger_ui_path))
    for name in ASSETS:
        shutil.copyfile(dist / name, out_dir / name)
    return [
        StaticFile(PREFIX, index, HTML),
        StaticFile(f"{PREFIX}/", index, HTML),
        StaticFile(OPENAPI_URL, out_dir / "openapi.json", "application/json"),
        StaticFile(f"{PREFIX}/init.js", out_dir / "init.js", "text/javascript; charset=utf-8"),
        *(StaticFile(f"{PREFIX}/{name}", out_dir / name, kind) for name, kind in ASSETS.items()),
    ]
