"""The model-input contract below training: read-outs as a mixin of the models that have them, and models
built from the registry without import cycles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import DIMS, quiet_torch, tiny_config, toy_clips

from avemotion.data.batch import collate
from avemotion.models.base import EmotionModel
from avemotion.models.ensemble import Ensemble
from avemotion.models.readout import ReadoutMixin, fitted_c
from avemotion.models.registry import MODELS, build_model

quiet_torch()


# --- read-outs -----------------------------------------------------------------------------------------
def test_readouts_are_a_mixin_of_the_models_that_have_them() -> None:
    for name in ("prefit", "readout_weights", "set_readout_weight", "readout_c"):
        assert not hasattr(EmotionModel, name)
    cfg = tiny_config().model
    assert isinstance(build_model("bimodal", DIMS, 4, cfg), ReadoutMixin)
    for name in ("dean", "lstm"):
        model = build_model(name, DIMS, 4, cfg)
        assert not isinstance(model, ReadoutMixin) and fitted_c(model) == {}


def test_fitted_c_of_a_model_and_an_ensemble() -> None:
    clips, labels = toy_clips(16)
    torch.manual_seed(0)
    model = build_model("bimodal", DIMS, 4, tiny_config().model)
    assert fitted_c(model) == {}  # nothing fitted yet
    model.prefit([collate(clips, DIMS, None, labels)], None, 4, {"audio": 0.1, "video": 0.1, "fused": 0.1})
    assert fitted_c(model) == {"audio": 0.1, "video": 0.1, "fused": 0.1}
    ensemble = Ensemble([model, build_model("bimodal", DIMS, 4, tiny_config().model)])
    assert fitted_c(ensemble) == fitted_c(model)  # the first member's
    assert fitted_c(Ensemble([build_model("dean", DIMS, 4, tiny_config().model)])) == {}


# --- building ------------------------------------------------------------------------------------------
def test_build_model_from_the_registry() -> None:
    assert {"bimodal", "dean", "lstm"} <= set(MODELS.names())
    ensemble = build_model("lstm", DIMS, 4, tiny_config().model, members=3)
    assert isinstance(ensemble, Ensemble) and len(ensemble.members) == 3
    probs = ensemble.eval()(collate(toy_clips(3)[0], DIMS, None)).probs
    np.testing.assert_allclose(probs.sum(1).detach().numpy(), np.ones(3), rtol=1e-5)
