"""Soak test of the web app: many video predictions, one after another, against one `avemotion serve`.

Starts the server on 127.0.0.1 (a free port), sends ``--requests`` (200) POST /api/predict of a 3-s face
clip, one at a time, and every ``--every`` (20) requests prints the server's resident memory and thread count
(``/proc``), then the memory slope per request after the first report and whether the threads stayed
constant. Before the extractor pool each video prediction left about 47 MiB and 4 threads behind.
Bounded: at most 1000 requests and ``--timeout`` seconds; loopback only.

    python benchmarks/web_soak.py [--model RUNDIR|NAME] [--requests 200] [--every 20] [--timeline]

Without --model: the bundled default model. ``--timeline`` alternates predictions with timeline jobs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

from web_load import face_clip, multipart, post

from avemotion.utils.resources import slope, usage
from avemotion.web.local import local_server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument("--timeline", action="store_true", help="every other request is a timeline job")
    ap.add_argument("--timeout", type=float, default=1800.0)
    args = ap.parse_args()
    n = min(max(args.requests, 1), 1000)
    tmp = Path(tempfile.mkdtemp(prefix="avemotion-soak-"))
    model = args.model
    if model is None:
        from avemotion.inference import default_model_dir

        model = default_model_dir()
    body, ctype = multipart(face_clip(tmp / "clip3s.mp4", 3.0, seed=5))
    t_end = time.monotonic() + args.timeout
    readings: list[tuple[int, float, int]] = []
    failures = 0
    try:
        with local_server(model, log=tmp / "server.log") as srv:
            server, url = srv.process, srv.url
            u = usage(server.pid)
            print(f"{'requests':>8} {'RSS MiB':>8} {'threads':>7}   (after start-up: {u.rss_mib:.0f} MiB, "
                  f"{u.threads} threads)")
            t0 = time.perf_counter()
            for i in range(1, n + 1):
                if time.monotonic() > t_end:
                    print(f"stopped at the time limit after {i - 1} requests")
                    break
                if args.timeline and i % 2 == 0:
                    ok = _timeline(url, body, ctype, t_end)
                else:
                    status, reply = post(url, body, ctype, max(1.0, t_end - time.monotonic()))
                    ok = status == 200 and "emotion" in reply
                failures += not ok
                if i % args.every == 0 or i == 1:
                    u = usage(server.pid)
                    readings.append((i, u.rss_mib, u.threads))
                    print(f"{i:>8} {u.rss_mib:>8.0f} {u.threads:>7}", flush=True)
            wall = time.perf_counter() - t0
            later = [r for r in readings if r[0] > 1]
            if len(later) >= 2:
                per_req = slope([r[1] for r in later]) / args.every
                threads = sorted({r[2] for r in later})
                steady = f"constant at {threads[0]}" if len(threads) == 1 else f"varied: {threads}"
                print(f"memory slope after request {later[0][0]}: {per_req:+.3f} MiB per request; "
                      f"threads {steady}")
            print(f"{readings[-1][0] if readings else 0} requests in {wall:.0f} s, {failures} failed; "
                  f"server alive: {server.poll() is None}")
            return 1 if failures or server.poll() is not None else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _timeline(url: str, body: bytes, ctype: str, t_end: float) -> bool:
    req = urllib.request.Request(f"{url}/api/timeline", data=body, headers={"Content-Type": ctype},
                                 method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        job = json.load(r)["job"]
    while time.monotonic() < t_end:
        with urllib.request.urlopen(f"{url}/api/jobs/{job}", timeout=60) as r:
            status = json.load(r)["status"]
        if status in ("done", "failed"):
            return status == "done"
        time.sleep(0.1)
    return False


if __name__ == "__main__":
    raise SystemExit(main())
