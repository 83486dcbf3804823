"""Bounded local load test of the web app: N concurrent POST /api/predict of a 3-s clip, loopback only.

Starts ``avemotion serve`` on 127.0.0.1 (a free port), sends ``--requests`` (20) uploads of the same 3-s
face clip at once from as many threads, checks every answer (HTTP 200, a known emotion, probabilities summing
to 1, the same prediction for every copy), prints p50 / p95 / max latency and the server's CPU time, checks
GET /api/health afterwards and stops the server. Bounded: at most ``--requests`` requests (<= 64) and
``--timeout`` seconds in all.

    python benchmarks/web_load.py [--model RUNDIR] [--requests 20] [--workers 1] [--timeout 600]

Without --model: the bundled default model, else a small run trained here on generated face clips with the
default feature configuration (so extraction costs what it costs in real use), in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from avemotion.errors import AvemotionError
from avemotion.media.write import write_media
from avemotion.web.local import local_server


def voice(seconds: float, f0: float, seed: int, sr: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.15 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))) / sr
    env = np.clip(np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6)), 0, None) ** 0.7
    return (
        0.25 * sum((0.6 / k) * np.sin(k * phase) for k in range(1, 12)) * env
        + 0.003 * rng.normal(size=t.size)
    ).astype(np.float32)


def face_clip(path: Path, seconds: float, seed: int = 0, f0: float = 140.0, fps: int = 15) -> Path:
    img = skimage.data.astronaut()
    frames = []
    for i in range(int(seconds * fps)):
        x0, y0 = int(114 + 6 * np.sin(i / 5)), int(8 + 4 * np.cos(i / 7))
        frames.append(cv2.resize(img[y0 : y0 + 224, x0 : x0 + 224], (160, 160), interpolation=cv2.INTER_AREA))
    return write_media(path, frames, fps=fps, audio=voice(seconds, f0, seed), sample_rate=16000)


def build_run(root: Path) -> Path:
    from avemotion.cli.main import main

    corpus = root / "corpus"
    corpus.mkdir(parents=True)
    rows = ["path,label,speaker"]
    for i in range(8):
        face_clip(corpus / f"c{i}.mp4", 1.0, seed=i, f0=110 + 25 * i)
        rows.append(f"c{i}.mp4,{'joy' if i % 2 else 'anger'},s{i % 4}")
    (corpus / "metadata.csv").write_text("\n".join(rows) + "\n")
    tiny = {"model.rnn_hidden": 12, "model.lstm_hidden": 16, "model.proj_dim": 16, "model.attn_dim": 8}
    sets = [a for k, v in tiny.items() for a in ("--set", f"{k}={v}")]
    assert (
        main(["-q", "extract", "--corpus", "folder", "--root", str(corpus), "--out", str(root / "feat")]) == 0
    )
    assert (
        main(
            [
                "-q",
                "train",
                "--features",
                str(root / "feat"),
                "--out",
                str(root / "run"),
                "--cv",
                "2",
                "--epochs",
                "3",
                *sets,
            ]
        )
        == 0
    )
    return root / "run"


def multipart(path: Path) -> tuple[bytes, str]:
    boundary = "avemotionLoadTest"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    body = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds for the whole load (bounded)")
    args = ap.parse_args()
    n = min(max(args.requests, 1), 64)
    tmp = Path(tempfile.mkdtemp(prefix="avemotion-webload-"))
    model = args.model
    if model is None:
        from avemotion.inference import default_model_dir

        try:
            model = default_model_dir()
        except AvemotionError:
            t0 = time.perf_counter()
            model = build_run(tmp)
            print(f"trained a small run for the test in {time.perf_counter() - t0:.0f} s: {model}")
    clip = face_clip(tmp / "clip3s.mp4", 3.0, seed=5)
    body, ctype = multipart(clip)
    try:
        with local_server(model, workers=args.workers, queue_size=max(32, n), log=tmp / "server.log",
                          args=["--max-uploads", str(max(32, n))]) as srv:
            server, url, labels = srv.process, srv.url, srv.health["model"]["labels"]
            # one request first: the first call builds the extractors (MediaPipe, openSMILE); not counted
            t0 = time.perf_counter()
            warm = post(url, body, ctype, args.timeout)
            print(f"warm-up request: HTTP {warm[0]} in {time.perf_counter() - t0:.2f} s")
            results: list[tuple[int, dict, float] | None] = [None] * n
            load0 = os.getloadavg()[0]
            start = threading.Barrier(n)

            def client(i: int) -> None:
                start.wait()
                t = time.perf_counter()
                status, reply = post(url, body, ctype, args.timeout)
                results[i] = (status, reply, time.perf_counter() - t)

            cpu0 = cpu_seconds(server.pid)
            t_all = time.perf_counter()
            threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(max(0.0, args.timeout - (time.perf_counter() - t_all)))
            wall = time.perf_counter() - t_all
            cpu = cpu_seconds(server.pid) - cpu0
            done = [r for r in results if r is not None]
            ok = [
                r
                for r in done
                if r[0] == 200
                and r[1].get("emotion") in labels
                and abs(sum(r[1]["probabilities"].values()) - 1) < 1e-4
            ]
            same = len({json.dumps(r[1]["probabilities"], sort_keys=True) for r in ok}) == 1
            lat = np.array([r[2] for r in done])
            with urllib.request.urlopen(f"{url}/api/health", timeout=10) as r:
                health = json.load(r)
            print(
                f"{n} concurrent POST /api/predict of a 3-s clip ({len(body) / 1024:.0f} KiB), "
                f"{args.workers} worker(s), loopback; load average before {load0:.2f} on "
                f"{os.cpu_count()} cores"
            )
            print(f"answered {len(done)}/{n}, correct {len(ok)}/{n}, identical predictions: {same}")
            if len(lat):
                print(
                    f"latency s: p50 {np.percentile(lat, 50):.2f}  p95 {np.percentile(lat, 95):.2f}  "
                    f"max {lat.max():.2f}  (wall {wall:.2f} s for all, {n / wall:.2f} requests/s; each waits "
                    "for the ones ahead of it)"
                )
            print(f"server CPU time {cpu:.2f} s in all, {cpu / n:.2f} s per request (user + system)")
            print(
                f"health after: {health['status']}, queue active {health['queue']['active']}; server alive: "
                f"{server.poll() is None}"
            )
            failed = len(ok) < n or not same or health["status"] != "ok" or server.poll() is not None
            for r in done:
                if r[0] != 200:
                    print("failed answer:", r[0], r[1])
                    break
            return 1 if failed else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), robust to other load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def post(url: str, body: bytes, ctype: str, timeout: float) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"{url}/api/predict", data=body, headers={"Content-Type": ctype}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except OSError as exc:
        return 0, {"error": str(exc)}


if __name__ == "__main__":
    raise SystemExit(main())
