from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import DIMS, quiet_torch, tiny_config, toy_clips

from avemotion.config import ModelConfig
from avemotion.data.batch import collate
from avemotion.data.dims import FeatureDims
from avemotion.features.record import ClipFeatures
from avemotion.models import MODELS
from avemotion.models.registry import build_model
from avemotion.training.losses import total_loss

quiet_torch()


def _model(dims: FeatureDims = DIMS, **over: object):
    cfg = tiny_config(**{f"model.{k}": v for k, v in over.items()}).model
    torch.manual_seed(0)
    return build_model("bimodal", dims, 4, cfg)


def test_registered() -> None:
    assert "bimodal" in MODELS.names()


def test_shapes_weights_and_missing_modality() -> None:
    clips, labels = toy_clips(6)
    clips[1] = ClipFeatures("faceless", clips[1].audio_seq, clips[1].audio_vec, clips[1].video_seq,
                            np.zeros(clips[1].video_seq.shape[0], bool))
    clips[2] = ClipFeatures("video-only", None, None, clips[2].video_seq, clips[2].video_mask)
    model = _model(face_share_weighting=False).eval()  # eq. 19 as the paper writes it
    batch = collate(clips, DIMS, None, labels)
    out = model(batch)
    assert out.probs.shape == (6, 4)
    torch.testing.assert_close(out.probs.sum(1), torch.ones(6))
    torch.testing.assert_close(out.weights.sum(1), torch.ones(6))
    c = ModelConfig()
    # both modalities: eq. 19 weights (1, beta, chi) / (1 + beta + chi)
    torch.testing.assert_close(out.weights[0], torch.tensor([1, c.beta, c.chi]) / (1 + c.beta + c.chi))
    torch.testing.assert_close(out.weights[1], torch.tensor([0.0, 1.0, 0.0]))  # no face: audio head only
    torch.testing.assert_close(out.weights[2], torch.tensor([0.0, 0.0, 1.0]))  # no audio: video head only
    torch.testing.assert_close(out.weights[4], torch.tensor([0.0, 1.0, 0.0]))  # audio-only clip
    contrib = out.contributions().detach()
    torch.testing.assert_close(contrib.sum(1), torch.ones(6))
    assert float(contrib[1, 0]) == 0 and float(contrib[1, 2]) == 0
    # the default: the face-based heads (fused, video) weigh by the share of the clip's frames with a face
    share = float(batch.face_share[0])
    assert 0 < share < 1
    weighted = _model().eval()(batch).weights
    expected = torch.tensor([share, c.beta, c.chi * share])
    torch.testing.assert_close(weighted[0], expected / expected.sum())
    torch.testing.assert_close(weighted[1], out.weights[1])


def test_decision_fusion_formula() -> None:
    model = _model(face_share_weighting=False).eval()
    clips, labels = toy_clips(3)
    out = model(collate(clips[:3], DIMS, None, labels[:3]))
    hp = out.head_probs()
    b, x = 0.6, 0.4
    expected = (hp["fused"][0] + b * hp["audio"][0] + x * hp["video"][0]) / (1 + b + x)
    torch.testing.assert_close(out.probs[0], expected)
    no_fusion = _model(decision_fusion=False).eval()
    out2 = no_fusion(collate(clips[:3], DIMS, None))
    torch.testing.assert_close(out2.probs[0], out2.head_probs()["fused"][0])


def test_masked_frames_do_not_change_the_output() -> None:
    # the network: faceless frames change nothing (model.face_share_weighting then weighs the face-based heads
    # by the share of frames with a face, by design: tests/test_fusion_choice.py)
    model = _model(face_share_weighting=False).eval()
    clips, _ = toy_clips(4)
    clip = clips[0]
    assert not clip.video_mask.all()
    base = model(collate([clip], DIMS, None)).probs
    # new garbage in the faceless frames
    vid = clip.video_seq.copy()
    vid[~clip.video_mask] = 1e3
    changed = ClipFeatures(clip.clip_id, clip.audio_seq, clip.audio_vec, vid, clip.video_mask)
    torch.testing.assert_close(model(collate([changed], DIMS, None)).probs, base)
    # extra faceless frames inserted in the middle and at the end
    t = clip.video_seq.shape[0]
    extra = np.full((3, vid.shape[1]), -77.0, np.float32)
    vid2 = np.concatenate([clip.video_seq[: t // 2], extra, clip.video_seq[t // 2:], extra])
    mask2 = np.concatenate([clip.video_mask[: t // 2], np.zeros(3, bool), clip.video_mask[t // 2:], np.zeros(3, bool)])
    longer = ClipFeatures(clip.clip_id, clip.audio_seq, clip.audio_vec, vid2, mask2)
    torch.testing.assert_close(model(collate([longer], DIMS, None)).probs, base)


def test_batching_and_padding_do_not_change_predictions() -> None:
    model = _model().eval()
    clips, _ = toy_clips(7)
    batched = model(collate(clips, DIMS, None)).probs
    single = torch.cat([model(collate([c], DIMS, None)).probs for c in clips])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", ["ce", "l1"])
def test_gradients_reach_every_parameter(loss: str) -> None:
    # the paper's network (no prior: the residual prior's zero-initialised last layer passes no gradient on
    # the first step); the linear read-outs are fitted before training, never by gradient
    model = _model(dropout=0.0, loss=loss, video_prior="none").train()
    clips, labels = toy_clips(8)
    batch = collate(clips, DIMS, None, labels)
    out = model(batch)
    assert "rec" in out.aux_losses and float(out.aux_losses["rec"].detach()) > 0
    total, parts = total_loss(out, batch.labels, model.config)
    total.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (
               p.grad is None or not torch.isfinite(p.grad).all() or float(p.grad.abs().sum()) == 0)]
    assert not missing, missing
    assert all(p.grad is None and not p.requires_grad for p in model.readouts.parameters())


@pytest.mark.parametrize("over", [{"cross_modal_attention": False}, {"reconstruction": False}, {"clip_vector": False}])
def test_ablation_switches(over: dict) -> None:
    model = _model(**over).train()
    clips, labels = toy_clips(5)
    out = model(collate(clips, DIMS, None, labels))
    assert ("rec" in out.aux_losses) == over.get("reconstruction", True)
    total_loss(out, torch.as_tensor(labels), model.config)[0].backward()


@pytest.mark.parametrize("dims,heads", [(FeatureDims(12, 40, 0), {"audio"}), (FeatureDims(0, 0, 10), {"video"})])
def test_unimodal_models(dims: FeatureDims, heads: set) -> None:
    model = _model(dims).eval()
    clips, _ = toy_clips(4)
    if not dims.has_audio:
        clips = [ClipFeatures(c.clip_id, None, None, c.video_seq, c.video_mask)
                 for c in clips if c.video_seq is not None]
    out = model(collate(clips, dims, None))
    assert set(out.logits) == heads
    torch.testing.assert_close(out.probs, out.head_probs()[heads.pop()])


def test_tiny_problem_is_learned() -> None:
    """4 classes; audio holds one bit, video the other: fusion must learn both (chance 0.25)."""
    from avemotion.data.standardize import Standardizer

    clips, labels = toy_clips(120, seed=1, signal=2.0)
    test_clips, test_labels = toy_clips(60, seed=2, signal=2.0)
    model = _model(dropout=0.1)
    std = Standardizer.fit(clips, DIMS)
    opt = torch.optim.AdamW(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(0)
    for _ in range(25):
        model.train()
        order = torch.randperm(len(clips), generator=gen).tolist()
        for s in range(0, len(order), 20):
            idx = order[s:s + 20]
            batch = collate([clips[i] for i in idx], DIMS, std, [labels[i] for i in idx])
            loss, _ = total_loss(model(batch), batch.labels, model.config)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        out = model(collate(test_clips, DIMS, std, test_labels))
    acc = float((out.probs.argmax(1) == torch.as_tensor(test_labels)).float().mean())
    both = torch.as_tensor([c.video_seq is not None for c in test_clips])
    acc_av = float((out.probs.argmax(1) == torch.as_tensor(test_labels))[both].float().mean())
    assert acc > 0.7 and acc_av > 0.85, (acc, acc_av)


def test_separate_clip_vector_pooling() -> None:
    """clip_vector_pooling=separate: u_a = clip-vector token + mean of the sequence tokens (same parameters)."""
    clips, labels = toy_clips(4)
    batch = collate(clips, DIMS, None, labels)
    token, separate = _model(clip_vector_pooling="token").eval(), _model(clip_vector_pooling="separate").eval()
    assert sum(p.numel() for p in token.parameters()) == sum(p.numel() for p in separate.parameters())
    with torch.no_grad():
        p_token, p_sep = token(batch).probs, separate(batch).probs
    assert not torch.allclose(p_token, p_sep)
    audio_only = [ClipFeatures(c.clip_id, c.audio_seq, c.audio_vec) for c in clips]
    with torch.no_grad():
        out = separate(collate(audio_only, DIMS, None))
    torch.testing.assert_close(out.probs.sum(1), torch.ones(4))


def test_balanced_class_weights() -> None:
    from avemotion.training.losses import balanced_weights

    w = balanced_weights(np.array([0, 0, 0, 1, 2, 2]), 4)
    torch.testing.assert_close(w, torch.tensor([6 / 9, 2.0, 1.0, 0.0]))
    clips, labels = toy_clips(6)
    model = _model().eval()
    batch = collate(clips, DIMS, None, labels)
    out = model(batch)
    plain, _ = total_loss(out, batch.labels, model.config)
    same, _ = total_loss(out, batch.labels, model.config, torch.ones(4))
    torch.testing.assert_close(plain, same)
    heavy, _ = total_loss(out, batch.labels, model.config, torch.full((4,), 2.0))
    rec = out.aux_losses.get("rec", torch.tensor(0.0))
    torch.testing.assert_close(heavy, 2 * plain - model.config.rec_weight * rec)


def test_mix_batch_mixes_inputs_over_the_union_of_masks() -> None:
    from avemotion.data.batch import mix_batch

    clips, labels = toy_clips(4)
    batch = collate(clips, DIMS, None, labels)
    perm = torch.tensor([1, 0, 3, 2])
    mixed = mix_batch(batch, perm, 0.7)
    torch.testing.assert_close(mixed.audio_vec, 0.7 * batch.audio_vec + 0.3 * batch.audio_vec[perm])
    assert torch.equal(mixed.video_mask, batch.video_mask | batch.video_mask[perm])
    assert torch.equal(mixed.labels, batch.labels)
    same = mix_batch(batch, perm, 1.0)
    torch.testing.assert_close(same.audio_seq, batch.audio_seq)


@pytest.mark.parametrize("name, over", [
    ("bimodal", {}),
    ("bimodal", {"clip_vector_pooling": "token", "video_clip_vector": True, "linear_audio_head": True,
                 "clip_vector_tokens": "per_group"}),
    ("bimodal", {"cross_modal_attention": False}),
    ("dean", {}),
])
def test_eval_shortcuts_give_the_general_computation(name: str, over: dict) -> None:
    """Eval mode takes shortcuts (plain means and no attention mask where no position is masked, functional heads
    and attention blocks, no dropout calls); they must give what the general computation gives: the training-mode
    forward with dropout 0, one clip at a time (faceless frames, one modality missing) and padded batches."""
    dims = FeatureDims(DIMS.audio_seq, DIMS.audio_vec, DIMS.video, (10, DIMS.audio_vec - 10))
    # (the face-share weighting of eq. 19 is an eval-mode decision by design: off to compare the computations)
    cfg = tiny_config(**{f"model.{k}": v for k, v in {"dropout": 0.0, "face_share_weighting": False,
                                                      **over}.items()}).model
    torch.manual_seed(0)
    model = build_model(name, dims, 4, cfg)
    clips, _ = toy_clips(6)
    clips[1] = ClipFeatures("video-only", None, None, clips[1].video_seq, clips[1].video_mask)
    assert not clips[0].video_mask.all() and clips[4].video_seq is None  # faceless frames; an audio-only clip
    with torch.no_grad():
        for batch in [collate([c], dims, None) for c in clips] + [collate(clips, dims, None)]:
            general, fast = model.train()(batch), model.eval()(batch)
            assert general.logits.keys() == fast.logits.keys()
            for h in general.logits:
                torch.testing.assert_close(fast.logits[h], general.logits[h], rtol=0, atol=1e-5)
                assert torch.equal(fast.available[h], general.available[h])
            torch.testing.assert_close(fast.probs, general.probs, rtol=0, atol=1e-6)
            torch.testing.assert_close(fast.weights, general.weights, rtol=0, atol=0)


def test_label_smoothing_is_cross_entropy_against_smoothed_targets() -> None:
    from avemotion.models.base import ModelOutput
    from avemotion.training.losses import classification_loss

    torch.manual_seed(0)
    logits = torch.randn(6, 4)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    probs = torch.softmax(logits, 1)
    out = ModelOutput({"audio": logits}, {"audio": torch.ones(6, dtype=torch.bool)}, probs,
                      torch.tensor([[0.0, 1.0, 0.0]]).repeat(6, 1), {})
    e = 0.2
    target = (1 - e) * torch.nn.functional.one_hot(labels, 4) + e / 4
    expected = -(target * torch.log(probs)).sum(1).mean() * 2  # fused decision + the audio head (same here)
    got = classification_loss(out, labels, "ce", 1.0, smoothing=e)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert not torch.isclose(classification_loss(out, labels, "ce", 1.0), got)
