"""Models: the bimodal method of Liu, Feng & Li (2026) and the baselines, registered by name.

A model is one module defining a :class:`~avemotion.models.base.EmotionModel` subclass registered with
``@MODELS.register("name")`` (:mod:`avemotion.models.registry`, which also builds them); import it below so
that the registry knows it.
"""

# registration on import: the method ("bimodal") and the baselines ("dean", "lstm")
from avemotion.models import bimodal, dean, multilstm  # noqa: F401 - imported to register
from avemotion.models.registry import MODELS

__all__ = ["MODELS"]
