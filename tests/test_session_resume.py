"""Session analysis at scale: an interrupted run resumes from its stage results with the same answer, the
stage cache's bookkeeping, and the pieces kept flat in memory (loudness envelope by blocks, clustering of at
most a bounded number of speech regions) giving the answers of the straightforward computation.

The recording is the two-voice conversation of tests/test_session.py (synthetic voices, six turns with 1-s
pauses). Tests that run the voice-activity and speaker models skip without the [session] extra.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from tests.test_session import SR, _conversation, _voice

from avemotion.cli.main import main
from avemotion.inference.session import diarize as dz
from avemotion.inference.session import pipeline
from avemotion.inference.session.cache import SessionCache
from avemotion.inference.session.records import FaceTrack, Turn
from avemotion.inference.session.speaking import ENVELOPE_RATE, WINDOW, loudness_envelope


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory):
    audio, _ = _conversation([_voice(105.0, 1.0), _voice(225.0, 1.2)])
    path = tmp_path_factory.mktemp("resume") / "talk.wav"
    sf.write(path, audio, SR)
    return path


@pytest.fixture(scope="module")
def loaded():
    pytest.importorskip("silero_vad")
    pytest.importorskip("resemblyzer")
    from avemotion.inference.api import load_model

    return load_model(None)


def _settings(loaded) -> dict[str, object]:
    return pipeline.cache_settings(loaded, None, 1.0, 1.0, None, False)


def test_interrupted_run_resumes_with_the_same_result(talk, loaded, tmp_path, monkeypatch) -> None:
    reference = pipeline.analyze_session(talk, loaded, max_segment=1.0, faces=False).to_dict()
    n_speech = sum(s["speaker"] is not None for s in reference["segments"])
    assert n_speech >= 10  # enough segments for three chunks of four
    real = pipeline._predict_into
    calls: list[int] = []

    def failing(*args, **kwargs):
        if len(calls) == 6:
            raise KeyboardInterrupt  # the user's Ctrl-C after six segments
        calls.append(1)
        return real(*args, **kwargs)

    folder = tmp_path / ".talk.session-cache"
    monkeypatch.setattr(pipeline, "_predict_into", failing)
    with pytest.raises(KeyboardInterrupt):
        pipeline.analyze_session(talk, loaded, max_segment=1.0, faces=False,
                                 cache=SessionCache(folder, talk, _settings(loaded), chunk=4))
    assert sorted(p.name for p in folder.iterdir()) == ["emotion-00000.json", "key.json", "speakers.json"]

    # the rerun: no speaker stage, only the segments after the saved chunk
    calls.clear()
    monkeypatch.setattr(pipeline, "_predict_into", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    monkeypatch.setattr(pipeline, "diarize", lambda *a, **k: pytest.fail("speakers found again"))
    resumed = pipeline.analyze_session(talk, loaded, max_segment=1.0, faces=False,
                                       cache=SessionCache(folder, talk, _settings(loaded), chunk=4))
    assert len(calls) == n_speech - 4
    assert resumed.to_dict() == reference

    # after completion: everything reused
    calls.clear()
    again = pipeline.analyze_session(talk, loaded, max_segment=1.0, faces=False,
                                     cache=SessionCache(folder, talk, _settings(loaded), chunk=4))
    assert calls == [] and again.to_dict() == reference


def test_other_settings_or_recording_start_afresh(talk, tmp_path) -> None:
    folder = tmp_path / "cache"
    cache = SessionCache(folder, talk, {"speakers": None})
    cache.save_turns(13.5, [Turn(1.0, 3.5, "S1"), Turn(4.5, 7.0, "S2")])
    cache.save_emotions(0, [{"start": 1.0, "emotion": "calm"}])
    assert SessionCache(folder, talk, {"speakers": None}).load_turns() == (13.5, [Turn(1.0, 3.5, "S1"),
                                                                                 Turn(4.5, 7.0, "S2")])
    other = SessionCache(folder, talk, {"speakers": 2})
    assert other.load_turns() is None and other.load_emotions(1) == []
    changed = tmp_path / "talk.wav"
    changed.write_bytes(talk.read_bytes() + b"\0\0")
    assert SessionCache(folder, changed, {"speakers": 2}).load_turns() is None
    (folder / "notes.txt").write_text("mine")  # a file the cache did not write is never removed
    SessionCache(folder, talk, {"speakers": 3}).save_turns(1.0, [])
    assert sorted(p.name for p in folder.iterdir()) == ["key.json", "notes.txt", "speakers.json"]
    assert (folder / "notes.txt").read_text() == "mine"
    assert SessionCache(folder, talk, {"speakers": None}).load_turns() is None  # the old results went
    assert not (tmp_path / "unused").exists() and SessionCache(tmp_path / "unused", talk, {}).load_turns() is None
    assert not (tmp_path / "unused").exists()  # nothing written before a stage's results


def test_partial_emotion_chunks_are_not_reused(talk, tmp_path) -> None:
    cache = SessionCache(tmp_path, talk, {}, chunk=2)
    cache.save_emotions(0, [{"start": 0.0}, {"start": 1.0}])
    cache.save_emotions(2, [{"start": 2.0}])  # a short chunk that is not the last one
    assert [r["start"] for r in cache.load_emotions(5)] == [0.0, 1.0]
    assert [r["start"] for r in cache.load_emotions(3)] == [0.0, 1.0, 2.0]


def test_face_tracks_round_trip(talk, tmp_path) -> None:
    probs = [np.full(7, 1 / 7, np.float32), np.full(7, np.nan, np.float32)]
    tracks = [FaceTrack("F1", [0.0, 0.2], [(1.0, 2.0, 30.5, 40.0), (2.0, 3.0, 31.0, 41.0)], [0.1, float("nan")],
                        probs), FaceTrack("F2")]
    cache = SessionCache(tmp_path, talk, {})
    assert cache.load_tracks() is None
    cache.save_tracks(tracks)
    back = cache.load_tracks()
    assert [t.id for t in back] == ["F1", "F2"] and len(back[1]) == 0
    assert back[0].times == tracks[0].times and back[0].boxes == tracks[0].boxes
    np.testing.assert_array_equal(back[0].mouth, tracks[0].mouth)
    np.testing.assert_array_equal(np.stack(back[0].probabilities), np.stack(probs))


def test_cli_keeps_stage_results_unless_told_not_to(talk, loaded, tmp_path) -> None:
    out = tmp_path / "out"
    assert main(["-q", "session", str(talk), "--out", str(out), "--no-cache"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["talk.session.html", "talk.session.json"]
    first = json.loads((out / "talk.session.json").read_text())
    assert main(["-q", "session", str(talk), "--out", str(out)]) == 0
    cached = sorted(p.name for p in (out / ".talk.session-cache").iterdir())
    assert cached == ["emotion-00000.json", "key.json", "speakers.json"]
    assert main(["-q", "session", str(talk), "--out", str(out)]) == 0  # all reused
    assert json.loads((out / "talk.session.json").read_text()) == first


def _envelope_at_once(audio: np.ndarray, sr: int) -> np.ndarray:
    """The envelope as one cumulative sum over the whole signal (the formula the blocks must reproduce)."""
    x = np.asarray(audio, np.float64)
    hop, half = int(round(sr / ENVELOPE_RATE)), int(round(WINDOW * sr / 2))
    c = np.concatenate([[0.0], np.cumsum(x * x)])
    centres = np.arange(len(x) // hop + 1) * hop
    lo, hi = np.clip(centres - half, 0, len(x)), np.clip(centres + half, 0, len(x))
    return np.sqrt(np.maximum(c[hi] - c[lo], 0.0) / np.maximum(hi - lo, 1)).astype(np.float32)


@pytest.mark.parametrize("n", [0, 1, 159, 321, 16000 * 3 + 17])
def test_envelope_by_blocks_equals_the_whole_signal_at_once(n: int) -> None:
    audio = (0.1 * np.random.default_rng(n).standard_normal(n)).astype(np.float32)
    for block in (7, 1000, 1 << 20):
        np.testing.assert_array_equal(loudness_envelope(audio, SR, block=block), _envelope_at_once(audio, SR))


def test_the_voice_read_from_its_file_gives_the_whole_array_s_speech_and_envelope(talk, tmp_path) -> None:
    """With a stage cache the voice is decoded into a file there and read a minute (voice activity) or a block
    (envelope) at a time: the same speech regions as silero's own pass over the whole array, the same envelope."""
    silero_vad = pytest.importorskip("silero_vad")
    import torch

    from avemotion.inference.session import vad
    from avemotion.media.audio import decode_audio_file, load_audio

    whole = load_audio(talk, SR)
    signal = decode_audio_file(talk, tmp_path / "signal.f32", SR)
    model = vad._model()
    model.reset_states()
    stamps = silero_vad.get_speech_timestamps(torch.from_numpy(whole), model, threshold=0.5, sampling_rate=SR,
                                              min_speech_duration_ms=250, min_silence_duration_ms=300,
                                              speech_pad_ms=50)
    expected = [(s["start"] / SR, s["end"] / SR) for s in stamps]
    assert len(expected) == 6
    assert vad.speech_regions(signal) == vad.speech_regions(whole) == expected
    np.testing.assert_array_equal(loudness_envelope(signal, SR, block=5000), loudness_envelope(whole, SR))


def test_a_cached_run_reads_the_voice_from_its_file_and_removes_it(talk, loaded, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pipeline, "load_audio", lambda *a, **k: pytest.fail("the voice decoded into memory"))
    folder = tmp_path / "cache"
    seen = []
    real = pipeline.speech_regions
    monkeypatch.setattr(pipeline, "speech_regions", lambda audio: (seen.append(audio.file.is_file()), real(audio))[1])
    pipeline.analyze_session(talk, loaded, max_segment=1.0, faces=False,
                             cache=SessionCache(folder, talk, _settings(loaded), chunk=4))
    assert seen == [True] and not (folder / "signal.f32").exists()


def test_clustering_beyond_the_cap_finds_the_same_two_voices() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(256), rng.standard_normal(256)
    truth = np.arange(1200) % 2
    x = dz._unit(np.stack([(a if t else b) + 0.8 * rng.standard_normal(256) for t in truth]))
    np.testing.assert_array_equal(dz._cluster_regions(x[:300], 2, 300), dz._spectral(x[:300], 2))  # under the cap
    capped = dz._cluster_regions(x, 2, 200)
    assert max((capped == truth).mean(), (capped != truth).mean()) == 1.0
