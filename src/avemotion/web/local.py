"""``avemotion serve`` in a child process on 127.0.0.1, for tests, benchmarks and scripts.

::

    with local_server("default") as srv:
        urllib.request.urlopen(srv.url + "/api/health")
        usage(srv.process.pid)   # resident memory and threads of the server

The server listens on a free loopback port; the block waits until GET /api/health answers and stops the
server (terminate, then kill) when it ends.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass
class LocalServer:
    process: subprocess.Popen
    url: str
    health: dict  # GET /api/health once it answered


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_server(model: str | Path, *, workers: int = 1, queue_size: int = 32, args: Sequence[str] = (),
                 log: Path | None = None, start_timeout: float = 120.0) -> Iterator[LocalServer]:
    """Serve ``model`` (a run folder or a bundled model's name) until the block ends. ``args``: more
    ``avemotion serve`` options; ``log``: the server's output (else a temporary file, printed in the error
    when the server does not start)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "avemotion", "serve", "--model", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--queue-size", str(queue_size), *args]
    with _log_file(log) as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
        try:
            deadline = time.monotonic() + start_timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/api/health", timeout=2) as r:
                        health = json.load(r)
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        out.flush()
                        text = Path(out.name).read_text(errors="replace")
                        raise RuntimeError(f"`avemotion serve` did not start:\n{text[-4000:]}") from None
                    time.sleep(0.3)
            yield LocalServer(proc, url, health)
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def _log_file(path: Path | None) -> Iterator[IO[str]]:
    if path is not None:
        with open(path, "w", encoding="utf-8") as fh:
            yield fh
        return
    with tempfile.NamedTemporaryFile("w", prefix="avemotion-serve-", suffix=".log", encoding="utf-8") as fh:
        yield fh
