"""Inference: predictions on new files and long recordings from a trained run."""
