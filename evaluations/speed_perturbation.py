"""Speed perturbation of the audio as training data and at test time: a diagnostic on an audio feature store.

Each clip is also resampled to play 0.9x and 1.1x as fast (pitch and tempo together, Kaldi-style speed
perturbation), and its Whisper clip vector (mean + std of the encoder states over the active steps, the default
X^a's functionals) computed for the three versions with the store's audio settings. On the same speaker-grouped
folds as `avemotion compare` (`train.seed` = each --seeds value), it reports test UA of:

- logreg: the `logreg` baseline (balanced, C on the validation speaker, refitted on training + validation);
- + training copies: the perturbed copies of the training and validation clips added to its training data;
- + test-time averaging ("TTA"): the probabilities averaged over a test clip's three versions (and, for the linear
  model, scoring the mean of the three vectors; or the mean vector as the clip's vector throughout);
- MLP: a head like the network's, trained as the network is (evaluations/linear_vs_deep.py), with the same
  variants.

With `--normalize speaker` every (speaker, speed) group is z-normalised on its own clips, as train.normalize=speaker
does per speaker.

    .venv/bin/python evaluations/speed_perturbation.py --features runs/ravdess_speech/features --seeds 1,2,3,4

The vectors are computed once and cached (--cache, default FEATURES/speed_perturbation.npz). Findings on RAVDESS
speech (docs/method/model.md): averaging over the perturbed versions at test time lifts `logreg` by about 0.6
points in every fold draw; as training data the copies do not help it. The pipeline now does this averaging for
its own models (`audio.speed_views`, docs/method/model.md "Speed views in the pipeline").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from linear_vs_deep import load_audio_clips, mlp, over_seeds, train_torch, ua
from seed_table import print_table

from avemotion.config import Config
from avemotion.data.store import FeatureStore
from avemotion.features.audio.common import change_speed
from avemotion.features.audio.whisper import WhisperExtractor
from avemotion.media.audio import load_audio
from avemotion.models.classical import CLASSICAL, ClassicalModel
from avemotion.utils.progress import progress

#: playback speeds (the plain clip and the default audio.speed_views)
SPEEDS = ("1.0", "0.9", "1.1")


def clip_vectors(store: FeatureStore, records: list, clip_ids: list[str], cache: Path) -> dict[str, np.ndarray]:
    """speed -> (N, D) Whisper clip vectors of ``clip_ids`` (in that order), from the clips' audio files."""
    if cache.is_file():
        data = np.load(cache)
        if list(data["clip_ids"]) == list(clip_ids):
            return {s: data[f"speed_{s}"] for s in SPEEDS}
    config = Config.from_yaml(store.root / "config.yaml") if (store.root / "config.yaml").is_file() else Config()
    extractor = WhisperExtractor(config.audio)
    path = {r.clip_id: r.audio_path or r.video_path for r in records}
    out: dict[str, list[np.ndarray]] = {s: [] for s in SPEEDS}
    for clip in progress(clip_ids, desc="whisper clip vectors x3", unit="clip"):
        audio = load_audio(path[clip], extractor.sample_rate)
        for speed in SPEEDS:
            signal = change_speed(audio, float(speed))  # the pipeline's own resampling (audio.speed_views)
            out[speed].append(extractor.analyse(signal).vec)
    vectors = {s: np.stack(v) for s, v in out.items()}
    tmp = cache.with_name(cache.name + ".tmp.npz")
    np.savez(tmp, clip_ids=np.asarray(clip_ids), **{f"speed_{s}": v for s, v in vectors.items()})
    tmp.replace(cache)
    return vectors


def speaker_normalise(vectors: dict[str, np.ndarray], speakers: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for speed, x in vectors.items():
        x = x.copy()
        for s in np.unique(speakers):
            m = speakers == s
            x[m] = (x[m] - x[m].mean(0)) / (x[m].std(0) + 1e-8)
        out[speed] = x
    return out


def fold_scores(xs: dict[str, np.ndarray], y: np.ndarray, tr: np.ndarray, va: np.ndarray, te: np.ndarray,
                n_classes: int, seed: int) -> dict[str, float]:
    x = xs["1.0"]
    mean_x = np.mean(list(xs.values()), 0)
    out: dict[str, float] = {}

    def copies(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate([v[idx] for v in xs.values()]), np.tile(y[idx], len(xs))

    def averaged(predict) -> np.ndarray:
        return np.mean([predict(v[te]) for v in xs.values()], 0)

    # C is chosen on the plain validation clips either way (they are then added to the refit as they are)
    for name, (xtr, ytr) in {"logreg": (x[tr], y[tr]), "logreg + training copies": copies(tr)}.items():
        model = ClassicalModel(CLASSICAL.get("logreg"), n_classes, seed).fit(xtr, ytr, x[va], y[va])
        out[name] = ua(model.predict_proba(x[te]), y[te])
        out[f"{name} + TTA"] = ua(averaged(model.predict_proba), y[te])
        if name == "logreg":  # the linear model scoring the mean of a test clip's three vectors instead
            out["logreg, test on the mean vector"] = ua(model.predict_proba(mean_x[te]), y[te])
    # the mean of the three vectors as the clip's vector for training, validation and test alike
    model = ClassicalModel(CLASSICAL.get("logreg"), n_classes, seed).fit(mean_x[tr], y[tr], mean_x[va], y[va])
    out["logreg on the mean vector throughout"] = ua(model.predict_proba(mean_x[te]), y[te])
    for name, (xtr, ytr) in {"MLP": (x[tr], y[tr]), "MLP + training copies": copies(tr)}.items():
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-8

        def z(a: np.ndarray, mu: np.ndarray = mu, sd: np.ndarray = sd) -> torch.Tensor:
            return torch.tensor(np.clip((a - mu) / sd, -10, 10), dtype=torch.float32)

        torch.manual_seed(seed)
        net = mlp(x.shape[1], n_classes)
        train_torch(net, z(xtr), torch.as_tensor(ytr), z(x[va]), y[va], seed)

        def predict(a: np.ndarray, net: torch.nn.Module = net, z=z) -> np.ndarray:
            return torch.softmax(net(z(a)), -1).detach().numpy()

        out[name] = ua(predict(x[te]), y[te])
        out[f"{name} + TTA"] = ua(averaged(predict), y[te])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", required=True, help="feature store (avemotion extract) of an audio corpus")
    ap.add_argument("--seeds", default="1,2,3,4")
    ap.add_argument("--folds", type=int, default=6)
    ap.add_argument("--normalize", choices=("global", "speaker"), default="global")
    ap.add_argument("--cache", type=Path, help="npz of the three versions' clip vectors "
                    "(default FEATURES/speed_perturbation.npz)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    store, records, clips, _, labels = load_audio_clips(args.features, ["whisper"])
    y, speakers = clips.labels, np.asarray(clips.speakers)
    xs = clip_vectors(store, records, list(clips.clip_ids), args.cache or store.root / "speed_perturbation.npz")
    if args.normalize == "speaker":
        xs = speaker_normalise(xs, speakers)
    per_seed = over_seeds(clips, args.seeds, args.folds,
                          lambda tr, va, te, seed: fold_scores(xs, y, tr, va, te, len(labels), seed))
    print_table(per_seed, f"UA ({args.normalize}), mean over {args.folds} speaker-grouped folds, per seed and their "
                "mean:", reference="logreg")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
