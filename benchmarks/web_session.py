"""The web app's session view at its stated limit: one long recording uploaded to ``POST /api/session``.

A two-voice conversation of ``--minutes`` minutes (``session_scale.conversation``: 3-s turns, 1-s pauses, 16-kHz
WAV) is uploaded to ``avemotion serve`` (one worker, the bundled model unless ``--model``) on loopback; the job is
followed to its end. Printed: the upload's size and time, the job's wall time and real-time factor, the speakers
found, and the server's peak resident memory (VmHWM) before and after the job, and its resident memory after it.
With ``--video`` the upload is the same conversation as a 720p H.264 video with one face on camera
(``session_scale.video_conversation``: the face speaks the low voice's turns), so the session tracks faces too;
the row then also gives the face tracks found and the share of speech segments with a speaking face.

    PYTHONPATH=src python benchmarks/web_session.py [--minutes 59.9] [--model NAME|RUN] [--video]

(the conversation ends after the turn that crosses ``--minutes``: 59.9 stays under the one-hour limit.)
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from session_scale import conversation, video_conversation

from avemotion.web.local import local_server


def memory_mib(pid: int, field: str = "VmHWM") -> float:
    """Peak (``VmHWM``) or current (``VmRSS``) resident memory of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def upload(url: str, path: Path) -> dict:
    boundary = secrets.token_hex(16)
    kind = "video/mp4" if path.suffix == ".mp4" else "audio/wav"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            f"Content-Type: {kind}\r\n\r\n").encode()
    body = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.load(r)
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"upload refused: HTTP {exc.code}: {exc.read().decode(errors='replace')}") from None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=59.9)
    ap.add_argument("--model", default="default")
    ap.add_argument("--video", action="store_true", help="upload a 720p video of the conversation (faces tracked)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wav = (video_conversation(args.minutes, Path(tmp) / "conversation.mp4") if args.video
               else conversation(args.minutes, Path(tmp) / "conversation.wav"))
        size = wav.stat().st_size / 1024 / 1024
        with local_server(args.model, workers=1) as srv:
            before = memory_mib(srv.process.pid)
            t0 = time.monotonic()
            job = upload(srv.url + "/api/session", wav)["job"]
            t_up = time.monotonic() - t0
            while True:
                with urllib.request.urlopen(f"{srv.url}/api/jobs/{job}", timeout=60) as r:
                    body = json.load(r)
                if body["status"] in ("done", "failed", "cancelled"):
                    break
                time.sleep(1.0)
            wall = time.monotonic() - t0
            after = memory_mib(srv.process.pid)
            now = memory_mib(srv.process.pid, "VmRSS")
    if body["status"] != "done":
        print(f"job {body['status']}: {body.get('error')}")
        return 1
    result = body["result"]
    duration = float(result["duration"])
    if args.video:
        speech = [s for s in result["segments"] if s["speaker"] is not None]
        tracks = {s["face"]["track"] for s in speech if s.get("face")}
        speaking = sum(bool(s.get("face") and s["face"].get("speaking")) for s in speech)
        print(f"faces: {len(tracks)} track(s); speech segments with the visible face speaking: {speaking} of "
              f"{len(speech)}")
    kind = "720p video" if args.video else "WAV"
    print(f"| {args.minutes:g} min {kind}, {size:.0f} MiB | {t_up:.1f} | {wall:.1f} | {wall / duration:.3f} | "
          f"{len(result['speakers'])} | {sum(s['speaker'] is not None for s in result['segments'])} | "
          f"{before:.0f} | {after:.0f} | {now:.0f} |")
    print("columns: recording | upload s | upload + job wall s | x real time | speakers | speech segments | "
          "server peak MiB before | after | resident MiB after")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
