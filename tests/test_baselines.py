"""The baselines (multi-LSTM fusion "lstm", DEAN "dean") and the named variants of ``avemotion compare``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from model_helpers import DIMS, quiet_torch, tiny_config, toy_clips

from avemotion.data.batch import collate
from avemotion.data.clipset import ClipSet
from avemotion.data.dims import FeatureDims
from avemotion.data.manifest import ClipRecord
from avemotion.data.selection import FeatureSelection
from avemotion.errors import ConfigError
from avemotion.features.record import ClipFeatures
from avemotion.models import MODELS
from avemotion.models.predict import predict_clips
from avemotion.models.registry import build_model
from avemotion.models.seq import compact, run_lstm
from avemotion.training.fit import FitPlan, TrainSetup, fit
from avemotion.training.losses import total_loss
from avemotion.training.variants import resolve_variant
from avemotion.utils.progress import set_quiet

quiet_torch()
set_quiet(True)
BASELINES = ("lstm", "dean")
TOY_NAMES = ["anger", "joy", "sadness", "trust"]


def _model(name: str, dims: FeatureDims = DIMS, **over: object):
    torch.manual_seed(0)
    return build_model(name, dims, 4, tiny_config(**{f"model.{k}": v for k, v in over.items()}).model)


def test_registered() -> None:
    assert {"bimodal", "lstm", "dean"} <= set(MODELS.names())


@pytest.mark.parametrize("name", BASELINES)
def test_learns_the_toy_problem(name: str) -> None:
    """Four classes = audio factor x video factor: only a fused model can get well above 50 %."""
    clips, labels = toy_clips(96, signal=2.0)
    recs = [ClipRecord(c.clip_id, TOY_NAMES[y], "s0", None, "/toy") for c, y in zip(clips, labels, strict=True)]
    sel = FeatureSelection.fit(clips, "av", ["mfcc", "opensmile", "soundnet"])
    cs = ClipSet.build(recs, clips, sel, TOY_NAMES)
    train, test = np.arange(64), np.arange(64, 96)
    with tempfile.TemporaryDirectory() as d:
        model, std, _ = fit(TrainSetup(name, tiny_config(**{"train.epochs": 15}), cs, sel.dims),
                            FitPlan(train, None, Path(d), name, 0))
    preds = predict_clips(model, cs.subset(test), sel.dims, std)
    both = np.asarray([cs.features[i].video_seq is not None for i in test])
    acc = preds.probs.argmax(1) == cs.labels[test]
    assert acc[both].mean() >= 0.75, acc[both].mean()  # fusion solves clips with both modalities
    assert acc.mean() >= 0.7


@pytest.mark.parametrize("name", BASELINES)
def test_masks_padding_and_missing_modalities(name: str) -> None:
    clips, labels = toy_clips(5)
    model = _model(name).eval()
    with torch.no_grad():
        ref = model(collate(clips, DIMS, None)).probs
        # garbage in frames without a face changes nothing
        c0 = clips[0]
        noisy = c0.video_seq.copy()
        noisy[~c0.video_mask] = 1e3
        changed = [ClipFeatures(c0.clip_id, c0.audio_seq, c0.audio_vec, noisy, c0.video_mask), *clips[1:]]
        torch.testing.assert_close(model(collate(changed, DIMS, None)).probs, ref)
        # batching (padding) changes nothing: each clip alone gives the same probabilities
        for i, c in enumerate(clips):
            torch.testing.assert_close(model(collate([c], DIMS, None)).probs[0], ref[i], atol=1e-5, rtol=1e-4)
        # missing modality: the fallback head of the present one decides; otherwise the fused head alone
        faceless = ClipFeatures("nf", c0.audio_seq, c0.audio_vec, c0.video_seq, np.zeros(len(c0.video_mask), bool))
        video_only = ClipFeatures("vo", None, None, c0.video_seq, c0.video_mask)
        out = model(collate([c0, faceless, video_only, clips[4]], DIMS, None))
    torch.testing.assert_close(out.weights, torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]]))
    hp = out.head_probs()
    torch.testing.assert_close(out.probs[0], hp["fused"][0])  # no decision-level fusion in the baselines
    torch.testing.assert_close(out.probs[2], hp["video"][2])


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("dims", [DIMS, FeatureDims(12, 40, 0), FeatureDims(0, 0, 10), FeatureDims(12, 0, 10)])
def test_gradients_reach_every_parameter(name: str, dims: FeatureDims) -> None:
    clips, labels = toy_clips(10)  # includes audio-only clips (i % 5 == 4)
    sel = FeatureSelection.fit(clips, "av" if dims.has_audio and dims.has_video else
                               "audio" if dims.has_audio else "video", ["mfcc", "opensmile", "soundnet"])
    view = [sel.apply(c) for c in clips]
    if dims.audio_vec == 0:
        view = [ClipFeatures(c.clip_id, c.audio_seq, None, c.video_seq, c.video_mask) for c in view]
    model = _model(name, dims).train()
    batch = collate(view, dims, None, labels)
    loss, _ = total_loss(model(batch), batch.labels, model.config)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing, missing


@pytest.mark.parametrize("name", BASELINES)
def test_fallback_heads_do_not_train_the_encoders(name: str) -> None:
    """Unimodal heads exist only for clips that lack a modality: their loss must not reach the fusion network."""
    clips, labels = toy_clips(10)
    batch = collate(clips, DIMS, None, labels)
    grads = []
    for w in (0.0, 1.0):
        model = _model(name, unimodal_weight=w).eval()
        loss, _ = total_loss(model(batch), batch.labels, model.config)
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()
                      if p.grad is not None and not n.startswith(("head_a", "head_v"))})
    assert grads[0].keys() == grads[1].keys()
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n], msg=n)


def test_run_lstm_final_state_is_the_last_valid_step() -> None:
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    x = torch.randn(2, 5, 3)
    mask = torch.tensor([[True, False, True, True, False], [True] * 5])
    xc, mc = compact(x, mask)
    assert mc.tolist() == [[True, True, True, False, False], [True] * 5]
    torch.testing.assert_close(xc[0, :3], x[0, [0, 2, 3]])
    out, final = run_lstm(lstm, xc, mc)
    alone, (h, _) = lstm(x[:1, [0, 2, 3]])
    torch.testing.assert_close(final[0], torch.cat([h[0, 0], h[1, 0]]))
    torch.testing.assert_close(out[0, :3], alone[0])
    assert float(out[0, 3:].detach().abs().sum()) == 0


def test_variants_are_config_overrides() -> None:
    base = tiny_config()
    v = resolve_variant("bimodal-nocma", base)
    assert v.model == "bimodal" and v.config(base).model.cross_modal_attention is False
    assert resolve_variant("bimodal-norec", base).config(base).model.reconstruction is False
    assert resolve_variant("bimodal-nodf", base).config(base).model.decision_fusion is False
    late = resolve_variant("bimodal-late", base).config(base).model
    assert late.fused_weight == 0.0 and late.decision_fusion
    assert resolve_variant("bimodal-reliability", base).config(base).model.decision_rule == "reliability"
    assert resolve_variant("bimodal-chosenweights", base).config(base).model.decision_weights == "chosen"
    assert resolve_variant("bimodal-fixedweights", base).config(base).model.decision_weights == "fixed"
    assert base.audio.speed_views and resolve_variant("bimodal-noviews", base).config(base).audio.speed_views == []
    assert resolve_variant("bimodal-nosoundnet", base).config(base).audio.extractors == ["mfcc", "opensmile"]
    assert resolve_variant("bimodal-noopensmile", base).config(base).audio.extractors == ["mfcc", "soundnet"]
    assert resolve_variant("bimodal-audio", base).config(base).train.modality == "audio"
    assert resolve_variant("dean-video", base).config(base).model.name == "dean"
    assert resolve_variant("lstm", base).overrides == {}
    with pytest.raises(ConfigError, match="unknown model or variant"):
        resolve_variant("bimodal-nothing", base)
    with pytest.raises(ConfigError, match="no 'mfcc'"):
        resolve_variant("bimodal-nomfcc", tiny_config(**{"audio.extractors": ["opensmile"]}))
