"""Cost of one training epoch (issue 26 item 1): milliseconds per training clip and epoch, audio+video and
audio-only, on one feature store, at one torch thread (``train.threads``, the default).

    PYTHONPATH=src python benchmarks/training_epoch.py                       # synthetic store, ~2 minutes
    PYTHONPATH=src python benchmarks/training_epoch.py --features /tmp/jav_feat --epochs 4 --repeats 3
    PYTHONPATH=src python benchmarks/training_epoch.py --clips 500 --length cremad --modality av \
        --epochs 3 --repeats 1 --project                                     # CREMA-D-size projection
    PYTHONPATH=src python benchmarks/training_epoch.py --clips 64 --modality av --profile av
    PYTHONPATH=src python benchmarks/training_epoch.py --clips 744 --length cremad --whole-run 2
                                     # a whole `train` with the defaults on 2 workers, scaled to 7,442 clips

Measurements and the profile behind them: docs/experiments/2026-12-06-training-epoch-cost.md,
docs/experiments/2026-12-06-video-pool.md (``--set model.video_pool=1`` times the setting before it) and
docs/experiments/2026-12-06-cheaper-training-steps.md (``--whole-run``).

The default store is made here (``synthetic_store``, 240 clips as the issue's Javanese corpus): the
default extraction's sizes as measured on the Javanese audio-video clips (javanese_av_01_05): a 384-dim
Whisper sequence at 10 tokens/s, a 768-dim clip vector, 398 face columns per frame at 15 fps (97.5 % of the
frames with a face), the 0.9x and 1.1x audio views, clips of 1.9-8.1 s, mean 3.6 s (``--length javanese``)
or of CREMA-D's 1.3-5 s, mean 2.5 s (``--length cremad``).

What is timed: :func:`avemotion.training.fit.fit` from the end of its first epoch to the end of its last
(the read-outs' fit before the first epoch is left out), per training clip and epoch: on 80 % of the clips
without validation clips (the refits and the final model), and on 70 % with 10 % validation clips scored
after every epoch (the inner folds); the median over ``--repeats`` runs, with the spread, as wall time and
as the process's CPU time (steadier on a shared machine). Each figure is printed beside today's
(``BASELINE``: measured on this machine before the change, see there) as a ratio today / now.

``--whole-run W`` instead trains the store as ``avemotion train --modality av --workers W`` does with the
defaults (5 speaker-grouped folds, inner folds, early stopping, refits, the final model), times it, lists the
epochs the runs took, and scales the wall time to 7,442 clips (every run's epochs cost in proportion to its
clips; the same epochs taken: on a larger corpus each epoch holds more steps, so early stopping comes no later).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

#: today's figures before issue 26 (commit fbb5923), measured with this script on the 2-core development
#: machine on 2026-12-06 (ms per training clip and epoch, median of 2-3 runs), with the machine nearly idle
#: (load average 2) for synthetic-javanese-240; cremad-500 (CPU only, one run) while it was shared (load
#: average about 7), where wall times are inflated: compare CPU times then (one thread: the wall time on an
#: idle core).
BASELINE: dict[str, dict[str, float]] = {
    "synthetic-javanese-240": {"av wall": 16.19, "av cpu": 16.12, "av + validation wall": 17.55,
                               "av + validation cpu": 17.44, "audio wall": 1.05, "audio cpu": 1.04,
                               "audio + validation wall": 1.27, "audio + validation cpu": 1.27},
    "synthetic-cremad-500": {"av cpu": 9.79, "av + validation cpu": 11.34},
}

LABELS = ["anger", "disgust", "fear", "happiness", "neutral", "sadness"]
VIDEO_GROUPS = {"geometry": (0, 104), "pose": (104, 107), "expression": (107, 125), "cnn_probs": (125, 132),
                "cnn_embedding": (132, 260), "motion": (260, 398)}
#: clip seconds: a minimum plus a gamma draw (shape, scale), clipped: Javanese 1.9-8.1 s, mean 3.6 s (as the
#: 120 clips of javanese_av_01_05); CREMA-D 1.3-5 s, mean 2.5 s
LENGTHS = {"javanese": (1.9, 2.0, 0.85, 8.1), "cremad": (1.3, 3.0, 0.4, 5.0)}


def clip_seconds(rng: np.random.Generator, length: str) -> float:
    low, shape, scale, high = LENGTHS[length]
    return float(min(low + rng.gamma(shape, scale), high))


def synthetic_store(root: Path, n_clips: int, length: str = "javanese", n_speakers: int = 10, seed: int = 0):
    """A feature store of ``n_clips`` clips with the default extraction's sizes (random values, a weak label
    signal so that training moves)."""
    from avemotion.data.manifest import ClipRecord
    from avemotion.data.store import FeatureStore
    from avemotion.features.record import AudioView, ClipFeatures

    rng = np.random.default_rng(seed)
    records, keys, feats = [], [], []
    for i in range(n_clips):
        label = i % len(LABELS)
        spk = (i // len(LABELS)) % n_speakers
        sec = clip_seconds(rng, length)
        ta, tv = max(1, round(10 * sec)), max(1, round(15 * sec))
        seq = rng.normal(size=(ta, 384)).astype(np.float32)
        seq[:, label] += 1.0
        vec = rng.normal(size=768).astype(np.float32)
        vec[label] += 1.0
        vid = rng.normal(size=(tv, 398)).astype(np.float32)
        vid[:, 125:132] = rng.dirichlet(np.ones(7), size=tv)  # the expression CNN's probabilities
        mask = rng.random(tv) > 0.025
        views = {s: AudioView(rng.normal(size=(max(1, round(ta / s)), 384)).astype(np.float32),
                              rng.normal(size=768).astype(np.float32)) for s in (0.9, 1.1)}
        clip_id = f"syn{i:05d}"
        feats.append(ClipFeatures(clip_id, seq, vec, vid, mask, {"whisper": (0, 384)}, {"whisper": (0, 768)},
                                  dict(VIDEO_GROUPS), {}, views))
        records.append(ClipRecord(clip_id, LABELS[label], f"spk{spk}", f"/syn/{clip_id}.mp4",
                                  f"/syn/{clip_id}.mp4"))
        keys.append(f"k{i:05d}")
    meta = {"corpus": "synthetic", "labels": LABELS, "label_set": "synthetic",
            "config_hash": f"epoch-bench-{n_clips}-{length}-{seed}"}
    store = FeatureStore.create(root, meta, records, keys)
    for key, f in zip(keys, feats, strict=True):
        store.put(key, f)
    return store


def load_clipset(features: Path, modality: str, overrides: dict[str, str] | None = None):
    """The clip set and dims ``avemotion train --modality MODALITY [--set KEY=VALUE ...]`` builds from the
    store."""
    from avemotion.config import Config
    from avemotion.data.clipset import ClipSet
    from avemotion.data.selection import FeatureSelection
    from avemotion.data.store import FeatureStore
    from avemotion.training.run_setup import resolve_label_set

    config = Config().with_overrides({"train.modality": modality, **(overrides or {})})
    store = FeatureStore(features)
    labels = resolve_label_set(store).labels
    records, feats = store.load_all()
    selection = FeatureSelection.fit(feats, modality, config.audio.extractors, store.root, labels,
                                     config.audio.speed_views)
    return config, ClipSet.build(records, feats, selection, labels, store.root), selection.dims


@dataclass
class Timing:
    """One timed :func:`fit`: ms per training clip and epoch (epochs 2..N, wall and CPU), its clips, and the
    CPU seconds until the end of the first epoch (the read-outs' fit and one epoch)."""

    wall_ms: float
    cpu_ms: float
    n_train: int
    n_val: int
    first_s: float
    val_cpu_ms: float = 0.0  # CPU ms per validation clip and epoch (epochs 2..N)
    profile: cProfile.Profile | None = None


def time_fit(features: Path, modality: str, epochs: int, workdir: Path, seed: int = 0,
             validation: bool = False, profile: bool = False, overrides: dict[str, str] | None = None) -> Timing:
    """Time one :func:`fit`. ``validation``: on 70 % training and 10 % validation clips (the inner folds'
    runs), else on 80 % training clips (the refits and the final model)."""
    import avemotion.training.fit as fit_module
    from avemotion.training.fit import FitPlan, TrainSetup, fit
    from avemotion.training.run_setup import training_torch_settings

    validate, val_cpu = fit_module._validate_epoch, []

    def timed_validate(*args, **kwargs):  # the CPU time of each epoch's validation
        t0 = time.process_time()
        try:
            return validate(*args, **kwargs)
        finally:
            val_cpu.append(time.process_time() - t0)

    config, clipset, dims = load_clipset(features, modality, overrides)
    config = config.with_overrides({"train.checkpoint_seconds": 1e9})
    order = np.random.default_rng(seed).permutation(len(clipset))
    n_train = int((0.7 if validation else 0.8) * len(order))
    train_idx = np.sort(order[:n_train])
    val_idx = np.sort(order[n_train:int(0.8 * len(order))]) if validation else None
    stamps: list[tuple[float, float]] = []
    setup = TrainSetup(config.model.name, config, clipset, dims, lambda stage, epoch: stamps.append(
        (time.perf_counter(), time.process_time())))
    plan = FitPlan(train_idx, val_idx, workdir, f"{modality} {seed}", seed, epochs=epochs)
    prof = cProfile.Profile() if profile else None
    with training_torch_settings(config.train):
        if prof is not None:
            prof.enable()
        stamps.append((time.perf_counter(), time.process_time()))  # the start: the read-outs' fit follows
        fit_module._validate_epoch = timed_validate
        try:
            fit(setup, plan)
        finally:
            fit_module._validate_epoch = validate
        if prof is not None:
            prof.disable()
    per = (len(stamps) - 2) * len(train_idx) / 1000
    n_val = 0 if val_idx is None else len(val_idx)
    val_ms = sum(val_cpu[1:]) / ((len(val_cpu) - 1) * n_val) * 1000 if n_val and len(val_cpu) > 1 else 0.0
    return Timing((stamps[-1][0] - stamps[1][0]) / per, (stamps[-1][1] - stamps[1][1]) / per, len(train_idx),
                  n_val, stamps[1][1] - stamps[0][1], val_ms, prof)


def project(train: list[Timing], with_val: list[Timing], n_clips: int = 7442, folds: int = 5, inner: int = 3,
            epochs: int = 60, workers: tuple[int, ...] = (2, 4, 8)) -> None:
    """Hours of ``avemotion train`` with the defaults (5 speaker-grouped folds, each: 3 inner-fold runs with
    validation after every epoch, then the refit on the fold's training + validation clips; then the final
    model on every clip) on ``n_clips`` clips, every run taking all ``epochs`` (early stopping only shortens
    the inner runs: an upper bound), from the measured CPU costs (one thread: the wall time on an idle core,
    steadier than wall time on a shared machine): a training clip-epoch, a validation clip-epoch (its three
    speed versions scored) and the read-outs' fit per training clip (taken as linear in the clips)."""
    t_train = statistics.median(t.cpu_ms for t in train) / 1000
    t_val = statistics.median(t.val_cpu_ms for t in with_val) / 1000
    prefit = statistics.median(max(0.0, t.first_s - t.cpu_ms * t.n_train / 1000) / t.n_train for t in train)
    pool = n_clips * (folds - 1) / folds  # a fold's training + validation clips
    inner_train, inner_val = pool * (inner - 1) / inner, pool / inner

    def cost(n: float, v: float) -> float:
        return epochs * (n * t_train + v * t_val) + n * prefit

    inner_s, refit_s, final_s = cost(inner_train, inner_val), cost(pool, 0.0), cost(n_clips, 0.0)
    seconds = folds * (inner * inner_s + refit_s) + final_s
    print(f"projection: {n_clips} clips, {folds} folds x ({inner} inner runs + refit) + final model, "
          f"{epochs} epochs each: training {t_train * 1000:.2f} ms, validation {t_val * 1000:.2f} ms per "
          f"clip-epoch, read-outs' fit {prefit * 1000:.2f} ms per clip -> {seconds / 3600:.1f} h "
          "(CPU time of one thread)")
    for w in workers:
        by_fold = folds_as_tasks(folds, inner * inner_s + refit_s, w) + final_s
        by_run = inner_runs_as_tasks(folds, inner, inner_s, refit_s, w) + final_s
        with_final = inner_runs_as_tasks(folds, inner, inner_s, refit_s, w, final_s)
        print(f"  on {w} workers (one thread each, idle cores): whole folds as tasks {by_fold / 3600:.2f} h, "
              f"inner runs as tasks of their own {by_run / 3600:.2f} h (then the final model), the final "
              f"model a task beside the refits {with_final / 3600:.2f} h")


def folds_as_tasks(folds: int, fold_s: float, workers: int) -> float:
    """Wall seconds of ``folds`` equal fold tasks on ``workers``."""
    return -(-folds // workers) * fold_s


def inner_runs_as_tasks(folds: int, inner: int, inner_s: float, refit_s: float, workers: int,
                        final_s: float = 0.0) -> float:
    """Wall seconds of the folds as :func:`avemotion.training.parallel.run_folds` schedules them: every inner run
    a task, a fold's refit queued first once its inner runs are done, and the final model (``final_s`` > 0)
    queued first, before that fold's refit, once every inner run is done; up to twice ``workers`` tasks handed
    to the pool (a first-in first-out queue) at a time."""
    import heapq
    from collections import deque

    waiting = deque((f, "inner") for f in range(folds) for _ in range(inner))
    handed: deque[tuple[int, str]] = deque()  # given to the pool, not started
    running: list[tuple[float, int, str]] = []
    left = dict.fromkeys(range(folds), inner)
    cost = {"inner": inner_s, "refit": refit_s, "final": final_s}
    now, end, free = 0.0, 0.0, workers

    def hand_out() -> None:
        nonlocal free
        while waiting and len(handed) + len(running) < 2 * workers:
            handed.append(waiting.popleft())
        while handed and free:
            f, kind = handed.popleft()
            heapq.heappush(running, (now + cost[kind], f, kind))
            free -= 1

    hand_out()
    while running:
        now, f, kind = heapq.heappop(running)
        end = max(end, now)
        free += 1
        if kind == "inner":
            left[f] -= 1
            if not left[f]:
                waiting.appendleft((f, "refit"))
                if final_s and not any(left.values()):
                    waiting.appendleft((-1, "final"))
        hand_out()
    return end


def whole_run(features: Path, workdir: Path, workers: int, n_full: int = 7442) -> None:
    """Time ``avemotion train --modality av --workers WORKERS`` with the defaults on ``features`` and scale it to
    ``n_full`` clips (see the module's text)."""
    import json

    from avemotion.config import Config
    from avemotion.training.parallel import Execution
    from avemotion.training.trainer import run_training
    from avemotion.utils.progress import set_quiet

    set_quiet(True)
    n = len((features / "manifest.csv").read_text().splitlines()) - 1  # its header, then a row per clip
    t0 = time.perf_counter()
    run_training(features, workdir, Config().with_overrides({"train.modality": "av"}),
                 execution=Execution(workers=workers))
    wall = time.perf_counter() - t0
    folds = [json.loads(p.read_text()) for p in sorted(workdir.glob("folds/*/result.json"))]
    final = json.loads((workdir / "model.json").read_text())["meta"].get("info", {})
    print(f"whole run: {n} clips, {workers} workers, wall {wall:.0f} s (load average "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())})")
    print(f"  epochs the inner runs took (pooled curve per fold, of 60): {[f['epochs_run'] for f in folds]}; "
          f"chosen (refit): {[f['best_epoch'] + 1 for f in folds]}; final model: {final.get('epochs')}")
    print(f"  scaled to {n_full} clips: {wall * n_full / n / 3600:.2f} h on {workers} workers")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=Path, help="a feature store (default: a synthetic one made here)")
    ap.add_argument("--clips", type=int, default=240, help="clips of the synthetic store")
    ap.add_argument("--length", choices=sorted(LENGTHS), default="javanese", help="synthetic clip lengths")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per timed run (the first is not timed)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--modality", nargs="+", default=["av", "audio"], choices=["av", "audio", "video"])
    ap.add_argument("--project", action="store_true",
                    help="project a CREMA-D-size run (7,442 clips, 5 folds, defaults) from the av figures")
    ap.add_argument("--profile", choices=["av", "audio", "video"],
                    help="print a cProfile of one run of this modality (cumulative time, top 30)")
    ap.add_argument("--whole-run", type=int, metavar="WORKERS",
                    help="time a whole `avemotion train` with the defaults on WORKERS workers and scale it to "
                         "7,442 clips, instead of the epoch timings")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for every timed run (repeatable), e.g. model.video_pool=1")
    args = ap.parse_args()
    overrides = dict(s.split("=", 1) for s in args.set)
    if args.epochs < 2:
        ap.error("--epochs must be at least 2 (the first epoch is not timed)")

    with tempfile.TemporaryDirectory() as tmp:
        if args.features is None:
            key = f"synthetic-{args.length}-{args.clips}"
            t0 = time.perf_counter()
            features = Path(tmp) / "store"
            synthetic_store(features, args.clips, args.length)
            print(f"synthetic store: {args.clips} clips ({args.length} lengths), "
                  f"{time.perf_counter() - t0:.0f} s")
        else:
            features, key = args.features, args.features.resolve().name
        if args.whole_run:
            whole_run(features, Path(tmp) / "run", args.whole_run)
            return
        base = BASELINE.get(key, {})
        timings: dict[bool, list[Timing]] = {}
        print(f"store {key}; overrides {overrides or 'none'}; torch threads 1 (train.threads); load average "
              f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(f"{'ms per training clip and epoch':<40}{'median':>8}{'spread':>14}{'today':>8}{'ratio':>8}")
        for modality in args.modality:
            for validation in (False, True):
                runs = [time_fit(features, modality, args.epochs, Path(tmp) / f"{modality}-{r}",
                                 validation=validation, overrides=overrides) for r in range(args.repeats)]
                row = f"{modality}{' + validation' if validation else ''}"
                for kind in ("wall", "cpu"):
                    ms = [getattr(t, f"{kind}_ms") for t in runs]
                    med = statistics.median(ms)
                    today = base.get(f"{row} {kind}", float("nan"))
                    print(f"{f'{row} ({runs[0].n_train} clips), {kind}':<40}{med:>8.2f}"
                          f"{f'{min(ms):.2f}-{max(ms):.2f}':>14}{today:>8.2f}{today / med:>7.2f}x")
                if modality == "av":
                    timings[validation] = runs
        if args.project and False in timings and True in timings:
            project(timings[False], timings[True])
        if args.profile:
            prof = time_fit(features, args.profile, args.epochs, Path(tmp) / "profile", profile=True,
                            overrides=overrides).profile
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
