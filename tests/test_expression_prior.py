"""The expression CNN's probabilities as the video head's prior (model.video_prior) and fused_weight = 0."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import quiet_torch, tiny_config

from avemotion.data.batch import collate
from avemotion.data.expression_prior import FLOOR, clip_prior, prior_matrix
from avemotion.data.selection import FeatureSelection
from avemotion.features.record import ClipFeatures
from avemotion.labels import get_label_set
from avemotion.models.registry import build_model

quiet_torch()
FER = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_prior_matrix_maps_by_name_onto_each_label_set() -> None:
    for name, expect in (("basic7", {"angry": "angry", "fear": "fearful", "happy": "happy", "neutral": "neutral",
                                     "surprise": "surprised"}),
                         ("paper9", {"happy": "joy", "neutral": "trust", "sad": "sadness", "angry": "anger"}),
                         ("ravdess8", {"fear": "fearful", "surprise": "surprised", "disgust": "disgust"})):
        labels = get_label_set(name).labels
        m = prior_matrix(labels)
        assert m is not None and m.shape == (7, len(labels))
        assert (m.sum(1) <= 1).all()
        for fer, lab in expect.items():
            assert m[FER.index(fer), labels.index(lab)] == 1.0
    paper = get_label_set("paper9").labels
    m = prior_matrix(paper)
    assert m[:, paper.index("anxiety")].sum() == 0 and m[:, paper.index("anticipation")].sum() == 0
    assert prior_matrix(["positive", "negative"]) is None


def test_clip_prior_averages_face_frames_only() -> None:
    labels = get_label_set("basic7").labels
    m = prior_matrix(labels)
    seq = np.zeros((3, 9), np.float32)
    seq[0, 2 + FER.index("happy")] = 1.0
    seq[1, 2 + FER.index("sad")] = 1.0
    seq[2, 2 + FER.index("angry")] = 1.0  # not a face frame: ignored
    p = clip_prior(seq, np.array([True, True, False]), np.arange(2, 9), m)
    assert p is not None and abs(p.sum() - 1) < 1e-6
    assert np.isclose(p[labels.index("happy")], p[labels.index("sad")]) and p[labels.index("happy")] > 0.45
    assert p[labels.index("angry")] < 2 * FLOOR
    assert clip_prior(seq, np.zeros(3, bool), np.arange(2, 9), m) is None


def _face_clips(n: int, rng: np.random.Generator) -> list[ClipFeatures]:
    clips = []
    for i in range(n):
        probs = rng.dirichlet(np.ones(7), size=6).astype(np.float32)
        seq = np.concatenate([rng.normal(size=(6, 5)).astype(np.float32), probs], 1)
        clips.append(ClipFeatures(f"c{i}", None, rng.normal(size=8).astype(np.float32), seq, np.ones(6, bool),
                                  audio_vec_groups={"mfcc_stats": (0, 8)},
                                  video_groups={"geometry": (0, 5), "cnn_probs": (5, 12)}))
    return clips


def test_zero_shot_and_residual_heads_start_at_the_prior() -> None:
    labels = list(get_label_set("basic7").labels)
    clips = _face_clips(5, np.random.default_rng(0))
    clips[4] = ClipFeatures("audio-only", None, clips[4].audio_vec, audio_vec_groups={"mfcc_stats": (0, 8)})
    sel = FeatureSelection.fit(clips, "av", ["mfcc"], labels=labels)
    assert sel.prior_cols is not None and FeatureSelection.from_dict(sel.to_dict()).prior_map.shape == (7, 7)
    selected = [sel.apply(c) for c in clips]
    batch = collate(selected, sel.dims, None)
    assert batch.video_prior is not None and batch.video_prior_mask.tolist() == [True] * 4 + [False]
    for mode in ("zero_shot", "residual"):
        cfg = tiny_config(**{"model.video_prior": mode, "model.fused_weight": 0.0}).model
        torch.manual_seed(0)
        model = build_model("bimodal", sel.dims, len(labels), cfg).eval()
        assert model.bimodal is False and (model.video is None) == (mode == "zero_shot")
        out = model(batch)
        video = torch.softmax(out.logits["video"][:4], -1)
        torch.testing.assert_close(video, batch.video_prior[:4])
        assert out.available["video"].tolist() == [True] * 4 + [False]
        assert out.weights[:, 0].abs().max() == 0  # no fused head
        torch.testing.assert_close(out.weights[4], torch.tensor([0.0, 1.0, 0.0]))  # audio-only clip


def test_paper_setting_has_no_prior_and_a_fused_head() -> None:
    labels = list(get_label_set("basic7").labels)
    clips = _face_clips(3, np.random.default_rng(1))
    sel = FeatureSelection.fit(clips, "av", ["mfcc"], labels=labels)
    model = build_model("bimodal", sel.dims, len(labels),
                        tiny_config(**{"model.video_prior": "none"}).model).eval()
    out = model(collate([sel.apply(c) for c in clips], sel.dims, None))
    assert model.bimodal and "fused" in out.logits
    assert not torch.allclose(torch.softmax(out.logits["video"], -1), collate([sel.apply(c) for c in clips],
                                                                               sel.dims, None).video_prior)


def test_video_only_zero_shot_trains_nothing_and_predicts_the_prior(tmp_path) -> None:
    from avemotion.data.manifest import ClipRecord
    from avemotion.data.store import FeatureStore
    from avemotion.training.trainer import run_training

    labels = list(get_label_set("basic7").labels)
    rng = np.random.default_rng(3)
    clips = _face_clips(28, rng)
    records = [ClipRecord(c.clip_id, labels[i % 7], f"s{i % 4}", f"/x/{c.clip_id}.mp4", f"/x/{c.clip_id}.mp4")
               for i, c in enumerate(clips)]
    store = FeatureStore.create(tmp_path / "feat", {"corpus": "t", "labels": labels, "label_set": "basic7",
                                                   "config_hash": "t"}, records, [f"k{i}" for i in range(28)])
    for i, c in enumerate(clips):
        store.put(f"k{i}", c)
    cfg = tiny_config(**{"train.modality": "video", "model.video_prior": "zero_shot", "train.folds": 2})
    res = run_training(tmp_path / "feat", tmp_path / "run", cfg)
    sel = FeatureSelection.fit(clips, "video", [], labels=labels)
    expected = np.stack([sel.apply(c).expression_prior for c in clips]).argmax(1)
    truth = np.array([i % 7 for i in range(28)])
    assert res.metrics["wa"] == pytest.approx(float((expected == truth).mean()))
