"""The web app's session view through its API: POST /api/session as a job (progress stages, the session JSON
contract as `result`, the report and the exports), the refusals before queueing (timeline fields, no audio track,
longer than the limit), a recording without speech, cancelling, and a server without the [session] extra
(it still starts and predicts; the session route says what to install).

The recording is made here: two synthetic voices taking six turns with 1-s pauses (web_helpers.two_voice_wav).
The tests that run the voice-activity and speaker models skip without the [session] extra.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient
from web_helpers import face_clip, mute_faceless_clip, two_voice_wav

from avemotion.media.write import write_media
from avemotion.web.app import create_app
from avemotion.web.settings import WebSettings

LOCAL = "http://127.0.0.1"
SPEAKER_KEYS = {"id", "speech_seconds", "turns", "emotion_shares"}
SEGMENT_KEYS = {"start", "end", "speaker", "emotion", "confidence", "probabilities", "valence", "arousal",
                "modalities_used", "face"}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("web_session_media")
    hum = 0.05 * np.sin(2 * np.pi * 50 * np.arange(3 * 16000) / 16000).astype(np.float32)  # a mains hum, no voice
    return {"talk": two_voice_wav(d / "talk.wav"), "mute": mute_faceless_clip(d / "mute.mp4"),
            "hum": write_media(d / "hum.wav", None, audio=hum, sample_rate=16000),
            "face": face_clip(d / "face.mp4", seconds=2.0)}


@pytest.fixture(scope="module")
def client(web_run: Path):
    with TestClient(create_app(web_run, WebSettings(workers=1, max_upload_mb=5)), base_url=LOCAL) as c:
        yield c


def _file(path: Path, name: str | None = None) -> dict:
    return {"file": (name or path.name, path.read_bytes(), "application/octet-stream")}


def _wait(client: TestClient, job: str, timeout: float = 90.0) -> tuple[dict, list[str]]:
    """The finished job, and the stages it reported while running."""
    stages: list[str] = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        body = client.get(f"/api/jobs/{job}").json()
        if body.get("stage") and body["stage"] not in stages:
            stages.append(body["stage"])
        if body["status"] in ("done", "failed", "cancelled"):
            return body, stages
        time.sleep(0.02)
    raise AssertionError(f"job {job} not finished after {timeout} s")


@pytest.fixture(scope="module")
def finished(client: TestClient, media: dict[str, Path]) -> tuple[dict, list[str]]:
    pytest.importorskip("silero_vad")
    pytest.importorskip("resemblyzer")
    r = client.post("/api/session", files=_file(media["talk"], "Client & counsellor.wav"))
    assert r.status_code == 202, r.text
    return _wait(client, r.json()["job"])


def test_health_says_sessions_are_available(client: TestClient) -> None:
    pytest.importorskip("silero_vad")
    pytest.importorskip("resemblyzer")
    h = client.get("/api/health").json()
    assert h["session"] == {"available": True, "reason": None}
    assert h["limits"]["max_session_seconds"] == 3600.0


def test_session_job_gives_the_json_contract(finished: tuple[dict, list[str]], client: TestClient) -> None:
    body, stages = finished
    assert body["status"] == "done", body
    assert body["kind"] == "session" and body["filename"] == "Client & counsellor.wav"
    assert "speakers" in stages and body["stage"] == "emotion"  # an audio file: no face stage
    assert body["progress"]["done"] == body["progress"]["total"] > 1
    d = body["result"]
    assert {"recording", "duration", "model", "speakers", "segments"} <= set(d)
    assert d["recording"] == "Client & counsellor.wav"  # the client's name, never the server's stored path
    assert d["model"] == "run" and "/" not in json.dumps(d["model"])  # the run folder's name only
    assert d["media"] == {"has_audio": True, "has_video": False, "duration": pytest.approx(22.0, abs=0.1)}
    assert [s["id"] for s in d["speakers"]] == ["S1", "S2"]
    for s in d["speakers"]:
        assert SPEAKER_KEYS <= set(s) and s["turns"] == 3
        assert sum(s["emotion_shares"].values()) == pytest.approx(1.0, abs=1e-3)
        assert set(s["emotion_shares"]) <= set(d["labels"])
    segs = d["segments"]
    assert all(SEGMENT_KEYS <= set(s) for s in segs)
    assert all(a["end"] == pytest.approx(b["start"]) for a, b in zip(segs, segs[1:], strict=False))
    pauses = [s for s in segs if s["speaker"] is None]
    speech = [s for s in segs if s["speaker"] is not None]
    assert pauses and all(s["emotion"] is None and s["probabilities"] is None for s in pauses)
    assert speech and all(s["emotion"] in d["labels"] and s["face"] is None for s in speech)
    assert all(-1 <= s["valence"] <= 1 and -1 <= s["arousal"] <= 1 for s in speech)
    assert list(client.app.state.tmp_dir.iterdir()) == []  # the upload is gone once the job ended


def test_session_report_and_exports(finished: tuple[dict, list[str]], client: TestClient) -> None:
    body, _ = finished
    job, d = body["job"], body["result"]
    r = client.get(f"/api/jobs/{job}/session.json")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert r.headers["content-disposition"].endswith('filename="Client___counsellor.session.json"')
    saved = r.json()
    assert saved == {k: d[k] for k in ("recording", "duration", "model", "speakers", "segments", "adaptation")}

    html = client.get(f"/api/jobs/{job}/session.html")
    assert html.status_code == 200 and "content-disposition" not in html.headers  # shown in the page's frame
    csp = html.headers["content-security-policy"]
    assert "sandbox allow-scripts" in csp and "frame-ancestors 'self'" in csp and "connect-src" not in csp
    assert "default-src 'none'" in csp and html.headers["x-frame-options"] == "SAMEORIGIN"
    assert "Session report: Client &amp; counsellor.wav" in html.text and "postMessage" in html.text
    assert "keeps this result in its memory for 60 minutes" in html.text and "this computer" not in html.text
    assert 'id="media"' not in html.text  # no player of its own: the page plays its copy of the recording
    assert "attachment" in client.get(f"/api/jobs/{job}/session.html?download=1").headers["content-disposition"]
    page = client.get("/")
    assert page.headers["x-frame-options"] == "DENY"  # the rest of the app is never framed

    rttm = client.get(f"/api/jobs/{job}/session.rttm").text.splitlines()
    assert len(rttm) == 6 and all(line.startswith("SPEAKER Client_&_counsellor 1 ") for line in rttm)
    root = ET.fromstring(client.get(f"/api/jobs/{job}/session.eaf").content)
    assert {t.get("TIER_ID") for t in root.iter("TIER")} >= {"S1", "S2", "S1-valence", "S2-arousal"}
    rows = list(csv.DictReader(io.StringIO(client.get(f"/api/jobs/{job}/session.csv").text)))
    assert sum(r["tier"] == "S1" for r in rows) == sum(s["speaker"] == "S1" for s in d["segments"])

    assert client.get(f"/api/jobs/{job}/session.png").status_code == 404
    assert client.get(f"/api/jobs/{job}/timeline.csv").status_code == 404  # a session, not a timeline


def test_refused_before_queueing(web_run: Path, client: TestClient, media: dict[str, Path]) -> None:
    pytest.importorskip("silero_vad")
    pytest.importorskip("resemblyzer")
    r = client.post("/api/session", files=_file(media["talk"]), data={"window": "2"})
    assert r.status_code == 422 and "a session takes no window" in r.json()["detail"]
    r = client.post("/api/session", files=_file(media["mute"]))
    assert r.status_code == 422 and r.json()["reason"] == "no_audio"
    assert r.json()["detail"].startswith("mute.mp4: no usable speech was found (no audio track")
    with TestClient(create_app(web_run, WebSettings(workers=1, max_session_seconds=10)), base_url=LOCAL) as c:
        r = c.post("/api/session", files=_file(media["talk"]))
        assert r.status_code == 422 and r.json()["reason"] == "too_long"
        assert "0.166667 min" not in r.json()["detail"] and "`avemotion session`" in r.json()["detail"]
        assert c.get("/api/health").json()["queue"]["active"] == 0
        assert list(c.app.state.tmp_dir.iterdir()) == []
    timeline = client.post("/api/timeline", files=_file(media["face"])).json()["job"]
    _wait(client, timeline)
    assert client.get(f"/api/jobs/{timeline}/session.json").status_code == 404


def test_no_speech_fails_with_a_plain_reason(client: TestClient, media: dict[str, Path]) -> None:
    pytest.importorskip("silero_vad")
    pytest.importorskip("resemblyzer")
    job = client.post("/api/session", files=_file(media["hum"])).json()["job"]
    body, _ = _wait(client, job)
    assert body["status"] == "failed" and body["reason"] == "silent"
    assert body["error"].startswith("hum.wav: ") and str(client.app.state.tmp_dir) not in body["error"]


def test_sessions_take_turns_and_cancel(client: TestClient, media: dict[str, Path]) -> None:
    """max_sessions (1): a second session waits for its turn (stage "waiting"), and a waiting or running session
    stops when cancelled; its upload is deleted."""
    pytest.importorskip("silero_vad")
    pytest.importorskip("resemblyzer")
    with client.app.state.session_turns.turn(lambda: None):  # another session is being analysed
        job = client.post("/api/session", files=_file(media["talk"])).json()["job"]
        t0 = time.monotonic()
        while (body := client.get(f"/api/jobs/{job}").json()).get("stage") != "waiting":
            assert time.monotonic() - t0 < 20, body
            time.sleep(0.05)
        assert body["status"] == "running"
        assert client.delete(f"/api/jobs/{job}").status_code == 200
        body, _ = _wait(client, job)
    assert body["status"] == "cancelled" and "result" not in body
    assert client.get(f"/api/jobs/{job}/session.json").status_code == 409
    assert list(client.app.state.tmp_dir.iterdir()) == []
    job = client.post("/api/session", files=_file(media["talk"])).json()["job"]  # its turn: it runs
    t0 = time.monotonic()
    while client.get(f"/api/jobs/{job}").json().get("stage") not in ("speakers", "emotion"):
        assert time.monotonic() - t0 < 30
        time.sleep(0.02)
    client.delete(f"/api/jobs/{job}")
    body, _ = _wait(client, job)
    assert body["status"] in ("cancelled", "done")  # it may have ended before the request reached it
    assert body["status"] == "cancelled" or body["progress"]["done"] == body["progress"]["total"]


def test_without_the_session_extra(web_run: Path, media: dict[str, Path], monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "silero_vad", None)  # import fails as if not installed
    with TestClient(create_app(web_run, WebSettings(workers=1)), base_url=LOCAL) as c:
        h = c.get("/api/health").json()["session"]
        assert h["available"] is False and "pip install 'avemotion[session]'" in h["reason"]
        assert "silero_vad" in h["reason"]
        r = c.post("/api/session", files=_file(media["talk"]))
        assert r.status_code == 503 and r.json()["reason"] == "session_unavailable"
        assert "pip install 'avemotion[session]'" in r.json()["detail"]
        assert c.post("/api/predict", files=_file(media["face"])).status_code == 200  # the rest still works
        assert list(c.app.state.tmp_dir.iterdir()) == []
