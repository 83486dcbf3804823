"""The session report in a real browser (Playwright driving Debian's chromium): it renders one timeline lane per
speaker, makes no request outside its own folder, raises no script error, and a time stamp seeks the recording;
the report of a video with a face shows the face lane (a block per speech segment, seeking too).
Skipped without chromium, playwright or the [session] extra."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import soundfile as sf
from tests.test_session import SR, _conversation, _voice

from avemotion.cli.main import main

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytest.importorskip("silero_vad")
pytest.importorskip("resemblyzer")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("session_browser")
    audio, _ = _conversation([_voice(105.0, 1.0), _voice(225.0, 1.2)], seed=3)
    wav = folder / "talk.wav"
    sf.write(wav, audio, SR)
    assert main(["-q", "session", str(wav), "--out", str(folder / "out")]) == 0
    return folder / "out" / "talk.session.html"


def _open(p, path: Path) -> tuple[object, object, list[str], list[str]]:
    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    outside: list[str] = []
    errors: list[str] = []

    def guard(route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.as_uri())
    return browser, page, outside, errors


@pytest.fixture(scope="module")
def video_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.test_session_faces import media

    folder = tmp_path_factory.mktemp("session_browser_video")
    paths = media.__wrapped__(tmp_path_factory)
    assert main(["-q", "session", str(paths["talking"]), "--out", str(folder)]) == 0
    return folder / "talking.session.html"


def test_report_face_lane(video_report: Path) -> None:
    with sync_api.sync_playwright() as p:
        browser, page, outside, errors = _open(p, video_report)
        lane = page.locator("#face-lane rect.face")
        assert lane.count() >= 1
        assert page.locator("#face-lane rect.speaking").count() >= 1
        box = lane.first.bounding_box()
        assert box is not None and box["width"] > 2 and box["height"] > 10  # drawn, not collapsed
        assert "speaking on camera" in page.inner_text("body")
        lane.first.click()
        page.wait_for_timeout(200)
        assert page.evaluate("document.getElementById('media').currentTime") > 0.5  # speech starts after 1 s
        browser.close()  # type: ignore[attr-defined]
    assert outside == [] and [e for e in errors if "play()" not in e] == []


def test_report_renders_offline_and_seeks(report: Path) -> None:
    with sync_api.sync_playwright() as p:
        browser, page, outside, errors = _open(p, report)
        assert page.title().startswith("Session report: talk.wav")
        lanes = page.locator("svg rect[onclick]")
        assert lanes.count() >= 2  # speech pieces of both speakers, each a block that seeks
        text = page.inner_text("body")
        assert "What was found" in text and "Strongest moments" in text and "nothing was sent" in text
        media = page.locator("#media")
        assert media.count() == 1
        stamp = page.locator("a.t").first
        stamp.click()
        page.wait_for_timeout(200)
        t = page.evaluate("document.getElementById('media').currentTime")
        assert t > 0.5  # the first strongest moment starts after the 1-s lead-in pause
        browser.close()
    assert outside == [] and [e for e in errors if "play()" not in e] == []
