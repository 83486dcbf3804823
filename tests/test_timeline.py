from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch

from avemotion.errors import ConfigError
from avemotion.features.windows import windows


def test_windows_cover_the_recording() -> None:
    w = windows(10.0, 3.0, 1.5)
    assert w[0] == (0.0, 3.0) and w[-1][1] == 10.0
    assert all(b - a <= 3.0 + 1e-9 for a, b in w)
    starts = [a for a, _ in w]
    assert all(abs((y - x) - 1.5) < 1e-9 for x, y in pairwise(starts))


def test_short_tail_dropped_but_short_file_kept() -> None:
    assert windows(6.2, 3.0, 3.0) == [(0.0, 3.0), (3.0, 6.0)]  # a 0.2 s tail is too short to analyse
    assert windows(0.3, 3.0, 1.5) == [(0.0, 0.3)]  # a short recording is still one window


def test_bad_window() -> None:
    with pytest.raises(ConfigError):
        windows(10.0, 0.0, 1.0)


# --- one decoding pass (extract_windows): windows cut from the stream match per-window extraction ---------
def _talking_clip(path: Path, seconds: float = 4.0, fps: float = 15.0) -> Path:
    """The astronaut's face drifting over a textured background, with a voiced, pitch-gliding tone."""
    from video_helpers import canvas, face_patch, paste

    from avemotion.media.write import write_media

    n = int(seconds * fps)
    frames = [paste(canvas(), face_patch(170), 200 + 40 * np.sin(i / 9), 180 + 10 * np.cos(i / 7)) for i in range(n)]
    sr = 16000
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140 + 40 * np.sin(2 * np.pi * 0.4 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voice = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 1.3 * t) ** 2)
    audio = 0.2 * voice + 0.01 * np.random.default_rng(0).standard_normal(t.size)
    return write_media(path, frames, fps=fps, audio=audio, sample_rate=sr)


def _rel_diff(a: np.ndarray, b: np.ndarray, scale: np.ndarray) -> float:
    """Mean absolute difference in units of each column's spread (std over the windows, floored)."""
    return float(np.mean(np.abs(a - b) / np.maximum(scale, 1e-3)))


@pytest.fixture(scope="module")
def talking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _talking_clip(tmp_path_factory.mktemp("timeline") / "talking.mp4")


def test_window_features_match_per_window_extraction(talking: Path) -> None:
    import torch

    from avemotion.config import Config
    from avemotion.data.extract import Extractor, extract_windows
    from avemotion.data.manifest import ClipRecord

    torch.set_num_threads(1)
    config = Config()
    spans = windows(4.0, 2.0, 1.0)
    streamed = list(extract_windows(talking, spans, config, "av", workers=1))
    assert [(a, b) for a, b, _ in streamed] == spans
    # the reference: each window extracted from the file on its own (decoded again from a seek)
    with Extractor(config) as extractor:
        singles = [extractor.extract(ClipRecord(f"w{a}", "", None, str(talking), str(talking),
                                                {"start": a, "end": b})).features for a, b in spans]
    vecs = np.stack([s.audio_vec for s in singles])
    scale = vecs.std(axis=0) + 1e-3 * np.abs(vecs).mean(axis=0)
    for (_, _, got), ref in zip(streamed, singles, strict=True):
        assert not isinstance(got, Exception), got
        assert got.has_audio and got.has_video and ref.has_video
        # audio: same samples but for the decoder's restart after a seek in the per-window path
        assert got.audio_seq.shape == ref.audio_seq.shape and got.audio_vec.shape == ref.audio_vec.shape
        assert _rel_diff(got.audio_vec, ref.audio_vec, scale) < 0.01  # different windows: ~1
        # video: same frames up to half a sampling period (the recording's grid), same columns
        assert got.video_groups == ref.video_groups
        assert abs(len(got.video_seq) - len(ref.video_seq)) <= 1 and got.video_mask.all() and ref.video_mask.all()
        g0, g1 = got.video_groups["geometry"]
        n = min(len(got.video_seq), len(ref.video_seq))
        assert np.abs(got.video_seq[:n, g0:g1] - ref.video_seq[:n, g0:g1]).mean() < 0.03  # IOD units
        m0, m1 = got.video_groups["motion"]
        assert not got.video_seq[0, m0:m1].any(), "a window's first frame has no previous frame"
        p0, p1 = got.video_groups["cnn_probs"]
        assert np.abs(got.video_seq[:n, p0:p1].mean(0) - ref.video_seq[:n, p0:p1].mean(0)).max() < 0.1


def test_audio_process_gives_the_same_windows(talking: Path) -> None:
    from avemotion.config import Config
    from avemotion.data.extract import extract_windows

    config = Config()
    spans = windows(4.0, 2.0, 1.5)
    here = list(extract_windows(talking, spans, config, "audio", workers=1))
    there = list(extract_windows(talking, spans, config, "audio", workers=2))
    for (_, _, x), (_, _, y) in zip(here, there, strict=True):
        assert np.allclose(x.audio_vec, y.audio_vec, rtol=1e-5, atol=1e-6)
        assert np.allclose(x.audio_seq, y.audio_seq, rtol=1e-5, atol=1e-6)


def test_audio_only_recording_and_silent_windows(tmp_path: Path) -> None:
    """A wav: audio windows only; a digitally silent stretch fails its windows, the others go on."""
    from avemotion.config import Config
    from avemotion.data.extract import extract_windows
    from avemotion.media.write import write_media

    sr = 16000
    t = np.arange(3 * sr) / sr
    audio = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 2 * t))
    audio[2 * sr :] = 0.0  # the last second is silent
    wav = write_media(tmp_path / "speech.wav", None, audio=audio, sample_rate=sr)
    spans = [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    got = list(extract_windows(wav, spans, Config(), "av", workers=1))
    assert [(a, b) for a, b, _ in got] == spans
    for _, _, item in got[:2]:
        assert not isinstance(item, Exception) and item.has_audio and not item.has_video
    assert isinstance(got[2][2], Exception) and got[2][2].reason == "silent"


def test_two_processes_split_the_recording_and_agree_with_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """workers=2 on a video: the second half of the windows is decoded and predicted by a second process."""
    import avemotion.inference.timeline as tl
    from avemotion.inference.bundled import bundled_models
    from avemotion.inference.predict import Predictor
    from avemotion.inference.timeline import MIN_SPLIT_WINDOWS, predict_timeline

    folder = next((m.folder for m in bundled_models() if m.name == "default"), None)
    if folder is None:
        pytest.skip("no bundled default model")
    clip = _talking_clip(tmp_path / "long.mp4", seconds=9.0)
    predictor = Predictor.load(folder)
    calls: list[int] = []
    real = tl._timeline_in_process

    def spy(model_dir, path, spans):
        calls.append(len(spans))
        return real(model_dir, path, spans)

    monkeypatch.setattr(tl, "_timeline_in_process", spy)
    seen: list[tuple[int, int]] = []
    threads: list[int] = []
    torch.set_num_threads(2)

    def on_window(result: object, done: int, total: int) -> None:
        seen.append((done, total))
        threads.append(torch.get_num_threads())

    split = predict_timeline(predictor, clip, 1.0, 0.5, on_window, workers=2)
    # beside the second process this one computes with half the cores' torch threads, and gives them back
    assert set(threads) == {max(1, (os.cpu_count() or 1) // 2)} and torch.get_num_threads() == 2
    single = predict_timeline(predictor, clip, 1.0, 0.5, workers=1)
    assert len(split) >= 2 * MIN_SPLIT_WINDOWS and seen[-1] == (len(split), len(split))
    assert calls == [len(split) - len(split) // 2]
    assert [(w.start, w.end) for w in split] == [(w.start, w.end) for w in single]
    for a, b in zip(split, single, strict=True):
        assert (a.prediction is None) == (b.prediction is None), (a, b)
        if a.prediction is not None:
            assert a.prediction.modalities_used == b.prediction.modalities_used
            diff = max(abs(a.prediction.probabilities[k] - b.prediction.probabilities[k])
                       for k in a.prediction.probabilities)
            assert diff < 0.05, (a.start, diff)
