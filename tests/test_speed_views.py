"""Audio speed views (``audio.speed_views``): extraction, storage, selection, normalisation and the averaging of a
model's predictions over a clip's versions."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from model_helpers import DIMS, tiny_config, toy_clips

from avemotion.config import AudioConfig, Config
from avemotion.data.batch import collate
from avemotion.data.extract import config_hash
from avemotion.data.normalize import normalize_clips
from avemotion.data.selection import FeatureSelection
from avemotion.data.standardize import Standardizer
from avemotion.errors import ConfigError
from avemotion.features.audio import AudioBranch
from avemotion.features.audio.common import change_speed
from avemotion.features.record import AudioView, ClipFeatures
from avemotion.models.predict import predict_clips, prepare_clips
from avemotion.models.registry import build_model


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[int(spec.argmax())])


def test_change_speed_plays_faster_and_higher() -> None:
    sr = 16000
    x = (0.5 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)).astype(np.float32)
    for speed in (0.9, 1.1):
        y = change_speed(x, speed)
        assert y.dtype == np.float32 and abs(len(y) - len(x) / speed) <= 1
        assert abs(_peak_hz(y, sr) - 440 * speed) < 3, "tempo and pitch change together"
    np.testing.assert_array_equal(change_speed(x, 1.0), x)


def test_config_checks_speeds() -> None:
    assert AudioConfig().speed_views == [0.9, 1.1]
    for bad in ([1.0], [0.3], [1.1, 1.1]):
        with pytest.raises(ConfigError):
            Config().with_overrides({"audio.speed_views": bad})
    # the store key changes with the views; without any, it is that of a store extracted before they existed
    plain = Config().with_overrides({"audio.speed_views": []})
    assert config_hash(plain) != config_hash(Config())
    dumped = plain.audio.model_dump(mode="json")
    assert dumped.pop("speed_views") == [] and "speed_views" not in json.dumps(dumped)


def test_branch_extracts_one_view_per_speed() -> None:
    sr = 16000
    rng = np.random.default_rng(0)
    x = (0.3 * np.sin(2 * np.pi * 180 * np.arange(2 * sr) / sr) + 0.01 * rng.normal(size=2 * sr)).astype(np.float32)
    feats = AudioBranch(AudioConfig(extractors=["mfcc"], speed_views=[0.9, 1.1])).extract(x, sr)
    assert list(feats.views) == [0.9, 1.1]
    slow, fast = feats.views[0.9], feats.views[1.1]
    assert slow.seq.shape[1] == fast.seq.shape[1] == feats.seq.shape[1]
    assert slow.seq.shape[0] > feats.seq.shape[0] > fast.seq.shape[0], "1.1x is shorter, 0.9x longer"
    assert fast.vec.shape == feats.vec.shape and not np.allclose(fast.vec, feats.vec)
    assert not slow.views and not fast.views
    assert AudioBranch(AudioConfig(extractors=["mfcc"], speed_views=[])).extract(x, sr).views == {}


def _with_views(clip: ClipFeatures, rng: np.random.Generator) -> ClipFeatures:
    def noisy(a: np.ndarray | None, rows: int = 0) -> np.ndarray | None:
        if a is None:
            return None
        b = a[: max(1, len(a) - rows)] if a.ndim == 2 else a
        return (b + rng.normal(scale=0.5, size=b.shape)).astype(np.float32)

    return replace(clip, audio_views={0.9: AudioView(noisy(clip.audio_seq), noisy(clip.audio_vec)),
                                      1.1: AudioView(noisy(clip.audio_seq, 2), noisy(clip.audio_vec))})


def test_views_are_stored_selected_and_share_the_video(tmp_path) -> None:
    rng = np.random.default_rng(1)
    clips = [_with_views(c, rng) for c in toy_clips(6)[0]]
    clip = clips[0]
    clip.validate()
    back = ClipFeatures.load(clip.save(tmp_path / "c.npz"))
    assert list(back.audio_views) == [0.9, 1.1]
    np.testing.assert_array_equal(back.audio_views[1.1].audio_seq, clip.audio_views[1.1].audio_seq)
    versions = back.with_views()
    assert len(versions) == 3 and versions[0] is back
    assert all(v.video_seq is back.video_seq and not v.audio_views for v in versions[1:])
    np.testing.assert_array_equal(versions[2].audio_vec, clip.audio_views[1.1].audio_vec)

    sel = FeatureSelection.fit(clips, "av", ["mfcc"], speeds=[1.1])
    out = sel.apply(clip)
    assert list(out.audio_views) == [1.1], "only the configured speeds are kept"
    np.testing.assert_array_equal(out.audio_views[1.1].audio_vec, clip.audio_views[1.1].audio_vec[0:8])
    assert FeatureSelection.from_dict(json.loads(json.dumps(sel.to_dict()))).speeds == [1.1]
    assert FeatureSelection.fit(clips, "video", [], speeds=[1.1]).apply(clip).audio_views == {}

    bad = replace(clip, audio_views={1.1: AudioView(clip.audio_seq[:, :3], clip.audio_vec)})
    with pytest.raises(ValueError, match="1.1x view"):
        bad.validate()


def test_missing_speeds_are_dropped_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    clips = toy_clips(4)[0]  # stored without views
    sel = FeatureSelection.fit(clips, "av", ["mfcc"], source="store-without-views", speeds=[0.9, 1.1])
    assert sel.speeds == [] and "0.9, 1.1x" in capsys.readouterr().err


def test_each_speed_is_normalised_with_its_own_statistics() -> None:
    rng = np.random.default_rng(2)
    clips = []
    for c in toy_clips(12)[0]:
        c = _with_views(c, rng)
        # the fast versions of a voice sit elsewhere than the plain ones
        fast = c.audio_views[1.1]
        clips.append(replace(c, audio_views={**c.audio_views, 1.1: AudioView(fast.audio_seq + 7, fast.audio_vec + 7)}))
    out, left = normalize_clips(clips, ["spk"] * len(clips), DIMS)
    assert left == 0
    for speed in (None, 0.9, 1.1):
        vecs = np.stack([c.audio_vec if speed is None else c.audio_views[speed].audio_vec for c in out])
        np.testing.assert_allclose(vecs.mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(vecs.std(0), 1, atol=1e-3)
    assert float(clips[0].audio_views[1.1].audio_vec.mean()) > 4, "the inputs are not modified in place"


def test_predictions_are_averaged_over_the_versions() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    clips = [_with_views(c, rng) for c in toy_clips(7)[0]]
    model = build_model("bimodal", DIMS, 4, tiny_config().model)
    std = Standardizer.fit(clips, DIMS)
    averaged = predict_clips(model, clips, DIMS, std, batch_size=5)
    each = [predict_clips(model, [replace(v, audio_views={})], DIMS, std) for c in clips for v in c.with_views()]
    for i in range(len(clips)):
        mine = each[3 * i: 3 * i + 3]
        np.testing.assert_allclose(averaged.probs[i], np.mean([p.probs[0] for p in mine], 0), atol=1e-6)
        np.testing.assert_allclose(averaged.contributions[i], np.mean([p.contributions[0] for p in mine], 0),
                                   atol=1e-6)
        for head, p in averaged.head_probs.items():
            np.testing.assert_allclose(p[i], np.mean([q.head_probs[head][0] for q in mine], 0), atol=1e-6)
    assert not np.allclose(averaged.probs, predict_clips(model, [replace(c, audio_views={}) for c in clips],
                                                         DIMS, std).probs)
    assert np.isnan(averaged.head_probs["video"][4]).all(), "a head a clip lacks stays unavailable"


def test_training_on_a_store_with_views(tmp_path) -> None:
    """End to end: a store whose clips carry views trains on the plain clips and validates, tests and predicts
    with the views (speaker-normalised per speed); --set audio.speed_views=[] on the same store turns them off."""
    from avemotion.data.store import FeatureStore
    from avemotion.inference.predict import Predictor
    from avemotion.training.toy import make_toy_store
    from avemotion.training.trainer import run_training

    store = make_toy_store(tmp_path / "store", n_clips=48, n_speakers=4)
    rng = np.random.default_rng(4)
    for clip in FeatureStore(store.root).done():
        store.put(clip.key, _with_views(store.load(clip), rng))
    cfg = tiny_config(**{"train.folds": 2, "train.epochs": 3, "train.normalize": "speaker"})
    run_training(store.root, tmp_path / "views", cfg)
    run_training(store.root, tmp_path / "plain", cfg.with_overrides({"audio.speed_views": []}))
    assert (tmp_path / "views/predictions.csv").read_text() != (tmp_path / "plain/predictions.csv").read_text()
    predictor = Predictor.load(tmp_path / "views")
    assert predictor.bundle.selection.speeds == [0.9, 1.1]
    assert Predictor.load(tmp_path / "plain").bundle.selection.speeds == []
    clip = store.load(FeatureStore(store.root).done()[0])
    one = predictor.predict(clip)
    assert abs(sum(one.probabilities.values()) - 1) < 1e-6
    assert predictor.predict(replace(clip, audio_views={})).probabilities != one.probabilities


def test_a_clips_versions_share_one_video_row() -> None:
    rng = np.random.default_rng(5)
    clips = [_with_views(c, rng) for c in toy_clips(7)[0]]
    versions = [v for c in clips for v in c.with_views()]
    std = Standardizer.fit(clips, DIMS)
    shared = collate(versions, DIMS, std, share_video=True)
    plain = collate(versions, DIMS, std)
    assert shared.video_rows is not None and plain.video_rows is None
    # clip 4 has no video (toy_clips): its versions share an empty row with no face frame
    assert clips[4].video_seq is None and shared.video_seq.shape[0] == len(clips)
    assert plain.video_seq.shape[0] == len(versions)
    assert shared.video_rows.tolist() == [i // 3 for i in range(len(versions))]
    assert not shared.video_mask[4].any()
    expanded = shared.per_clip_video()
    for name in ("video_seq", "video_mask", "has_video", "audio_seq", "functionals"):
        torch.testing.assert_close(getattr(expanded, name), getattr(plain, name), rtol=0, atol=0, equal_nan=True)
    assert collate(clips, DIMS, std, share_video=True).video_rows is None, "distinct clips: nothing to share"


def test_shared_video_rows_predict_as_one_row_per_clip() -> None:
    """The bimodal model encodes a shared video once; models that do not take shared rows get one per clip."""
    torch.manual_seed(1)
    rng = np.random.default_rng(6)
    clips = [_with_views(c, rng) for c in toy_clips(9)[0]]
    versions = [v for c in clips for v in c.with_views()]
    std = Standardizer.fit(clips, DIMS)
    cfg = tiny_config(**{"model.video_clip_vector": True})
    model = build_model("bimodal", DIMS, 4, cfg.model).eval()
    assert model.shares_video_rows
    with torch.no_grad():
        shared = model(collate(versions, DIMS, std, share_video=True))
        plain = model(collate(versions, DIMS, std))
    torch.testing.assert_close(shared.probs, plain.probs, rtol=0, atol=1e-5)
    for head in plain.logits:
        torch.testing.assert_close(shared.logits[head], plain.logits[head], rtol=0, atol=1e-4)
        assert torch.equal(shared.available[head], plain.available[head])
    for name in ("lstm", "dean"):
        other = build_model(name, DIMS, 4, cfg.model)
        assert not other.shares_video_rows
        assert predict_clips(other, clips, DIMS, std).probs.shape == (len(clips), 4)


def test_prepared_clips_predict_exactly_as_collated_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    import avemotion.models.predict as predict_module

    torch.manual_seed(2)
    rng = np.random.default_rng(7)
    clips = [_with_views(c, rng) for c in toy_clips(11)[0]]
    std = Standardizer.fit(clips, DIMS)
    model = build_model("bimodal", DIMS, 4, tiny_config().model)
    prepared = prepare_clips(clips, DIMS, std, 5, model.shares_video_rows)
    assert prepared is not None and prepared.n_clips == len(clips) and len(prepared.batches) == 7
    again, direct = predict_clips(model, prepared, DIMS, std), predict_clips(model, clips, DIMS, std, batch_size=5)
    np.testing.assert_array_equal(again.probs, direct.probs)
    for head, p in direct.head_probs.items():
        np.testing.assert_array_equal(again.head_probs[head], p)
    monkeypatch.setattr(predict_module, "PREPARED_MAX_BYTES", 1000)
    assert prepare_clips(clips, DIMS, std, 5, True) is None, "too large to keep: collated per prediction"


def test_validation_collated_once_trains_exactly_as_collated_every_epoch(tmp_path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import avemotion.models.predict as predict_module
    from avemotion.data.store import FeatureStore
    from avemotion.training.toy import make_toy_store
    from avemotion.training.trainer import run_training

    store = make_toy_store(tmp_path / "store", n_clips=40, n_speakers=4)
    rng = np.random.default_rng(8)
    for clip in FeatureStore(store.root).done():
        store.put(clip.key, _with_views(store.load(clip), rng))
    cfg = tiny_config(**{"train.folds": 2, "train.epochs": 4})
    run_training(store.root, tmp_path / "cached", cfg)
    monkeypatch.setattr(predict_module, "PREPARED_MAX_BYTES", 0)
    run_training(store.root, tmp_path / "per-epoch", cfg)
    assert (tmp_path / "cached/predictions.csv").read_text() == (tmp_path / "per-epoch/predictions.csv").read_text()
    cached, per_epoch = (json.loads((tmp_path / run / "metrics.json").read_text()) for run in ("cached", "per-epoch"))
    for metrics in (cached, per_epoch):
        for timed in ("latency", "latency_ms_per_clip", "train_seconds"):  # wall times
            metrics.pop(timed)
    assert cached == per_epoch
