"""The docs pages (/api/docs/ Swagger UI, /api/redoc/ Redoc) work offline, in a real browser.

The service runs as in production: gunicorn, DEBUG off, its static files collected
(``collectstatic``, as the image does) and served by WhiteNoise, the security headers of
config/settings.py on. Debian's headless Chromium (driven by Playwright, as the admin's
browser test does) opens each page; every request the page makes is recorded, and any
that would leave 127.0.0.1 is aborted — the page must still render every operation.
A screenshot of each is saved in artifacts/ (CI uploads the directory).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from scripts.prove.harness import PYTHON, ROOT, Server, running, service_environment
from tests.prove.conftest import test_database_url as database_url

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory) -> Iterator[Server]:
    static_root = tmp_path_factory.mktemp("staticfiles")
    env = service_environment(database_url(), os.environ["REDIS_URL"], {"STATIC_ROOT": str(static_root)})
    done = subprocess.run([PYTHON, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    with running(database_url(), os.environ["REDIS_URL"], env={"STATIC_ROOT": str(static_root)},
                 workers=1, threads=4) as (live, _gateway):
        yield live


@pytest.fixture(scope="module")
def operations(server) -> list[tuple[str, str, dict]]:
    schema = httpx.get(server.base_url + "/api/schema/", params={"format": "json"}, timeout=20).json()
    return [(method, path, op) for path, item in schema["paths"].items() for method, op in item.items()]


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium), or set CHROMIUM.", pytrace=False)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check"],
        )
        try:
            yield launched
        finally:
            launched.close()


class Recorded:
    """Every request a page makes; those leaving 127.0.0.1 are aborted, and kept apart."""

    def __init__(self, page) -> None:
        self.all: list[str] = []
        self.outside: list[str] = []
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        self.all.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1":
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(20_000)
    recorded = Recorded(page)
    answer = page.goto(url)
    return page, recorded, answer


def test_swagger_ui_renders_every_operation_from_this_server_only(server, operations, browser):
    page, recorded, answer = open_page(browser, server.base_url + "/api/docs/")
    assert answer.status == 200
    page.wait_for_selector(".opblock")
    page.wait_for_function(f"document.querySelectorAll('.opblock').length >= {len(operations)}")
    # Swagger UI breaks long paths with zero-width spaces.
    shown = {el.inner_text().replace("\u200b", "") for el in page.query_selector_all(".opblock-summary-path")}
    assert {path for _m, path, _op in operations} <= shown
    assert page.locator(".opblock-summary-description", has_text="Sign in with a Firebase ID token").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-docs-swagger.png"), full_page=False)
    assert recorded.outside == []
    assert recorded.errors == []
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/" in url for url in recorded.all)


def test_redoc_renders_every_operation_from_this_server_only(server, operations, browser):
    page, recorded, answer = open_page(browser, server.base_url + "/api/redoc/")
    assert answer.status == 200
    page.wait_for_selector("[data-item-id*='operation/']", state="attached")
    items = {el.get_attribute("data-item-id") for el in page.query_selector_all("[data-item-id*='operation/']")}
    assert {f"tag/v1/operation/{op['operationId']}" for _m, _p, op in operations} <= items
    page.locator("h2", has_text="Sign in with the code").first.wait_for()  # the operation itself, rendered
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-docs-redoc.png"), full_page=False)
    assert recorded.outside == []
    assert recorded.errors == []
    assert any("/static/drf_spectacular_sidecar/redoc/" in url for url in recorded.all)


def test_the_pages_keep_the_security_headers_and_name_nothing_outside(server):
    for path in ("/api/docs/", "/api/redoc/"):
        answer = httpx.get(server.base_url + path, timeout=20)
        assert answer.status_code == 200
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "same-origin"
        policy = answer.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self';" in policy and "unsafe-eval" not in policy
        assert "http://" not in answer.text and "https://" not in answer.text, path
    script = httpx.get(server.base_url + "/api/docs/", params={"script": ""}, timeout=20)
    assert script.headers["Content-Type"].startswith("application/javascript")  # nosniff would refuse anything else
    bundle = httpx.get(server.base_url + "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js", timeout=20)
    assert bundle.status_code == 200 and "javascript" in bundle.headers["Content-Type"]


def test_a_page_loading_a_cdn_would_be_caught(browser):
    """The recorder can fail: a page that loads a CDN script is seen (and aborted)."""
    page = browser.new_page()
    recorded = Recorded(page)
    page.set_content('<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>')
    assert recorded.outside == ["https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"]

