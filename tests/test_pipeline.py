"""The extraction pipeline on a small folder corpus: store, failures, resume after a kill, executors."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pipeline_helpers import make_face_clip, make_noise_clip, speechlike

from avemotion.cli.main import main
from avemotion.data.extract import extract_clip
from avemotion.data.store import FeatureStore
from avemotion.media.write import write_media

FAST = ["--set", "audio.opensmile.sets=[IS09]", "--set", "video.fps=5",
        "--set", "audio.extractors=[mfcc,opensmile,soundnet]"]


def _corpus(root: Path, n_good: int = 4) -> Path:
    rows = ["path,label,speaker"]
    for i in range(n_good):
        make_face_clip(root / f"good{i}.mp4", seed=i, f0=120 + 30 * i)
        rows.append(f"good{i}.mp4,{'joy' if i % 2 else 'anger'},s{i % 2}")
    make_noise_clip(root / "faceless.mp4")
    rows.append("faceless.mp4,joy,s0")
    write_media(root / "silent.wav", None, audio=np.zeros(16000, np.float32), sample_rate=16000)
    rows.append("silent.wav,anger,s1")
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(300))
    rows.append("broken.mp4,joy,s1")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def extracted(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("feat") / "store"
    assert main(["--quiet", "extract", "--corpus", "folder", "--root", str(corpus), "--out", str(out), *FAST]) == 0
    return out


def test_store_contents(extracted: Path) -> None:
    store = FeatureStore(extracted)
    records, feats = store.load_all()
    ids = {r.clip_id for r in records}
    assert ids == {"good0", "good1", "good2", "good3", "faceless"}
    by_id = {f.clip_id: f for f in feats}
    good = by_id["good0"]
    assert good.has_audio and good.has_video and good.video_mask.mean() > 0.9
    assert good.audio_seq.shape[0] == pytest.approx(15, abs=2)  # 1.5 s at 10 tokens/s
    assert set(good.audio_vec_groups) == {"mfcc", "opensmile", "soundnet"}
    assert by_id["faceless"].has_audio and not by_id["faceless"].has_video
    summary = json.loads((extracted / "summary.json").read_text())
    assert summary["total"] == 7 and summary["done"] == 4 and summary["partial"] == 1 and summary["failed"] == 2
    assert summary["dims"]["audio_vec"] == good.audio_vec.shape[0]


def test_failures_csv(extracted: Path) -> None:
    with open(extracted / "failures.csv", newline="") as fh:
        rows = {r["clip_id"]: r for r in csv.DictReader(fh)}
    assert rows["broken"]["status"] == "failed" and rows["broken"]["reason"] == "corrupt"
    assert "broken.mp4" in rows["broken"]["message"]
    assert rows["silent"]["status"] == "failed" and rows["silent"]["reason"] == "silent"
    assert rows["faceless"]["status"] == "partial" and rows["faceless"]["reason"] == "no_face"


def test_rerun_skips_everything(corpus: Path, extracted: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in (extracted / "clips").glob("*.npz")}
    assert main(["--quiet", "extract", "--corpus", "folder", "--root", str(corpus), "--out", str(extracted),
                 *FAST]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in (extracted / "clips").glob("*.npz")}
    assert before == after
    summary = json.loads((extracted / "summary.json").read_text())
    assert summary["skipped"] == 5 and summary["failed"] == 2  # failed clips are retried, and fail again


def test_extract_clip_for_prediction(corpus: Path) -> None:
    from avemotion.config import Config

    config = Config().with_overrides({"audio.opensmile.sets": ["IS09"], "video.fps": 5})
    f = extract_clip(corpus / "good1.mp4", config)
    assert f.has_audio and f.has_video
    audio_only = extract_clip(corpus / "good1.mp4", config, modality="audio")
    assert audio_only.has_audio and not audio_only.has_video


@pytest.mark.slow
def test_resume_after_kill(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    rows = ["path,label,speaker"]
    for i in range(8):
        write_media(root / f"c{i}.wav", None, audio=speechlike(1.0, seed=i), sample_rate=16000)
        rows.append(f"c{i}.wav,{'joy' if i % 2 else 'anger'},s{i % 3}")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "store"
    cmd = [sys.executable, "-m", "avemotion", "--quiet", "extract", "--corpus", "folder", "--root", str(root),
           "--out", str(out), "--set", "audio.opensmile.sets=[IS09,IS11,IS13]"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    def entries() -> list[Path]:  # finished entries; a killed writer may leave a hidden temporary file
        return [p for p in (out / "clips").glob("*.npz") if not p.name.startswith(".")]

    while time.time() < deadline and len(entries()) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.name: p.stat().st_mtime_ns for p in entries()}
    assert 2 <= len(finished) < 8, "the run should have been interrupted part-way"
    for p in entries():  # every finished entry is complete and loadable
        np.load(p)["audio_vec"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = {p.name: p.stat().st_mtime_ns for p in entries()}
    assert len(after) == 8
    assert all(after[name] == mtime for name, mtime in finished.items()), "finished clips were recomputed"
    assert not list((out / "clips").glob(".*")), "temporary files left behind"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped"] == len(finished) and summary["done"] == 8 - len(finished)


@pytest.mark.slow
def test_process_pool_and_ray_match_in_process(corpus: Path, extracted: Path, tmp_path: Path) -> None:
    """Same features from the in-process run, a 2-process pool and Ray (audio branch: the video branch is
    checked for equality by the in-process rerun above; this keeps the worker start-up cheap)."""
    reference = {f.clip_id: f for f in FeatureStore(extracted).load_all()[1]}
    for executor, workers in (("local", 2), ("ray", 1)):
        out = tmp_path / executor
        assert main(["--quiet", "extract", "--corpus", "folder", "--root", str(corpus), "--out", str(out),
                     "--executor", executor, "--workers", str(workers), "--modality", "audio", *FAST]) == 0
        got = {f.clip_id: f for f in FeatureStore(out).load_all()[1]}
        assert set(got) == set(reference) and all(not f.has_video for f in got.values())
        for cid, f in got.items():
            np.testing.assert_allclose(f.audio_vec, reference[cid].audio_vec, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(f.audio_seq, reference[cid].audio_seq, rtol=1e-5, atol=1e-5)


def test_real_samples_extract(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "cremad"
    assert main(["--quiet", "extract", "--corpus", "cremad", "--root", str(shared_data / "cremad_sample"),
                 "--out", str(out), *FAST]) == 0
    records, feats = FeatureStore(out).load_all()
    assert len(records) == 12
    by_id = {f.clip_id: f for f in feats}
    assert by_id["1001_DFA_ANG_XX"].has_video and by_id["1001_DFA_ANG_XX"].video_mask.mean() > 0.95
    assert not by_id["1002_DFA_ANG_XX"].has_video and by_id["1002_DFA_ANG_XX"].has_audio


def test_iemocap_utterance_windows(tmp_path: Path) -> None:
    """IEMOCAP: the video is cut from the dialog by the utterance's times; the audio is the utterance's own wav."""
    ses = tmp_path / "iemocap" / "Session1"
    make_face_clip(ses / "dialog" / "avi" / "DivX" / "Ses01F_impro01.avi", seconds=3.0)
    evaluation = ses / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt"
    evaluation.parent.mkdir(parents=True)
    evaluation.write_text("[1.0000 - 2.2000]\tSes01F_impro01_F000\tang\t[2.0, 4.0, 3.5]\n")
    write_media(ses / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F000.wav", None,
                audio=speechlike(1.2, seed=3), sample_rate=16000)
    out = tmp_path / "store"
    assert main(["--quiet", "extract", "--corpus", "iemocap", "--root", str(tmp_path / "iemocap"), "--out", str(out),
                 *FAST]) == 0
    (record,), (features,) = FeatureStore(out).load_all()
    assert record.label == "angry" and features.has_audio and features.has_video
    assert features.audio_seq.shape[0] == 12  # the whole 1.2 s utterance wav at 10 tokens/s
    assert features.video_seq.shape[0] == pytest.approx(1.2 * 5, abs=1)  # 1.0-2.2 s of the dialog at 5 fps
