"""The real dashboard in a real browser: `start_dashboard` over a small warehouse, driven by the
system Chromium through Playwright, with a full-page screenshot for people to look at."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from pipelines.dashboard_server import start_dashboard, wait_until_ready
from tests.dashboard_fixtures import TOP_NOTION_TEXT, build_small_warehouse

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = build_small_warehouse(tmp_path_factory.mktemp("warehouse") / "aftershock.duckdb").path
    port = _free_port()
    process = start_dashboard(db, port=port)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, timeout_s=60, process=process)
        yield url
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _wait_for_charts(page: Page, count: int) -> None:
    """`count` Altair charts, each drawn by vega-embed into a canvas or svg, and no element
    still showing Streamlit's loading skeleton."""
    charts = page.locator(".vega-embed")
    expect(charts).to_have_count(count, timeout=60_000)
    for i in range(count):
        expect(charts.nth(i).locator("canvas, svg").first).to_be_visible(timeout=30_000)
    expect(page.locator('[data-testid="stSkeleton"]')).to_have_count(0, timeout=30_000)


def _screenshot_whole_app(page: Page, name: str, charts: int) -> Path:
    """Streamlit scrolls inside its main container, so a full-page screenshot would stop at
    the viewport: grow the viewport to the container's height first."""
    height = page.evaluate(
        "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
    )
    page.set_viewport_size({"width": 1440, "height": int(height) + 40})
    _wait_for_charts(page, charts)  # they re-render at the new size
    page.wait_for_timeout(1000)  # and finish their transitions
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# page url path, charts it draws, text it must show
PAGES = [
    ("", 1, "Sources"),  # Now, the default page
    ("incident", 2, "Overview · Notion AI"),
    ("incident?spike=s-notion-1", 3, "complaint spike of"),
    ("history", 1, "Incidents with no social reaction"),
    ("posts", 0, "posts match"),
    ("sql", 1, "Read-only DuckDB SQL"),
]


@pytest.mark.parametrize(("path", "charts", "text"), PAGES)
def test_every_page_renders_in_chromium(dashboard_url: str, path: str, charts: int,
                                        text: str) -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Chromium (apt-get install -y chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"{dashboard_url}/{path}", timeout=60_000)
            _wait_for_charts(page, charts)
            expect(page.get_by_role("heading", name="Aftershock")).to_be_visible()
            expect(page.get_by_text(text).first).to_be_visible()
            expect(page.get_by_text("Simulated demo data")).to_be_visible()
            if path in ("incident", "posts"):  # the top posts table
                grid = page.locator('[data-testid="stDataFrame"]').last
                expect(grid.get_by_text(TOP_NOTION_TEXT)).to_have_count(1, timeout=30_000)
            name = (path or "now").replace("?spike=", "-spike-")
            shot = _screenshot_whole_app(page, name, charts)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
