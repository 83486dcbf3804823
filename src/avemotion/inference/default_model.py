"""The model used when none is named: the one bundled with the package (``avemotion/pretrained/default/``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from avemotion.errors import CheckpointError

#: package-relative folder of the bundled run (model.json + model.safetensors, as ``avemotion train`` writes)
DEFAULT_MODEL_PARTS = ("pretrained", "default")


def default_model_dir() -> Path:
    """The bundled model's folder; :class:`CheckpointError` (telling to pass ``--model``) when absent."""
    folder = Path(str(resources.files("avemotion").joinpath(*DEFAULT_MODEL_PARTS)))
    if (folder / "model.json").is_file() and (folder / "model.safetensors").is_file():
        return folder
    raise CheckpointError("no bundled default model in this installation; pass --model RUNDIR (a run folder "
                          "of `avemotion train`)", folder)
