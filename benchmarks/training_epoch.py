"""Cost of one training epoch (issue 26 item 1): milliseconds per training clip and epoch, audio+video and
audio-only, on one feature store, at one torch thread (``train.threads``, the default).

    PYTHONPATH=src python benchmarks/training_epoch.py                       # synthetic store, ~2 minutes
    PYTHONPATH=src python benchmarks/training_epoch.py --features /tmp/jav_feat --epochs 4 --repeats 3
    PYTHONPATH=src python benchmarks/training_epoch.py --clips 500 --length cremad --profile av

The default store is made here (``synthetic_store``): the default extraction's sizes as measured on the
Javanese audio-video clips: a 384-dim Whisper sequence at 10 tokens/s, a 768-dim clip vector, 398 face
columns per frame at 15 fps (95 % of the frames with a face), the 0.9x and 1.1x audio views, clips of
3-5 s (``--length javanese``) or of CREMA-D's 1.3-5 s, mean 2.5 s (``--length cremad``).

What is timed: :func:`avemotion.training.fit.fit` on 80 % of the clips without validation clips (the refit
and final model runs), from the end of its first epoch to the end of its last (the read-outs' fit before
the first epoch is left out), per training clip; the median over ``--repeats`` runs, with the spread. Each
figure is printed beside today's (``BASELINE``, measured on this machine before the change) as a ratio.
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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

#: today's figures (ms per training clip and epoch; median of 3 runs) before issue 26: commit fbb5923,
#: measured on the 2-core development machine on 2026-12-06 with the defaults of this script
#: (store -> modality -> ms)
BASELINE: dict[str, dict[str, float]] = {
    "synthetic-javanese-240": {},
    "jav_feat": {},
}

LABELS = ["anger", "disgust", "fear", "happiness", "neutral", "sadness"]
VIDEO_GROUPS = {"geometry": (0, 104), "pose": (104, 107), "expression": (107, 125), "cnn_probs": (125, 132),
                "cnn_embedding": (132, 260), "motion": (260, 398)}
#: clip seconds: (low, high) of a uniform draw, or a CREMA-D-like skewed draw
LENGTHS = {"javanese": (3.0, 5.0), "cremad": (1.3, 5.0)}


def clip_seconds(rng: np.random.Generator, length: str) -> float:
    if length == "cremad":  # 1.3-5 s, mean about 2.5 s
        return float(np.clip(1.3 + rng.gamma(3.0, 0.4), 1.3, 5.0))
    lo, hi = LENGTHS[length]
    return float(rng.uniform(lo, hi))


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
        mask = rng.random(tv) > 0.05
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


def load_clipset(features: Path, modality: str):
    """The clip set and dims ``avemotion train --modality MODALITY`` builds from the store."""
    from avemotion.config import Config
    from avemotion.data.clipset import ClipSet
    from avemotion.data.selection import FeatureSelection
    from avemotion.data.store import FeatureStore
    from avemotion.training.run_setup import resolve_label_set

    config = Config().with_overrides({"train.modality": modality})
    store = FeatureStore(features)
    labels = resolve_label_set(store).labels
    records, feats = store.load_all()
    selection = FeatureSelection.fit(feats, modality, config.audio.extractors, store.root, labels,
                                     config.audio.speed_views)
    return config, ClipSet.build(records, feats, selection, labels, store.root), selection.dims


def time_fit(features: Path, modality: str, epochs: int, workdir: Path, seed: int = 0,
             profile: bool = False) -> tuple[float, float, int, object]:
    """Wall and CPU ms per training clip and epoch of one :func:`fit` (epochs 2..N), the training clip count,
    and the profile (or None)."""
    from avemotion.training.fit import FitPlan, TrainSetup, fit
    from avemotion.training.run_setup import training_torch_settings

    config, clipset, dims = load_clipset(features, modality)
    config = config.with_overrides({"train.checkpoint_seconds": 1e9})
    order = np.random.default_rng(seed).permutation(len(clipset))
    train_idx = np.sort(order[: int(0.8 * len(order))])
    stamps: list[tuple[float, float]] = []
    setup = TrainSetup(config.model.name, config, clipset, dims, lambda stage, epoch: stamps.append(
        (time.perf_counter(), time.process_time())))
    plan = FitPlan(train_idx, None, workdir, f"{modality} {seed}", seed, epochs=epochs)
    prof = cProfile.Profile() if profile else None
    with training_torch_settings(config.train):
        if prof is not None:
            prof.enable()
        fit(setup, plan)
        if prof is not None:
            prof.disable()
    per = (len(stamps) - 1) * len(train_idx) / 1000
    return ((stamps[-1][0] - stamps[0][0]) / per, (stamps[-1][1] - stamps[0][1]) / per, len(train_idx),
            prof)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=Path, help="a feature store (default: a synthetic one made here)")
    ap.add_argument("--clips", type=int, default=240, help="clips of the synthetic store")
    ap.add_argument("--length", choices=sorted(LENGTHS), default="javanese", help="synthetic clip lengths")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per timed run (the first is not timed)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--modality", nargs="+", default=["av", "audio"], choices=["av", "audio", "video"])
    ap.add_argument("--profile", choices=["av", "audio", "video"],
                    help="print a cProfile of one run of this modality (cumulative time, top 30)")
    args = ap.parse_args()
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
        base = BASELINE.get(key, {})
        print(f"store {key}; torch threads 1 (train.threads); load average "
              f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
        print(f"{'ms per training clip and epoch':<34}{'median':>8}{'spread':>14}{'today':>8}{'ratio':>8}")
        for modality in args.modality:
            wall, cpu = [], []
            n = 0
            for r in range(args.repeats):
                w, c, n, _ = time_fit(features, modality, args.epochs, Path(tmp) / f"run-{modality}-{r}")
                wall.append(w)
                cpu.append(c)
            for kind, runs in (("wall", wall), ("cpu", cpu)):
                med = statistics.median(runs)
                today = base.get(f"{modality} {kind}", float("nan"))
                print(f"{f'{modality} ({n} clips), {kind}':<34}{med:>8.2f}"
                      f"{f'{min(runs):.2f}-{max(runs):.2f}':>14}{today:>8.2f}{today / med:>7.2f}x")
        if args.profile:
            _, _, _, prof = time_fit(features, args.profile, args.epochs, Path(tmp) / "profile", profile=True)
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
