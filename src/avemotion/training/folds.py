"""The fold runner: one fold of a run folder trained, tested and written as ``folds/k/result.json`` (a fold
with a result is done and read back), and the final model of ``avemotion train``. Used by ``train`` and
``compare``, for the deep models and the classical baselines alike.

A deep model's fold, by the config: early stopping on the fold's validation clips; or with ``train.refit``
that choice trained again on training + validation clips; or with ``train.inner_folds`` the choice made on
inner folds of training + validation clips (:mod:`avemotion.training.inner`: each inner run can be a worker's
task of its own, :func:`pending_inner_runs` / :func:`run_inner`), then trained on all of them."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avemotion.data.selection import FeatureSelection
from avemotion.labels import LabelSet
from avemotion.models.bundle import ModelBundle, checkpoint_exists
from avemotion.models.calibration import fit_temperature
from avemotion.models.classical import CLASSICAL
from avemotion.models.predict import predict_clips
from avemotion.models.readout import fitted_c
from avemotion.training.classical import classical_fold_result
from avemotion.training.fit import FitPlan, TrainSetup, fit_members, train_and_val
from avemotion.training.fusion import FusionChoice, choose_fusion, fits_fusion, median_fusion, validation_heads
from avemotion.training.inner import OUTCOME, inner_choice, inner_outcome_path, inner_parts, inner_run
from avemotion.training.results import FoldResult, TrainTrack
from avemotion.training.selection import median_c, min_epochs
from avemotion.training.splits import Fold
from avemotion.utils.atomic import atomic_write_json
from avemotion.utils.progress import muted


@dataclass(frozen=True)
class FoldJob:
    """The folds of one model in one run folder: the shared training setup, what a saved model needs beside
    itself (feature selection, label set), the folder, the number of folds, and each clip's position."""

    setup: TrainSetup
    selection: FeatureSelection
    label_set: LabelSet
    rundir: Path
    n_folds: int
    pos: dict[str, int]  # clip id -> position in setup.clipset
    #: a final model follows the folds (``avemotion train``, ``train.final_model: all``): the inner runs' outcomes
    #: stay until it is trained (:func:`fit_final` makes its choices from them), not only until the fold's end
    final: bool = False
    #: the run's name in progress bars and log lines, where several runs share the workers ("" for one run)
    name: str = ""


def run_fold(job: FoldJob, fold: Fold) -> FoldResult:
    """The fold's result: read from ``folds/k/result.json`` when it exists, else trained (a classical baseline
    by :mod:`avemotion.training.classical`, a deep model as described above), written there and returned."""
    done = finished_fold(job, fold)
    if done is not None:
        return done
    fdir = job.rundir / "folds" / str(fold.index)
    result_path = fdir / "result.json"
    seed = fold_seed(job, fold)
    if job.setup.model_name in CLASSICAL:
        result, extra = classical_fold_result(job.setup.model_name, fold, job.pos, job.setup.clipset,
                                              job.setup.dims, seed)
        fdir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(result_path, {**result.to_dict(), **extra})
        return result
    fdir.mkdir(parents=True, exist_ok=True)
    result = _deep_fold(job, fold, fdir, seed)
    atomic_write_json(result_path, result.to_dict())
    _drop_states(fdir, job.setup.config.train.ensemble, job.setup.config.train.inner_folds,
                 keep_outcomes=job.final)
    return result


def fold_seed(job: FoldJob, fold: Fold) -> int:
    return job.setup.config.train.seed + 1000 * fold.index


def _stage(job: FoldJob, fold: Fold | None) -> str:
    """The progress name of a fold's runs (``None``: the final model), after the run's name if it has one."""
    stage = "final model" if fold is None else f"fold {fold.index + 1}/{job.n_folds}"
    return f"{job.name} {stage}" if job.name else stage


def _inner_pool(job: FoldJob, fold: Fold) -> np.ndarray | None:
    """The clips a fold's inner folds share out (its training + validation clips); None when the fold makes
    its choice without inner folds (a classical model, ``train.inner_folds`` below 2, or no validation part)."""
    if (job.setup.model_name in CLASSICAL or job.setup.config.train.inner_folds < 2 or fold.val_is_train):
        return None
    idx = fold.indices(job.pos)
    return train_and_val(idx["train"], idx["val"])


def pending_inner_runs(job: FoldJob, fold: Fold) -> list[int]:
    """The inner runs of an unfinished fold that have no outcome yet (tasks of their own for parallel
    workers; the fold's own task reads their outcomes back)."""
    pool = _inner_pool(job, fold)
    if pool is None or finished_fold(job, fold) is not None:
        return []
    fdir = job.rundir / "folds" / str(fold.index)
    parts = inner_parts(job.setup, pool, fold_seed(job, fold))
    return [j for j in range(len(parts)) if not inner_outcome_path(fdir, j).is_file()]


def run_inner(job: FoldJob, fold: Fold, j: int) -> None:
    """Inner run ``j`` of a fold, its outcome written to ``folds/k/innerJ/``
    (:func:`~avemotion.training.inner.inner_run`)."""
    pool = _inner_pool(job, fold)
    assert pool is not None
    seed = fold_seed(job, fold)
    inner_run(job.setup, pool, inner_parts(job.setup, pool, seed), j, job.rundir / "folds" / str(fold.index),
              _stage(job, fold), seed)


def finished_fold(job: FoldJob, fold: Fold) -> FoldResult | None:
    """The fold's result when ``folds/k/result.json`` holds it (the fold is done), else None."""
    result_path = job.rundir / "folds" / str(fold.index) / "result.json"
    if result_path.is_file():
        return FoldResult.from_dict(json.loads(result_path.read_text()))
    return None


def _deep_fold(job: FoldJob, fold: Fold, fdir: Path, seed: int) -> FoldResult:
    setup, config, clipset = job.setup, job.setup.config, job.setup.clipset
    idx = fold.indices(job.pos)
    same_val = fold.val_is_train
    stage = _stage(job, fold)
    fusion = None  # how the heads meet, fitted on validation speakers (training/fusion.py)
    pool = _inner_pool(job, fold)
    if pool is not None:
        # the choice on inner folds of training + validation clips, then the fold's model trained on all of
        # them
        choice, c_median, history, fusion = inner_choice(setup, pool, fdir, stage, seed)
        epochs = max(min_epochs(config), choice.epoch + 1)
        model, std, _ = fit_members(setup, FitPlan(pool, None, fdir / "refit", f"{stage} refit", seed, epochs,
                                                   choice.mix, c_median))
        track = TrainTrack(epoch=len(history), best_ua=choice.ua, best_epoch=choice.epoch, history=history,
                           best_mix=choice.mix)
    else:
        model, std, track = fit_members(setup, FitPlan(idx["train"], idx["val"], fdir, stage, seed))
        if fits_fusion(config) and not same_val:
            fusion = choose_fusion(config, clipset.labels[idx["val"]],
                                   validation_heads(setup, model, std, idx["val"]), seed, stage)
        if config.train.refit and not same_val:
            # the epoch count (and read-out weight and C) chosen on the validation clips, trained again on
            # both
            epochs = max(min_epochs(config), track.best_epoch + 1)  # best_epoch -1: the read-outs alone
            model, std, _ = fit_members(setup, FitPlan(train_and_val(idx["train"], idx["val"]), None,
                                                       fdir / "refit", f"{stage} refit", seed, epochs,
                                                       track.best_mix, fitted_c(model) or None))
    if fusion is not None:
        fusion.apply(model)
    bundle = ModelBundle(setup.model_name, model, config, list(job.label_set.labels),
                         job.label_set.grade_values(), job.selection, std,
                         {"fold": fold.index, "best_epoch": track.best_epoch, "val_ua": track.best_ua,
                          **({"readout_weight": track.best_mix} if track.best_mix else {}),
                          **(fusion.info() if fusion is not None else {})})
    bundle.save(fdir / "model")
    preds = predict_clips(model, clipset.subset(idx["test"]), setup.dims, std, config.train.batch_size)
    return FoldResult(fold.index, list(fold.test), clipset.labels[idx["test"]].tolist(), track.best_epoch,
                      track.epoch, track.best_ua, preds, same_val, track.history, track.best_mix,
                      fitted_c(model), fusion.info() if fusion is not None else None)


def _drop_states(fdir: Path, ensemble: int, n_inner: int, keep_outcomes: bool = False) -> None:
    """Remove the training states of a finished fold's runs (members, refit, inner folds) and, unless
    ``keep_outcomes``, the inner runs' outcomes."""
    members = [Path(f"m{i}") for i in range(ensemble)]
    runs = [Path(), Path("refit"), *members, *(Path("refit") / m for m in members),
            *(Path(f"inner{j}") for j in range(n_inner))]
    for state in [fdir / sub / "state" for sub in runs]:
        for suffix in (".safetensors", ".json"):
            state.with_suffix(suffix).unlink(missing_ok=True)
    if not keep_outcomes:
        _drop_outcomes(fdir, n_inner)


def _drop_outcomes(fdir: Path, n_inner: int) -> None:
    for j in range(n_inner):
        (fdir / f"inner{j}" / OUTCOME).unlink(missing_ok=True)


def heldout_temperature(fold_results: list[FoldResult]) -> float:
    """The calibration temperature fitted on every fold's test answers (speakers the fold model never saw)."""
    if not fold_results:
        return 1.0
    probs = np.concatenate([r.probs for r in fold_results])
    y = np.concatenate([np.asarray(r.y_true, np.int64) for r in fold_results])
    return fit_temperature(probs, y)


@dataclass(frozen=True)
class FoldChoice:
    """What the final model takes from each fold: its epochs, read-out weight and C, head fusion. Made from the
    fold's inner runs before its refit (:func:`fold_choice`), or read from its result (:meth:`of`): the same
    values either way."""

    best_epoch: int
    readout_weight: float
    readout_c: dict[str, float]
    fusion: dict | None

    @classmethod
    def of(cls, result: FoldResult) -> FoldChoice:
        return cls(result.best_epoch, result.readout_weight, result.readout_c, result.fusion)


def fold_choice(job: FoldJob, fold: Fold) -> FoldChoice:
    """The choices of a fold for the final model: read from its result when it is done, else made from its
    inner runs' outcomes as the fold's own task makes them (without repeating its messages)."""
    done = finished_fold(job, fold)
    if done is not None:
        return FoldChoice.of(done)
    pool = _inner_pool(job, fold)
    assert pool is not None, "the final model's choices come before the refits only with inner folds"
    with muted():
        choice, c_median, _, fusion = inner_choice(job.setup, pool, job.rundir / "folds" / str(fold.index),
                                                   _stage(job, fold), fold_seed(job, fold))
    return FoldChoice(choice.epoch, choice.mix, c_median or {}, fusion.info() if fusion is not None else None)


def final_ahead(job: FoldJob, folds: list[Fold]) -> bool:
    """Whether the final model can be trained as soon as the folds' inner runs are done, before their refits
    (a worker's task): a final model on every clip, not yet saved, every unfinished fold choosing on inner
    folds."""
    config = job.setup.config
    return (job.final and config.train.final_model == "all" and not checkpoint_exists(job.rundir / "model")
            and all(finished_fold(job, f) is not None or _inner_pool(job, f) is not None for f in folds))


def fit_final(job: FoldJob, choices: Sequence[FoldChoice]) -> ModelBundle:
    """The final model trained on every clip for the folds' median number of epochs and read-out weight (no
    clip left for validation), their median C and fusion; saved to ``final/model`` (read back when it exists)
    without the calibration temperature, which needs every fold's test answers (:func:`final_model` adds it)."""
    setup, config, rundir = job.setup, job.setup.config, job.rundir
    fdir = rundir / "final"
    if checkpoint_exists(fdir / "model"):
        return ModelBundle.load(fdir / "model")
    epochs = int(np.median([r.best_epoch + 1 for r in choices])) if choices else config.train.epochs
    mix = float(np.median([r.readout_weight for r in choices])) if choices else 0.0
    if config.model.linear_readout == "select" and choices:
        # the read-outs' weight the folds chose (median); the network's epochs from the folds that used it
        used = [r.best_epoch + 1 for r in choices if r.best_epoch >= 0]
        epochs = 0 if mix >= 1.0 else int(np.median(used)) if used else config.train.epochs
    epochs = max(min_epochs(config), epochs)
    fdir.mkdir(parents=True, exist_ok=True)
    all_idx = np.arange(len(setup.clipset))
    plan = FitPlan(all_idx, None, fdir, _stage(job, None), config.train.seed + 999_983, epochs, mix,
                   median_c([r.readout_c for r in choices]))
    model, std, _ = fit_members(setup, plan)
    fusion = median_fusion(config, [FusionChoice.from_info(r.fusion) for r in choices])
    if fusion is not None:
        fusion.apply(model)
    bundle = ModelBundle(setup.model_name, model, config, list(job.label_set.labels),
                         job.label_set.grade_values(), job.selection, std,
                         {"fold": "all", "epochs": epochs, **({"readout_weight": mix} if mix else {}),
                          **(fusion.info() if fusion is not None else {})})
    bundle.save(fdir / "model")
    return bundle


def final_model(job: FoldJob, fold_results: list[FoldResult]) -> ModelBundle:
    """The run's ``model.*``: the best fold's (``train.final_model: best_fold``), or trained on every clip
    (:func:`fit_final`; by a worker already when the folds ran in parallel); read back when it exists. Either
    way with the temperature that calibrates the folds' held-out answers (:func:`heldout_temperature`) in its
    ``info``. The inner runs' outcomes the folds kept for it are removed afterwards."""
    config, rundir = job.setup.config, job.rundir
    if checkpoint_exists(rundir / "model"):
        return ModelBundle.load(rundir / "model")
    temperature = heldout_temperature(fold_results)
    if config.train.final_model == "best_fold":
        best = max(fold_results, key=lambda r: r.val_ua)
        bundle = ModelBundle.load(rundir / "folds" / str(best.fold) / "model")
    else:
        bundle = fit_final(job, [FoldChoice.of(r) for r in fold_results])
    bundle.info["temperature"] = temperature
    bundle.save(rundir / "model")
    shutil.rmtree(rundir / "final", ignore_errors=True)
    for r in fold_results:
        _drop_outcomes(rundir / "folds" / str(r.fold), config.train.inner_folds)
    return bundle
