"""The epoch counter with early stopping: how many epochs a run may train, and patience on validation.

Its state (epochs finished, epochs since the last improvement) lives in the run's :class:`TrainTrack`, so it
is checkpointed with it and a resumed run stops where an uninterrupted one would."""

from __future__ import annotations

from dataclasses import dataclass

from avemotion.training.results import TrainTrack


@dataclass(frozen=True)
class EarlyStopper:
    """At most ``epochs`` epochs; with a ``patience`` (runs with validation clips), stop after that many
    epochs in a row without improvement."""

    epochs: int
    patience: int | None = None

    def running(self, track: TrainTrack) -> bool:
        """Whether another epoch is due."""
        return track.epoch < self.epochs and (self.patience is None or track.bad < self.patience)

    @staticmethod
    def record(track: TrainTrack, improved: bool) -> None:
        """Count an epoch with validation: reset on improvement, else one more without."""
        track.bad = 0 if improved else track.bad + 1
