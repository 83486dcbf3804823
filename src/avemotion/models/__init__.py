"""Models: the bimodal method of Liu, Feng & Li (2026) and the baselines, registered by name."""

from avemotion.registry import Registry

MODELS: Registry = Registry("model")
