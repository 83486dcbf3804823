"""The model used when none is named: the bundled ``default`` (see :mod:`avemotion.inference.bundled`)."""

from __future__ import annotations

from pathlib import Path

from avemotion.inference.bundled import resolve_model


def default_model_dir() -> Path:
    """The bundled default model's folder; :class:`CheckpointError` (telling to pass ``--model``) when absent."""
    return resolve_model(None)
