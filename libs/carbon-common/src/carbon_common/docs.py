"""Offline API docs: Swagger UI served by the service itself, from the swagger-ui-bundle-v2 wheel (no CDN)."""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
# axe-core (serious): the page has no lang, and Swagger UI's badges and links are below 4.5:1 contrast.
# axe-core (moderate landmark-one-main, region): Swagger UI renders into a bare <div>; ours is the <main>.
# Swagger UI's own markup still nests interactive controls (axe 'nested-interactive'); that is upstream's.
_A11Y_STYLE = """<style>
.swagger-ui .info .title small { background: #434b4f; }
.swagger-ui .info .title small.version-stamp { background: #1d632e; }
.swagger-ui .info a { color: #1d5aa8; } .swagger-ui .json-schema-2020-12-expand-deep-button { color: #505050; }
.swagger-ui .btn.authorize { color: #1e6b43; border-color: #1e6b43; } .swagger-ui .btn.authorize svg { fill: #1e6b43; }
.swagger-ui .opblock.opblock-get .opblock-summary-method { background: #1f5f9f; }
.swagger-ui .opblock.opblock-post .opblock-summary-method { background: #1e6b43; }
.swagger-ui .opblock.opblock-put .opblock-summary-method { background: #9a4f00; }
.swagger-ui .opblock.opblock-delete .opblock-summary-method { background: #b0281b; }
.swagger-ui .opblock.opblock-patch .opblock-summary-method { background: #17695a; }
</style>"""
# axe-core (critical select-name): Swagger UI renders the servers <select> without a name.
# axe-core (moderate heading-order): below its <h1> title Swagger UI starts the sections at <h3>/<h4>;
# they are announced as level 2.
_A11Y_SCRIPT = """<script>
new MutationObserver(() => {
  const select = document.getElementById("servers");
  if (select && !select.hasAttribute("aria-label")) select.setAttribute("aria-label", "Servers");
  const sections = "h3.opblock-tag:not([aria-level]), section.models > h4:not([aria-level])";
  for (const heading of document.querySelectorAll(sections)) heading.setAttribute("aria-level", "2");
}).observe(document.body, {childList: true, subtree: true});
</script>"""


def install_offline_docs(app: FastAPI) -> None:
    """`/docs` with its JS/CSS under `/docs/assets`; create the app with `docs_url=None, redoc_url=None`."""
    assert app.docs_url is None, "FastAPI's own /docs loads Swagger UI from a CDN: pass docs_url=None"
    app.mount(ASSETS_PATH, StaticFiles(directory=swagger_ui_path), name="swagger-ui-assets")

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} · API",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from validator.swagger.io
        )
        text = (
            bytes(page.body)
            .decode()
            .replace("<html>", '<html lang="en">', 1)
            .replace("</head>", _A11Y_STYLE + "</head>", 1)
            .replace("</body>", _A11Y_SCRIPT + "</body>", 1)
        )
        text = re.sub(r'<div id="swagger-ui">\s*</div>', '<main id="swagger-ui"></main>', text, count=1)
        return HTMLResponse(text)
