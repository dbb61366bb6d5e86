"""The API docs pages: each under a policy that admits only the service, with ReDoc's script
served without the logo it would fetch from Redocly's CDN. tests/pages/test_browser.py loads them
in a browser."""

import base64
import hashlib
import re

import pytest
from fastapi.testclient import TestClient

REDOC_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; worker-src blob:"
)


def swagger_ui_policy(script_hash: str) -> str:
    return (
        f"default-src 'none'; script-src 'self' 'sha256-{script_hash}'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


@pytest.mark.parametrize("root_path", ["", "/api"])
def test_each_docs_page_admits_only_the_service_and_its_own_inline_script(client: TestClient, root_path: str) -> None:
    with TestClient(client.app, root_path=root_path) as proxied:
        docs, redoc = proxied.get(f"{root_path}/docs"), proxied.get(f"{root_path}/redoc")
    (script,) = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
    assert f"url: '{root_path}/openapi.json'" in script  # so the hash is of this page's script
    script_hash = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert docs.headers["content-security-policy"] == swagger_ui_policy(script_hash)
    assert "<script>" not in redoc.text
    assert redoc.headers["content-security-policy"] == REDOC_POLICY
    for page in (docs, redoc):
        assert page.status_code == 200
        assert page.headers["x-frame-options"] == "DENY"
        assert f'src="{root_path}/static-offline-docs/' in page.text


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_load_their_assets_from_the_service(client: TestClient, page: str) -> None:
    response = client.get(page)
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', response.text)
    assert any(asset.endswith(".js") for asset in assets), assets
    for asset in assets:
        loaded = client.get(asset)
        assert loaded.status_code == 200, asset
        assert loaded.headers["x-content-type-options"] == "nosniff"


def test_redocs_script_comes_without_the_url_of_redoclys_logo(client: TestClient) -> None:
    script = client.get("/static-offline-docs/redoc.standalone.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.text.startswith("/*! For license information please see redoc.standalone.js.LICENSE.txt */")
    assert 'alt:"redocly logo"' in script.text
    assert "cdn.redoc.ly" not in script.text
    again = client.get("/static-offline-docs/redoc.standalone.js", headers={"If-None-Match": script.headers["etag"]})
    assert (again.status_code, again.content) == (304, b"")
