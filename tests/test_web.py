"""The web app's API with FastAPI's test client: every endpoint and the errors (size, not media, nothing
usable, queue full, failing jobs, concurrent jobs). The browser side is in test_web_browser.py."""

from __future__ import annotations

import csv
import io
import json
import stat
import subprocess
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient
from web_helpers import face_clip, gap_clip, mute_faceless_clip, voice_wav

from avemotion.cli.main import main
from avemotion.web.app import create_app
from avemotion.web.settings import WebSettings

LOCAL = "http://127.0.0.1"  # the Host the server answers to by default (loopback names)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("web_media")
    notes = d / "notes.mp4"
    notes.write_text("meeting notes, not a video\n" * 20)
    return {"face": face_clip(d / "face.mp4"), "gap": gap_clip(d / "gap.mp4"),
            "wav": voice_wav(d / "voice.wav"), "mute": mute_faceless_clip(d / "mute.mp4"), "notes": notes}


@pytest.fixture(scope="module")
def client(web_run: Path):
    app = create_app(web_run, WebSettings(workers=2, max_upload_mb=5))
    with TestClient(app, base_url=LOCAL) as c:
        yield c


def _file(path: Path, name: str | None = None) -> dict:
    return {"file": (name or path.name, path.read_bytes(), "application/octet-stream")}


def _wait(client: TestClient, job: str, timeout: float = 60.0) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        body = client.get(f"/api/jobs/{job}").json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job} not finished after {timeout} s")


def _cli_json(args: list[str], capsys) -> list[dict]:
    capsys.readouterr()
    main(["--quiet", "predict", "--json", *args])
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_health(client: TestClient) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["model"]["modality"] == "av"
    assert sorted(body["model"]["labels"]) == ["anger", "joy"]
    assert body["model"]["heads"] == ["fused", "audio", "video"]  # a trained bimodal model: all three decide
    assert "uncertain_below" in body["model"]
    assert body["queue"] == {"active": 0, "uploads": 0, "limit": 32} and body["limits"]["max_upload_mb"] == 5


def test_predict_matches_the_cli(client: TestClient, media: dict[str, Path], web_run: Path, capsys) -> None:
    r = client.post("/api/predict", files=_file(media["face"], "my clip.mp4"))
    assert r.status_code == 200, r.text
    body = r.json()
    (cli,) = _cli_json(["--model", str(web_run), str(media["face"])], capsys)
    assert body["emotion"] == cli["emotion"] and body["modalities_used"] == "av"
    assert body["probabilities"] == pytest.approx(cli["probabilities"], abs=1e-6)
    assert body["contributions"] == pytest.approx(cli["contributions"], abs=1e-6)
    assert body["filename"] == body["source"] == "my clip.mp4" and body["clip_id"] == "my clip"
    assert body["media"] == {"has_audio": True, "has_video": True, "duration": pytest.approx(3.0, abs=0.1)}


def test_predict_audio_only(client: TestClient, media: dict[str, Path]) -> None:
    body = client.post("/api/predict", files=_file(media["wav"])).json()
    assert body["modalities_used"] == "audio" and "video" in body["note"]
    assert body["media"]["has_video"] is False
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_not_media_refused_with_the_accepted_formats(client: TestClient, media: dict[str, Path], web_run: Path,
                                                      capsys) -> None:
    r = client.post("/api/predict", files=_file(media["notes"]))
    assert r.status_code == 415 and r.json()["reason"] == "unsupported_media"
    assert r.json()["detail"].startswith("notes.mp4: not an audio or video recording")
    assert "MP4" in r.json()["detail"] and "WAV" in r.json()["detail"]
    (cli,) = _cli_json(["--model", str(web_run), str(media["notes"])], capsys)  # the CLI says it its way
    assert cli["error"].startswith(str(media["notes"])) and "not an audio or video file" in cli["error"]
    r = client.post("/api/timeline", files=_file(media["notes"], "renamed.wav"))  # the name is no help either
    assert r.status_code == 415 and r.json()["detail"].startswith("renamed.wav: not an audio or video recording")


def test_no_audio_and_no_face(client: TestClient, media: dict[str, Path]) -> None:
    r = client.post("/api/predict", files=_file(media["mute"]))
    assert r.status_code == 422 and r.json()["reason"] in ("no_audio", "no_face"), r.text
    assert "mute.mp4" in r.json()["detail"] and "--" not in r.json()["detail"]
    assert "no visible face" in r.json()["detail"]
    job = client.post("/api/timeline", files=_file(media["mute"]), data={"window": "1"}).json()["job"]
    body = _wait(client, job)
    assert body["status"] == "failed" and "no window could be predicted" in body["error"]
    assert "mute.mp4" in body["error"] and "result" not in body
    assert client.get(f"/api/jobs/{job}/timeline.csv").status_code == 409
    assert client.get("/api/health").json()["status"] == "ok"


def test_oversized_upload(web_run: Path, media: dict[str, Path]) -> None:
    big = media["face"].read_bytes() * 3
    with TestClient(create_app(web_run, WebSettings(max_upload_mb=0.05)), base_url=LOCAL) as c:
        r = c.post("/api/predict", files={"file": ("big.mp4", big, "video/mp4")})
        assert r.status_code == 413 and "0.05 MiB" in r.json()["detail"]
        # no Content-Length (chunked): the limit is enforced while streaming
        boundary = "xYzBoundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n"
                "Content-Type: video/mp4\r\n\r\n").encode()
        body = head + big + f"\r\n--{boundary}--\r\n".encode()
        chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))
        ctype = f"multipart/form-data; boundary={boundary}"
        r = c.post("/api/timeline", content=chunks, headers={"content-type": ctype})
        assert r.status_code == 413
        assert list(c.app.state.tmp_dir.iterdir()) == []  # the partial upload is gone
    with TestClient(create_app(web_run, WebSettings(max_predict_seconds=2)), base_url=LOCAL) as c:
        r = c.post("/api/predict", files=_file(media["face"]))  # 3 s
        assert r.status_code == 422 and "/api/timeline" in r.json()["detail"]


def test_request_errors(client: TestClient, media: dict[str, Path]) -> None:
    assert client.post("/api/predict", data={"x": "1"}).status_code == 422  # not multipart
    r = client.post("/api/predict", files={"other": ("a.mp4", b"123", "video/mp4")})
    assert r.status_code == 422 and "'file'" in r.json()["detail"]
    r = client.post("/api/timeline", files=_file(media["face"]), data={"window": "abc"})
    assert r.status_code == 422 and "window" in r.json()["detail"]
    r = client.post("/api/timeline", files=_file(media["face"]), data={"hop": "0.001"})
    assert r.status_code == 422 and "hop" in r.json()["detail"]
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.get("/api/jobs/nope/timeline.csv").status_code == 404


def test_timeline_job_and_downloads(client: TestClient, media: dict[str, Path]) -> None:
    r = client.post("/api/timeline", files=_file(media["gap"], "talk.mp4"),
                    data={"window": "1", "hop": "0.5"})
    assert r.status_code == 202
    job = r.json()["job"]
    body = _wait(client, job)
    assert body["status"] == "done" and body["progress"] == {"done": 11, "total": 11}
    res = body["result"]
    assert res["filename"] == "talk.mp4" and len(res["windows"]) == 11
    assert sorted(res["labels"]) == ["anger", "joy"]
    assert res["duration"] == pytest.approx(6.0, abs=0.1) and res["media"]["has_video"] is True
    failed = [w for w in res["windows"] if w["emotion"] is None]
    # only windows inside the silent, faceless gap fail
    assert failed and all(2.0 - 1e-6 <= w["start"] and w["end"] <= 4.0 + 1e-6 for w in failed)
    segs = res["segments"]
    assert segs[0]["start"] == 0.0 and segs[-1]["end"] == pytest.approx(res["duration"])
    for a, b in pairwise(segs):
        assert a["end"] == pytest.approx(b["start"]) and a["emotion"] != b["emotion"]
    assert any(s["emotion"] is None for s in segs) and sum(s["windows"] for s in segs) == 11
    assert res["summary"]["failed"] == len(failed) and res["summary"]["predicted"] == 11 - len(failed)
    r = client.get(f"/api/jobs/{job}/timeline.csv")
    assert r.status_code == 200 and 'filename="talk.timeline.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 11
    for row, w in zip(rows, res["windows"], strict=True):
        assert float(row["start"]) == w["start"] and row["emotion"] == (w["emotion"] or "")
        if w["emotion"]:
            assert float(row["p_joy"]) == pytest.approx(w["probabilities"]["joy"], abs=1e-4)
    assert json.loads(client.get(f"/api/jobs/{job}/timeline.json").content) == res
    png = client.get(f"/api/jobs/{job}/timeline.png")
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get(f"/api/jobs/{job}/timeline.exe").status_code == 404
    assert list(client.app.state.tmp_dir.iterdir()) == []  # uploads and scratch files deleted


def test_progress_events(client: TestClient, media: dict[str, Path]) -> None:
    r = client.post("/api/timeline", files=_file(media["face"]), data={"window": "1", "hop": "0.5"})
    job = r.json()["job"]
    events = []
    with client.stream("GET", f"/api/jobs/{job}/events") as stream:
        kind = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    assert events[-1][0] == "done" and all(k == "progress" for k, _ in events[:-1])
    done = [e["progress"]["done"] for _, e in events]
    # pushed as windows finish (how many distinct values the stream shows depends on timing: at least start and end)
    assert done == sorted(done) and done[-1] == 5 and len(set(done)) >= 2
    assert "result" not in events[-1][1]


def test_concurrent_jobs(client: TestClient, media: dict[str, Path]) -> None:
    results: dict[int, object] = {}

    def go(i: int) -> None:
        if i % 2:
            results[i] = client.post("/api/predict", files=_file(media["face"])).json()
        else:
            r = client.post("/api/timeline", files=_file(media["face"]), data={"window": "1.5"})
            job = r.json()["job"]
            results[i] = _wait(client, job)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(results) == [0, 1, 2, 3]
    assert results[1]["probabilities"] == pytest.approx(results[3]["probabilities"], abs=1e-6)
    assert results[0]["status"] == results[2]["status"] == "done" and results[0]["job"] != results[2]["job"]
    assert results[0]["result"]["windows"] == results[2]["result"]["windows"]


def test_queue_full_and_failing_jobs(web_run: Path, media: dict[str, Path], monkeypatch) -> None:
    with TestClient(create_app(web_run, WebSettings(workers=1, queue_size=1, retained_jobs=2)), base_url=LOCAL) as c:
        engine = c.app.state.engine
        with engine.predictor():  # hold the only model: the first job waits for it, the queue is full
            first = c.post("/api/timeline", files=_file(media["face"])).json()["job"]
            assert c.get(f"/api/jobs/{first}").json()["status"] in ("queued", "running")
            r = c.post("/api/predict", files=_file(media["face"]))
            assert r.status_code == 503 and r.headers["retry-after"] and "busy" in r.json()["detail"]
            assert c.post("/api/timeline", files=_file(media["face"])).status_code == 503
        assert _wait(c, first)["status"] == "done"

        def boom(*args, **kwargs):
            raise RuntimeError("simulated crash")

        monkeypatch.setattr(engine, "timeline", boom)
        job = c.post("/api/timeline", files=_file(media["face"])).json()["job"]
        body = _wait(c, job)
        assert body["status"] == "failed" and body["reason"] == "internal"
        assert "simulated crash" not in body["error"] and "server's log" in body["error"]  # internals: log only
        monkeypatch.undo()
        assert c.get("/api/health").json()["queue"]["active"] == 0
        third = c.post("/api/timeline", files=_file(media["face"])).json()["job"]
        assert _wait(c, third)["status"] == "done"  # the server goes on
        assert c.get(f"/api/jobs/{first}").status_code == 404  # retained_jobs=2: the oldest is dropped
        assert list(c.app.state.tmp_dir.iterdir()) == []


def test_private_folder_removed_on_shutdown(web_run: Path) -> None:
    with TestClient(create_app(web_run), base_url=LOCAL) as c:
        folder = c.app.state.tmp_dir
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not folder.exists()


def test_page_and_docs_are_offline(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/app.js">' in page.text
    for path in ("/", "/static/app.js", "/static/style.css"):
        text = client.get(path).text
        assert "http://" not in text and "https://" not in text, path
    docs = client.get("/docs").text
    assert "swagger-ui-bundle.js" in docs and "https://" not in docs
    js = docs.split('src="')[1].split('"')[0]
    assert client.get(js).status_code == 200
    spec = client.get("/openapi.json").json()
    assert {"/api/predict", "/api/timeline", "/api/jobs/{job_id}", "/api/health"} <= set(spec["paths"])
    form = spec["paths"]["/api/predict"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"]


def test_serve_command(web_run: Path, tmp_path: Path, monkeypatch) -> None:
    # the bundled default model is not there: a clear error naming --model, no server started
    monkeypatch.setattr("avemotion.inference.bundled.bundled_root", lambda: tmp_path / "no_models")
    assert main(["serve"]) == 1
    # `avemotion --help` does not import the web stack
    code = ("import sys; from avemotion.cli.main import build_parser; build_parser(); "
            "print('fastapi' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_segments_merge_runs() -> None:
    from avemotion.inference.predict import Prediction
    from avemotion.inference.timeline import WindowPrediction
    from avemotion.inference.timeline_report import segments

    def wp(start: float, emotion: str | None) -> WindowPrediction:
        pred = Prediction("x", emotion, 0.8, {}, {}, {}, "av") if emotion else None
        return WindowPrediction(start, start + 2.0, pred, "" if emotion else "silent: x")

    segs = segments([wp(0, "joy"), wp(1, "joy"), wp(2, None), wp(3, "anger"), wp(4, "anger"), wp(5, "anger")])
    assert [(s["start"], s["end"], s["emotion"], s["windows"]) for s in segs] == [
        (0.0, 2.5, "joy", 2), (2.5, 3.5, None, 1), (3.5, 7.0, "anger", 3)]
    assert segs[0]["mean_confidence"] == pytest.approx(0.8) and segs[1]["mean_confidence"] is None
    assert np.isclose(sum(s["end"] - s["start"] for s in segs), 7.0)
