"""Inference: predictions on new files and long recordings from a trained run or a bundled model."""

from avemotion.inference.bundled import BundledModel, bundled_models, resolve_model
from avemotion.inference.default_model import default_model_dir

__all__ = ["BundledModel", "bundled_models", "default_model_dir", "resolve_model"]
