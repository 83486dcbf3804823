"""The model-input contract below training: feature groups declared by the extractors, read-outs as a mixin of
the models that have them, and models built from the registry without import cycles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import DIMS, quiet_torch, tiny_config, toy_clips

from avemotion.data.batch import collate
from avemotion.data.selection import FeatureSelection, group_family
from avemotion.features import AUDIO_EXTRACTORS
from avemotion.features.audio import declared_groups
from avemotion.features.audio.smile import FEATURE_SETS
from avemotion.models.base import EmotionModel
from avemotion.models.ensemble import Ensemble
from avemotion.models.readout import ReadoutMixin, fitted_c
from avemotion.models.registry import MODELS, build_model

quiet_torch()


# --- feature groups ------------------------------------------------------------------------------------
def test_every_extractor_declares_its_own_group() -> None:
    owners = declared_groups()
    for name in AUDIO_EXTRACTORS:
        assert AUDIO_EXTRACTORS.get(name).feature_groups()[0] == name  # what the branch writes
        assert owners[name] == name and group_family(name) == name
    for set_name in FEATURE_SETS:  # openSMILE's set names are its group's other names
        assert owners[set_name.lower()] == "opensmile" and group_family(set_name) == "opensmile"


@pytest.mark.parametrize(("group", "family"), [
    ("IS09", "opensmile"), ("is13", "opensmile"), ("ComParE_2016", "opensmile"), ("eGeMAPSv02", "opensmile"),
    ("Whisper", "whisper"), (" mfcc ", "mfcc"),
])
def test_declared_groups_map_to_their_extractor(group: str, family: str) -> None:
    assert group_family(group) == family


@pytest.mark.parametrize(("group", "family"), [
    # names of stores written by older code and tests (the toy store): a declared name with a suffix
    ("mfcc_stats", "mfcc"), ("soundnet_conv7", "soundnet"), ("whisper_stats", "whisper"),
    ("IS13_lld", "opensmile"), ("ComParE_2016_func", "opensmile"), ("mfcc-delta", "mfcc"),
    # undeclared names: their first word, lower-case
    ("face", "face"), ("Geometry:pose", "geometry"), ("mfccx", "mfccx"), ("", ""),
])
def test_fallback_for_undeclared_group_names(group: str, family: str) -> None:
    assert group_family(group) == family


def test_toy_store_groups_select_as_before() -> None:
    """The toy store's groups ("mfcc_stats", "IS09", "IS13", "soundnet", "soundnet_conv7") select as
    before."""
    clips, _ = toy_clips(4)
    sel = FeatureSelection.fit(clips, "audio", ["opensmile"])
    assert sel.audio_vec_groups == ["IS09", "IS13"] and sel.dims.audio_vec == 24
    assert sel.audio_seq_cols is None
    sel = FeatureSelection.fit(clips, "audio", ["soundnet"])
    assert sel.audio_seq_groups == ["soundnet_conv7"] and sel.audio_vec_groups == ["soundnet"]
    sel = FeatureSelection.fit(clips, "audio", ["mfcc", "is09"])  # a group's own name selects it too
    assert sel.audio_vec_groups == ["mfcc_stats", "IS09"] and sel.audio_seq_groups == ["mfcc"]


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
