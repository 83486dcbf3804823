"""The served app's safety rules: bounded requests (stalled, slow, oversized, too many at once), accepted
formats only (no playlists, concat scripts or images), the Host allow-list, the access token, security headers,
plain error sentences, job cancel and retention. Stalled uploads need a real server: uvicorn in a thread on
127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
import uvicorn
from fastapi.testclient import TestClient
from web_helpers import face_clip

from avemotion.web.app import create_app
from avemotion.web.local import free_port
from avemotion.web.settings import WebSettings

LOCAL = "http://127.0.0.1"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_clip(tmp_path_factory.mktemp("hardening") / "face.mp4", seconds=2.0)


@contextmanager
def live(run: Path, **settings: object) -> Iterator[tuple[str, int, object]]:
    """The app under uvicorn in a thread: (host, port, app)."""
    app = create_app(run, WebSettings(**settings))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield "127.0.0.1", port, app
    finally:
        server.should_exit = True
        thread.join(20)


def _head(port: int, length: int, boundary: str = "B0undary") -> bytes:
    return (f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.mp4\"\r\n\r\n").encode()


def _response(sock: socket.socket, timeout: float) -> tuple[int, dict, bool]:
    """(status, JSON body, whether the server closed the connection afterwards)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    try:
        closed = sock.recv(1) == b""
    except TimeoutError:
        closed = False
    return status, json.loads(body[:length]), closed


def test_stalled_upload_is_dropped_and_counted_while_it_lasts(web_run: Path) -> None:
    with live(web_run, upload_idle_s=1.0, max_uploads=2) as (host, port, app):
        socks = []
        for _ in range(2):  # two uploads that announce 1 MB and send a few bytes
            s = socket.create_connection((host, port))
            s.sendall(_head(port, 1_000_000) + b"\x00" * 100)
            socks.append(s)
        time.sleep(0.3)
        third = socket.create_connection((host, port))
        third.sendall(_head(port, 200) + b"\x00" * 10)
        status, body, _ = _response(third, 10)
        assert status == 503 and body["reason"] == "busy"  # two uploads in progress: no room for a third
        t0 = time.monotonic()
        for s in socks:
            status, body, closed = _response(s, 10)
            assert status == 408 and "stalled" in body["detail"]
            assert closed, "the connection of an upload that announced more than it sent stays open"
        assert time.monotonic() - t0 < 5
        assert not any(app.state.tmp_dir.iterdir())  # partial files removed


def test_upload_total_time_limit(web_run: Path) -> None:
    with live(web_run, upload_idle_s=5.0, upload_total_s=1.5) as (host, port, _):
        s = socket.create_connection((host, port))
        s.sendall(_head(port, 1_000_000))
        t0 = time.monotonic()
        status = 0
        try:
            while time.monotonic() - t0 < 10:  # a byte every 0.3 s: never idle, never done
                s.sendall(b"\x00")
                time.sleep(0.3)
        except OSError:
            pass
        status, body, _ = _response(s, 10)
        assert status == 408 and "longer than 1.5 s" in body["detail"]


def test_whole_body_counts_against_the_size_limit(web_run: Path) -> None:
    with TestClient(create_app(web_run, WebSettings(max_upload_mb=0.05)), base_url=LOCAL) as c:
        boundary = "fields"
        part = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"window\"\r\n\r\n1\r\n").encode()
        body = part * 20000 + f"--{boundary}--\r\n".encode()  # 1.3 MB of small fields, no file
        chunks = (body[i : i + 8192] for i in range(0, len(body), 8192))  # chunked: no Content-Length
        r = c.post("/api/predict", content=chunks,
                   headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code in (413, 422)
        assert r.status_code == 413 or "too many form fields" in r.json()["detail"]
        r = c.post("/api/predict", files={"notfile": ("a.mp4", b"123", "video/mp4")})
        assert r.status_code == 422 and r.json()["detail"].startswith("unexpected form field 'notfile'")
        r = c.post("/api/timeline", files={"file": ("a.mp4", b"123")}, data={"window": "1" * 300})
        assert r.status_code == 422 and "too long" in r.json()["detail"]


def test_playlists_images_and_concat_scripts_are_refused(web_run: Path, clip: Path, tmp_path: Path) -> None:
    import cv2

    png = tmp_path / "x.png"
    cv2.imwrite(str(png), np.zeros((64, 64, 3), np.uint8))
    uploads = {
        "list.m3u8": f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{clip}\n#EXT-X-ENDLIST\n".encode(),
        "list.ffconcat": f"ffconcat version 1.0\nfile '{clip}'\n".encode(),
        "x.mp4": png.read_bytes(),  # an image, whatever its name says
        "notes.wav": b"just text\n" * 50,
    }
    with TestClient(create_app(web_run), base_url=LOCAL) as c:
        for name, data in uploads.items():
            r = c.post("/api/predict", files={"file": (name, data)})
            assert r.status_code == 415, (name, r.text)
            detail = r.json()["detail"]
            assert detail.startswith(f"{name}: not an audio or video recording") and "MP4" in detail
            assert "Errno" not in detail and "--" not in detail
        r = c.post("/api/predict", files={"file": ("clip.mp4", clip.read_bytes())})
        assert r.status_code == 200


def test_malformed_multipart_gets_a_plain_sentence(web_run: Path) -> None:
    with TestClient(create_app(web_run), base_url=LOCAL) as c:
        r = c.post("/api/predict", content=b"--b\r\nnot a header line at all\r\n\r\nxx",
                   headers={"content-type": "multipart/form-data; boundary=b"})
        assert r.status_code in (400, 422)
        assert "Error" not in r.json()["detail"] and "multipart" in r.json()["detail"]


def test_foreign_host_refused_unless_allowed(web_run: Path) -> None:
    with TestClient(create_app(web_run), base_url="http://evil.example") as c:
        r = c.get("/api/health")
        assert r.status_code == 400 and r.json()["reason"] == "host" and "--allow-host" in r.json()["detail"]
    for base in ("http://localhost:8000", "http://[::1]:8000", "http://127.0.0.1:9"):
        with TestClient(create_app(web_run), base_url=base) as c:
            assert c.get("/api/health").status_code == 200, base
    with TestClient(create_app(web_run, WebSettings(allowed_hosts=["evil.example"])),
                    base_url="http://evil.example") as c:
        assert c.get("/api/health").status_code == 200


def test_token_required_off_loopback(web_run: Path) -> None:
    settings = WebSettings(bind_host="10.1.2.3", token="s3cret-token")
    with TestClient(create_app(web_run, settings), base_url="http://10.1.2.3:8000") as c:
        assert c.get("/api/health").status_code == 401
        assert c.get("/").status_code == 401
        assert c.get("/api/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/api/health", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        r = c.get("/?token=s3cret-token")
        assert r.status_code == 200 and "HttpOnly" in r.headers["set-cookie"]
        assert c.get("/api/health").status_code == 200  # the cookie now carries it


def test_serve_makes_a_token_off_loopback(monkeypatch) -> None:
    from avemotion.cli.main import main

    seen = {}

    def fake_run(app, host, port, log_level):
        seen.update(settings=app.state.settings, host=host)

    monkeypatch.setattr("uvicorn.run", fake_run)
    assert main(["serve", "--host", "0.0.0.0", "--port", "8123"]) == 0
    assert seen["settings"].token and len(seen["settings"].token) >= 20
    assert main(["serve", "--port", "8123"]) == 0
    assert seen["settings"].token is None
    from avemotion.web.settings import available_cores

    assert seen["settings"].workers == available_cores(8)  # one model copy per core by default


def test_security_headers(web_run: Path) -> None:
    with TestClient(create_app(web_run), base_url=LOCAL) as c:
        for path in ("/", "/api/health", "/static/app.js", "/docs", "/api/jobs/nope"):
            r = c.get(path)
            csp = r.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, path
            assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        docs = c.get("/docs")
        assert "'sha256-" in docs.headers["content-security-policy"] and "SwaggerUIBundle" in docs.text


def test_cancel_a_waiting_and_a_running_job(web_run: Path, clip: Path) -> None:
    with TestClient(create_app(web_run, WebSettings(workers=1)), base_url=LOCAL) as c:
        engine = c.app.state.engine
        files = {"file": ("clip.mp4", clip.read_bytes())}
        with engine.predictor():  # the only model is busy: both jobs wait
            first = c.post("/api/timeline", files=files, data={"window": "0.5", "hop": "0.25"}).json()["job"]
            second = c.post("/api/timeline", files=files).json()["job"]
            body = c.get(f"/api/jobs/{second}").json()
            assert body["status"] == "queued" and body["queue"]["position"] in (1, 2)
            r = c.delete(f"/api/jobs/{second}")
            assert r.status_code == 200 and r.json()["status"] == "cancelled"
        deadline = time.monotonic() + 60
        while c.get(f"/api/jobs/{first}").json()["progress"]["done"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        c.delete(f"/api/jobs/{first}")
        while c.get(f"/api/jobs/{first}").json()["status"] == "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        body = c.get(f"/api/jobs/{first}").json()
        assert body["status"] == "cancelled" and body["progress"]["done"] < body["progress"]["total"]
        assert c.delete("/api/jobs/nope").status_code == 404
        assert c.get("/api/health").json()["queue"]["active"] == 0
        assert not any(c.app.state.tmp_dir.iterdir())


def test_finished_jobs_live_for_the_stated_time(web_run: Path, clip: Path) -> None:
    with TestClient(create_app(web_run, WebSettings(job_ttl_s=1.0)), base_url=LOCAL) as c:
        job = c.post("/api/timeline", files={"file": ("clip.mp4", clip.read_bytes())}).json()["job"]
        deadline = time.monotonic() + 60
        while c.get(f"/api/jobs/{job}").json()["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert c.get(f"/api/jobs/{job}/timeline.csv").status_code == 200
        time.sleep(1.2)
        r = c.get(f"/api/jobs/{job}")
        assert r.status_code == 404 and "kept that long" in r.json()["detail"]


@pytest.mark.parametrize("name", ["Q3 budget $$ review.mp4", "Ünïcode ☺ \"quoted\" 'x' <b>.mp4",
                                  "..\\..\\etc\\passwd.mp4", "a/b/c $x$.mp4"])
def test_any_file_name_is_just_data(web_run: Path, clip: Path, name: str) -> None:
    with TestClient(create_app(web_run), base_url=LOCAL) as c:
        job = c.post("/api/timeline", files={"file": (name, clip.read_bytes())}).json()["job"]
        deadline = time.monotonic() + 60
        while (body := c.get(f"/api/jobs/{job}").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert body["status"] == "done", body
        png = c.get(f"/api/jobs/{job}/timeline.png")
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
        assert png.headers["content-disposition"].isascii()
