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
import time
import urllib.request
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
from web_helpers import face_clip, gap_clip, mute_faceless_clip, two_voice_wav

from avemotion.web.local import local_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install "
                                "chromium; `make test` does it as root)")
SCREENSHOT_COPY = Path("/tmp/avemotion_web_screenshot.png")
SAMPLE_SHOTS = (Path("/tmp/avemotion_web_sample_desktop.png"), Path("/tmp/avemotion_web_sample_phone.png"))
UNCERTAIN_SHOT = Path("/tmp/avemotion_web_uncertain.png")
PHONE_START = Path("/tmp/avemotion_web_phone_start.png")
SESSION_SHOT = Path("/tmp/avemotion_web_session.png")
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}


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


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 s: at a 1 s window and 0.5 s hop, 59 windows (time to act while it is processed)."""
    return face_clip(tmp_path_factory.mktemp("long") / "long talk.mp4", seconds=30.0, seed=4)


def _offline_page(browser, url: str, **options):
    options = {"viewport": {"width": 1200, "height": 900}, **options}
    context = browser.new_context(accept_downloads=True, **options)
    page = context.new_page()
    outside: list[str] = []

    def guard(route) -> None:
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


def test_upload_timeline_seek_download(server: str, browser, tmp_path: Path) -> None:
    clip = gap_clip(tmp_path / "interview.mp4")
    context, page, outside, errors = _offline_page(browser, server)
    page.goto(server + "/")
    page.wait_for_function("() => document.getElementById('model-info').textContent.includes('model')")
    page.click("#settings summary")
    page.fill("#window", "1")
    page.fill("#hop", "0.5")
    page.set_input_files("#file-input", str(clip))
    page.wait_for_selector("#result:not([hidden])", timeout=90_000)
    page.wait_for_function("() => document.getElementById('video').readyState >= 1", timeout=20_000)
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
    page.wait_for_function("() => document.getElementById('now-emotion').textContent === 'no usable signal'")

    with page.expect_download() as info:
        page.click("#dl-csv")
    download = info.value
    assert download.suggested_filename == "interview.timeline.csv"
    with open(download.path(), newline="") as fh:
        rows_csv = list(csv.DictReader(fh))
    assert len(rows_csv) == 11 and {f"p_{lab}" for lab in labels} <= set(rows_csv[0])

    box = page.locator("#timeline").bounding_box()  # the download link's click may have scrolled the page
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


def test_errors_shown_and_docs_offline(server: str, browser, tmp_path: Path) -> None:
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


def _job_status(server: str, job: str) -> str:
    with urllib.request.urlopen(f"{server}/api/jobs/{job}", timeout=5) as reply:
        return json.load(reply)["status"]


def _wait_status(server: str, job: str, status: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (now := _job_status(server, job)) != status:
        assert time.monotonic() < deadline, f"job {job} is {now}, not {status}"
        time.sleep(0.2)


def _start_long(page, long_clip: Path) -> str:
    """Upload the long clip at a 1 s window; return its job once it is being processed."""
    page.click("#settings summary")
    page.fill("#window", "1")
    page.fill("#hop", "0.5")
    page.set_input_files("#file-input", str(long_clip))
    page.wait_for_function("() => document.getElementById('progress-text').textContent.startsWith('window')",
                           timeout=60_000)
    return page.evaluate("state.job")


def test_second_upload_replaces_the_first(server: str, browser, long_clip: Path, tmp_path: Path) -> None:
    second = face_clip(tmp_path / "second.mp4", seconds=2.0, seed=6)
    context, page, outside, errors = _offline_page(browser, server)
    page.goto(server + "/")
    page.wait_for_function("() => document.getElementById('model-info').textContent.includes('model')")
    # every text the progress line shows, and every name, in order
    page.evaluate("""() => { window.seen = [];
      for (const id of ['progress-text', 'progress-name']) {
        new MutationObserver(() => window.seen.push(id + ': ' + document.getElementById(id).textContent))
          .observe(document.getElementById(id), { childList: true, characterData: true, subtree: true });
      } }""")
    first = _start_long(page, long_clip)
    page.set_input_files("#file-input", str(second))
    page.wait_for_selector("#result:not([hidden])", timeout=90_000)
    assert page.locator("#result-name").inner_text() == "second.mp4"
    assert page.evaluate("state.result.filename") == "second.mp4"
    assert page.evaluate("state.result.duration") == pytest.approx(2.0, abs=0.2)
    _wait_status(server, first, "cancelled")  # the first job was stopped on the server
    seen = page.evaluate("window.seen")
    switch = max(i for i, text in enumerate(seen) if text == "progress-name: second.mp4")
    after = seen[switch:]
    assert not any("of 59" in text or "long talk" in text for text in after), after  # nothing of the first
    assert any(text.startswith("progress-text: window") for text in after), after
    assert outside == [] and errors == []
    context.close()


def test_queue_and_cancel(server: str, browser, long_clip: Path, tmp_path: Path) -> None:
    """A second visitor waits behind a running job (place in the queue shown) and cancels: the job never
    starts. The first cancels theirs: it stops on the server."""
    context, page, outside, errors = _offline_page(browser, server)
    page.goto(server + "/")
    job = _start_long(page, long_clip)
    assert page.locator("#progress-name").inner_text() == "long talk.mp4"

    other, page2, outside2, errors2 = _offline_page(browser, server)
    page2.goto(server + "/")
    page2.set_input_files("#file-input", str(face_clip(tmp_path / "waiting.mp4", seconds=1.5)))
    page2.wait_for_function("() => document.getElementById('progress-text').textContent.includes('queue')",
                            timeout=30_000)
    assert page2.locator("#progress-text").inner_text().startswith("waiting: number 1 in the queue")
    waiting = page2.evaluate("state.job")
    assert _job_status(server, waiting) == "queued"
    page2.click("#cancel")
    _wait_status(server, waiting, "cancelled", timeout=5)
    assert page2.locator("#upload").is_visible() and page2.locator("#progress-box").is_hidden()
    assert outside2 == [] and errors2 == []
    other.close()

    page.click("#cancel")
    page.wait_for_selector("#progress-box", state="hidden")
    assert page.locator("#upload").is_visible() and page.locator("#result").is_hidden()
    assert "Cancelled" in page.locator("#message").inner_text()
    _wait_status(server, job, "cancelled")
    assert page.evaluate("state.job") is None
    assert outside == [] and errors == []
    context.close()


def test_keyboard_only_upload(server: str, browser, tmp_path: Path) -> None:
    clip = face_clip(tmp_path / "keys.mp4", seconds=1.5)
    context, page, outside, errors = _offline_page(browser, server)
    # intercept file choosers from the start: turning interception on is asynchronous, and a chooser opened
    # before it is on is dismissed by headless chromium
    page.on("filechooser", lambda chooser: None)
    page.goto(server + "/")
    page.wait_for_function("() => document.getElementById('model-info').textContent.includes('model')")
    for _ in range(8):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "pick":
            break
    assert page.evaluate("document.activeElement.id") == "pick"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"  # focus is seen
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(str(clip))
    page.wait_for_selector("#result:not([hidden])", timeout=90_000)
    assert page.locator("#result-name").inner_text() == "keys.mp4"
    assert outside == [] and errors == []
    context.close()


def test_unicode_name_uncertain_and_decision_level(server: str, browser, tmp_path: Path) -> None:
    """A $/unicode file name; a model without a fused head and with a known 'uncertain' threshold (the
    server's health answer edited on its way to the page: the test run has its own)."""
    name = "Q3 budget $$ review ☺.mp4"
    clip = face_clip(tmp_path / name, seconds=2.0, seed=8)
    context, page, outside, errors = _offline_page(browser, server)

    def edited_health(route) -> None:
        reply = route.fetch()
        body = reply.json()
        body["model"].update(heads=["audio", "video"], uncertain_below=0.999)
        route.fulfill(response=reply, json=body)

    page.route(server + "/api/health", edited_health)
    page.goto(server + "/")
    page.wait_for_function("() => document.getElementById('model-info').textContent.includes('model')")
    page.set_input_files("#file-input", str(clip))
    page.wait_for_function("(n) => document.getElementById('progress-name').textContent === n", arg=name)
    page.wait_for_selector("#result:not([hidden])", timeout=90_000)
    assert page.locator("#result-name").inner_text() == name
    assert page.evaluate("state.result.filename") == name
    assert page.locator("#dl-csv").get_attribute("download") == "Q3 budget $$ review ☺.timeline.csv"
    # lanes only for the model's heads
    assert page.evaluate("lanes()") == ["audio", "video"]
    assert page.locator("#lanes-note").inner_text() == "decision-level: audio + face"
    assert "decision-level: audio + face" in page.locator("#now-detail").inner_text()
    # every answer is below the threshold: muted, marked, explained
    assert page.locator("#now-flag").is_visible() and page.locator("#now-flag").inner_text() == "uncertain"
    assert "held out" in page.locator("#now-flag").get_attribute("title")
    assert "uncertain" in page.locator("#now-emotion").get_attribute("class")
    assert page.locator("#top3 li").count() == min(3, len(page.evaluate("state.result.labels")))
    assert "(uncertain)" in page.locator("#segments").inner_text()
    page.screenshot(path=str(UNCERTAIN_SHOT), full_page=True)
    assert outside == [] and errors == []
    context.close()


def test_sample_desktop_and_phone(server: str, browser, tmp_path: Path) -> None:
    """The built-in sample with one click, at desktop size (with the timeline's hover tooltip) and on a
    phone (compact header, no 'drop' wording)."""
    from avemotion.web.sample import MAX_BYTES, SAMPLE

    assert 20_000 < SAMPLE.stat().st_size < MAX_BYTES  # shipped with the package: small (rebuild: see sample.py)
    for shot, options in zip(SAMPLE_SHOTS, ({}, PHONE), strict=True):
        context, page, outside, errors = _offline_page(browser, server, **options)
        page.goto(server + "/")
        page.wait_for_function("() => document.getElementById('model-info').textContent.includes('model')")
        upload_text = page.locator("#upload").inner_text().lower()
        header = page.locator("header").bounding_box()
        if options:
            assert header["height"] < 60, header
            assert "drop" not in upload_text and "choose a file" in upload_text
            page.screenshot(path=str(PHONE_START))
        else:
            assert "drop" in upload_text
        page.click("#sample")
        page.wait_for_selector("#result:not([hidden])", timeout=90_000)
        assert page.locator("#result-name").inner_text() == "avemotion-sample.mp4"
        media = page.evaluate("state.result.media")
        assert media["has_audio"] and media["has_video"] and media["duration"] == pytest.approx(7.5, abs=0.2)
        assert page.evaluate("state.result.windows.filter((w) => w.emotion).length") >= 3
        assert page.locator("#top3 li").count() == min(3, len(page.evaluate("state.result.labels")))
        # 'uncertain' exactly when the answer is below the server's threshold (none: never)
        below = page.evaluate("(() => { const t = state.model.uncertain_below; "
                              "return t != null && state.result.windows[windowAt(currentTime())].confidence < t; })()")
        assert page.locator("#now-flag").is_visible() == below
        assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]
        page.wait_for_function("() => document.getElementById('video').readyState >= 2", timeout=20_000)
        if not options:  # hover the timeline: time, emotion and p of the window there
            box = page.locator("#timeline").bounding_box()
            page.mouse.move(box["x"] + page.evaluate("(t) => geometry().x(t)", 4.0), box["y"] + 60)
            tip = page.locator("#tip")
            assert tip.is_visible()
            text = tip.inner_text()
            emotion = page.evaluate("state.result.windows[windowAt(4.0)].emotion")
            assert text.startswith("0:04.0 · ") and f"{emotion} · p " in text, text
        page.wait_for_timeout(500)
        page.screenshot(path=str(tmp_path / shot.name), full_page=True)
        shutil.copyfile(tmp_path / shot.name, shot)
        assert outside == [] and errors == []
        context.close()


def test_session_view_lanes_seek(server: str, browser, tmp_path: Path) -> None:
    """Session mode: a two-voice recording gets the session report in the page (a lane per speaker, emotion
    shares, strongest moments, the model's limits); a block in a lane seeks the page's player; a video without
    sound is refused with a plain sentence."""
    pytest.importorskip("silero_vad")
    pytest.importorskip("resemblyzer")
    talk = two_voice_wav(tmp_path / "two voices.wav")
    context, page, outside, errors = _offline_page(browser, server)
    page.goto(server + "/")
    page.wait_for_function("() => !document.getElementById('session-note').hidden")
    assert "60 min" in page.locator("#session-note").inner_text()
    page.check("#mode-session")
    assert page.locator("#settings").is_hidden()  # window and hop are timeline settings
    page.set_input_files("#file-input", str(talk))
    page.wait_for_selector("#session-result:not([hidden])", timeout=90_000)
    assert page.locator("#session-name").inner_text() == "two voices.wav: 2 speakers"
    assert page.locator("#session-audio").is_visible() and page.locator("#result").is_hidden()
    report = page.frame_locator("#session-report")
    report.locator("h2", has_text="Strongest moments").wait_for(timeout=20_000)
    lanes = report.locator("svg text", has_text="S")
    assert {lanes.nth(i).text_content() for i in range(lanes.count())} >= {"S1", "S2"}
    assert report.locator("text=Limits, in plain words").count() == 1
    assert report.locator("h2", has_text="Emotion shares per speaker").count() == 1
    page.wait_for_function("() => document.getElementById('session-report').offsetHeight > 400")  # fitted
    page.screenshot(path=str(SESSION_SHOT), full_page=True)

    page.wait_for_function("() => document.getElementById('session-audio').readyState >= 1", timeout=20_000)
    block = report.locator("rect[onclick]").last
    start = float(block.get_attribute("onclick").split("(")[1].rstrip(")"))
    assert start > 5
    block.click()
    page.wait_for_function("(t) => Math.abs(document.getElementById('session-audio').currentTime - t) < 0.3",
                           arg=start, timeout=10_000)
    with page.expect_download() as info:
        page.click("#sdl-json")
    assert info.value.suggested_filename == "two_voices.session.json"  # the server's ASCII name
    saved = json.loads(Path(info.value.path()).read_text())
    assert saved["recording"] == "two voices.wav" and len(saved["speakers"]) == 2

    page.click("#session-again")
    mute = tmp_path / "mute.mp4"
    mute_faceless_clip(mute)
    page.check("#mode-session")
    page.set_input_files("#file-input", str(mute))
    page.wait_for_selector("#message:not([hidden])", timeout=20_000)
    assert page.locator("#message").inner_text().startswith("mute.mp4: no usable speech was found")
    assert outside == [] and errors == []
    context.close()
