"""Whisper tiny.en encoder features: recognition quality on RAVDESS and speed.

    PYTHONPATH=src python benchmarks/whisper_features.py ua [--cache /tmp/avemotion-whisper] [--variants ...]
    PYTHONPATH=src python benchmarks/whisper_features.py speed [--repeats 5]

``ua``: the 720 RAVDESS speech clips of actors 01-12 (../shared/data/ravdess_sample/Actor_01..04 and
../shared/data/ravdess_speech_05_12/Actor_05..12; 8 classes from the file names' third field), audio only.
Every clip is encoded once per variant (cached under ``--cache``, never in git): ``real`` (the port on the
clip's real length, as the extractor runs) and ``padded`` (the original 30-s zero-padded window, only the
clip's own steps kept). Each representation (hidden state or average of hidden states, pooled over the clip)
is scored with a standardised multinomial logistic regression, speaker-grouped 6-fold cross-validation
(test actors 1-2, 3-4, ..., 11-12), C chosen in an inner speaker-grouped 5-fold CV on the training actors
from {0.01, 0.1, 1}; the figure is UA (balanced accuracy) over the pooled out-of-fold predictions, with
global standardisation only, and with per-speaker z-normalisation first (each actor's clips standardised
with that actor's own mean and standard deviation; no labels).

``speed``: CPU seconds per audio second (RTF, one thread) of the whisper extractor and of the whole audio
branch with and without it, on synthetic 3-s and 60-s inputs and on real RAVDESS speech when present.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

SR = 16000
SHARED = Path(__file__).resolve().parents[2] / "shared/data"
#: hidden-state combinations scored: name -> states averaged (0: block input, 4: final after LayerNorm)
COMBOS: dict[str, tuple[int, ...]] = {
    "h0": (0,), "h1": (1,), "h2": (2,), "h3": (3,), "h4 (final)": (4,),
    "mean h1-h4": (1, 2, 3, 4), "mean h2-h4": (2, 3, 4), "mean h2-h3": (2, 3), "mean h3-h4": (3, 4),
    "mean h0-h4": (0, 1, 2, 3, 4),
}
POOLS = ("mean", "std", "max", "mean_active", "std_active")
#: steps quieter than this many dB below the clip's loudest step are left out of the *_active pooling
ACTIVE_DB = 35.0
TARGET_RTF = 0.05


def ravdess_files(root: Path = SHARED) -> list[Path]:
    files = sorted((root / "ravdess_sample").glob("Actor_0[1-4]/*.wav"))
    files += sorted((root / "ravdess_speech_05_12").glob("Actor_*/*.wav"))
    return files


def label_and_actor(path: Path) -> tuple[int, int]:
    parts = path.stem.split("-")
    return int(parts[2]) - 1, int(parts[6])


# --- extraction ------------------------------------------------------------------------------------------
def pooled(states: list[np.ndarray], level_db: np.ndarray) -> dict[str, np.ndarray]:
    """combo -> (len(POOLS), d) statistics over the clip's steps (``*_active``: the steps within
    ACTIVE_DB of the loudest one)."""
    active = level_db > -ACTIVE_DB
    out = {}
    for name, layers in COMBOS.items():
        x = np.mean([states[k] for k in layers], axis=0)
        xa = x[active]
        out[name] = np.stack([x.mean(0), x.std(0), x.max(0), xa.mean(0), xa.std(0)]).astype(np.float32)
    return out


def extract(files: list[Path], variant: str, cache: Path) -> dict[str, np.ndarray]:
    """combo -> (n_clips, len(POOLS), d), cached in ``cache/{variant}.npz``."""
    from avemotion.features.audio.common import condition
    from avemotion.features.nets import whisper as wh
    from avemotion.media import load_audio

    file = cache / f"{variant}-v2.npz"
    if file.is_file():
        data = np.load(file)
        if len(data["files"]) == len(files):
            return {k: data[k] for k in COMBOS}
    torch.set_num_threads(1)
    encoder = wh.shared_encoder()
    rows: dict[str, list[np.ndarray]] = {k: [] for k in COMBOS}
    t0, c0 = time.perf_counter(), time.process_time()
    seconds = 0.0
    for i, f in enumerate(files):
        x = condition(load_audio(f, SR), SR, f)
        seconds += len(x) / SR
        enc = wh.encode(x, (0, 1, 2, 3, 4), encoder, padded=variant == "padded")
        for k, v in pooled(enc.states, enc.level_db).items():
            rows[k].append(v)
        if (i + 1) % 100 == 0:
            print(f"  {variant}: {i + 1}/{len(files)} clips, {time.perf_counter() - t0:.0f} s wall", flush=True)
    cpu = time.process_time() - c0
    print(f"  {variant}: {len(files)} clips ({seconds:.0f} s of audio) in {cpu:.1f} s CPU "
          f"(incl. decoding; RTF {cpu / seconds:.4f})", flush=True)
    out = {k: np.stack(v) for k, v in rows.items()}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(file, files=np.array([str(f) for f in files]), **out)
    return out


# --- evaluation ------------------------------------------------------------------------------------------
def speaker_z(x: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Each speaker's clips standardised with that speaker's own mean and standard deviation (no labels)."""
    out = np.empty_like(x, dtype=np.float64)
    for s in np.unique(speakers):
        m = speakers == s
        out[m] = (x[m] - x[m].mean(0)) / (x[m].std(0) + 1e-6)
    return out


def cv_ua(x: np.ndarray, y: np.ndarray, actors: np.ndarray,
          cs: tuple[float, ...] = (0.01, 0.1, 1.0)) -> tuple[float, float, list[float]]:
    """(UA, WA, chosen C per fold) of nested speaker-grouped CV (outer: actor pairs; inner: the remaining pairs)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def model(c: float):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))

    pairs = (actors - 1) // 2
    pred = np.empty_like(y)
    chosen = []
    for fold in np.unique(pairs):
        train, test = pairs != fold, pairs == fold
        if len(cs) > 1:
            scores = []
            for c in cs:
                p_in = np.empty(int(train.sum()), dtype=y.dtype)
                for inner in np.unique(pairs[train]):
                    tr, te = pairs[train] != inner, pairs[train] == inner
                    p_in[te] = model(c).fit(x[train][tr], y[train][tr]).predict(x[train][te])
                scores.append(balanced_accuracy_score(y[train], p_in))
            c = cs[int(np.argmax(scores))]
        else:
            c = cs[0]
        chosen.append(c)
        pred[test] = model(c).fit(x[train], y[train]).predict(x[test])
    return balanced_accuracy_score(y, pred), float((pred == y).mean()), chosen


def extractor_vectors(files: list[Path], cache: Path, thresholds: tuple[float | None, ...]) -> dict[str, np.ndarray]:
    """The extractor's clip vector with the default config, for several ``audio.whisper.active_db`` values."""
    from avemotion.config import WhisperConfig
    from avemotion.features.audio.common import condition
    from avemotion.features.audio.whisper import WhisperExtractor
    from avemotion.media import load_audio

    file = cache / "extractor.npz"
    keys = [f"whisper.active_db={t}" for t in thresholds]
    if file.is_file():
        data = np.load(file)
        if all(k in data for k in keys) and len(data[keys[0]]) == len(files):
            return {k: data[k] for k in keys}
    torch.set_num_threads(1)
    extractors = {k: WhisperExtractor(WhisperConfig(active_db=t)) for k, t in zip(keys, thresholds, strict=True)}
    rows: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for f in files:
        x = condition(load_audio(f, SR), SR, f)
        for k, ext in extractors.items():
            rows[k].append(ext.analyse(x).vec)
    out = {k: np.stack(v) for k, v in rows.items()}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(file, **out)
    return out


def run_ua(args: argparse.Namespace) -> None:
    from avemotion.config import AudioConfig

    files = ravdess_files()
    if len(files) != 720:
        sys.exit(f"expected 720 RAVDESS wavs under {SHARED}, found {len(files)}")
    y, actors = map(np.array, zip(*(label_and_actor(f) for f in files), strict=True))
    print(f"# RAVDESS speech actors 01-12: {len(files)} clips, {len(np.unique(y))} classes; "
          f"load average {os.getloadavg()[0]:.2f}")
    if args.extractor:
        print()
        print(f"The extractor's clip vector (AudioConfig defaults: whisper.layers "
              f"{AudioConfig().whisper.layers}, mean + std over the active steps):")
        print()
        print("| whisper.active_db | UA global | UA per-speaker z | WA per-speaker z |")
        print("|---|---:|---:|---:|")
        for key, x in extractor_vectors(files, args.cache, (25.0, 35.0, 45.0, None)).items():
            x = x.astype(np.float64)
            ua_g, _, _ = cv_ua(x, y, actors)
            ua_s, wa_s, _ = cv_ua(speaker_z(x, actors), y, actors)
            print(f"| {key.split('=')[1]} | {ua_g:.3f} | {ua_s:.3f} | {wa_s:.3f} |", flush=True)
        return
    feats = {v: extract(files, v, args.cache) for v in args.variants}
    pool_sets = {"mean+std": (0, 1), "mean+std, active steps": (3, 4), "mean": (0,), "mean+std+max": (0, 1, 2)}
    print()
    print("| variant | hidden states | pooling | dims | UA global | UA per-speaker z | WA per-speaker z "
          "| C chosen (per-speaker z) |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for variant in args.variants:
        for combo in args.combos or COMBOS:
            for pool_name, idx in pool_sets.items():
                if not pool_name.startswith("mean+std") and combo not in args.pool_combos:
                    continue
                x = feats[variant][combo][:, list(idx)].reshape(len(files), -1).astype(np.float64)
                ua_g, _, _ = cv_ua(x, y, actors)
                ua_s, wa_s, cs = cv_ua(speaker_z(x, actors), y, actors)
                print(f"| {variant} | {combo} | {pool_name} | {x.shape[1]} | {ua_g:.3f} | {ua_s:.3f} | "
                      f"{wa_s:.3f} | {', '.join(f'{c:g}' for c in cs)} |", flush=True)


# --- speed -----------------------------------------------------------------------------------------------
def cpu_time(fn: Callable[[], object], repeats: int) -> float:
    """Minimum CPU time of this process over the repeats after one warm-up call (one thread)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        c0 = time.process_time()
        fn()
        best = min(best, time.process_time() - c0)
    return best


def run_speed(args: argparse.Namespace) -> None:
    from audio_helpers import speech_like

    from avemotion.config import AudioConfig, OpenSmileConfig, WhisperConfig
    from avemotion.features.audio import AudioBranch
    from avemotion.features.audio.whisper import WhisperExtractor
    from avemotion.features.nets import whisper as wh
    from avemotion.media import load_audio

    torch.set_num_threads(1)
    inputs = [(f"synthetic {d:g} s", speech_like(d, SR, seed=0)) for d in (3.0, 60.0)]
    files = ravdess_files()
    if files:
        first = load_audio(files[0], SR)
        inputs.append((f"RAVDESS {len(first) / SR:.1f} s", first))
        joined = np.concatenate([load_audio(f, SR) for f in files[:40]])[: 60 * SR]
        inputs.append(("RAVDESS joined 60 s", joined))
    plain = AudioConfig(speed_views=[])  # one pass per clip
    paper = plain.model_copy(update={"extractors": ["mfcc", "opensmile", "soundnet"]})
    with_w = paper.model_copy(update={"extractors": [*paper.extractors, "whisper"]})
    branches = {
        f"whole branch, default (whisper + speed views {', '.join(map(str, AudioConfig().speed_views))})":
            AudioBranch(AudioConfig()),
        "whole branch, whisper alone (speed_views=[])": AudioBranch(plain),
        "whole branch, paper (mfcc + IS09/IS11/IS13 + soundnet)": AudioBranch(paper),
        "whole branch, paper + whisper": AudioBranch(with_w),
        "whole branch, paper + whisper, opensmile.sets=[IS09, IS13]":
            AudioBranch(with_w.model_copy(update={"opensmile": OpenSmileConfig(sets=["IS09", "IS13"])})),
        "whole branch, paper + whisper, opensmile.sets=[IS09]":
            AudioBranch(with_w.model_copy(update={"opensmile": OpenSmileConfig(sets=["IS09"])})),
        "whole branch, mfcc + whisper": AudioBranch(with_w.model_copy(update={"extractors": ["mfcc", "whisper"]})),
    }
    encoder = wh.shared_encoder()
    ext = WhisperExtractor(paper.whisper)
    ext4 = WhisperExtractor(WhisperConfig(layers=[4]))
    print(f"# CPU seconds per audio second (min over {args.repeats} repeats after a warm-up), one thread, "
          f"torch {torch.__version__}; load average {os.getloadavg()[0]:.2f}")
    print()
    print("| input | step | ms CPU | RTF (CPU) |")
    print("|---|---|---:|---:|")
    verdicts = []
    for label, x in inputs:
        dur = len(x) / SR
        reps = args.repeats if dur <= 10 else max(2, args.repeats // 2)
        cases: list[tuple[str, Callable[[], object]]] = [
            ("whisper log-mel (numpy)", lambda x=x: wh.log_mel(x)),
            ("whisper extractor, default (h2: blocks 3-4 skipped)", lambda x=x: ext.analyse(x)),
            ("whisper extractor, whisper.layers=[4] (all blocks)", lambda x=x: ext4.analyse(x)),
        ]
        if dur <= 30:
            cases.append(("whisper h4, original padded 30-s window (port)",
                          lambda x=x: wh.encode(x, (4,), encoder, padded=True)))
        for name, b in branches.items():
            cases.append((name, lambda b=b, x=x: b.extract(x, SR)))
        for step, fn in cases:
            cpu = cpu_time(fn, reps)
            print(f"| {label} | {step} | {1e3 * cpu:.1f} | {cpu / dur:.4f} |", flush=True)
            if step.startswith("whole branch"):
                verdicts.append(f"{label}, {step}: RTF {cpu / dur:.4f} "
                                f"({'meets' if cpu / dur <= TARGET_RTF else 'misses'} {TARGET_RTF})")
    print()
    print("\n".join(verdicts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    ua = sub.add_parser("ua")
    ua.add_argument("--cache", type=Path, default=Path("/tmp/avemotion-whisper"))
    ua.add_argument("--variants", nargs="+", default=["real", "padded"], choices=["real", "padded"])
    ua.add_argument("--extractor", action="store_true",
                    help="score only the extractor's own clip vector (default config, several audio.whisper.active_db)")
    ua.add_argument("--combos", nargs="+", default=None, choices=list(COMBOS))
    ua.add_argument("--pool-combos", nargs="+", default=["h2", "h4 (final)", "mean h1-h4"],
                    help="combinations also scored with mean-only and mean+std+max pooling")
    sp = sub.add_parser("speed")
    sp.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    run_ua(args) if args.cmd == "ua" else run_speed(args)


if __name__ == "__main__":
    main()
