"""Speaker/recording normalisation and the classical baselines (logreg, svm) on clip functionals."""

from __future__ import annotations

import numpy as np
import pytest

from avemotion.data.batch import clip_functionals
from avemotion.data.dims import FeatureDims
from avemotion.data.manifest import ClipRecord
from avemotion.data.normalize import MIN_CLIPS, group_keys, normalize_clips, recording_of
from avemotion.features.record import ClipFeatures
from avemotion.models.classical import CLASSICAL, ClassicalModel

DIMS = FeatureDims(3, 4, 2)


def _clip(i: int, offset: float, rng: np.random.Generator, video: bool = True) -> ClipFeatures:
    mask = np.array([True, False, True, True])
    vid = rng.normal(offset, 1, (4, 2)).astype(np.float32) if video else None
    if vid is not None:
        vid[~mask] = 0
    return ClipFeatures(f"c{i}", rng.normal(offset, 1, (5, 3)).astype(np.float32),
                        rng.normal(offset, 2, 4).astype(np.float32), vid, mask if video else None)


def test_speaker_normalisation_removes_each_speakers_offset() -> None:
    rng = np.random.default_rng(0)
    clips = [_clip(i, 10.0 * (i % 2), rng) for i in range(12)] + [_clip(99, 50.0, rng)]
    keys = ["a" if i % 2 == 0 else "b" for i in range(12)] + ["lonely"]
    out, left = normalize_clips(clips, keys, DIMS)
    assert left == 1 and out[-1] is clips[-1], "a group under MIN_CLIPS keeps its features"
    for spk in (0, 1):
        members = [out[i] for i in range(12) if i % 2 == spk]
        vec = np.stack([c.audio_vec for c in members])
        np.testing.assert_allclose(vec.mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(vec.std(0), 1, atol=1e-4)
        frames = np.concatenate([c.audio_seq for c in members])
        np.testing.assert_allclose(frames.mean(0), 0, atol=1e-5)
        faces = np.concatenate([c.video_seq[c.video_mask] for c in members])
        np.testing.assert_allclose(faces.mean(0), 0, atol=1e-5)
        assert all(not c.video_seq[~c.video_mask].any() for c in members), "faceless frames stay zero"
    # the inputs are not modified in place
    assert abs(float(np.mean([c.audio_vec.mean() for c in clips[1:12:2]])) - 10.0) < 2.0


def test_group_keys() -> None:
    recs = [ClipRecord("u1", "joy", "spk1", "/d/dialog1.avi", "/d/u1.wav"),
            ClipRecord("u2", "joy", "spk2", None, "/d/u2.wav", {"recording": "session7"})]
    assert group_keys(recs, "speaker") == ["spk1", "spk2"]
    assert group_keys(recs, "recording") == ["/d/dialog1.avi", "session7"]
    assert recording_of(recs[0]) == "/d/dialog1.avi" and group_keys(recs, "global") == [None, None]
    assert MIN_CLIPS >= 2


def test_functionals_and_missing_modalities() -> None:
    rng = np.random.default_rng(1)
    clips = [_clip(0, 0.0, rng), _clip(1, 0.0, rng, video=False)]
    x = clip_functionals(clips, DIMS)
    assert x.shape == (2, DIMS.audio_vec + 2 * DIMS.video)
    np.testing.assert_allclose(x[0, 4:6], clips[0].video_seq[clips[0].video_mask].mean(0), rtol=1e-6)
    assert np.isnan(x[1, 4:]).all() and not np.isnan(x[1, :4]).any()


@pytest.mark.parametrize("name", ["logreg", "svm"])
def test_classical_models_learn_and_choose_c_on_validation(name: str) -> None:
    rng = np.random.default_rng(2)
    n, d = 90, 20
    y = np.arange(n) % 3
    x = rng.normal(0, 1, (n, d))
    x[:, :3] += 2.5 * np.eye(3)[y]
    model = ClassicalModel(CLASSICAL.get(name), n_classes=4, seed=0).fit(x[:60], y[:60], x[60:75], y[60:75])
    assert model.c in CLASSICAL.get(name).grid and model.val_ua > 0.6
    p = model.predict_proba(x[75:])
    assert p.shape == (15, 4) and np.allclose(p.sum(1), 1) and np.all(p[:, 3] == 0), "unseen class gets 0"
    assert (p.argmax(1) == y[75:]).mean() > 0.7 and model.n_parameters > 0


def test_svm_with_two_clips_per_class_agrees_with_its_decisions() -> None:
    """The SVM's probabilities follow its decision values (Platt scaling cannot be fitted on 2 clips per class)."""
    from avemotion.models.classical import CLASSICAL, ClassicalModel

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(9), 2)
    x = rng.normal(size=(18, 5))
    x[:, 0] += 3 * y
    model = ClassicalModel(CLASSICAL.get("svm"), 9).fit(x, y)
    p = model.predict_proba(x)
    assert np.allclose(p.sum(1), 1)
    assert (p.argmax(1) == model.pipeline.predict(x)).all() and (p.argmax(1) == y).mean() > 0.5


def test_selection_finds_its_groups_in_a_clip_extracted_with_fewer_extractors() -> None:
    """A model trained on a store with all extractors but keeping Whisper must read a clip extracted with Whisper
    alone (the predict path extracts only what the model uses): groups are matched by name, not position."""
    from avemotion.data.selection import FeatureSelection

    rng = np.random.default_rng(0)
    full_groups = {"mfcc": (0, 5), "whisper": (5, 9)}
    vec_groups = {"mfcc_stats": (0, 3), "whisper_stats": (3, 7)}
    store = [ClipFeatures(f"c{i}", rng.normal(size=(4, 9)).astype(np.float32), rng.normal(size=7).astype(np.float32),
                          audio_groups=full_groups, audio_vec_groups=vec_groups) for i in range(3)]
    sel = FeatureSelection.fit(store, "audio", ["whisper"])
    alone = ClipFeatures("new", store[0].audio_seq[:, 5:9].copy(), store[0].audio_vec[3:7].copy(),
                         audio_groups={"whisper": (0, 4)}, audio_vec_groups={"whisper_stats": (0, 4)})
    a, b = sel.apply(store[0]), sel.apply(alone)
    assert np.array_equal(a.audio_seq, b.audio_seq) and np.array_equal(a.audio_vec, b.audio_vec)
    with pytest.raises(Exception, match="expects at least"):  # no layout to match: positions, which do not fit
        sel.apply(ClipFeatures("bare", alone.audio_seq, alone.audio_vec))
