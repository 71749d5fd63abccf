"""GET /openapi.json (generated from the live app) and GET /docs (Swagger UI, served locally).

The Swagger UI 5 assets come from the `dist/` folder of the `flask-swagger-ui` package installed
with the service (located, never imported), so the page works with no network access: no CDN,
no fonts or scripts from elsewhere.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from lead2inbound.contract.problems import not_found
from lead2inbound.web import openapi
from lead2inbound.web.openapi import Op, Resp

_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>lead2inbound intake API</title>
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <style>body { margin: 0; } .topbar { display: none; }</style>
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      docExpansion: "list",
      defaultModelsExpandDepth: 1,
      defaultModelExpandDepth: 2,
      defaultModelRendering: "model",
      tryItOutEnabled: false,
      validatorUrl: null,
    });
  </script>
</body>
</html>
"""


def asset_dir() -> Path | None:
    """Swagger UI's dist/ folder, found without importing its (Flask) package."""
    spec = importlib.util.find_spec("flask_swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        dist = Path(location) / "dist"
        if (dist / "swagger-ui-bundle.js").is_file():
            return dist
    return None


def _find_asset(name: str) -> bytes | None:
    base = asset_dir()
    path = base / name if base is not None else None
    return path.read_bytes() if path is not None and path.is_file() else None


class OpenApiResource:
    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="The OpenAPI 3.1 document",
            description="Generated at run time from the routes and the schema that validates "
            "requests.",
            responses=(Resp(200, "The document.", raw_schema={"type": "object"}),),
        )
    }

    def __init__(self, app: Any):
        self._app = app
        self._cached: bytes | None = None

    async def on_get(self, req: Any, resp: Any) -> None:
        if self._cached is None:
            self._cached = msgspec.json.encode(openapi.build(self._app))
        resp.status = 200
        resp.content_type = "application/json"
        resp.data = self._cached


class DocsPageResource:
    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="API documentation page",
            description="Swagger UI over /openapi.json; its assets are served by this service.",
            responses=(
                Resp(200, "An HTML page.", media="text/html", raw_schema={"type": "string"}),
            ),
        )
    }

    async def on_get(self, req: Any, resp: Any) -> None:
        resp.status = 200
        resp.content_type = "text/html; charset=utf-8"
        resp.text = PAGE


class DocsAssetResource:
    openapi: ClassVar[dict[str, Op]] = {
        "get": Op(
            summary="A static asset of the documentation page",
            parameters=(
                {
                    "name": "name",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": sorted(_ASSETS)},
                },
            ),
            responses=(Resp(200, "The asset.", media="*/*", raw_schema={"type": "string"}),),
            errors=(404,),
        )
    }

    def __init__(self) -> None:
        self._cache: dict[str, bytes] = {}

    async def on_get(self, req: Any, resp: Any, name: str) -> None:
        if name not in _ASSETS:
            raise not_found("asset")
        data = self._cache.get(name)
        if data is None:
            data = _find_asset(name)
            if data is None:  # pragma: no cover - a broken install
                raise not_found("asset")
            self._cache[name] = data
        resp.status = 200
        resp.content_type = _ASSETS[name]
        resp.data = data
        resp.cache_control = ["public", "max-age=86400"]
