"""Decision fusion fitted on validation speakers (training/fusion.py): per-head temperatures
(``model.head_calibration``), eq. 19's weights (``model.decision_weights``), the numpy decision they are chosen
with, and a run that keeps and reloads what each fold chose."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from model_helpers import tiny_config

from avemotion.config import Config
from avemotion.config.schema import hash_view
from avemotion.data.dims import FeatureDims
from avemotion.models.bundle import ModelBundle
from avemotion.models.registry import build_model
from avemotion.training.fusion import (
    FusionChoice,
    calibrate_heads,
    choose_decision_weights,
    decision_probs,
    fit_head_temperatures,
    median_fusion,
)

C = 4


def _onehot(labels: np.ndarray, sure: float = 0.7) -> np.ndarray:
    p = np.full((len(labels), C), (1 - sure) / (C - 1))
    p[np.arange(len(labels)), labels] = sure
    return p


def _heads(n: int, video_right: float, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Fused and audio heads that are right on most clips; a video head right on ``video_right`` of them and
    confidently wrong elsewhere."""
    y = np.arange(n) % C
    fused = np.where(rng.random(n) < 0.75, y, (y + 1) % C)
    audio = np.where(rng.random(n) < 0.7, y, (y + 2) % C)
    video = np.where(rng.random(n) < video_right, y, (y + 3) % C)
    return y, {"fused": _onehot(fused, 0.5), "audio": _onehot(audio, 0.5), "video": _onehot(video, 0.95)}


def test_decision_probs_is_the_models_linear_rule() -> None:
    rng = np.random.default_rng(0)
    y, heads = _heads(12, 0.5, rng)
    heads["video"][3] = np.nan  # a clip without a face: no video head, and no fused head either
    heads["fused"][3] = np.nan
    dims = FeatureDims(audio_seq=6, audio_vec=5, video=7)
    model = build_model("bimodal", dims, C, Config().model).eval()
    avail = {h: torch.from_numpy(~np.isnan(p).any(1)) for h, p in heads.items()}
    logits = {h: torch.from_numpy(np.log(np.nan_to_num(p, nan=1.0 / C))) for h, p in heads.items()}
    for weights in ((1.0, 0.6, 0.4), (1.0, 0.0, 0.0), (0.0, 0.0, 0.0)):
        model.set_chosen_weights(weights)
        expected = model.decide(logits, avail).probs.numpy()
        np.testing.assert_allclose(decision_probs(heads, weights), expected, atol=1e-12)


def test_a_head_that_misleads_is_weighted_down() -> None:
    rng = np.random.default_rng(1)
    y, heads = _heads(240, 0.3, rng)
    choice = choose_decision_weights(y, heads, (1.0, 0.6, 0.4))
    assert choice.weights[2] < 0.4 and choice.weights[0] == 1.0
    assert choice.chosen_ua > choice.configured_ua


def test_the_configured_weights_stay_without_evidence_against_them() -> None:
    rng = np.random.default_rng(2)
    y, heads = _heads(24, 0.75, rng)
    for name in heads:  # all heads equally right: nothing to gain by reweighting
        heads[name] = _onehot(y, 0.6)
    assert choose_decision_weights(y, heads, (1.0, 0.6, 0.4)).weights == (1.0, 0.6, 0.4)


def test_chosen_weights_are_used_in_eval_mode_only_and_round_trip(tmp_path: Path) -> None:
    dims = FeatureDims(audio_seq=6, audio_vec=5, video=7)
    model = build_model("bimodal", dims, C, Config().model)
    model.set_chosen_weights((1.0, 0.3, 0.0))
    assert model.fusion_weights().tolist() == pytest.approx([1.0, 0.6, 0.4]), "training keeps the configured ones"
    model.eval()
    assert model.fusion_weights().tolist() == pytest.approx([1.0, 0.3, 0.0])


def test_run_keeps_each_folds_choice_and_the_final_takes_the_medians(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Each fold chooses on its inner folds' pooled validation answers (every clip of its training speakers once);
    the fold model predicts with its choice, saved with it; the final model takes the folds' medians."""
    import avemotion.training.inner as inner_module
    from avemotion.training.toy import make_toy_store
    from avemotion.training.trainer import run_training

    picks = iter([FusionChoice((1.0, 0.3, 0.0), {"fused": 0.5, "audio": 0.5, "video": 2.0}),
                  FusionChoice((1.0, 1.0, 0.2), {"fused": 1.0, "audio": 0.7, "video": 3.0})])
    seen: list[int] = []

    def choose(config, y, heads, seed, stage):
        assert set(heads) == {"fused", "audio", "video"}
        assert all(p.shape == (len(y), 4) for p in heads.values())
        seen.append(len(y))
        return next(picks)

    monkeypatch.setattr(inner_module, "choose_fusion", choose)  # the choice on the inner runs' heads
    store = make_toy_store(tmp_path / "store", n_clips=48, n_speakers=4)
    cfg = tiny_config(**{"train.folds": 2, "train.epochs": 3, "model.decision_weights": "chosen",
                         "model.head_calibration": "validation"})
    run_training(store.root, tmp_path / "run", cfg)
    splits = json.loads((tmp_path / "run/splits.json").read_text())["folds"]
    assert seen == [len(f["train"]) + len(f["val"]) for f in splits], "the inner folds' pooled answers"
    for k, weights in enumerate(([1.0, 0.3, 0.0], [1.0, 1.0, 0.2])):
        fusion = json.loads((tmp_path / f"run/folds/{k}/result.json").read_text())["fusion"]
        assert fusion["decision_weights"] == weights
        bundle = ModelBundle.load(tmp_path / f"run/folds/{k}/model")
        assert bundle.model.fusion_weights().tolist() == pytest.approx(weights)
        assert bundle.model.head_temperatures == fusion["head_temperatures"]
    final = ModelBundle.load(tmp_path / "run/model")
    assert final.info["decision_weights"] == pytest.approx([1.0, 0.65, 0.1])
    assert final.info["head_temperatures"] == pytest.approx({"fused": 0.75, "audio": 0.6, "video": 2.5})
    assert final.model.fusion_weights().tolist() == pytest.approx([1.0, 0.65, 0.1])
    # the settings enter the run hash only when they are not the behaviour from before they existed
    before = Config().with_overrides({"model.head_calibration": "none"})
    assert not {"decision_weights", "head_calibration"} & set(hash_view(before)["model"])
    assert hash_view(cfg)["model"]["head_calibration"] == "validation"


def test_calibrated_heads_predict_as_the_numpy_decision() -> None:
    """The model's eval-mode decision with head temperatures is calibrate_heads + decision_probs."""
    rng = np.random.default_rng(3)
    y, heads = _heads(40, 0.5, rng)
    temps = fit_head_temperatures(y, heads)
    assert temps["video"] > 1.0, "a sure and often wrong head is flattened"
    dims = FeatureDims(audio_seq=6, audio_vec=5, video=7)
    model = build_model("bimodal", dims, C, Config().model).eval()
    model.set_head_temperatures(temps)
    avail = {h: torch.ones(len(y), dtype=torch.bool) for h in heads}
    logits = {h: torch.from_numpy(np.log(p)) for h, p in heads.items()}
    np.testing.assert_allclose(model.decide(logits, avail).probs.numpy(),
                               decision_probs(calibrate_heads(heads, temps), (1.0, 0.6, 0.4)), atol=1e-9)
    model.train()
    np.testing.assert_allclose(model.decide(logits, avail).probs.numpy(), decision_probs(heads, (1.0, 0.6, 0.4)),
                               atol=1e-9, err_msg="training decides with the heads as they are")


def test_median_fusion() -> None:
    cfg = Config()
    assert median_fusion(cfg, [None, None]) is None
    m = median_fusion(cfg, [FusionChoice(None, {"video": 3.0}), None, FusionChoice((1.0, 0.0, 0.0), {"video": 2.0})])
    assert m is not None and m.weights == (1.0, 0.6, 0.4) and m.temperatures == {"video": 2.0}


def test_a_face_seen_in_few_frames_weighs_little() -> None:
    """model.face_share_weighting: in eval mode the fused and video weights times the clip's share of frames with
    a face; training and configs written before decide as the paper does."""
    from avemotion.data.batch import collate
    from avemotion.training.toy import toy_clip

    dims = FeatureDims(audio_seq=6, audio_vec=5, video=7)
    model = build_model("bimodal", dims, C, Config().model).eval()
    pf, pa, pv = [0.1, 0.7, 0.1, 0.1], [0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]
    logits = {h: torch.log(torch.tensor([p, p], dtype=torch.float64)) for h, p in
              (("fused", pf), ("audio", pa), ("video", pv))}
    avail = {h: torch.tensor([True, True]) for h in logits}
    share = torch.tensor([1.0, 0.1])
    out = model.decide(logits, avail, face_share=share)
    np.testing.assert_allclose(out.weights[0].numpy(), np.array([1.0, 0.6, 0.4]) / 2.0)
    np.testing.assert_allclose(out.weights[1].numpy(), np.array([0.1, 0.6, 0.04]) / 0.74)
    assert int(out.probs[1].argmax()) == 0, "the voice decides where the face was seen in a tenth of the frames"
    model.train()
    np.testing.assert_allclose(model.decide(logits, avail, face_share=share).weights[1].numpy(),
                               np.array([1.0, 0.6, 0.4]) / 2.0)
    assert Config.from_dict({"schema_version": 3, "model": {}}, saved=True).model.face_share_weighting is False
    # collate: the share of each clip's frames with a face
    rng = np.random.default_rng(0)
    clip = toy_clip("c", 0, np.zeros(64), rng, 1.0, "ok")
    mask = np.zeros(len(clip.video_mask), bool)
    mask[: len(mask) // 4] = True
    from dataclasses import replace
    batch = collate([clip, replace(clip, video_mask=mask), replace(clip, video_seq=None, video_mask=None)],
                    FeatureDims(12, 40, 10), None)
    assert batch.face_share is not None
    np.testing.assert_allclose(batch.face_share.numpy(),
                               [float(np.mean(clip.video_mask)), float(np.mean(mask)), 0.0], rtol=1e-6)
