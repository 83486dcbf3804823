"""The page in a real browser: Playwright driving Debian's chromium against `avemotion serve` on loopback.

Upload a clip, wait for the timeline, click it (the video seeks), download the CSV, and write a screenshot of
the finished page (also copied to /tmp/avemotion_web_screenshot.png). Requests to anything but the server are
blocked and recorded: the page must not need the internet. Skipped when chromium or playwright is absent
(`make test` installs chromium as root).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
from web_helpers import gap_clip, tiny_run  # noqa: E402

from avemotion.web.local import local_server  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install "
                                "chromium; `make test` does it as root)")
SCREENSHOT_COPY = Path("/tmp/avemotion_web_screenshot.png")


@pytest.fixture(scope="session")
def web_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_run(tmp_path_factory.getbasetemp() / "web_run")


@pytest.fixture(scope="module")
def server(web_run: Path):
    with local_server(web_run) as srv:
        assert srv.health["status"] == "ok"
        yield srv.url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def _offline_page(browser, url: str):  # noqa: ANN001, ANN202
    context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page = context.new_page()
    outside: list[str] = []

    def guard(route) -> None:  # noqa: ANN001
        if route.request.url.startswith(url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # the server's Content-Security-Policy must not block anything the page (or /docs) does
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    return context, page, outside, errors


def test_upload_timeline_seek_download(server: str, browser, tmp_path: Path) -> None:  # noqa: ANN001
    clip = gap_clip(tmp_path / "interview.mp4")
    context, page, outside, errors = _offline_page(browser, server)
    page.goto(server + "/")
    page.wait_for_function("document.getElementById('model-info').textContent.includes('model')")
    page.click("#settings summary")
    page.fill("#window", "1")
    page.fill("#hop", "0.5")
    page.set_input_files("#file-input", str(clip))
    page.wait_for_selector("#result:not([hidden])", timeout=90_000)
    page.wait_for_function("document.getElementById('video').readyState >= 1", timeout=20_000)
    assert page.locator("#video").is_visible() and page.locator("#audio").is_hidden()
    rows = page.locator("#segments tbody tr")
    assert rows.count() >= 2 and "no usable signal" in page.locator("#segments").inner_text()  # the gap
    labels = json.loads(page.evaluate("JSON.stringify(state.result.labels)"))
    assert page.locator("#now-emotion").inner_text().lower() in labels

    # click at 75 % of the timeline's time axis: the video seeks there
    duration = page.evaluate("state.result.duration")
    box = page.locator("#timeline").bounding_box()
    x_of = page.evaluate("(t) => geometry().x(t)", 0.75 * duration)
    page.mouse.click(box["x"] + x_of, box["y"] + 60)
    page.wait_for_function("(t) => Math.abs(document.getElementById('video').currentTime - t) < 0.3",
                           arg=0.75 * duration, timeout=10_000)
    now = page.locator("#now-detail").inner_text()
    assert now.startswith("0:04") and page.locator("#now-emotion").inner_text().lower() in labels

    # a click in the silent gap shows that nothing was usable there
    page.mouse.click(box["x"] + page.evaluate("(t) => geometry().x(t)", 3.0), box["y"] + 60)
    page.wait_for_function("document.getElementById('now-emotion').textContent === 'no usable signal'")

    with page.expect_download() as info:
        page.click("#dl-csv")
    download = info.value
    assert download.suggested_filename == "interview.timeline.csv"
    with open(download.path(), newline="") as fh:
        rows_csv = list(csv.DictReader(fh))
    assert len(rows_csv) == 11 and {f"p_{lab}" for lab in labels} <= set(rows_csv[0])

    page.mouse.click(box["x"] + x_of, box["y"] + 60)  # cursor back at 75 % for the picture
    page.wait_for_function("(t) => { const v = document.getElementById('video'); "
                           "return Math.abs(v.currentTime - t) < 0.3 && !v.seeking && v.readyState >= 2; }",
                           arg=0.75 * duration, timeout=10_000)
    page.wait_for_timeout(1500)  # the player's own loading spinner fades out
    shot = tmp_path / "web_page.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copyfile(shot, SCREENSHOT_COPY)
    assert shot.stat().st_size > 20_000
    assert outside == [] and errors == []
    context.close()


def test_errors_shown_and_docs_offline(server: str, browser, tmp_path: Path) -> None:  # noqa: ANN001
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n" * 50)
    context, page, outside, errors = _offline_page(browser, server)
    page.goto(server + "/")
    page.set_input_files("#file-input", str(notes))
    page.wait_for_selector("#message:not([hidden])", timeout=20_000)
    assert page.locator("#message").inner_text().startswith("notes.mp4: not an audio or video recording")
    page.goto(server + "/docs")
    page.get_by_text("/api/timeline", exact=True).first.wait_for(timeout=20_000)
    assert page.get_by_text("/api/predict", exact=True).count() >= 1
    assert outside == [] and errors == []
    context.close()
