"""``avemotion compare``: the paper's comparison (Figs. 7-10, Table 3) run honestly on a user's feature store.

Fairness: one :class:`~avemotion.training.splits.Splits` object (made once, saved as ``OUT/splits.json``) gives
every model the same folds; every model reads the same feature store through the same selection and
standardisation code, and trains with the same budget (``train.*``: epochs, patience, batch, lr, seeds) in the
fold runner of ``avemotion train`` (:func:`~avemotion.training.folds.run_fold`: early stopping on validation
UA, resumable; the classical baselines through it too). A variant that cannot see some test clips (e.g.
video-only on an audio-only clip) is still scored on every test clip: for those it predicts the class prior of
its training part, and its ``coverage`` says how many it really saw.

Outputs under ``OUT``: results.csv / results.json (per model WA, UA, F1, CC: mean and std over folds, pooled
values, 15-group statistics, latency, significance against the reference), folds.csv, groups.csv,
cc_per_class.csv, latency.csv, significance.csv, predictions.csv, figures (wa_groups.png, ua_groups.png,
cc_per_class.png, latency.png, summary.png, confusion/<model>.png) and report.md. ``OUT/runs/<model>/`` holds
each model's fold checkpoints; a rerun skips finished folds and resumes an unfinished one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console

from avemotion.config import Config
from avemotion.data.clipset import ClipSet
from avemotion.data.dims import FeatureDims
from avemotion.data.normalize import normalize_clipset
from avemotion.data.selection import FeatureSelection
from avemotion.data.store import FeatureStore
from avemotion.errors import AvemotionError
from avemotion.models.bundle import ModelBundle
from avemotion.models.classical import CLASSICAL
from avemotion.training.classical import classical_latency
from avemotion.training.compare_report import METRICS, print_compare_table, write_outputs
from avemotion.training.fit import EpochHook, TrainSetup
from avemotion.training.folds import FoldJob
from avemotion.training.latency import time_clips
from avemotion.training.metrics import compute_metrics
from avemotion.training.parallel import SEQUENTIAL, Execution, run_folds
from avemotion.training.results import FoldResult, ModelResult
from avemotion.training.run_setup import (
    RUN_RECORD,
    compare_setup,
    load_or_make_splits,
    refuse_other_setup,
    resolve_group_by,
    resolve_label_set,
    training_torch_settings,
    variant_run_hash,
)
from avemotion.training.selection import resolve_readout
from avemotion.training.splits import Fold, Splits
from avemotion.training.stats import paired_tests, random_groups
from avemotion.training.variants import Variant, resolve_variant
from avemotion.utils.atomic import atomic_write_json
from avemotion.utils.progress import log

LATENCY_CLIPS = (100, 200, 300, 400, 500)


# --- helpers --------------------------------------------------------------------------------------------
def store_modality(feats: list) -> str:
    """"av" when the store has clips with audio and clips with video, else the one it has."""
    a = any(f.has_audio for f in feats)
    v = any(f.has_video for f in feats)
    if a and v:
        return "av"
    if a:
        return "audio"
    if v:
        return "video"
    raise AvemotionError("the feature store holds no audio or video features")


def volume_latency(bundle: ModelBundle, clipset: ClipSet, volumes: tuple[int, ...], seed: int) -> list[dict]:
    """Table 3: time to predict N clips one by one (batch 1, one thread), features to class probabilities
    (collation and standardisation included). Clips are drawn from the store, with replacement when it has
    fewer than N."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, n in enumerate(volumes):
        idx = rng.choice(len(clipset), size=n, replace=n > len(clipset))
        lat = time_clips(bundle.model, [clipset.features[int(i)] for i in idx], bundle.dims, bundle.standardizer,
                         include_collate=True, warmup=5 if k == 0 else 0)
        rows.append({**lat.to_dict(), "sampled_with_replacement": bool(n > len(clipset))})
    return rows


# --- the comparison -------------------------------------------------------------------------------------
def run_compare(features: str | Path, out: str | Path, config: Config, models: list[str], groups: int = 15,
                latency_clips: tuple[int, ...] = LATENCY_CLIPS, reference: str | None = None,
                on_epoch_end: EpochHook | None = None, console: Console | None = None,
                auto_modality: bool = False, execution: Execution = SEQUENTIAL) -> dict:
    """Train and evaluate ``models`` on identical folds and write every output under ``out``.

    ``execution``: where the folds run (:mod:`~avemotion.training.parallel`); in parallel every model's folds
    are tasks of one pool, with the same numbers as one model after another.

    ``auto_modality``: when ``train.modality`` is "av", use what the store has ("audio" for an audio-only store).
    """
    out = Path(out)
    if not models:
        raise AvemotionError("no models to compare (--models bimodal,lstm,dean)")
    if len(set(models)) != len(models):
        raise AvemotionError(f"a model is named twice in --models: {', '.join(models)}")
    ref_name = reference or ("bimodal" if "bimodal" in models else models[0])
    if ref_name not in models:
        raise AvemotionError(f"reference model {ref_name!r} is not among --models ({', '.join(models)})")
    store = FeatureStore(features)
    label_set = resolve_label_set(store)
    labels, grades = list(label_set.labels), label_set.grade_values()
    records, feats = store.load_all()
    if not records:
        raise AvemotionError("the feature store has no extracted clips", store.root)
    if auto_modality and config.train.modality == "av":
        config = config.with_overrides({"train.modality": store_modality(feats)})
    variants = [resolve_variant(m, config) for m in models]

    # every variant's feature selection first, so that a variant the store cannot serve fails before training
    configs = {v.name: v.config(config) for v in variants}
    selections = {v.name: FeatureSelection.fit(feats, configs[v.name].train.modality,
                                                configs[v.name].audio.extractors, store.root, labels,
                                                configs[v.name].audio.speed_views, configs[v.name].video.groups)
                  for v in variants}
    base_sel = FeatureSelection.fit(feats, config.train.modality, config.audio.extractors, store.root, labels,
                                    config.audio.speed_views, config.video.groups)
    base = ClipSet.build(records, feats, base_sel, labels, store.root, group_by=resolve_group_by(config.train, store))
    truth = dict(zip(base.clip_ids, base.labels.tolist(), strict=True))

    setup = compare_setup(store, labels, base.clip_ids, config)
    out.mkdir(parents=True, exist_ok=True)
    setup_path = out / "compare.json"
    refuse_other_setup(setup_path, "setup", setup, "this folder holds a comparison with another feature store, "
                       "clip set or training setup; choose a new --out or delete it to start over", out)
    atomic_write_json(setup_path, {"setup": setup, "features": str(Path(features).resolve())})
    splits = load_or_make_splits(out / "splits.json", base.clip_ids, base.labels, base.speakers, config.train)
    order = [c for f in splits.folds for c in f.test]
    fold_of = np.asarray([f.index for f in splits.folds for _ in f.test], np.int64)
    y = np.asarray([truth[c] for c in order], np.int64)
    log(f"compare: {len(base)} clips, {len(labels)} classes, modality {config.train.modality}; {splits.describe()}")

    results: list[ModelResult] = []
    # sequentially one model after another; in parallel every model's folds at once
    batches = [[v] for v in variants] if execution.sequential else [variants]
    with training_torch_settings(config.train):
        for batch in batches:
            runs = []
            for v in batch:
                log(f"compare: model {v.name} ({v.description})")
                runs.append(_prepare_variant(v, configs[v.name], selections[v.name], records, feats, label_set,
                                             splits, out / "runs" / v.name, store, on_epoch_end,
                                             execution.device, v.name if len(batch) > 1 else ""))
            tasks = [(run.job, fold) for run in runs for fold in run.tested]
            done = iter(run_folds(tasks, execution))
            for run in runs:
                fold_results = [next(done) if fold.test else FoldResult.untested(fold.index, len(labels))
                                for fold in run.subfolds.values()]
                results.append(_finish_variant(run, fold_results, label_set, order, fold_of, y, groups,
                                               latency_clips))
    ref = next(r for r in results if r.name == ref_name)
    tests = [paired_tests(ref, r, y) for r in results if r is not ref]
    summary = write_outputs(out, results, tests, ref, y, order, fold_of, labels, grades, splits, config, store,
                             groups)
    print_compare_table(summary, console)
    return summary


@dataclass
class _VariantRun:
    """One model of the comparison, ready for its folds: its fold job, its folds (the clips it can use) and
    those with test clips."""

    variant: Variant
    cfg: Config
    clipset: ClipSet
    dims: FeatureDims
    pos: dict[str, int]
    run_hash: str
    job: FoldJob
    subfolds: dict[int, Fold]
    tested: list[Fold]


def _prepare_variant(v: Variant, cfg: Config, selection: FeatureSelection, records: list, feats: list, label_set,
                     splits: Splits, rundir: Path, store: FeatureStore, on_epoch_end: EpochHook | None,
                     device: str, name: str = "") -> _VariantRun:
    labels = list(label_set.labels)
    clipset = ClipSet.build(records, feats, selection, labels, store.root, group_by=resolve_group_by(cfg.train, store))
    dims = selection.dims
    clipset, _ = normalize_clipset(clipset, records, cfg.train.normalize, dims)
    run_hash = variant_run_hash(v.model, v.overrides, cfg, store, labels, splits, selection.speeds)
    rundir.mkdir(parents=True, exist_ok=True)
    run_json = rundir / RUN_RECORD
    refuse_other_setup(run_json, "run_hash", run_hash, f"{rundir} holds a run of {v.name} with another config, "
                       "store or folds; delete that folder (or choose a new --out) to rerun it", rundir)
    atomic_write_json(run_json, {"run_hash": run_hash, "variant": v.name, "model": v.model, "overrides": v.overrides,
                                 "description": v.description, "dims": dims.to_dict(), "n_clips": len(clipset)})
    cfg.save(rundir / "config.yaml")
    pos = {c: i for i, c in enumerate(clipset.clip_ids)}
    cfg = resolve_readout(cfg, [clipset.labels[[pos[c] for c in f.train if c in pos]] for f in splits.folds])
    subfolds = {}
    job = FoldJob(TrainSetup(v.model, cfg, clipset, dims, on_epoch_end, device), selection, label_set, rundir,
                  len(splits.folds), pos, name=name)

    def keep(ids: list[str]) -> list[str]:
        return [c for c in ids if c in pos]

    for fold in splits.folds:
        train = keep(fold.train)
        if not train:
            raise AvemotionError(f"{v.name}: fold {fold.index + 1} has no training clip this variant can use")
        val = keep(fold.val) or train
        subfolds[fold.index] = Fold(fold.index, train, val, keep(fold.test))
    return _VariantRun(v, cfg, clipset, dims, pos, run_hash, job, subfolds,
                       [f for f in subfolds.values() if f.test])


def _finish_variant(run: _VariantRun, fold_results: list[FoldResult], label_set, order: list[str],
                    fold_of: np.ndarray, y: np.ndarray, n_groups: int,
                    latency_clips: tuple[int, ...]) -> ModelResult:
    v, cfg, clipset, dims, pos, run_hash = run.variant, run.cfg, run.clipset, run.dims, run.pos, run.run_hash
    subfolds, rundir = run.subfolds, run.job.rundir
    labels, grades = list(label_set.labels), label_set.grade_values()
    n_cls = len(labels)
    probs = np.zeros((len(order), n_cls))
    covered = np.zeros(len(order), bool)
    classical = v.model in CLASSICAL
    for fold, r in zip(subfolds.values(), fold_results, strict=True):
        prior = np.bincount(clipset.labels[[pos[c] for c in fold.train]], minlength=n_cls).astype(np.float64)
        prior /= prior.sum()
        got = dict(zip(r.test, r.probs.reshape(-1, n_cls), strict=True))
        for j in np.flatnonzero(fold_of == fold.index):
            c = order[j]
            if c in got:
                probs[j], covered[j] = got[c], True
            else:
                probs[j] = prior
    per_fold = []
    for r in fold_results:
        m_idx = fold_of == r.fold
        m = compute_metrics(y[m_idx], probs[m_idx].argmax(1), probs[m_idx], labels, grades)
        per_fold.append({"fold": r.fold, "n": m["n"], "covered": int(covered[m_idx].sum()),
                         **{k: m[k] for k in METRICS}, "best_epoch": r.best_epoch, "epochs_run": r.epochs_run,
                         "val_ua": r.val_ua, **({"readout_weight": r.readout_weight} if r.readout_c else {})})
    pooled = compute_metrics(y, probs.argmax(1), probs, labels, grades)
    groups = []
    for g, idx in enumerate(random_groups(len(y), n_groups, cfg.train.seed)):
        m = compute_metrics(y[idx], probs[idx].argmax(1), probs[idx], labels, grades)
        groups.append({"group": g + 1, "n": m["n"], "wa": m["wa"], "ua": m["ua"], "cc": m["cc"]})
    best = max((r for r in fold_results if r.test), key=lambda r: r.val_ua)
    lat_path = rundir / "latency.json"
    lat_key = {"clips": list(latency_clips), "fold": best.fold, "run_hash": run_hash}
    cached = json.loads(lat_path.read_text()) if lat_path.is_file() else None
    if cached and cached.get("key") == lat_key:
        params, latency = int(cached.get("params", 0)), cached["rows"]
    else:
        if classical:
            params, latency = classical_latency(v.model, subfolds[best.fold], pos, clipset, dims,
                                                tuple(latency_clips), cfg.train.seed)
        else:
            bundle = ModelBundle.load(rundir / "folds" / str(best.fold) / "model")
            params = sum(p.numel() for p in bundle.model.parameters())
            latency = volume_latency(bundle, clipset, tuple(latency_clips), cfg.train.seed) if latency_clips else []
        atomic_write_json(lat_path, {"key": lat_key, "rows": latency, "params": params})
    return ModelResult(v, cfg.train.modality, params, per_fold, probs, covered, fold_of, pooled, groups, latency)


