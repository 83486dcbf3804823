"""Models bundled with the package, and which model a ``--model`` value (or none) names.

A bundled model is a folder ``avemotion/pretrained/<name>/`` holding ``model.json`` + ``model.safetensors``
(a checkpoint as ``avemotion train`` writes it, loadable with ``Predictor.load(folder)``) and ``card.json``: a
JSON object with at least ``name``, ``summary``, ``label_set``, ``labels``, ``modalities``, ``training_data``,
``protocol``, ``metrics``, ``licence`` and ``card`` (the model card's markdown, relative to the repository).
The model used when none is named is the one called ``default``.

Everything here reads JSON only (no torch), so ``avemotion models`` stays fast. Tests point
:func:`bundled_root` elsewhere with ``monkeypatch``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from avemotion.errors import CheckpointError

#: package-relative folder holding one sub-folder per bundled model
BUNDLED_PARTS = ("pretrained",)
#: the bundled model used when no model is named
DEFAULT_NAME = "default"
CARD = "card.json"


@dataclass(frozen=True)
class BundledModel:
    """A model shipped with the package: its name, folder and card (``card.json``)."""

    name: str
    folder: Path
    card: dict[str, Any]

    @property
    def label_set(self) -> str | None:
        """The label set its card names, or None."""
        value = self.card.get("label_set")
        return value if isinstance(value, str) and value else None

    def to_dict(self) -> dict[str, Any]:
        """The card with the model's name and folder, for JSON output."""
        return {**self.card, "name": self.name, "folder": str(self.folder)}


def bundled_root() -> Path:
    """The folder of the bundled models (it may not exist: an installation without any)."""
    return Path(str(resources.files("avemotion").joinpath(*BUNDLED_PARTS)))


def _is_model_folder(folder: Path) -> bool:
    return all((folder / f).is_file() for f in ("model.json", "model.safetensors", CARD))


def _read_card(path: Path) -> dict[str, Any]:
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"bundled model card is not valid JSON ({exc}); reinstall the package", path) from None
    if not isinstance(card, dict):
        raise CheckpointError("bundled model card must be a JSON object; reinstall the package", path)
    return card


def bundled_models() -> list[BundledModel]:
    """The bundled models, ``default`` first, the others by name (an empty list when none is installed)."""
    root = bundled_root()
    if not root.is_dir():
        return []
    found = [BundledModel(d.name, d, _read_card(d / CARD))
             for d in root.iterdir() if d.is_dir() and _is_model_folder(d)]
    return sorted(found, key=lambda m: (m.name != DEFAULT_NAME, m.name))


def bundled_model(name: str) -> BundledModel | None:
    """The bundled model called ``name``, or None."""
    return next((m for m in bundled_models() if m.name == name), None)


def bundled_model_at(folder: str | Path) -> BundledModel | None:
    """The bundled model whose folder this is (None for a run folder of the user's)."""
    try:
        target = Path(folder).resolve()
    except OSError:
        return None
    return next((m for m in bundled_models() if m.folder.resolve() == target), None)


def uncertain_below(folder: str | Path | None) -> float | None:
    """The model's confidence threshold under which answers are shown as uncertain.

    See :mod:`avemotion.utils.confidence`: a bundled model's card states it; a run folder's held-out
    ``predictions.csv`` gives it. None when neither is there.
    """
    if folder is None:
        return None
    folder = Path(folder)
    card = _read_card(folder / CARD) if (folder / CARD).is_file() else {}
    if isinstance(card.get("uncertain_below"), (int, float)):
        return float(card["uncertain_below"])
    if (folder / "predictions.csv").is_file():
        from avemotion.utils.confidence import uncertain_below_from_predictions

        return uncertain_below_from_predictions(folder / "predictions.csv")
    return None


def resolve_model(spec: str | Path | None) -> Path:
    """The model folder ``spec`` names.

    None -> the bundled ``default``; an existing path -> itself; the name of a bundled model -> its folder.
    Anything else is a :class:`CheckpointError` listing the bundled names.
    """
    if spec is None:
        model = bundled_model(DEFAULT_NAME)
        if model is None:
            raise CheckpointError("no bundled default model in this installation; pass --model RUNDIR (a run folder "
                                  "of `avemotion train`)", bundled_root() / DEFAULT_NAME)
        return model.folder
    path = Path(spec)
    if path.exists():
        return path
    model = bundled_model(str(spec))
    if model is not None:
        return model.folder
    names = [m.name for m in bundled_models()]
    known = f"bundled models: {', '.join(names)}" if names else "no bundled models are installed"
    raise CheckpointError(f"neither a run folder nor the name of a bundled model ({known}; see `avemotion models`)",
                          path)


def describe_model(folder: str | Path, bundled: BundledModel | None = None) -> str:
    """How output names a model: ``default (bundled)`` or the run folder's path.

    ``bundled``: the folder's bundled model when the caller knows it already.
    """
    model = bundled if bundled is not None else bundled_model_at(folder)
    return f"{model.name} (bundled)" if model is not None else str(folder)
