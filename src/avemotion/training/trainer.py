"""The training loop: AdamW, early stopping on validation UA, seeded, deterministic on CPU, resumable.

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
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avemotion.config import Config, TrainConfig
from avemotion.data.batch import (
    ClipSet,
    FeatureDims,
    FeatureSelection,
    Standardizer,
    iterate_batches,
    mix_batch,
)
from avemotion.data.normalize import MIN_CLIPS, normalize_clipset
from avemotion.data.store import FeatureStore
from avemotion.errors import AvemotionError
from avemotion.labels import LabelSet, get_label_set
from avemotion.models.base import EmotionModel, build_model
from avemotion.models.ensemble import Ensemble
from avemotion.models.bundle import (
    ModelBundle,
    checkpoint_exists,
    load_checkpoint,
    load_state_checked,
    save_checkpoint,
)
from avemotion.models.predict import predict_clips
from avemotion.training.losses import balanced_weights, total_loss
from avemotion.training.latency import time_clips
from avemotion.training.metrics import compute_metrics, paired_ua_se
from avemotion.training.results import EpochLog, FoldResult, TrainTrack
from avemotion.training.selection import PooledChoice, ValAnswers, choose_pooled, pack_correct
from avemotion.training.splits import Fold, Splits, inner_folds, make_splits
from avemotion.utils.atomic import atomic_write_json
from avemotion.utils.progress import log, progress

EpochHook = Callable[[str, int], None]  # (stage name e.g. "fold 0" / "final", finished epoch index)


# --- one training run (a fold, or the final model) ------------------------------------------------------
def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    sd = opt.state_dict()
    tensors = {}
    for pid, st in sd["state"].items():
        for name, value in st.items():
            tensors[f"opt.{pid}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, sd["param_groups"]


def _optimizer_restore(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": groups})


@dataclass(frozen=True)
class ValScore:
    """A model on the validation clips: UA, mean NLL, and which clips it gets right."""

    ua: float
    loss: float
    correct: np.ndarray  # (N,) bool


def _evaluate_ua(model: EmotionModel, clipset: ClipSet, idx: np.ndarray, dims: FeatureDims, std: Standardizer,
                 batch_size: int) -> ValScore:
    preds = predict_clips(model, clipset.subset(idx), dims, std, batch_size)
    y = clipset.labels[idx]
    pred = preds.probs.argmax(1)
    m = compute_metrics(y, pred, None, clipset.label_names, None)
    nll = float(-np.log(np.clip(preds.probs[np.arange(len(y)), y], 1e-8, None)).mean())
    return ValScore(m["ua"], nll, pred == y)


def _readout_margin(y: np.ndarray, candidate: np.ndarray, readouts: list[bool] | None, n_se: float) -> float:
    """How much a candidate's validation UA must exceed the read-outs' alone (``train.readout_margin`` standard
    errors of the paired difference, :func:`paired_ua_se`). The network's epochs and mixes are many candidates
    against one, judged on a few validation speakers: without a margin, the best of them beats the read-outs by
    chance alone (docs/method/model.md)."""
    if n_se <= 0 or readouts is None:
        return 0.0
    return n_se * paired_ua_se(y, candidate, np.asarray(readouts, dtype=bool))


def candidate_mixes(mixes: tuple[float, ...]) -> list[float]:
    """The read-out weights an epoch is scored with: the network alone, then averaged with the read-outs (only the
    network without read-outs)."""
    return [m for m in mixes if m < 1.0] or [0.0]


def fit(model_name: str, config: Config, clipset: ClipSet, dims: FeatureDims, train_idx: np.ndarray,
        val_idx: np.ndarray | None, workdir: Path, stage: str, seed: int, epochs: int | None = None,
        on_epoch_end: EpochHook | None = None, readout_weight: float = 0.0, readout_c: dict[str, float] | None = None,
        record: bool = False) -> tuple[EmotionModel, Standardizer, TrainTrack]:
    """Train one model; early stopping on validation UA when ``val_idx`` is given, else ``epochs`` epochs.

    A model with linear read-outs (``model.linear_readout=select``) has them fitted first; with validation clips
    the kept state is the best of: the read-outs alone, and after each epoch the network alone and the average
    of both (ties go to the earlier candidate; an epoch replaces the read-outs alone only by more than
    ``train.readout_margin`` standard errors, :func:`_readout_margin`); without, ``readout_weight`` is used, and
    ``readout_c`` (C per head, else the default) for the read-outs' fit. ``record``: keep every candidate's
    validation answers in the track (``candidates``, ``readout_correct``) for :func:`_inner_choice`.
    The state after every epoch goes to ``workdir/state.*``; when it exists, training resumes from it.
    """
    tc = config.train
    n_epochs = tc.epochs if epochs is None else epochs
    std = Standardizer.fit(clipset.subset(train_idx), dims, tc.max_abs_z)
    class_weights = (balanced_weights(clipset.labels[train_idx], len(clipset.label_names))
                     if tc.class_weights == "balanced" else None)
    torch.manual_seed(seed)
    model = build_model(model_name, dims, len(clipset.label_names), config.model)
    if not any(True for _ in model.parameters()):  # nothing to learn (e.g. video-only with video_prior=zero_shot)
        track = TrainTrack()
        if val_idx is not None:
            score = _evaluate_ua(model.eval(), clipset, val_idx, dims, std, tc.batch_size)
            track.best_ua, track.best_loss = score.ua, score.loss
        return model.eval(), std, track
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=tc.lr,
                            weight_decay=tc.weight_decay)
    state_stem = workdir / "state"
    resuming = checkpoint_exists(state_stem)
    # validation clips of their own (small-data folds validate on the training clips)
    own_val = val_idx is not None and not np.isin(val_idx, train_idx).all()
    if not resuming:  # a resumed run has the read-outs in its checkpoint
        val_batches = iterate_batches(clipset, val_idx, tc.batch_size, dims, std) if own_val else None
        model.prefit(iterate_batches(clipset, train_idx, tc.batch_size, dims, std), val_batches,
                     len(clipset.label_names), readout_c)
    mixes = model.readout_weights()
    record = record and val_idx is not None
    track = TrainTrack()
    if mixes and not resuming:
        if val_idx is not None:
            # the read-outs alone are the first candidate: the network must beat them on the validation clips
            model.set_readout_weight(1.0)
            score = _evaluate_ua(model.eval(), clipset, val_idx, dims, std, tc.batch_size)
            log(f"{stage}: linear read-outs (C {model.readout_c()}) validation UA {score.ua:.3f}")
            track.best_ua, track.best_loss, track.best_mix = score.ua, score.loss, 1.0
            if tc.readout_margin > 0 or record:  # the reference of the margin / the inner choice (kept for a resume)
                track.readout_correct = score.correct.tolist()
        else:  # no validation: the weight given (the final model: the folds' median)
            model.set_readout_weight(readout_weight)
            track.best_mix = readout_weight
    best_state = copy.deepcopy(model.state_dict())
    if resuming:
        tensors, meta = load_checkpoint(state_stem)
        load_state_checked(model, tensors, state_stem.with_suffix(".safetensors"), "model.")
        best_model = build_model(model_name, dims, len(clipset.label_names), config.model)
        load_state_checked(best_model, tensors, state_stem.with_suffix(".safetensors"), "best.")
        best_state = best_model.state_dict()
        _optimizer_restore(opt, tensors, meta["param_groups"])
        torch.set_rng_state(tensors["rng"])
        track = TrainTrack.from_dict(meta["track"])
        log(f"{stage}: resuming after epoch {track.epoch}")
    bar = progress(total=n_epochs, initial=track.epoch, desc=stage, unit="epoch")

    def save_state() -> None:
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        tensors.update({f"best.{k}": v for k, v in best_state.items()})
        opt_t, groups = _optimizer_tensors(opt)
        tensors.update(opt_t)
        tensors["rng"] = torch.get_rng_state()
        save_checkpoint(state_stem, tensors, {"kind": "state", "stage": stage, "track": track.to_dict(),
                                               "param_groups": groups})

    # The state (model, best model, optimiser, RNG) is saved at most every ``checkpoint_seconds`` (it is about
    # 4x the model's size), after the last epoch, and when the run is interrupted between epochs.
    last_save = time.monotonic()
    unsaved = False  # epochs finished since the last save
    between_epochs = True  # model, optimiser and track agree (not in the middle of an epoch)
    try:
        while track.epoch < n_epochs and (val_idx is None or track.bad < tc.patience):
            between_epochs = False
            epoch = track.epoch
            gen = torch.Generator().manual_seed(seed * 100003 + epoch)
            model.train()
            losses = []
            for batch in iterate_batches(clipset, train_idx, tc.batch_size, dims, std, gen):
                if tc.mixup > 0 and len(batch) > 1:
                    # drawn from the epoch's seeded generator, so a resumed run mixes exactly as an uninterrupted one
                    lam = float(np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=gen))).beta(
                        tc.mixup, tc.mixup))
                    perm = torch.randperm(len(batch), generator=gen)
                    out = model(mix_batch(batch, perm, lam))
                    loss = (lam * total_loss(out, batch.labels, config.model, class_weights, tc.label_smoothing)[0]
                            + (1 - lam) * total_loss(out, batch.labels[perm], config.model, class_weights,
                                                     tc.label_smoothing)[0])
                else:
                    out = model(batch)
                    loss, _ = total_loss(out, batch.labels, config.model, class_weights, tc.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                opt.step()
                losses.append(float(loss.detach()))
            entry = EpochLog(epoch, float(np.mean(losses)))
            if val_idx is not None:
                improved = False
                for mix in candidate_mixes(mixes):  # the network alone, then averaged with the read-outs
                    if mixes:
                        model.set_readout_weight(mix)
                    score = _evaluate_ua(model, clipset, val_idx, dims, std, tc.batch_size)
                    ua, vloss = score.ua, score.loss
                    if mix == 0.0:
                        entry.val_ua, entry.val_loss = ua, vloss
                        # patience follows the network's own progress, as without read-outs: a strong read-out must
                        # not stop a network that is still improving
                        if mixes and (ua > track.net_best_ua + 1e-9 or (abs(ua - track.net_best_ua) <= 1e-9
                                                                        and vloss < track.net_best_loss)):
                            track.net_best_ua, track.net_best_loss, improved = ua, vloss, True
                    # against the read-outs alone (best_epoch -1) only a better UA counts, not a lower loss at equal
                    # UA: on a validation set that is the training set (small-data folds) both fit it perfectly
                    tie_break = track.best_epoch >= 0 or not mixes
                    # against the read-outs alone, a margin for the many candidates (train.readout_margin)
                    margin = (_readout_margin(clipset.labels[val_idx], score.correct, track.readout_correct,
                                              tc.readout_margin) if mixes and track.best_epoch < 0 else 0.0)
                    if record:
                        track.candidates.append(pack_correct(score.correct))
                    if ua > track.best_ua + margin + 1e-9 or (tie_break and abs(ua - track.best_ua) <= 1e-9
                                                               and vloss < track.best_loss):
                        track.best_ua, track.best_loss, track.best_epoch, track.best_mix = ua, vloss, epoch, mix
                        best_state = copy.deepcopy(model.state_dict())
                        improved = improved or not mixes
                track.bad = 0 if improved else track.bad + 1
            else:
                best_state = copy.deepcopy(model.state_dict())
                track.best_epoch = epoch
            track.history.append(entry)
            track.epoch = epoch + 1
            between_epochs = unsaved = True
            if time.monotonic() - last_save >= tc.checkpoint_seconds:
                save_state()
                last_save, unsaved = time.monotonic(), False
            bar.update(1)
            post = {"loss": f"{entry.loss:.3f}"}
            if val_idx is not None:
                kept = {1.0: "read-outs", 0.5: f"{track.best_epoch + 1}+read-outs"}.get(track.best_mix,
                                                                                 str(track.best_epoch + 1))
                post.update(val_ua=f"{entry.val_ua:.3f}", best=f"{track.best_ua:.3f}@{kept}")
            bar.set_postfix(post)
            if on_epoch_end is not None:
                on_epoch_end(stage, epoch)
    except BaseException:
        if unsaved and between_epochs:
            save_state()  # keep the finished epochs of an interrupted run
        raise
    bar.close()
    model.load_state_dict(best_state)
    if mixes and track.best_mix > 0 and own_val and not tc.refit:
        # the read-outs are used: refitted on training + validation clips with the C chosen on the validation clips
        # (as the logreg baseline does); with train.refit the fold trains the whole model again on both instead
        model.prefit(iterate_batches(clipset, _train_and_val(train_idx, val_idx), tc.batch_size, dims, std), None,
                     len(clipset.label_names), model.readout_c())
    model.eval()
    return model, std, track


def fit_members(model_name: str, config: Config, clipset: ClipSet, dims: FeatureDims, train_idx: np.ndarray,
                val_idx: np.ndarray | None, workdir: Path, stage: str, seed: int, epochs: int | None = None,
                on_epoch_end: EpochHook | None = None, readout_weight: float = 0.0,
                readout_c: dict[str, float] | None = None) -> tuple[EmotionModel, Standardizer, TrainTrack]:
    """:func:`fit`, or ``train.ensemble`` members trained one after another (each in ``workdir/mK``, resumable)
    with different seeds, returned as one :class:`Ensemble`. The track is the first member's, with the
    ensemble's validation UA as ``best_ua``."""
    k = config.train.ensemble
    if k == 1:
        return fit(model_name, config, clipset, dims, train_idx, val_idx, workdir, stage, seed, epochs, on_epoch_end,
                   readout_weight, readout_c)
    members, std, first = [], None, None
    for i in range(k):
        model, std, track = fit(model_name, config, clipset, dims, train_idx, val_idx, workdir / f"m{i}",
                                f"{stage} [{i + 1}/{k}]", seed + 7919 * i, epochs, on_epoch_end, readout_weight,
                                readout_c)
        members.append(model)
        if first is None:
            first = track
    ensemble = Ensemble(members).eval()
    assert std is not None and first is not None
    if val_idx is not None:
        score = _evaluate_ua(ensemble, clipset, val_idx, dims, std, config.train.batch_size)
        first.best_ua, first.best_loss = score.ua, score.loss
    return ensemble, std, first


# --- the whole run --------------------------------------------------------------------------------------
def resolve_label_set(store: FeatureStore) -> LabelSet:
    """The store's label set (with its grades) when it names a known one with the same labels; otherwise the
    store's labels in store order, with the grades the store recorded (none: CC is then undefined)."""
    labels = store.labels
    name = store.meta.get("label_set")
    if isinstance(name, str):
        try:
            known = get_label_set(name)
            if list(known.labels) == labels:
                return known
        except KeyError:
            pass
    grades = store.meta.get("grades")
    if isinstance(grades, list) and len(grades) == len(labels):
        return LabelSet(name=name if isinstance(name, str) else "store", labels=tuple(labels),
                        grades=tuple((float(lo), float(hi)) for lo, hi in grades))
    return LabelSet(name=name if isinstance(name, str) else "store", labels=tuple(labels))


def resolve_group_by(config: TrainConfig, store: FeatureStore) -> str:
    """The record field folds keep together: the config's, or for "auto" the store's corpus protocol."""
    if config.group_by != "auto":
        return config.group_by
    from avemotion.data.corpora import CORPORA

    corpus = store.meta.get("corpus")
    return CORPORA.get(corpus).default_group_by if isinstance(corpus, str) and corpus in CORPORA else "speaker"


def _run_hash(config: Config, model_name: str, store: FeatureStore) -> str:
    relevant = {"model_name": model_name, "model": config.model.model_dump(mode="json"),
                "train": config.train.model_dump(mode="json"),
                "extractors": config.audio.extractors, "store": store.meta.get("config_hash"),
                "labels": store.labels}
    if config.audio.speed_views:  # (absent when none, so runs from before the speed views keep their hash)
        relevant["speed_views"] = config.audio.speed_views
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class RunResult:
    metrics: dict
    rundir: Path


def holds_other_run(rundir: str | Path, features: str | Path, config: Config, model_name: str | None = None) -> bool:
    """Whether ``rundir`` holds a run of another config, model or feature store (one :func:`run_training` would
    refuse to resume), e.g. a demo run from before a default changed."""
    record = Path(rundir) / "run.json"
    return record.is_file() and _records_other(record, "run_hash",
                                               _run_hash(config, model_name or config.model.name,
                                                         FeatureStore(features)))


def _records_other(record: Path, key: str, value: object) -> bool:
    """Whether the saved ``record`` exists and its ``key`` is not ``value``."""
    return record.is_file() and json.loads(record.read_text()).get(key) != value


def refuse_other_setup(record: Path, key: str, value: object, message: str, folder: Path) -> None:
    """Resuming is only allowed into a folder whose saved ``record[key]`` equals ``value``."""
    if _records_other(record, key, value):
        raise AvemotionError(message, folder)


@contextlib.contextmanager
def training_torch_settings(train: TrainConfig) -> Iterator[None]:
    """Torch thread count of the config and deterministic algorithms, restored afterwards."""
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    if train.threads:
        torch.set_num_threads(train.threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev_det)


def run_training(features: str | Path, rundir: str | Path, config: Config, model_name: str | None = None,
                 on_epoch_end: EpochHook | None = None) -> RunResult:
    from avemotion.training.report import write_report

    t_start = time.perf_counter()
    model_name = model_name or config.model.name
    if model_name != config.model.name:
        config = config.with_overrides({"model.name": model_name})
    rundir = Path(rundir)
    store = FeatureStore(features)
    label_set = resolve_label_set(store)
    run_hash = _run_hash(config, model_name, store)
    run_json = rundir / "run.json"
    refuse_other_setup(run_json, "run_hash", run_hash, "this folder holds a run with another config, model or "
                       "feature store; choose a new --out or delete it to start over", rundir)
    rundir.mkdir(parents=True, exist_ok=True)
    config.save(rundir / "config.yaml")
    records, feats = store.load_all()
    selection = FeatureSelection.fit(feats, config.train.modality, config.audio.extractors, store.root,
                                     label_set.labels, config.audio.speed_views)
    group_by = resolve_group_by(config.train, store)
    clipset = ClipSet.build(records, feats, selection, label_set.labels, store.root, group_by=group_by)
    if len(clipset) < len(records):
        log(f"note: {len(records) - len(clipset)} clips have no {config.train.modality!r} features and are left out")
    clipset, unnormalised = normalize_clipset(clipset, records, config.train.normalize, selection.dims)
    if unnormalised and config.train.normalize != "global":
        log(f"note: {unnormalised} clips have no {config.train.normalize} with at least {MIN_CLIPS} clips and keep "
            "their global standardisation only")
    del feats
    dims = selection.dims
    atomic_write_json(run_json, {"run_hash": run_hash, "model": model_name, "modality": config.train.modality,
                                 "features": str(Path(features).resolve()), "labels": list(label_set.labels),
                                 "label_set": label_set.name, "dims": dims.to_dict(), "n_clips": len(clipset),
                                 "selection": selection.to_dict()})
    splits_path = rundir / "splits.json"
    if splits_path.is_file():
        splits = Splits.load(splits_path)
        listed = {c for f in splits.folds for c in (*f.train, *f.val, *f.test)}
        if not listed <= set(clipset.clip_ids):
            raise AvemotionError("splits.json names clips the feature store no longer has; delete it", splits_path)
    else:
        splits = make_splits(clipset.clip_ids, clipset.labels, clipset.speakers, config.train)
        splits.save(splits_path)
    log(f"{len(clipset)} clips, {len(label_set)} classes, modality {config.train.modality}, dims {dims.to_dict()}, "
        f"folds grouped by {group_by}; "
        f"{splits.describe()}")
    for note in splits.notes:
        log(f"note: {note}")

    with training_torch_settings(config.train):
        pos = {c: i for i, c in enumerate(clipset.clip_ids)}
        config = resolve_readout(config, [clipset.labels[[pos[c] for c in f.train]] for f in splits.folds])
        fold_results = []
        for fold in splits.folds:
            fold_results.append(_run_fold(fold, splits, pos, model_name, config, clipset, dims, selection,
                                          label_set, rundir, on_epoch_end))
        bundle = _final_model(config, model_name, clipset, dims, selection, label_set, rundir, fold_results,
                              on_epoch_end)
        latency = measure_latency(bundle.model, clipset, dims, bundle.standardizer)
    metrics = write_report(rundir, clipset, label_set, fold_results, config, model_name, splits, latency,
                           time.perf_counter() - t_start)
    return RunResult(metrics, rundir)


#: below this many training clips in a class (in any fold), ``model.linear_readout=auto`` means "select"
SMALL_DATA_PER_CLASS = 10


def resolve_readout(config: Config, fold_labels: list[np.ndarray]) -> Config:
    """``model.linear_readout=auto`` made definite from the folds' training labels: "select" (the linear read-outs
    are candidates) when some present class has fewer than :data:`SMALL_DATA_PER_CLASS` training clips in some
    fold, else "none" (the network alone). With more clips the validation speaker decides between model families
    too noisily (docs/method/model.md)."""
    if config.model.linear_readout != "auto":
        return config
    counts = [np.bincount(np.asarray(y, np.int64)) for y in fold_labels if len(y)]
    smallest = min((int(c[c > 0].min()) for c in counts), default=0)
    small = 0 < smallest < SMALL_DATA_PER_CLASS
    if small:
        log(f"small data: {smallest} training clips in the smallest class; the linear read-outs of the clip "
            "functionals are candidates next to the network (model.linear_readout=auto -> select)")
    return config.with_overrides({"model.linear_readout": "select" if small else "none"})


def _train_and_val(train_idx: np.ndarray, val_idx: np.ndarray) -> np.ndarray:
    """Training clips plus the validation clips that are not among them (refits after early stopping)."""
    return np.concatenate([train_idx, val_idx[~np.isin(val_idx, train_idx)]])


def _min_epochs(config: Config) -> int:
    """Fewest epochs of a run without validation: 0 (the read-outs alone) when the model has read-outs, else 1."""
    return 0 if config.model.linear_readout == "select" else 1


def _inner_choice(model_name: str, config: Config, clipset: ClipSet, dims: FeatureDims, pool: np.ndarray,
                  fdir: Path, stage: str, seed: int, on_epoch_end: EpochHook | None
                  ) -> tuple[PooledChoice, dict[str, float] | None, list[EpochLog]]:
    """``train.inner_folds``: a model trained on each inner training part of ``pool`` (each in ``fdir/innerJ``,
    resumable), the choice (epochs, read-out weight) made on their validation answers pooled
    (:func:`choose_pooled`); also the read-outs' C (median over the inner runs) and the pooled learning curve."""
    parts = inner_folds(clipset.labels[pool], [clipset.speakers[i] for i in pool], config.train.inner_folds, seed)
    runs, cs, losses, mixes = [], [], [], [0.0]
    for j, part in enumerate(parts):
        val = pool[part]
        train = pool[np.setdiff1d(np.arange(len(pool)), part)]
        model, _, track = fit(model_name, config, clipset, dims, train, val, fdir / f"inner{j}",
                              f"{stage} inner {j + 1}/{len(parts)}", seed + 31 * (j + 1), on_epoch_end=on_epoch_end,
                              record=True)
        readouts = np.asarray(track.readout_correct, dtype=bool) if track.readout_correct is not None else None
        runs.append(ValAnswers(clipset.labels[val], track.candidates, readouts, track.epoch))
        cs.append(model.readout_c())
        losses.append([h.loss for h in track.history])
        mixes = candidate_mixes(model.readout_weights())  # the order the candidates were recorded in
    choice = choose_pooled(runs, mixes)
    history = [EpochLog(e, float(np.mean([run[e] for run in losses])), ua)
               for e, ua in enumerate(choice.curve)]
    verdict = ("read-outs alone" if choice.epoch < 0 else
               f"{choice.epoch + 1} epochs" + (f", read-out weight {choice.mix:g}" if choice.mix else ""))
    log(f"{stage}: pooled over {len(parts)} inner folds: {verdict} (validation UA {choice.ua:.3f}"
        + (f"; cross-fitted network {choice.network_ua:.3f} vs read-outs {choice.readout_ua:.3f}"
           if choice.network_ua is not None and choice.readout_ua is not None else "") + ")")
    return choice, _median_c(cs), history


def _run_fold(fold: Fold, splits: Splits, pos: dict[str, int], model_name: str, config: Config, clipset: ClipSet,
              dims: FeatureDims, selection: FeatureSelection, label_set: LabelSet, rundir: Path,
              on_epoch_end: EpochHook | None) -> FoldResult:
    fdir = rundir / "folds" / str(fold.index)
    result_path = fdir / "result.json"
    if result_path.is_file():
        return FoldResult.from_dict(json.loads(result_path.read_text()))
    fdir.mkdir(parents=True, exist_ok=True)
    idx = {k: np.asarray([pos[c] for c in getattr(fold, k)], dtype=np.int64) for k in ("train", "val", "test")}
    same_val = set(fold.val) == set(fold.train)
    stage, seed = f"fold {fold.index + 1}/{len(splits.folds)}", config.train.seed + 1000 * fold.index
    if config.train.inner_folds >= 2 and not same_val:
        # the choice on inner folds of training + validation clips, then the fold's model trained on all of them
        pool = _train_and_val(idx["train"], idx["val"])
        choice, c_median, history = _inner_choice(model_name, config, clipset, dims, pool, fdir, stage, seed,
                                                  on_epoch_end)
        epochs = max(_min_epochs(config), choice.epoch + 1)
        model, std, _ = fit_members(model_name, config, clipset, dims, pool, None, fdir / "refit", f"{stage} refit",
                                    seed, epochs, on_epoch_end, choice.mix, c_median)
        track = TrainTrack(epoch=len(history), best_ua=choice.ua, best_epoch=choice.epoch, history=history,
                           best_mix=choice.mix)
    else:
        model, std, track = fit_members(model_name, config, clipset, dims, idx["train"], idx["val"], fdir, stage,
                                        seed, on_epoch_end=on_epoch_end)
        if config.train.refit and not same_val:
            # the epoch count (and read-out weight and C) chosen on the validation clips, trained again on both
            epochs = max(_min_epochs(config), track.best_epoch + 1)  # best_epoch -1: the read-outs alone
            model, std, _ = fit_members(model_name, config, clipset, dims, _train_and_val(idx["train"], idx["val"]),
                                        None, fdir / "refit", f"{stage} refit", seed, epochs, on_epoch_end,
                                        track.best_mix, model.readout_c() or None)
    bundle = ModelBundle(model_name, model, config, list(label_set.labels), label_set.grade_values(), selection, std,
                         {"fold": fold.index, "best_epoch": track.best_epoch, "val_ua": track.best_ua,
                          **({"readout_weight": track.best_mix} if track.best_mix else {})})
    bundle.save(fdir / "model")
    preds = predict_clips(model, clipset.subset(idx["test"]), dims, std, config.train.batch_size)
    result = FoldResult(fold.index, list(fold.test), clipset.labels[idx["test"]].tolist(), track.best_epoch,
                        track.epoch, track.best_ua, preds, same_val, track.history, track.best_mix,
                        model.readout_c())
    atomic_write_json(result_path, result.to_dict())
    members = [Path(f"m{i}") for i in range(config.train.ensemble)]
    runs = [Path(), Path("refit"), *members, *(Path("refit") / m for m in members),
            *(Path(f"inner{j}") for j in range(config.train.inner_folds))]
    for state in [fdir / sub / "state" for sub in runs]:
        for suffix in (".safetensors", ".json"):
            state.with_suffix(suffix).unlink(missing_ok=True)
    return result


def _median_c(chosen: list[dict[str, float]]) -> dict[str, float] | None:
    """Per head, the median of the C several runs' read-outs chose (the folds', or a fold's inner runs')."""
    heads = {h for c in chosen for h in c}
    return {h: float(np.median([c[h] for c in chosen if h in c])) for h in heads} or None


def _final_model(config: Config, model_name: str, clipset: ClipSet, dims: FeatureDims, selection: FeatureSelection,
                 label_set: LabelSet, rundir: Path, fold_results: list[FoldResult], on_epoch_end: EpochHook | None
                 ) -> ModelBundle:
    if checkpoint_exists(rundir / "model"):
        return ModelBundle.load(rundir / "model")
    if config.train.final_model == "best_fold":
        best = max(fold_results, key=lambda r: r.val_ua)
        src = rundir / "folds" / str(best.fold) / "model"
        for suffix in (".safetensors", ".json"):
            shutil.copyfile(src.with_suffix(suffix), (rundir / ".model.tmp").with_suffix(suffix))
        for suffix in (".safetensors", ".json"):
            (rundir / ".model.tmp").with_suffix(suffix).replace((rundir / "model").with_suffix(suffix))
        return ModelBundle.load(rundir / "model")
    # retrain on every clip for the median number of epochs the folds needed (no data left for validation)
    epochs = int(np.median([r.best_epoch + 1 for r in fold_results])) if fold_results else config.train.epochs
    mix = float(np.median([r.readout_weight for r in fold_results])) if fold_results else 0.0
    if config.model.linear_readout == "select" and fold_results:
        # the read-outs' weight the folds chose (median); the network's epochs from the folds that used it
        used = [r.best_epoch + 1 for r in fold_results if r.best_epoch >= 0]
        epochs = 0 if mix >= 1.0 else int(np.median(used)) if used else config.train.epochs
    epochs = max(_min_epochs(config), epochs)
    fdir = rundir / "final"
    fdir.mkdir(parents=True, exist_ok=True)
    all_idx = np.arange(len(clipset))
    model, std, track = fit_members(model_name, config, clipset, dims, all_idx, None, fdir, "final model",
                            config.train.seed + 999_983, epochs=epochs, on_epoch_end=on_epoch_end,
                            readout_weight=mix, readout_c=_median_c([r.readout_c for r in fold_results]))
    bundle = ModelBundle(model_name, model, config, list(label_set.labels), label_set.grade_values(), selection, std,
                         {"fold": "all", "epochs": epochs, **({"readout_weight": mix} if mix else {})})
    bundle.save(rundir / "model")
    shutil.rmtree(fdir, ignore_errors=True)
    return bundle


def measure_latency(model: EmotionModel, clipset: ClipSet, dims: FeatureDims, std: Standardizer,
                    n: int = 100) -> dict:
    """Per-clip model latency for metrics.json: the model alone (inputs collated beforehand), batch 1, one thread."""
    clips = [clipset.features[i % len(clipset)] for i in range(min(n, max(len(clipset), 1)))]
    return time_clips(model, clips, dims, std, include_collate=False).to_dict()
