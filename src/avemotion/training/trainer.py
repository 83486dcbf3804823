"""``avemotion train``: cross-validated training of one model on a feature store, then the final model.

Run folder layout (``RUNDIR``)::

    config.yaml           effective config            run.json      model, modality, store, config hash
    splits.json           the folds (clip ids)        metrics.json  pooled + per-fold metrics, latency
    folds/k/state.*       last-epoch training state of an unfinished fold (model, best model, AdamW, RNG)
    folds/k/innerJ/state.*  the same for inner fold J (train.inner_folds), with its candidates' answers
    folds/k/model.*       the fold's best model       folds/k/result.json  its test predictions (= done)
    final/state.*         state of the final model's training (``final_model: all``)
    model.*               the model ``avemotion predict`` uses
    predictions.csv  confusion.png

A rerun with the same config skips finished folds and resumes an unfinished one from its last epoch: the
training RNG state is checkpointed too, so an interrupted run ends with exactly the result of an
uninterrupted one. The parts: run set-up (:mod:`~avemotion.training.run_setup`), the fold runner
(:mod:`~avemotion.training.folds`), one training run (:mod:`~avemotion.training.fit`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from avemotion.config import Config
from avemotion.data.clipset import ClipSet
from avemotion.data.dims import FeatureDims
from avemotion.data.normalize import MIN_CLIPS, normalize_clipset
from avemotion.data.selection import FeatureSelection
from avemotion.data.standardize import Standardizer
from avemotion.data.store import FeatureStore
from avemotion.labels import LabelSet
from avemotion.models.base import EmotionModel
from avemotion.training.fit import EpochHook, TrainSetup
from avemotion.training.folds import FoldJob, final_model
from avemotion.training.latency import time_clips
from avemotion.training.parallel import SEQUENTIAL, Execution, run_folds
from avemotion.training.results import FoldResult
from avemotion.training.run_setup import (
    RUN_RECORD,
    load_or_make_splits,
    refuse_other_setup,
    resolve_group_by,
    resolve_label_set,
    run_hash,
    training_torch_settings,
)
from avemotion.training.selection import resolve_readout
from avemotion.training.splits import Splits
from avemotion.utils.atomic import atomic_write_json
from avemotion.utils.progress import log


@dataclass
class RunResult:
    metrics: dict
    rundir: Path


@dataclass(frozen=True)
class RunSpec:
    """One ``avemotion train`` run: the store, the run folder, the config and the model (default
    ``model.name``)."""

    features: str | Path
    rundir: str | Path
    config: Config
    model_name: str | None = None


@dataclass
class _PreparedRun:
    """A run ready for its folds: its fold job and splits, and what its report needs."""

    job: FoldJob
    splits: Splits
    clipset: ClipSet
    label_set: LabelSet
    t_start: float


def run_training(features: str | Path, rundir: str | Path, config: Config, model_name: str | None = None,
                 on_epoch_end: EpochHook | None = None, execution: Execution = SEQUENTIAL) -> RunResult:
    """Train ``model_name`` (default ``model.name``) on the store ``features`` into ``rundir``: the folds, the
    final model and the report; resumes a run of the same setup, refuses a folder holding another.
    ``execution``: where the folds run (:mod:`~avemotion.training.parallel`; the same numbers every way)."""
    return run_trainings([RunSpec(features, rundir, config, model_name)], on_epoch_end, execution)[0]


def run_trainings(runs: Sequence[RunSpec], on_epoch_end: EpochHook | None = None,
                  execution: Execution = SEQUENTIAL) -> list[RunResult]:
    """:func:`run_training` for each run, the results in the order given. In parallel, the folds (and inner
    runs and final models) of every run are tasks of one pool: no worker idles while one run's last tasks end
    and the next run is set up, and the workers start once; each run's numbers are those it has alone. (Its
    ``train_seconds`` in ``metrics.json`` is then the wall time from its set-up to its report, the other
    runs' work included.)"""
    results: list[RunResult] = []
    batches = [[r] for r in runs] if execution.sequential else [list(runs)]
    for batch in batches:
        # several runs at once: each one's progress and log lines named after its folder
        prepared = [_prepare_run(r, on_epoch_end, execution, Path(r.rundir).name if len(batch) > 1 else "")
                    for r in batch]
        tasks = [(p.job, fold) for p in prepared for fold in p.splits.folds]
        with training_torch_settings(prepared[0].job.setup.config.train):
            done = iter(run_folds(tasks, execution))
            fold_results = [[next(done) for _ in p.splits.folds] for p in prepared]
        results += [_finish_run(p, r) for p, r in zip(prepared, fold_results, strict=True)]
    return results


def _prepare_run(run: RunSpec, on_epoch_end: EpochHook | None, execution: Execution, name: str = ""
                 ) -> _PreparedRun:
    t_start = time.perf_counter()
    config = run.config
    model_name = run.model_name or config.model.name
    if model_name != config.model.name:
        config = config.with_overrides({"model.name": model_name})
    rundir = Path(run.rundir)
    store = FeatureStore(run.features)
    label_set = resolve_label_set(store)
    this_run = run_hash(config, model_name, store)
    run_json = rundir / RUN_RECORD
    refuse_other_setup(run_json, "run_hash", this_run, "this folder holds a run with another config, model "
                       "or feature store; choose a new --out or delete it to start over", rundir)
    rundir.mkdir(parents=True, exist_ok=True)
    config.save(rundir / "config.yaml")
    records, feats = store.load_all()
    selection = FeatureSelection.fit(feats, config.train.modality, config.audio.extractors, store.root,
                                     label_set.labels, config.audio.speed_views, config.video.groups)
    group_by = resolve_group_by(config.train, store)
    clipset = ClipSet.build(records, feats, selection, label_set.labels, store.root, group_by=group_by)
    if len(clipset) < len(records):
        log(f"note: {len(records) - len(clipset)} clips have no {config.train.modality!r} features and are "
            "left out")
    clipset, unnormalised = normalize_clipset(clipset, records, config.train.normalize, selection.dims)
    if unnormalised and config.train.normalize != "global":
        log(f"note: {unnormalised} clips have no {config.train.normalize} with at least {MIN_CLIPS} clips "
            "and keep their global standardisation only")
    del feats
    dims = selection.dims
    atomic_write_json(run_json, {"run_hash": this_run, "model": model_name, "modality": config.train.modality,
                                 "features": str(Path(run.features).resolve()), "labels": list(label_set.labels),
                                 "label_set": label_set.name, "dims": dims.to_dict(), "n_clips": len(clipset),
                                 "selection": selection.to_dict()})
    splits = load_or_make_splits(rundir / "splits.json", clipset.clip_ids, clipset.labels, clipset.speakers,
                                 config.train, check_clips=True)
    log(f"{len(clipset)} clips, {len(label_set)} classes, modality {config.train.modality}, "
        f"dims {dims.to_dict()}, folds grouped by {group_by}; {splits.describe()}")
    for note in splits.notes:
        log(f"note: {note}")
    pos = {c: i for i, c in enumerate(clipset.clip_ids)}
    config = resolve_readout(config, [clipset.labels[[pos[c] for c in f.train]] for f in splits.folds])
    setup = TrainSetup(model_name, config, clipset, dims, on_epoch_end, execution.device)
    job = FoldJob(setup, selection, label_set, rundir, len(splits.folds), pos, final=True, name=name)
    return _PreparedRun(job, splits, clipset, label_set, t_start)


def _finish_run(run: _PreparedRun, fold_results: list[FoldResult]) -> RunResult:
    """The final model, its latency and the report of a run whose folds are done."""
    from avemotion.training.report import write_report

    job = run.job
    config = job.setup.config
    with training_torch_settings(config.train):
        bundle = final_model(job, fold_results)
        latency = measure_latency(bundle.model, run.clipset, job.setup.dims, bundle.standardizer)
    metrics = write_report(job.rundir, run.clipset, run.label_set, fold_results, config, job.setup.model_name,
                           run.splits, latency, time.perf_counter() - run.t_start)
    return RunResult(metrics, job.rundir)


def measure_latency(model: EmotionModel, clipset: ClipSet, dims: FeatureDims, std: Standardizer,
                    n: int = 100) -> dict:
    """Per-clip model latency for metrics.json: the model alone (inputs collated beforehand), batch 1, one
    thread."""
    clips = [clipset.features[i % len(clipset)] for i in range(min(n, max(len(clipset), 1)))]
    return time_clips(model, clips, dims, std, include_collate=False).to_dict()
