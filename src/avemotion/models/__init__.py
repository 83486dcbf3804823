"""Models: the bimodal method of Liu, Feng & Li (2026) and the baselines, registered by name.

A model is one module defining a :class:`~avemotion.models.base.EmotionModel` subclass registered with
``@MODELS.register("name")``; import it below so that the registry knows it.
"""

from avemotion.registry import Registry

MODELS: Registry = Registry("model")

from avemotion.models import bimodal  # noqa: E402,F401  (registers "bimodal")
from avemotion.models import dean, multilstm  # noqa: E402,F401  (baselines: registers "dean", "lstm")
