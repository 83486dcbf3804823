"""Robustness of a model's answers to degraded audio (issue #27 item 7): UA on clean clips and on the same clips
with added noise (10 dB SNR), telephone band (300-3400 Hz at 8 kHz) and low-bitrate AAC (16 kbit/s); the video
(faces) stays as recorded.

Two ways to choose what is tested:

    # a model on every clip of a corpus it never saw (e.g. the bundled model on the Javanese clips)
    PYTHONPATH=src python evaluations/robustness.py --model default --corpus folder \
        --root ../shared/data/javanese_av_01_05
    # a trained run's fold models, each on its own held-out speakers (speaker-grouped folds)
    PYTHONPATH=src python evaluations/robustness.py --run RUNDIR

Degradations (seeded per clip, so reruns give the same files): ``noise_10db`` adds white Gaussian noise whose
power is the clip's mean signal power / 10; ``telephone`` band-passes 300-3400 Hz (4th-order Butterworth,
zero phase) and stores the audio at 8 kHz; ``aac_16k`` encodes mono AAC at 16 kbit/s in an .m4a. Features are
extracted with the model's own config (its audio part from the degraded file, its video part from the original
file). Labels are matched to the model's by name and synonym, as in ``decision_rules.py``; UA is over the
corpus's classes the model knows. The table gives each condition's UA, its paired difference from clean with a
95 % interval over resampled speakers, and whether any clip failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decision_rules import class_matcher, paired  # the sibling script's label matching and statistics

from avemotion.data.corpora import load_corpus
from avemotion.data.extract import borrow_extractor
from avemotion.data.manifest import ClipRecord
from avemotion.data.store import FeatureStore
from avemotion.inference.predict import Predictor
from avemotion.media import load_audio
from avemotion.media.write import write_media
from avemotion.utils.atomic import atomic_write_json
from avemotion.utils.progress import progress

SR = 16000
CONDITIONS = ("clean", "noise_10db", "telephone", "aac_16k")


def degrade(audio_path: str, condition: str, out_dir: Path, seed: int) -> str:
    """Path of ``audio_path``'s audio under ``condition`` (written into ``out_dir``; the path itself if clean)."""
    if condition == "clean":
        return audio_path
    from scipy import signal

    x = load_audio(audio_path, SR).astype(np.float64)
    stem = out_dir / f"{Path(audio_path).stem}.{condition}"
    if condition == "noise_10db":
        rng = np.random.default_rng(seed)
        power = float(np.mean(x ** 2)) or 1e-12
        y = x + rng.normal(0.0, np.sqrt(power / 10.0), x.shape)
        return str(write_media(stem.with_suffix(".wav"), None, audio=np.clip(y, -1, 1), sample_rate=SR))
    if condition == "telephone":
        y = signal.resample_poly(x, 1, 2)
        sos = signal.butter(4, [300, 3400], btype="bandpass", fs=8000, output="sos")
        y = signal.sosfiltfilt(sos, y)
        return str(write_media(stem.with_suffix(".wav"), None, audio=np.clip(y, -1, 1), sample_rate=8000))
    if condition == "aac_16k":
        return str(write_media(stem.with_suffix(".m4a"), None, audio=np.clip(x, -1, 1), sample_rate=SR,
                               audio_codec="aac", audio_bitrate=16000))
    raise ValueError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")


def answer(predictor: Predictor, record: ClipRecord, condition: str, tmp: Path, seed: int) -> np.ndarray:
    """The model's calibrated probabilities for ``record`` with its audio under ``condition``."""
    audio = degrade(record.audio_path, condition, tmp, seed) if record.audio_path else None
    degraded = replace(record, audio_path=audio)
    with borrow_extractor(predictor.config) as extractor:
        features = extractor.extract(degraded, "av").features
    pred = predictor.predict(features)
    return np.asarray([pred.probabilities[lab] for lab in predictor.bundle.labels])


def jobs_for_model(model: str, corpus: str, root: Path) -> list[tuple[Predictor, ClipRecord]]:
    from avemotion.inference.api import load_model

    predictor = load_model(model).predictor
    _, records = load_corpus(corpus, root)
    return [(predictor, r) for r in records]


def jobs_for_run(rundir: Path) -> list[tuple[Predictor, ClipRecord]]:
    """Each fold's model with its own test clips (their media paths from the run's feature store)."""
    run = json.loads((rundir / "run.json").read_text())
    splits = json.loads((rundir / "splits.json").read_text())
    records = {r.clip_id: r for r in FeatureStore(run["features"]).load_all()[0]}
    jobs = []
    for k, fold in enumerate(splits["folds"]):
        predictor = Predictor.load(rundir / "folds" / str(k) / "model")
        jobs += [(predictor, records[c]) for c in fold["test"]]
    return jobs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="run folder or bundled model name, tested on every clip of --corpus/--root")
    ap.add_argument("--corpus", default="folder")
    ap.add_argument("--root", type=Path)
    ap.add_argument("--run", type=Path, help="a trained run: its fold models on their own test clips")
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--json", type=Path, help="write the table here")
    args = ap.parse_args(argv)
    if bool(args.run) == bool(args.model):
        ap.error("give --run RUNDIR or --model with --root")
    jobs = jobs_for_run(args.run) if args.run else jobs_for_model(args.model, args.corpus, args.root)
    labels = jobs[0][0].bundle.labels
    model_class = class_matcher(labels)
    jobs = [(p, r) for p, r in jobs if model_class(r.label) is not None]
    y = np.asarray([model_class(r.label) for _, r in jobs])
    spk = np.asarray([str(r.speaker) for _, r in jobs])
    classes = sorted(set(y.tolist()))
    keep = np.asarray(classes)
    conditions = args.conditions.split(",")
    preds: dict[str, np.ndarray] = {}
    failed: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="avemotion-robust-") as tmp:
        for cond in conditions:
            out = []
            failed[cond] = 0
            for i, (predictor, record) in enumerate(progress(jobs, desc=cond, unit="clip")):
                try:
                    p = answer(predictor, record, cond, Path(tmp), seed=i)
                    out.append(int(keep[p[keep].argmax()]))
                except Exception as exc:  # a clip that fails counts as wrong and is reported
                    print(f"{record.clip_id} ({cond}): {exc}", file=sys.stderr)
                    failed[cond] += 1
                    out.append(-1)
            preds[cond] = np.asarray(out)
    print(f"\n{len(jobs)} clips, {len(set(spk))} speakers, classes {', '.join(labels[c] for c in classes)}")
    print("\n| condition | UA | minus clean | 95 % CI (speakers) | failed |\n|---|---:|---:|---|---:|")
    table = {}
    for cond in conditions:
        u, d, lo, hi = paired(y, preds[cond], preds.get("clean", preds[cond]), spk)
        row = " | " if cond == "clean" or "clean" not in preds else f"{d:+.3f} | [{lo:+.3f}, {hi:+.3f}]"
        table[cond] = {"ua": u, "minus_clean": d, "ci": [lo, hi], "failed": failed[cond]}
        print(f"| {cond} | {u:.3f} | {row} | {failed[cond]} |")
    if args.json:
        atomic_write_json(args.json, {"clips": len(jobs), "conditions": table})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
