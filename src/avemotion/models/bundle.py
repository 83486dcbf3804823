"""Checkpoints: tensors in ``STEM.safetensors``, everything else in ``STEM.json``; nothing is ever unpickled.

The JSON is written last and records the SHA-256 of the tensor file, so a checkpoint is complete exactly when
both exist and agree. Loading checks, and raises :class:`~avemotion.errors.CheckpointError` naming the file:
the JSON parses and has the avemotion format tag; the tensor file is not a pickle or a PyTorch zip, matches the
recorded hash, and parses as safetensors; every expected tensor is present with the expected shape and dtype.

:class:`ModelBundle` is a trained model ready to predict: model weights + the standardiser (tensors), the
config, labels, grade values, feature selection and dims (JSON).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from avemotion.config import Config
from avemotion.data.dims import FeatureDims
from avemotion.data.selection import FeatureSelection
from avemotion.data.standardize import Standardizer
from avemotion.errors import CheckpointError
from avemotion.models.base import EmotionModel
from avemotion.models.registry import build_model
from avemotion.utils.atomic import atomic_write_bytes, atomic_write_json

FORMAT = "avemotion-checkpoint"
VERSION = 1


def _paths(stem: str | Path) -> tuple[Path, Path]:
    stem = Path(stem)
    if stem.suffix in (".json", ".safetensors"):
        stem = stem.with_suffix("")
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_checkpoint(stem: str | Path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    st_path, js_path = _paths(stem)
    data = st_save({k: v.detach().contiguous().cpu() for k, v in tensors.items()})
    atomic_write_bytes(st_path, data)
    atomic_write_json(js_path, {"format": FORMAT, "version": VERSION, "tensors": st_path.name,
                                "sha256": hashlib.sha256(data).hexdigest(), "meta": meta})
    return js_path


def checkpoint_exists(stem: str | Path) -> bool:
    st_path, js_path = _paths(stem)
    return st_path.is_file() and js_path.is_file()


def load_checkpoint(stem: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    st_path, js_path = _paths(stem)
    if not js_path.is_file():
        raise CheckpointError("checkpoint description (.json) not found; is this a training run folder?", js_path)
    try:
        head = json.loads(js_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"not a valid JSON checkpoint description ({exc})", js_path) from None
    if not isinstance(head, dict) or head.get("format") != FORMAT or not isinstance(head.get("meta"), dict):
        raise CheckpointError("not an avemotion checkpoint description", js_path)
    if int(head.get("version", -1)) > VERSION:
        raise CheckpointError(f"checkpoint version {head.get('version')} is newer than this avemotion", js_path)
    if not st_path.is_file():
        raise CheckpointError("checkpoint tensors (.safetensors) not found", st_path)
    data = st_path.read_bytes()
    # safetensors: 8-byte little-endian header length, then the JSON header; its first byte may well be 0x80
    looks_safetensors = len(data) >= 9 and data[8:9] == b"{"
    if not looks_safetensors and (data[:2] == b"PK" or data[:1] == b"\x80"):
        raise CheckpointError("is a pickle / torch.save file; avemotion loads only safetensors and never "
                              "unpickles (retrain, or convert it yourself from a trusted source)", st_path)
    if hashlib.sha256(data).hexdigest() != head.get("sha256"):
        raise CheckpointError("tensor file does not match its .json (SHA-256 differs): changed or truncated", st_path)
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
        raise CheckpointError(f"not a valid safetensors file ({exc})", st_path) from None
    return tensors, head["meta"]


def load_state_checked(module: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path, prefix: str = "") -> None:
    """Load ``prefix``-ed tensors into ``module`` after checking names, shapes and dtypes."""
    expected = module.state_dict()
    got = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if missing or extra:
        raise CheckpointError(f"tensors do not fit the model: missing {missing[:5]}, unexpected {extra[:5]}", path)
    for k, v in expected.items():
        if tuple(got[k].shape) != tuple(v.shape) or got[k].dtype != v.dtype:
            raise CheckpointError(f"tensor {k!r} has shape {tuple(got[k].shape)} {got[k].dtype}, "
                                  f"the model needs {tuple(v.shape)} {v.dtype}", path)
    module.load_state_dict(got, strict=True)


@dataclass
class ModelBundle:
    """A trained model with everything needed to predict from raw ClipFeatures."""

    model_name: str
    model: EmotionModel
    config: Config
    labels: list[str]
    grades: np.ndarray | None  # None: the label set has no grades
    selection: FeatureSelection
    standardizer: Standardizer
    info: dict

    @property
    def dims(self) -> FeatureDims:
        return self.selection.dims

    def save(self, stem: str | Path) -> Path:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        tensors.update(self.standardizer.tensors())
        meta = {"kind": "model", "model": self.model_name, "config": self.config.to_dict(), "labels": self.labels,
                "grades": None if self.grades is None else [float(g) for g in self.grades],
                "selection": self.selection.to_dict(),
                "dims": self.dims.to_dict(), "info": self.info}
        return save_checkpoint(stem, tensors, meta)

    @classmethod
    def load(cls, stem: str | Path) -> ModelBundle:
        st_path, js_path = _paths(stem)
        tensors, meta = load_checkpoint(stem)
        try:
            if meta.get("kind") != "model":
                raise KeyError("kind")
            config = Config.from_dict(meta["config"], str(js_path), saved=True)  # older layouts migrated
            selection = FeatureSelection.from_dict(meta["selection"])
            dims = FeatureDims.from_dict(meta["dims"])
            labels = [str(x) for x in meta["labels"]]
            grades = None if meta.get("grades") is None else np.asarray(meta["grades"], dtype=np.float64)
            if dims != selection.dims or (grades is not None and len(grades) != len(labels)):
                raise ValueError("dims, selection and labels disagree")
            model = build_model(meta["model"], dims, len(labels), config.model, config.train.ensemble)
        except CheckpointError:
            raise
        except Exception as exc:  # any malformed field is a bad checkpoint
            raise CheckpointError(f"checkpoint description is malformed ({type(exc).__name__}: {exc})",
                                  js_path) from None
        load_state_checked(model, tensors, st_path, prefix="model.")
        std = Standardizer.from_tensors({k: v for k, v in tensors.items() if k.startswith("std.")},
                                        config.train.max_abs_z)
        for name, width in (("audio_seq", dims.audio_seq), ("audio_vec", dims.audio_vec), ("video", dims.video)):
            if width and (name not in std.mean or std.mean[name].shape != (width,) or std.std[name].shape != (width,)):
                raise CheckpointError(f"standardiser for {name} is missing or has the wrong width", st_path)
        info = dict(meta.get("info", {}))
        if info.get("decision_weights") is not None:  # eq. 19's weights chosen on validation speakers
            model.set_chosen_weights(tuple(info["decision_weights"]))
        if info.get("head_temperatures") is not None:  # heads calibrated on validation speakers
            model.set_head_temperatures(dict(info["head_temperatures"]))
        model.eval()
        return cls(meta["model"], model, config, labels, grades, selection, std, info)
