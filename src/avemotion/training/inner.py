"""The inner folds of one fold (``train.inner_folds``): each inner run trained on its own (a task a worker can
take, :mod:`avemotion.training.parallel`), its outcome written to ``fdir/innerJ/outcome.npz``, and the fold's
choice made from the outcomes pooled (:func:`inner_choice`).

An inner run's randomness comes from its seed alone, so it gives the same outcome in whichever process and
order it runs: the choice is the same whether the inner runs ran one after another in the fold's process or
spread over workers. An outcome on disk is read back instead of training again (a resumed run)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avemotion.models.readout import ReadoutMixin, fitted_c
from avemotion.training.fit import FitPlan, TrainSetup, fit
from avemotion.training.fusion import FusionChoice, choose_fusion, fits_fusion, validation_heads
from avemotion.training.results import EpochLog
from avemotion.training.selection import PooledChoice, ValAnswers, candidate_mixes, choose_pooled, median_c
from avemotion.training.splits import inner_folds
from avemotion.utils.atomic import atomic_write_bytes
from avemotion.utils.progress import log

OUTCOME = "outcome.npz"


@dataclass
class InnerOutcome:
    """What the fold's choice needs from one inner run: its answers on its validation clips (every candidate's),
    the read-outs' C, the training loss per epoch, the read-out weights its candidates were scored with, and the
    heads' probabilities of its kept model on its validation clips (None unless the fold fits the heads'
    fusion)."""

    answers: ValAnswers
    c: dict[str, float]
    losses: list[float]
    mixes: list[float]
    heads: dict[str, np.ndarray] | None

    def save(self, path: Path) -> None:
        """One ``.npz`` (written atomically): the arrays, and the rest as JSON text."""
        meta = {"candidates": self.answers.candidates, "epochs": self.answers.epochs, "c": self.c,
                "losses": self.losses, "mixes": self.mixes,
                "heads": None if self.heads is None else sorted(self.heads)}
        arrays = {"labels": self.answers.labels, "meta": np.asarray(json.dumps(meta))}
        if self.answers.readouts is not None:
            arrays["readouts"] = self.answers.readouts
        for h, p in (self.heads or {}).items():
            arrays[f"head_{h}"] = p
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path) -> InnerOutcome:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            readouts = z["readouts"] if "readouts" in z.files else None
            heads = None if meta["heads"] is None else {h: z[f"head_{h}"] for h in meta["heads"]}
            labels = z["labels"]
        return cls(ValAnswers(labels, list(meta["candidates"]), readouts, int(meta["epochs"])),
                   {k: float(v) for k, v in meta["c"].items()}, [float(x) for x in meta["losses"]],
                   [float(x) for x in meta["mixes"]], heads)


def inner_parts(setup: TrainSetup, pool: np.ndarray, seed: int) -> list[np.ndarray]:
    """The inner folds' validation parts (positions into ``pool``), speaker-grouped where speakers are known."""
    clipset = setup.clipset
    return inner_folds(clipset.labels[pool], [clipset.speakers[i] for i in pool], setup.config.train.inner_folds,
                       seed)


def inner_outcome_path(fdir: Path, j: int) -> Path:
    return fdir / f"inner{j}" / OUTCOME


def inner_run(setup: TrainSetup, pool: np.ndarray, parts: list[np.ndarray], j: int, fdir: Path, stage: str,
              seed: int) -> InnerOutcome:
    """Inner run ``j``: trained on ``pool`` without part ``j`` and validated on it (in ``fdir/innerJ``,
    resumable), its outcome written there; read back when it was written before."""
    path = inner_outcome_path(fdir, j)
    if path.is_file():
        return InnerOutcome.load(path)
    val = pool[parts[j]]
    train = pool[np.setdiff1d(np.arange(len(pool)), parts[j])]
    plan = FitPlan(train, val, fdir / f"inner{j}", f"{stage} inner {j + 1}/{len(parts)}", seed + 31 * (j + 1),
                   record=True)
    model, std, track = fit(setup, plan)
    # the run's kept model on its validation speakers
    heads = validation_heads(setup, model, std, val) if fits_fusion(setup.config) else None
    readouts = np.asarray(track.readout_correct, dtype=bool) if track.readout_correct is not None else None
    # the order the candidates were recorded in
    mixes = candidate_mixes(model.readout_weights() if isinstance(model, ReadoutMixin) else ())
    outcome = InnerOutcome(ValAnswers(setup.clipset.labels[val], track.candidates, readouts, track.epoch),
                           fitted_c(model), [h.loss for h in track.history], mixes, heads)
    outcome.save(path)
    return outcome


def inner_choice(setup: TrainSetup, pool: np.ndarray, fdir: Path, stage: str, seed: int
                 ) -> tuple[PooledChoice, dict[str, float] | None, list[EpochLog], FusionChoice | None]:
    """``train.inner_folds``: a model trained on each inner training part of ``pool`` (:func:`inner_run`; those
    run already, e.g. by workers, are read back), the choice (epochs, read-out weight) made on their validation
    answers pooled (:func:`~avemotion.training.selection.choose_pooled`); also the read-outs' C (median over the
    inner runs), the pooled learning curve, and the heads' fusion fitted on the inner runs' heads pooled (None
    unless :func:`~avemotion.training.fusion.fits_fusion`)."""
    parts = inner_parts(setup, pool, seed)
    outcomes = [inner_run(setup, pool, parts, j, fdir, stage, seed) for j in range(len(parts))]
    runs = [o.answers for o in outcomes]
    mixes = outcomes[-1].mixes if outcomes else [0.0]
    choice = choose_pooled(runs, mixes)
    history = [EpochLog(e, float(np.mean([o.losses[e] for o in outcomes])), ua)
               for e, ua in enumerate(choice.curve)]
    verdict = ("read-outs alone" if choice.epoch < 0 else
               f"{choice.epoch + 1} epochs" + (f", read-out weight {choice.mix:g}" if choice.mix else ""))
    log(f"{stage}: pooled over {len(parts)} inner folds: {verdict} (validation UA {choice.ua:.3f}"
        + (f"; cross-fitted network {choice.network_ua:.3f} vs read-outs {choice.readout_ua:.3f}"
           if choice.network_ua is not None and choice.readout_ua is not None else "") + ")")
    fusion = None
    if fits_fusion(setup.config):
        y = np.concatenate([r.labels for r in runs])
        heads = [o.heads or {} for o in outcomes]
        pooled = {h: np.concatenate([hp[h] for hp in heads]) for h in heads[0]}
        fusion = choose_fusion(setup.config, y, pooled, seed, stage)
    return choice, median_c([o.c for o in outcomes]), history, fusion
