"""The training state of an unfinished run, saved atomically and resumed exactly: the model, the kept (best)
model, the AdamW state, the global torch RNG and the :class:`TrainTrack`, in ``WORKDIR/state.*``.

Saving costs about four times the model's size, so :class:`Checkpointer` saves at most every ``interval``
seconds after an epoch, and when the run is interrupted between epochs (never mid-epoch, where model,
optimiser and track disagree).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from avemotion.models.base import EmotionModel
from avemotion.models.bundle import checkpoint_exists, load_checkpoint, load_state_checked, save_checkpoint
from avemotion.training.results import TrainTrack


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """The optimiser's per-parameter state as flat ``opt.<param>.<name>`` tensors, and its parameter
    groups."""
    sd = opt.state_dict()
    tensors = {}
    for pid, st in sd["state"].items():
        for name, value in st.items():
            tensors[f"opt.{pid}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, sd["param_groups"]


def optimizer_restore(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                      groups: list[dict]) -> None:
    """Inverse of :func:`optimizer_tensors`."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": groups})


class Checkpointer:
    """Save and resume one training run's state at ``stem`` (``stem.safetensors`` + ``stem.json``)."""

    def __init__(self, stem: Path, stage: str, model: EmotionModel, opt: torch.optim.Optimizer,
                 interval: float) -> None:
        self.stem, self.stage, self.model, self.opt, self.interval = stem, stage, model, opt, interval
        self._last_save = time.monotonic()
        self._unsaved = False  # epochs finished since the last save
        self._between_epochs = True  # model, optimiser and track agree

    def exists(self) -> bool:
        return checkpoint_exists(self.stem)

    def restore(self, best_model: EmotionModel) -> TrainTrack:
        """Load the saved state into the model, ``best_model``, the optimiser and the torch RNG; the track."""
        tensors, meta = load_checkpoint(self.stem)
        path = self.stem.with_suffix(".safetensors")
        load_state_checked(self.model, tensors, path, "model.")
        load_state_checked(best_model, tensors, path, "best.")
        optimizer_restore(self.opt, tensors, meta["param_groups"])
        torch.set_rng_state(tensors["rng"])
        return TrainTrack.from_dict(meta["track"])

    def save(self, best_state: dict[str, torch.Tensor], track: TrainTrack) -> None:
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        tensors.update({f"best.{k}": v for k, v in best_state.items()})
        opt_t, groups = optimizer_tensors(self.opt)
        tensors.update(opt_t)
        tensors["rng"] = torch.get_rng_state()
        save_checkpoint(self.stem, tensors, {"kind": "state", "stage": self.stage, "track": track.to_dict(),
                                             "param_groups": groups})

    def start_clock(self) -> None:
        """The interval counts from now (the first epoch's start)."""
        self._last_save = time.monotonic()

    def epoch_started(self) -> None:
        self._between_epochs = False

    def epoch_finished(self, best_state: dict[str, torch.Tensor], track: TrainTrack) -> None:
        """An epoch ended: save when the interval has passed since the last save."""
        self._between_epochs = self._unsaved = True
        if time.monotonic() - self._last_save >= self.interval:
            self.save(best_state, track)
            self._last_save, self._unsaved = time.monotonic(), False

    def interrupted(self, best_state: dict[str, torch.Tensor], track: TrainTrack) -> None:
        """The run stops on an exception: keep the finished epochs when that is between epochs."""
        if self._unsaved and self._between_epochs:
            self.save(best_state, track)
