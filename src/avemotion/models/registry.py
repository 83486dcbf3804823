"""The model registry and the builder: models are registered by name and built from it.

A model module registers its :class:`~avemotion.models.base.EmotionModel` subclass with
``@MODELS.register("name")``; the package's ``__init__`` imports the model modules, so importing anything of
:mod:`avemotion.models` fills the registry.
"""

from __future__ import annotations

from avemotion.config import ModelConfig
from avemotion.data.dims import FeatureDims
from avemotion.models.base import EmotionModel
from avemotion.models.ensemble import Ensemble
from avemotion.registry import Registry

MODELS: Registry = Registry("model")


def build_model(name: str, dims: FeatureDims, n_classes: int, config: ModelConfig,
                members: int = 1) -> EmotionModel:
    """The registered model ``name``; with ``members`` > 1 an :class:`~avemotion.models.ensemble.Ensemble` of
    them."""
    if members > 1:
        return Ensemble([MODELS.get(name)(dims, n_classes, config) for _ in range(members)])
    return MODELS.get(name)(dims, n_classes, config)
