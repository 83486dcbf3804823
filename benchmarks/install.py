"""The slim install (issue #26 item 5): a fresh venv with only ``requirements/core.lock`` and the wheel.

Builds the wheel (``pip wheel --no-deps .``), creates a venv in a temporary folder, installs ``core.lock``
and the wheel with ``--no-deps`` (timed), measures the venv's size, predicts a clip with the installed CLI
from outside the source tree (default: the web page's sample clip, which the wheel carries), then adds
``web.lock`` and checks that ``avemotion serve`` answers with the page. Prints size and install time beside
the full install before the lock split (commit fbb5923, ``requirements.lock``: 3,311 MB, 133 s on the 2-core
machine, docs/experiments/2026-12-06-slim-install.md) as ratios. About 3-5 minutes, mostly the install.

    .venv/bin/python benchmarks/install.py [--clip FILE] [--no-web] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the full install before the split (commit fbb5923) on the project's 2-core machine: venv +
#: requirements.lock, 135 s and 130 s, each back to back with the core install (91 s, 88 s)
BEFORE_MB = 3311.0
BEFORE_S = 133.0
PIP = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]


def venv_mb(path: Path) -> float:
    """Disk use of a folder in MB (allocated blocks, as ``du -sm``)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(folder, name))
            total += st.st_blocks * 512
    return total / 2**20


def run(cmd: list[str], **kw) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, **kw)
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_serve(venv: Path, workdir: Path) -> tuple[float, int]:
    """Start ``avemotion serve`` from the venv: (seconds until ``GET /`` answers, bytes of the sample)."""
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen([str(venv / "bin" / "avemotion"), "serve", "--port", str(port)], cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        while True:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - start > 180:
                    raise SystemExit("avemotion serve did not answer within 180 s") from None
                time.sleep(0.5)
        ready = time.perf_counter() - start
        assert "<title>avemotion" in page, "GET / did not return the page"
        sample = urllib.request.urlopen(f"http://127.0.0.1:{port}/static/sample.mp4", timeout=30).read()
        return ready, len(sample)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, default=None, help="clip to predict (default: the packaged sample)")
    ap.add_argument("--no-web", action="store_true", help="skip web.lock and the serve check")
    ap.add_argument("--keep", type=Path, default=None, help="build the venv here and keep it")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="avemotion-install-"))
    venv = args.keep or tmp / "venv"
    made = [p for p in (ROOT / "build", ROOT / "src" / "avemotion.egg-info") if not p.exists()]
    try:
        t_wheel = run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(ROOT),
                       "-w", str(tmp)], cwd=tmp)
        wheel = next(tmp.glob("avemotion-*.whl"))
        base = getattr(sys, "_base_executable", sys.executable)
        t_venv = run([base, "-m", "venv", str(venv)])
        py = str(venv / "bin" / "python")
        t_core = run([py, *PIP, "-r", str(ROOT / "requirements" / "core.lock")])
        t_pkg = run([py, *PIP, str(wheel)])
        size = venv_mb(venv)
        clip = args.clip.resolve() if args.clip else None
        if clip is None:
            out = subprocess.run([py, "-c", "import avemotion.web, pathlib; print(pathlib.Path("
                                  "avemotion.web.__file__).parent / 'static' / 'sample.mp4')"],
                                 cwd=tmp, capture_output=True, text=True, check=True)
            clip = Path(out.stdout.strip())
        start = time.perf_counter()
        pred = subprocess.run([str(venv / "bin" / "avemotion"), "predict", str(clip)], cwd=tmp,
                              capture_output=True, text=True)
        t_pred = time.perf_counter() - start
        if pred.returncode != 0:
            print(pred.stdout, pred.stderr, file=sys.stderr)
            raise SystemExit("avemotion predict failed in the core venv")
        install = t_venv + t_core + t_pkg
        print(f"wheel: {wheel.name} ({wheel.stat().st_size / 2**20:.1f} MB) built in {t_wheel:.1f} s")
        print(f"core venv (core.lock + wheel): {size:,.0f} MB vs {BEFORE_MB:,.0f} MB before "
              f"(ratio {size / BEFORE_MB:.2f})")
        print(f"install: {install:.0f} s (venv {t_venv:.0f} s, core.lock {t_core:.0f} s, "
              f"wheel {t_pkg:.0f} s) vs {BEFORE_S:.0f} s before (ratio {install / BEFORE_S:.2f})")
        print(f"predict {clip.name} from the core venv: ok in {t_pred:.1f} s (first call, cold caches)")
        if not args.no_web:
            t_web = run([py, *PIP, "-r", str(ROOT / "requirements" / "web.lock")])
            ready, sample = check_serve(venv, tmp)
            print(f"[web]: web.lock in {t_web:.0f} s (+{venv_mb(venv) - size:.0f} MB); "
                  f"avemotion serve answered GET / after {ready:.1f} s, sample.mp4 {sample:,} bytes")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for path in made:  # the in-tree build folders (a stale build/lib would leak into later wheels)
            shutil.rmtree(path, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
