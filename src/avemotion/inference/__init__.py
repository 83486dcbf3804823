"""Inference: predictions on new files and long recordings from a trained run."""

from avemotion.inference.default_model import default_model_dir

__all__ = ["default_model_dir"]
