"""No leaks where a model runs: extractors are pooled and reused, and many video predictions in one process
(the Python API, timelines, the web server) leave resident memory and the thread count flat.

Before the pool every ``extract_clip`` built new MediaPipe graphs and never closed them: about +47 MiB and
+4 threads per video prediction. The process-level checks run in child processes, with the bundled model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from web_helpers import face_clip

from avemotion.config import Config
from avemotion.data.extract import POOL, Extractor, ExtractorPool, extract_clip
from avemotion.data.manifest import ClipRecord
from avemotion.utils.resources import slope, usage

#: light extractor settings for the in-process tests (one openSMILE set, no SoundNet)
LIGHT = {"audio": {"extractors": ["mfcc", "opensmile"], "opensmile": {"sets": ["IS09"]},
                   "soundnet": {"enabled": False}}}
#: predictions before the readings count (lazy models, torch's thread pool, allocator caches): resident memory
#: climbs by 20-40 MiB over the first 20-30 video predictions and then moves within that band (80-prediction runs)
WARM_UP = 16
MAX_SLOPE_MIB = 1.0  # resident memory growth allowed per prediction after warm-up


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_clip(tmp_path_factory.mktemp("leaks") / "face.mp4", seconds=2.0)


def _assert_flat(readings: list[dict], what: str) -> None:
    later = readings[WARM_UP:]
    threads = {r["threads"] for r in later}
    rss = [r["rss"] for r in later]
    assert len(threads) == 1, f"{what}: threads changed after warm-up: {[r['threads'] for r in readings]}"
    assert slope(rss) < MAX_SLOPE_MIB, f"{what}: memory grows {slope(rss):.2f} MiB per prediction: {rss}"


def test_extract_clip_reuses_one_extractor_and_matches_a_fresh_one(clip: Path) -> None:
    config = Config.from_dict(LIGHT)
    first = extract_clip(clip, config)
    created = POOL.created
    again = [extract_clip(clip, config) for _ in range(3)]
    assert POOL.created == created, "extract_clip built a new extractor instead of reusing the pooled one"
    record = ClipRecord(clip.stem, "", None, str(clip), str(clip))
    with Extractor(config) as fresh:
        reference = fresh.extract(record).features
    for f in [first, *again]:
        for name in ("audio_seq", "audio_vec", "video_seq", "video_mask"):
            a, b = getattr(f, name), getattr(reference, name)
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_array_equal(a, b, err_msg=name)


def test_pool_gives_each_concurrent_user_its_own_extractor_and_closes_evicted_ones() -> None:
    pool = ExtractorPool(max_configs=1)
    a, b = Config.from_dict(LIGHT), Config()
    seen: list[Extractor] = []
    barrier = threading.Barrier(2)

    def use() -> None:
        with pool.borrow(a) as ex:
            seen.append(ex)
            barrier.wait(5)  # both hold one at the same time

    threads = [threading.Thread(target=use) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(e) for e in seen}) == 2 and pool.idle_count() == 2
    with pool.borrow(a) as ex:
        assert ex in seen and pool.created == 2  # reused
        ex.video  # noqa: B018 - builds the video branch (its MediaPipe graphs load on first use)
        with pool.borrow(b):  # another config evicts a's idle extractors (closed) ...
            assert pool.idle_count() == 0
            assert all(e._video is None for e in seen if e is not ex)
        assert ex._video is not None  # ... but not the one in use,
    assert ex._video is None and pool.idle_count() == 1  # which is closed when returned


def test_extractor_close_releases_mediapipe_threads(clip: Path) -> None:
    config = Config.from_dict(LIGHT)
    before = usage().threads
    record = ClipRecord(clip.stem, "", None, str(clip), None)
    for _ in range(3):
        with Extractor(config) as ex:
            ex.extract(record, "video")
    assert usage().threads <= before + 1  # (+1: torch may start its pool on the first CNN call)


_API_SCRIPT = textwrap.dedent("""
    import json, sys
    import avemotion
    from avemotion.utils.resources import usage
    path, n = sys.argv[1], int(sys.argv[2])
    for i in range(n):
        if i % 8 == 7:
            frame = avemotion.timeline(path, window=1.0, hop=0.5)
            assert frame["emotion"].notna().any()
        else:
            assert avemotion.predict(path).modalities_used == "av"
        u = usage()
        print(json.dumps({"rss": u.rss_mib, "threads": u.threads}), flush=True)
""")


@pytest.mark.slow
def test_api_video_predictions_keep_memory_and_threads_flat(clip: Path) -> None:
    n = 56
    out = subprocess.run([sys.executable, "-c", _API_SCRIPT, str(clip), str(n)], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    readings = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(readings) == n
    _assert_flat(readings, "avemotion.predict / timeline")


@pytest.mark.slow
def test_server_video_predictions_keep_memory_and_threads_flat(clip: Path) -> None:
    pytest.importorskip("fastapi")
    from avemotion.web.local import local_server

    boundary = "leakTest"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="face.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n").encode() + clip.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    readings = []
    with local_server("default") as srv:
        for _ in range(48):
            req = urllib.request.Request(f"{srv.url}/api/predict", data=body, method="POST",
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
            with urllib.request.urlopen(req, timeout=120) as r:
                assert r.status == 200 and json.load(r)["modalities_used"] == "av"
            u = usage(srv.process.pid)
            readings.append({"rss": u.rss_mib, "threads": u.threads})
    _assert_flat(readings, "avemotion serve")
