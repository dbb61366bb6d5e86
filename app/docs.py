"""The API docs, Swagger UI at /docs and ReDoc at /redoc: their files (fastapi-offline's copies)
served by the service, and a Content-Security-Policy on each page that lets nothing else in.

FastAPI draws the pages; each policy allows scripts from the service plus, by hash, the inline
script that starts Swagger UI, so no other inline script can run. Styles may be inline (ReDoc
writes its styles into the page as it renders), images may be data: URLs (Swagger UI's icons) and
ReDoc's search runs in a blob: worker: all of them made in the page, none fetched from elsewhere.
"""

import base64
import functools
import hashlib
import re
from importlib import resources

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from app.http import etag_of, none_match

ASSETS = "/static-offline-docs"
# ReDoc draws Redocly's logo from Redocly's CDN, and has no option not to (Redocly/redoc#2108).
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

router = APIRouter(include_in_schema=False)


# The service's own files, /openapi.json and images made in the page: what Swagger UI needs.
_POLICY = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "base-uri": "'none'",
    "form-action": "'none'",
    "frame-ancestors": "'none'",
}
REDOC_NEEDS = {"style-src": "'self' 'unsafe-inline'", "worker-src": "blob:"}


def docs_policy(html: str, needs: dict[str, str]) -> str:
    """A page's CSP: the service's own files, what the page `needs`, and of inline scripts only
    those in `html`, by hash."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    policy = {**_POLICY, **needs, "script-src": f"'self'{hashes}"}
    return "; ".join(f"{directive} {sources}" for directive, sources in policy.items())


def _with_policy(page: HTMLResponse, needs: dict[str, str]) -> HTMLResponse:
    html = bytes(page.body).decode()
    return HTMLResponse(html, headers={"Content-Security-Policy": docs_policy(html, needs)})


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root, app = request.scope.get("root_path", ""), request.app
    page = get_swagger_ui_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
        swagger_ui_parameters=app.swagger_ui_parameters,
    )
    return _with_policy(page, {})


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root, app = request.scope.get("root_path", ""), request.app
    page = get_redoc_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
        with_google_fonts=False,
    )
    return _with_policy(page, REDOC_NEEDS)


@functools.cache
def redoc_bundle() -> tuple[bytes, str]:
    """ReDoc's script without the logo's URL (an empty src asks nobody, and ReDoc then hides the
    image), and its ETag."""
    script = resources.files("fastapi_offline").joinpath("static", "redoc.standalone.js").read_text()
    body = script.replace(f'"{REDOCLY_LOGO}"', '""').encode()
    return body, etag_of(body)


@router.get(f"{ASSETS}/redoc.standalone.js")
async def redoc_script(request: Request) -> Response:
    body, etag = redoc_bundle()
    if none_match(request, etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="text/javascript", headers={"ETag": etag})


def include_docs(app: FastAPI) -> None:
    """The docs pages and their files; the app is made with `docs_url=None, redoc_url=None`."""
    app.include_router(router)  # before the mount, which would otherwise serve ReDoc's own script
    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="static-offline-docs")
