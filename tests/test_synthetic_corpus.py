"""The built-in synthetic corpus: determinism, decodable media, faces, acoustic direction, metadata, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import librosa
import numpy as np
import pytest

from avemotion.cli.main import main
from avemotion.data.synthetic.corpus import ClipSpec, CorpusParams, generate_corpus, is_complete, plan, render_clip
from avemotion.data.synthetic.face import detect_landmarks
from avemotion.errors import AvemotionError
from avemotion.labels import PAPER9
from avemotion.media import iter_frames, load_audio, probe

TINY = CorpusParams(per_class=1, speakers=2, seconds=1.0, seed=3)


def _spec(params: CorpusParams, label: str, take: int = 0) -> ClipSpec:
    return next(s for s in plan(params) if s.label == label and s.take == take)


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "corpus"
    generate_corpus(out, TINY, workers=2)
    return out


def test_same_seed_same_clip_other_seed_other_clip() -> None:
    params = CorpusParams(per_class=1, speakers=2, seconds=0.8, seed=11)
    spec = _spec(params, "anger")
    a, b = render_clip(spec, params), render_clip(spec, params)
    assert np.array_equal(a.audio, b.audio) and np.array_equal(a.frames, b.frames)
    c = render_clip(spec, CorpusParams(per_class=1, speakers=2, seconds=0.8, seed=12))
    assert not np.array_equal(a.audio, c.audio)
    assert a.frames.shape == (12, 256, 256, 3) and a.audio.shape == (int(round(12 / 15 * 16000)),)


def test_parallel_output_decodes_identically_to_serial(tiny_corpus: Path, tmp_path: Path) -> None:
    """Per-clip seeds: a clip written by a worker process equals the one rendered in this process."""
    serial = tmp_path / "serial"
    sub = CorpusParams(per_class=1, speakers=2, seconds=1.0, seed=3)
    spec = _spec(sub, "joy")
    from avemotion.data.synthetic.corpus import write_clip

    write_clip(spec, sub, serial)
    a = np.stack([f.image for f in iter_frames(tiny_corpus / spec.path, 15.0)])
    b = np.stack([f.image for f in iter_frames(serial / spec.path, 15.0)])
    assert np.array_equal(a, b)
    assert np.array_equal(load_audio(tiny_corpus / spec.path, 16000), load_audio(serial / spec.path, 16000))


def test_files_metadata_and_media_properties(tiny_corpus: Path) -> None:
    rows = list(csv.DictReader(open(tiny_corpus / "metadata.csv", encoding="utf-8")))
    assert [r["label"] for r in rows] == list(PAPER9.labels)
    assert set(rows[0]) == {"path", "label", "speaker"}
    assert {r["speaker"] for r in rows} == {"spk01", "spk02"}
    info = json.loads((tiny_corpus / "corpus.json").read_text())
    assert info["complete"] and info["clips"] == 9 and info["params"]["seed"] == 3
    assert not list(tiny_corpus.rglob(".*.mp4"))  # no temporary files left behind
    media = probe(tiny_corpus / rows[0]["path"])
    assert media.has_audio and media.has_video
    assert media.sample_rate == 16000 and media.fps == pytest.approx(15.0, abs=0.01)
    assert (media.width, media.height) == (256, 256)
    assert (media.video_codec, media.audio_codec) == ("h264", "aac")
    assert media.duration == pytest.approx(1.0, abs=0.1)
    audio = load_audio(tiny_corpus / rows[0]["path"], 16000)
    assert abs(audio.size / 16000 - 1.0) < 0.05 and np.sqrt(np.mean(audio**2)) > 1e-3
    assert len(list(iter_frames(tiny_corpus / rows[0]["path"], 15.0))) == 15


def test_resume_and_parameter_clash(tiny_corpus: Path) -> None:
    assert is_complete(tiny_corpus, TINY)
    victim = tiny_corpus / plan(TINY)[4].path
    mtime = (tiny_corpus / plan(TINY)[0].path).stat().st_mtime_ns
    victim.unlink()
    info = generate_corpus(tiny_corpus, TINY, workers=1)
    assert info["generated"] == 1 and victim.is_file()
    assert (tiny_corpus / plan(TINY)[0].path).stat().st_mtime_ns == mtime  # untouched
    with pytest.raises(AvemotionError, match="other parameters"):
        generate_corpus(tiny_corpus, CorpusParams(per_class=2, speakers=2, seconds=1.0, seed=3), workers=1)


def test_face_found_in_generated_frames(tiny_corpus: Path) -> None:
    rows = list(csv.DictReader(open(tiny_corpus / "metadata.csv", encoding="utf-8")))
    found = 0
    tried = 0
    for row in rows[::3]:
        for frame in list(iter_frames(tiny_corpus / row["path"], 15.0))[::7]:
            tried += 1
            lm = detect_landmarks(frame.image)
            assert lm.shape == (468, 2)
            found += 1
    assert found == tried > 0


def _level_and_pitch(audio: np.ndarray, sr: int) -> tuple[float, float]:
    rms = librosa.feature.rms(y=audio, frame_length=512, hop_length=160)[0]
    f0 = librosa.yin(audio, fmin=60, fmax=600, sr=sr, frame_length=1024, hop_length=160)
    n = min(rms.size, f0.size)
    voiced = rms[:n] > 0.3 * rms.max()
    return 20 * np.log10(np.sqrt(np.mean(audio**2))), float(np.median(np.log2(f0[:n][voiced])))


def test_anger_louder_and_higher_than_sadness() -> None:
    params = CorpusParams(per_class=6, speakers=3, seconds=1.2, seed=5)
    level = {"anger": [], "sadness": []}
    pitch = {"anger": [], "sadness": []}
    by_speaker: dict[tuple[str, int], list[float]] = {}
    for label in level:
        for take in range(6):
            spec = _spec(params, label, take)
            clip = render_clip(spec, params)
            lv, p = _level_and_pitch(clip.audio, clip.sample_rate)
            level[label].append(lv)
            pitch[label].append(p)
            by_speaker.setdefault((label, spec.speaker), []).append(p)
    assert np.mean(level["anger"]) > np.mean(level["sadness"]) + 4.0  # dB
    assert np.mean(pitch["anger"]) > np.mean(pitch["sadness"]) + 0.25  # octaves (> 3 semitones)
    # within each speaker too (speakers differ in base pitch)
    for spk in range(3):
        assert np.mean(by_speaker[("anger", spk)]) > np.mean(by_speaker[("sadness", spk)])


@pytest.mark.slow
def test_cli_make_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny = ["--per-class", "1", "--speakers", "1", "--seconds", "0.6", "--workers", "1"]
    assert main(["--quiet", "make-corpus", "--out", str(tmp_path / "c"), *tiny]) == 0
    assert len(list((tmp_path / "c" / "clips").rglob("*.mp4"))) == 9
    assert is_complete(tmp_path / "c", CorpusParams(per_class=1, speakers=1, seconds=0.6))
    assert main(["--quiet", "make-corpus", "--out", str(tmp_path / "c"), "--per-class", "0"]) == 1
