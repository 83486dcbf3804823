"""Per-speaker adaptation in sessions: a model trained with speaker normalisation answers each diarized
speaker's segments together with that speaker's own statistics (``adapt="speaker"``), one at a time with
``adapt="none"`` or below MIN_CLIPS segments, and the session JSON says which; global models are unaffected.

The recording is the two-voice conversation of tests/test_session.py (synthetic voices, six turns with 1-s
pauses; voice activity and speakers found by the real models, skipped without the [session] extra). The tiny
models are trained on the toy feature store, so each speech segment's features are toy clips (a speaker offset
per true voice) put in place of the extraction.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from model_helpers import TINY_ARGS, quiet_torch
from tests.test_session import SR, _conversation, _voice

from avemotion.cli.main import main
from avemotion.data.normalize import MIN_CLIPS
from avemotion.errors import ConfigError
from avemotion.inference.session import pipeline
from avemotion.inference.session.adapt import describe_adaptation
from avemotion.inference.session.cache import SessionCache
from avemotion.inference.session.records import Segment
from avemotion.training.toy import toy_clip
from avemotion.utils.progress import set_quiet

quiet_torch()
set_quiet(True)


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("silero_vad")
    pytest.importorskip("resemblyzer")
    audio, truth = _conversation([_voice(105.0, 1.0), _voice(225.0, 1.2)])
    path = tmp_path_factory.mktemp("adapt") / "talk.wav"
    sf.write(path, audio, SR)
    return path, truth


def _train(store_dir: Path, out: Path, normalize: str) -> Path:
    assert main(["-q", "train", "--features", str(store_dir), "--out", str(out), "--cv", "2", "--epochs", "2",
                 "--modality", "audio", *TINY_ARGS, "--set", f"train.normalize={normalize}",
                 "--set", "train.inner_folds=0"]) == 0
    return out


@pytest.fixture(scope="module")
def runs(store_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {n: _train(store_dir, root / n, n) for n in ("speaker", "global")}


@pytest.fixture
def toy_windows(talk, monkeypatch):
    """Segment features from the toy store's generator: each voice with its own offset; returns the clips
    handed out, by span start."""
    _, truth = talk
    rng = np.random.default_rng(0)
    offsets = [rng.normal(scale=0.5, size=64), rng.normal(scale=0.5, size=64) + 3.0]
    given: dict[float, object] = {}

    def fake(path, spans, config, modality, *, workers=1, info=None):
        for i, (a, b) in enumerate(spans):
            mid = (a + b) / 2
            voice = min(truth, key=lambda t: 0 if t[0] <= mid <= t[1] else min(abs(mid - t[0]), abs(mid - t[1])))[2]
            clip = toy_clip(f"w{i}", i % 4, offsets[voice], np.random.default_rng(int(a * 1000)), 2.0, video="none")
            given[round(a, 6)] = clip
            yield a, b, clip

    monkeypatch.setattr(pipeline, "extract_windows", fake)
    return given


def _load(run: Path):
    from avemotion.inference.api import load_model

    return load_model(run)


def _p(probs: list[dict[str, float] | None]) -> np.ndarray:
    return np.array([[d[k] for k in sorted(d)] for d in probs])  # type: ignore[union-attr]


def _by_speaker(result) -> dict[str, list[Segment]]:
    out: dict[str, list[Segment]] = {}
    for s in result.segment_records:
        if s.speaker is not None:
            out.setdefault(s.speaker, []).append(s)
    return out


def test_each_speakers_segments_are_answered_together(talk, runs, toy_windows, capsys) -> None:
    loaded = _load(runs["speaker"])
    result = pipeline.analyze_session(talk[0], loaded, max_segment=1.0, faces=False, adapt="speaker")
    groups = _by_speaker(result)
    assert len(groups) == 2 and all(len(g) >= MIN_CLIPS for g in groups.values())
    spans = dict(zip([s.start for s in result.segment_records if s.speaker is not None],
                     pipeline.analysis_spans(result.segment_records, 1.0), strict=True))
    for segs in groups.values():  # the same answers as predict_group over the speaker's own segments
        clips = [toy_windows[round(spans[s.start][0], 6)] for s in segs]
        expected = loaded.predictor.predict_group(clips)
        assert np.allclose(_p([s.probabilities for s in segs]), _p([p.probabilities for p in expected]))
        alone = [loaded.predictor.predict(c).probabilities for c in clips]
        assert not np.allclose(_p([s.probabilities for s in segs]), _p(alone))
    a = result.to_dict()["adaptation"]
    assert a["mode"] == "speaker" and a["model_normalize"] == "speaker"
    assert {g["id"]: (g["segments"], g["adapted"]) for g in a["speakers"]} == {
        k: (len(v), True) for k, v in groups.items()}
    assert "own statistics" in a["note"] and "fewer" not in a["note"]
    assert "Per-speaker adaptation." in result.to_html()

    assert "adaptation is off" not in capsys.readouterr().err
    off = pipeline.analyze_session(talk[0], loaded, max_segment=1.0, faces=False, adapt="none")
    err = capsys.readouterr().err
    assert "adaptation is off" in err and "--adapt speaker" in err  # what to do about it
    for segs in _by_speaker(off).values():  # one at a time, as before adaptation existed
        clips = [toy_windows[round(spans[s.start][0], 6)] for s in segs]
        assert np.allclose(_p([s.probabilities for s in segs]),
                           _p([loaded.predictor.predict(c).probabilities for c in clips]))
    a = off.to_dict()["adaptation"]
    assert a["mode"] == "none" and not any(g["adapted"] for g in a["speakers"]) and "near chance" in a["note"]
    assert "adaptation was off" in off.to_html()


def test_too_few_segments_fall_back_and_say_so(talk, runs, toy_windows) -> None:
    loaded = _load(runs["speaker"])
    result = pipeline.analyze_session(talk[0], loaded, max_segment=4.0, faces=False, adapt="speaker")
    groups = _by_speaker(result)
    assert all(len(g) < MIN_CLIPS for g in groups.values())  # three turns of 2.5 s each: three segments
    spans = pipeline.analysis_spans(result.segment_records, 1.0)
    speech = [s for s in result.segment_records if s.speaker is not None]
    for seg, (a, _) in zip(speech, spans, strict=True):
        alone = loaded.predictor.predict(toy_windows[round(a, 6)]).probabilities
        assert np.allclose(_p([seg.probabilities]), _p([alone]))
    a = result.to_dict()["adaptation"]
    assert not any(g["adapted"] for g in a["speakers"])
    assert f"fewer than {MIN_CLIPS} segments" in a["note"] and all(g in a["note"] for g in groups)
    assert "Too little speech to adapt to" in result.to_html()


def test_global_models_are_unaffected(talk, runs, toy_windows) -> None:
    loaded = _load(runs["global"])
    on = pipeline.analyze_session(talk[0], loaded, max_segment=1.0, faces=False, adapt="speaker").to_dict()
    off = pipeline.analyze_session(talk[0], loaded, max_segment=1.0, faces=False, adapt="none").to_dict()
    assert on["segments"] == off["segments"]
    assert on["adaptation"]["model_normalize"] == "global" and "nothing to adapt" in on["adaptation"]["note"]
    assert not any(g["adapted"] for g in on["adaptation"]["speakers"])


def test_grouped_answers_are_cached_whole(talk, runs, toy_windows, tmp_path, monkeypatch) -> None:
    loaded = _load(runs["speaker"])
    settings = pipeline.cache_settings(loaded, None, 1.0, 1.0, None, False, "speaker")
    assert settings["adapt"] == "speaker" and settings != pipeline.cache_settings(loaded, None, 1.0, 1.0, None,
                                                                                  False, "none")
    folder = tmp_path / "cache"
    first = pipeline.analyze_session(talk[0], loaded, max_segment=1.0, faces=False, adapt="speaker",
                                     cache=SessionCache(folder, talk[0], settings, chunk=4))
    calls: list[int] = []
    real = loaded.predictor.predict_group
    monkeypatch.setattr(loaded.predictor, "predict_group", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    again = pipeline.analyze_session(talk[0], loaded, max_segment=1.0, faces=False, adapt="speaker",
                                     cache=SessionCache(folder, talk[0], settings, chunk=4))
    assert calls == [] and again.to_dict() == first.to_dict()
    # an interrupted run's first chunk alone is not enough: a speaker's segments are answered all together
    for p in sorted(folder.glob("emotion-*.json"))[1:]:
        p.unlink()
    resumed = pipeline.analyze_session(talk[0], loaded, max_segment=1.0, faces=False, adapt="speaker",
                                       cache=SessionCache(folder, talk[0], settings, chunk=4))
    assert len(calls) == 2 and resumed.to_dict() == first.to_dict()


def test_cli_option_and_names(talk, runs, toy_windows, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["-q", "session", str(talk[0]), "--model", str(runs["speaker"]), "--out", str(out),
                 "--segment", "1", "--adapt", "none", "--name", "S1=client", "--no-cache"]) == 0
    d = json.loads((out / "talk.session.json").read_text())
    assert d["adaptation"]["mode"] == "none"
    assert "client" in {g["id"] for g in d["adaptation"]["speakers"]}  # named as the speakers are
    with pytest.raises(SystemExit):
        main(["-q", "session", str(talk[0]), "--adapt", "maybe"])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="adapt must be one of"):
        pipeline.analyze_session(talk[0], _load(runs["speaker"]), adapt="maybe")


def test_describe_adaptation() -> None:
    segs = [Segment(i, i + 1, "S1" if i < 5 else "S2", probabilities={"a": 1.0}) for i in range(7)]
    segs.append(Segment(9, 10, "S2"))  # failed: not counted
    d = describe_adaptation("speaker", "recording", segs)
    assert d["speakers"] == [{"id": "S1", "segments": 5, "adapted": True},
                             {"id": "S2", "segments": 2, "adapted": False}]
    assert "S2" in d["note"] and d["min_segments"] == MIN_CLIPS


def test_a_segment_the_model_cannot_use_is_set_aside(talk, runs, toy_windows, monkeypatch) -> None:
    from dataclasses import replace

    loaded = _load(runs["speaker"])
    real = pipeline.extract_windows

    def one_empty(*args, **kwargs):
        for k, (a, b, clip) in enumerate(real(*args, **kwargs)):
            yield a, b, replace(clip, audio_seq=None, audio_vec=None) if k == 0 else clip

    monkeypatch.setattr(pipeline, "extract_windows", one_empty)
    result = pipeline.analyze_session(talk[0], loaded, max_segment=1.0, faces=False, adapt="speaker")
    speech = [s for s in result.segment_records if s.speaker is not None]
    assert speech[0].probabilities is None and "nothing this model can use" in speech[0].error
    assert all(s.probabilities is not None and not s.error for s in speech[1:])
    groups = {g["id"]: g for g in result.to_dict()["adaptation"]["speakers"]}
    assert groups[speech[0].speaker]["segments"] == len(_by_speaker(result)[speech[0].speaker]) - 1
    assert all(g["adapted"] for g in groups.values())
