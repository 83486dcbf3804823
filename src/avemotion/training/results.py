"""Records of training and evaluation: per-epoch log, the resumable training progress, one fold's result (its
test :class:`~avemotion.models.predict.Predictions`) and one model's result in a comparison. Each has
``to_dict`` / ``from_dict`` for its JSON file (``folds/k/result.json``, the ``track`` of a training-state
checkpoint)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from avemotion.models.predict import Predictions
from avemotion.training.variants import Variant


@dataclass
class EpochLog:
    epoch: int
    loss: float
    val_ua: float | None = None
    val_loss: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict) -> EpochLog:
        return cls(int(d["epoch"]), float(d["loss"]), d.get("val_ua"), d.get("val_loss"))


@dataclass
class TrainTrack:
    """Progress of one training run, saved with its state so an interrupted run resumes exactly."""

    epoch: int = 0  # epochs finished
    best_ua: float = -1.0
    best_loss: float = math.inf
    best_epoch: int = -1
    bad: int = 0  # epochs since the last improvement (early stopping)
    history: list[EpochLog] = field(default_factory=list)
    best_mix: float = 0.0  # the kept state's weight of the linear read-outs (model.linear_readout=select)
    net_best_ua: float = -1.0  # the network alone's best validation UA (patience follows it when read-outs exist)
    net_best_loss: float = math.inf
    # which validation clips the read-outs alone get right (the reference of train.readout_margin and of the inner
    # folds' choice; None without)
    readout_correct: list[bool] | None = None
    # train.inner_folds: which validation clips each network candidate (epoch-major; alone, then averaged with the
    # read-outs) gets right, bit-packed as hex (training/selection.py)
    candidates: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "best_ua": self.best_ua,
                "best_loss": self.best_loss if math.isfinite(self.best_loss) else None,
                "best_epoch": self.best_epoch, "bad": self.bad, "history": [h.to_dict() for h in self.history],
                "best_mix": self.best_mix, "net_best_ua": self.net_best_ua,
                "net_best_loss": self.net_best_loss if math.isfinite(self.net_best_loss) else None,
                "readout_correct": self.readout_correct, "candidates": self.candidates}

    @classmethod
    def from_dict(cls, d: dict) -> TrainTrack:
        loss = d.get("best_loss")
        return cls(int(d["epoch"]), float(d["best_ua"]), math.inf if loss is None else float(loss),
                   int(d["best_epoch"]), int(d["bad"]), [EpochLog.from_dict(h) for h in d.get("history", [])],
                   float(d.get("best_mix", 0.0)), float(d.get("net_best_ua", -1.0)),
                   math.inf if d.get("net_best_loss") is None else float(d["net_best_loss"]),
                   None if d.get("readout_correct") is None else [bool(v) for v in d["readout_correct"]],
                   [str(v) for v in d.get("candidates", [])])


@dataclass
class FoldResult:
    """The test predictions of one fold's best model, and how it was trained."""

    fold: int
    test: list[str]  # clip ids, in prediction order
    y_true: list[int]
    best_epoch: int
    epochs_run: int
    val_ua: float
    predictions: Predictions
    val_is_train: bool = False  # too few clips for a validation set: the training clips were used
    history: list[EpochLog] = field(default_factory=list)
    readout_weight: float = 0.0  # weight of the linear read-outs in the kept state (model.linear_readout=select)
    readout_c: dict[str, float] = field(default_factory=dict)  # C per read-out
    #: how the heads meet, fitted on validation speakers (training/fusion.py FusionChoice.info()); None: as configured
    fusion: dict | None = None

    @property
    def probs(self) -> np.ndarray:
        return self.predictions.probs

    def to_dict(self) -> dict:
        return {"fold": self.fold, "test": self.test, "y_true": self.y_true, "best_epoch": self.best_epoch,
                "epochs_run": self.epochs_run, "val_ua": self.val_ua, "val_is_train": self.val_is_train,
                "history": [h.to_dict() for h in self.history], "predictions": self.predictions.to_dict(),
                "readout_weight": self.readout_weight, "readout_c": self.readout_c,
                **({"fusion": self.fusion} if self.fusion is not None else {})}

    @classmethod
    def from_dict(cls, d: dict) -> FoldResult:
        return cls(int(d["fold"]), list(d["test"]), [int(y) for y in d["y_true"]], int(d["best_epoch"]),
                   int(d["epochs_run"]), float(d["val_ua"]), Predictions.from_dict(d["predictions"]),
                   bool(d.get("val_is_train", False)), [EpochLog.from_dict(h) for h in d.get("history", [])],
                   float(d.get("readout_weight", 0.0)), {k: float(v) for k, v in d.get("readout_c", {}).items()},
                   d.get("fusion"))

    @classmethod
    def untested(cls, fold: int, n_classes: int) -> FoldResult:
        """A fold with no test clip the model can use (e.g. a video-only variant on a faceless fold)."""
        return cls(fold, [], [], -1, 0, -1.0, Predictions.empty(n_classes))


@dataclass
class ModelResult:
    variant: Variant
    modality: str
    params: int
    per_fold: list[dict]
    probs: np.ndarray  # (N, C) pooled out-of-fold, in the comparison's clip order
    covered: np.ndarray  # (N,) bool: the model saw the clip's features
    fold_of: np.ndarray  # (N,) int
    pooled: dict
    groups: list[dict]
    latency: list[dict]
    summary: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.variant.name
