"""Decision-level fusion rules (``model.decision_rule``, models/decision.py) and the run hashes around them."""

from __future__ import annotations

import math

import pytest
import torch

from avemotion.config import Config
from avemotion.config.schema import hash_view
from avemotion.data.dims import FeatureDims
from avemotion.models.decision import DECISION_RULES, max_confidence, reliability
from avemotion.models.registry import build_model

C = 4


def _logits(*rows: list[float]) -> torch.Tensor:
    return torch.log(torch.tensor(rows, dtype=torch.float64))


def _model(rule: str, fused_weight: float = 0.0):
    config = Config().with_overrides({"model.decision_rule": rule, "model.fused_weight": fused_weight})
    dims = FeatureDims(audio_seq=6, audio_vec=5, video=7)
    return build_model("bimodal", dims, C, config.model)


def test_linear_is_eq_19() -> None:
    model = _model("linear")
    pa = [0.7, 0.1, 0.1, 0.1]
    pv = [0.1, 0.1, 0.1, 0.7]
    out = model.decide({"audio": _logits(pa), "video": _logits(pv)},
                       {"audio": torch.tensor([True]), "video": torch.tensor([True])})
    expected = (0.6 * torch.tensor(pa, dtype=torch.float64) + 0.4 * torch.tensor(pv, dtype=torch.float64)) / 1.0
    assert torch.allclose(out.probs[0], expected)
    assert torch.allclose(out.weights[0], torch.tensor([0.0, 0.6, 0.4], dtype=torch.float64))


def test_reliability_drops_a_head_that_knows_nothing() -> None:
    model = _model("reliability")
    sure, uniform = [0.85, 0.05, 0.05, 0.05], [0.25] * 4
    out = model.decide({"audio": _logits(uniform, sure), "video": _logits(sure, uniform)},
                       {"audio": torch.tensor([True, True]), "video": torch.tensor([True, True])})
    # clip 0: the voice is uniform, so the face decides alone; clip 1 the other way round
    assert torch.allclose(out.weights[0], torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))
    assert torch.allclose(out.weights[1], torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))
    # both heads equally sure: the base weights 0.6 / 0.4 remain
    both = model.decide({"audio": _logits(sure), "video": _logits(sure)},
                        {"audio": torch.tensor([True]), "video": torch.tensor([True])})
    assert torch.allclose(both.weights[0], torch.tensor([0.0, 0.6, 0.4], dtype=torch.float64))


def test_reliability_weight_is_base_times_one_minus_normalised_entropy() -> None:
    p = torch.tensor([[[0.5, 0.5, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]]], dtype=torch.float64)
    w = reliability(p, torch.tensor([[1.0, 0.6, 0.4]], dtype=torch.float64))
    assert torch.allclose(w, torch.tensor([[1.0 - math.log(2) / math.log(4), 0.0, 0.4]], dtype=torch.float64),
                          atol=1e-9)


def test_max_confidence_takes_the_surest_available_head() -> None:
    model = _model("max_confidence")
    a, v = [0.6, 0.2, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]
    out = model.decide({"audio": _logits(a, a), "video": _logits(v, v)},
                       {"audio": torch.tensor([True, True]), "video": torch.tensor([True, False])})
    assert out.probs[0].argmax() == 3 and torch.allclose(out.weights[0], torch.tensor([0.0, 0.0, 1.0],
                                                                                      dtype=torch.float64))
    # clip 1 has no face: the voice decides although the (unavailable) face head looks surer
    assert out.probs[1].argmax() == 0 and out.weights[1, 2] == 0
    # a head with base weight 0 is never picked; ties go to the first head (fused, audio, video)
    w = max_confidence(torch.tensor([[[0.9, 0.1], [0.5, 0.5], [0.5, 0.5]]]), torch.tensor([[0.0, 0.6, 0.4]]))
    assert torch.equal(w, torch.tensor([[0.0, 1.0, 0.0]]))


@pytest.mark.parametrize("rule", sorted(DECISION_RULES))
def test_every_rule_gives_probabilities(rule: str) -> None:
    model = _model(rule, fused_weight=1.0)
    g = torch.Generator().manual_seed(0)
    logits = {h: torch.randn(5, C, generator=g, dtype=torch.float64) for h in ("fused", "audio", "video")}
    logits["audio"][0] = 0.0  # a uniform head
    available = {h: torch.tensor([True, True, False, True, True]) if h != "audio" else torch.ones(5, dtype=torch.bool)
                 for h in logits}
    out = model.decide(logits, available)
    assert torch.allclose(out.probs.sum(1), torch.ones(5, dtype=torch.float64))
    assert torch.allclose(out.weights.sum(1), torch.ones(5, dtype=torch.float64))
    assert (out.weights[2, [0, 2]] == 0).all()  # clip 2 has no face: neither the fused nor the video head


def test_all_uniform_heads_fall_back_to_their_average() -> None:
    model = _model("reliability")
    u = [0.25] * 4
    out = model.decide({"audio": _logits(u), "video": _logits(u)},
                       {"audio": torch.tensor([True]), "video": torch.tensor([True])})
    assert torch.allclose(out.weights[0], torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64))


def test_run_hashes_of_older_runs_stay() -> None:
    """The setting entered the config after layout 1: at its default (eq. 19) the hashes do not see it."""
    assert "decision_rule" not in hash_view(Config())["model"]
    changed = Config().with_overrides({"model.decision_rule": "reliability"})
    assert hash_view(changed)["model"]["decision_rule"] == "reliability"
