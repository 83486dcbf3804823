"""Why the network trails logistic regression on the clip vector: a diagnostic on an audio feature store.

On the same speaker-grouped folds as `avemotion compare` (`train.seed` = each --seeds value), from the clip
functionals the classical baselines use (the Whisper clip vector with the default X^a), it reports test UA of:

- logreg: the `logreg` baseline (L-BFGS to convergence, balanced, C on the validation speaker, refitted on
  training + validation clips);
- logreg, no refit: the same objective fitted on the training clips only (the model's own read-out,
  `models/readout.py`);
- linear, AdamW: the same linear softmax model trained as the network is (AdamW lr 1e-3, weight decay 1e-2, input
  dropout 0.2, batch 32, early stopping on validation UA, patience 10);
- MLP, AdamW: a head like the network's (Linear to 128, LayerNorm, Linear, GELU, Linear), trained the same way;
- logreg on the MLP's hidden layer: the MLP's 128-d representation read out by the logreg above;
- MLP residual on logreg: logits = logreg's (fixed) + the MLP's (last layer starting at zero), early stopping
  may keep the logreg alone.

    .venv/bin/python evaluations/linear_vs_deep.py --features runs/ravdess_speech/features --seeds 1,2,3,4

Findings on RAVDESS speech (12 actors, docs/method/model.md): gradient training loses to the convex fit even for
the same linear model, and what an MLP learns on 9 actors transfers worse to new actors than the pretrained
features themselves.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch
from seed_table import print_table

from avemotion.config import Config
from avemotion.data.batch import clip_functionals
from avemotion.data.clipset import ClipSet
from avemotion.data.dims import FeatureDims
from avemotion.data.selection import FeatureSelection
from avemotion.data.store import FeatureStore
from avemotion.models.classical import CLASSICAL, ClassicalModel
from avemotion.models.readout import LinearReadout, balanced_accuracy, balanced_class_weights, fit_readout
from avemotion.training.splits import make_splits
from avemotion.training.trainer import resolve_label_set


def ua(p: np.ndarray, y: np.ndarray) -> float:
    return balanced_accuracy(y, p.argmax(1))


def nll(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(p[np.arange(len(y)), y] + 1e-9).mean())


def logreg(xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray, k: int
           ) -> Callable[[np.ndarray], torch.Tensor]:
    """The model's linear read-out (balanced, C by validation UA, fitted on the training clips); returns logits."""
    y = torch.as_tensor(ytr)
    readout = LinearReadout(xtr.shape[1], k)
    fit_readout(readout, torch.as_tensor(xtr), y, k, balanced_class_weights(y, k), x_val=torch.as_tensor(xva),
                y_val=torch.as_tensor(yva))
    return lambda a: readout(torch.as_tensor(np.asarray(a))).detach()


def train_torch(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, xv: torch.Tensor, yv: np.ndarray,
                seed: int, offset: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
    """AdamW as the network trains; keeps the best state by validation UA (ties: NLL); with ``offset``, the state
    before training (the offset alone) is the first candidate."""
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    gen = torch.Generator().manual_seed(seed)
    off_t, off_v = offset if offset is not None else (torch.zeros(len(x), 1), torch.zeros(len(xv), 1))

    def val_key() -> tuple[float, float]:
        net.eval()
        with torch.no_grad():
            p = torch.softmax(net(xv) + off_v, -1).numpy()
        return ua(p, yv), -nll(p, yv)

    best = val_key() if offset is not None else (-1.0, 0.0)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    bad = 0
    for _ in range(60):
        net.train()
        for b in torch.randperm(len(x), generator=gen).split(32):
            loss = torch.nn.functional.cross_entropy(net(x[b]) + off_t[b], y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        key = val_key()
        if key > best:
            best, bad, state = key, 0, {k: v.clone() for k, v in net.state_dict().items()}
        else:
            bad += 1
            if bad >= 10:
                break
    net.load_state_dict(state)
    net.eval()


def mlp(width: int, n_classes: int, hidden: int = 128, dropout: float = 0.2) -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Dropout(dropout), torch.nn.Linear(width, hidden), torch.nn.LayerNorm(hidden),
                               torch.nn.Dropout(dropout), torch.nn.Linear(hidden, hidden), torch.nn.GELU(),
                               torch.nn.Dropout(dropout), torch.nn.Linear(hidden, n_classes))


def fold_scores(x: np.ndarray, y: np.ndarray, tr: np.ndarray, va: np.ndarray, te: np.ndarray, n_classes: int,
                seed: int) -> dict[str, float]:
    out: dict[str, float] = {}
    base = ClassicalModel(CLASSICAL.get("logreg"), n_classes, seed).fit(x[tr], y[tr], x[va], y[va])
    out["logreg"] = ua(base.predict_proba(x[te]), y[te])
    lr = logreg(x[tr], y[tr], x[va], y[va], n_classes)
    out["logreg, no refit"] = ua(torch.softmax(lr(x[te]), -1).numpy(), y[te])
    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-8

    def z(a: np.ndarray) -> torch.Tensor:
        return torch.tensor(np.clip((a - mu) / sd, -10, 10), dtype=torch.float32)

    xt, xv, xte, yt = z(x[tr]), z(x[va]), z(x[te]), torch.tensor(y[tr])
    torch.manual_seed(seed)
    lin = torch.nn.Sequential(torch.nn.Dropout(0.2), torch.nn.Linear(x.shape[1], n_classes))
    train_torch(lin, xt, yt, xv, y[va], seed)
    out["linear, AdamW"] = ua(torch.softmax(lin(xte), -1).detach().numpy(), y[te])
    torch.manual_seed(seed)
    net = mlp(x.shape[1], n_classes)
    train_torch(net, xt, yt, xv, y[va], seed)
    out["MLP, AdamW"] = ua(torch.softmax(net(xte), -1).detach().numpy(), y[te])
    hidden: Callable[[torch.Tensor], np.ndarray] = lambda a: net[:6](a).detach().numpy()  # noqa: E731
    lh = logreg(hidden(xt), y[tr], hidden(xv), y[va], n_classes)
    out["logreg on the MLP's hidden layer"] = ua(torch.softmax(lh(hidden(xte)), -1).numpy(), y[te])
    torch.manual_seed(seed)
    res = mlp(x.shape[1], n_classes)
    torch.nn.init.zeros_(res[-1].weight)
    torch.nn.init.zeros_(res[-1].bias)

    def logits(a: np.ndarray) -> torch.Tensor:
        return lr(a).float()

    train_torch(res, xt, yt, xv, y[va], seed, (logits(x[tr]), logits(x[va])))
    out["MLP residual on logreg"] = ua(torch.softmax(res(xte) + logits(x[te]), -1).detach().numpy(), y[te])
    return out


def load_audio_clips(features: str, extractors: list[str]
                     ) -> tuple[FeatureStore, list, ClipSet, FeatureDims, list[str]]:
    """The store, its records, its clips with the audio ``extractors`` (not normalised), their dims, the labels."""
    store = FeatureStore(features)
    label_set = resolve_label_set(store)
    records, feats = store.load_all()
    selection = FeatureSelection.fit(feats, "audio", extractors, store.root, label_set.labels)
    clips = ClipSet.build(records, feats, selection, label_set.labels, store.root)
    return store, records, clips, selection.dims, list(label_set.labels)


FoldScorer = Callable[[np.ndarray, np.ndarray, np.ndarray, int], dict[str, float]]


def over_seeds(clips: ClipSet, seeds: str, n_folds: int, score_fold: FoldScorer) -> dict[str, list[float]]:
    """For each seed of ``seeds`` ("1,2,3"), compare's speaker-grouped folds (``train.seed`` = the seed);
    ``score_fold(train, val, test, seed)`` gives test UA per model; returns per model its UA per seed (mean over
    folds), printing each seed's line."""
    pos = {c: i for i, c in enumerate(clips.clip_ids)}
    per_seed: dict[str, list[float]] = {}
    for seed in (int(s) for s in seeds.split(",")):
        cfg = Config().with_overrides({"train.seed": seed, "train.folds": n_folds, "train.modality": "audio"})
        splits = make_splits(clips.clip_ids, clips.labels, clips.speakers, cfg.train)
        scores: dict[str, list[float]] = {}
        for fold in splits.folds:
            tr, va, te = (np.array([pos[c] for c in getattr(fold, k)]) for k in ("train", "val", "test"))
            for name, value in score_fold(tr, va, te, seed * 1000 + fold.index).items():
                scores.setdefault(name, []).append(value)
        for name, values in scores.items():
            per_seed.setdefault(name, []).append(float(np.mean(values)))
        print(f"seed {seed}: " + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in scores.items()), flush=True)
    return per_seed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", required=True, help="feature store (avemotion extract)")
    ap.add_argument("--seeds", default="1,2,3,4")
    ap.add_argument("--folds", type=int, default=6)
    ap.add_argument("--extractors", default="whisper", help="comma-separated audio extractors to keep")
    args = ap.parse_args()
    torch.set_num_threads(1)
    _, _, clips, dims, labels = load_audio_clips(args.features, args.extractors.split(","))
    x, y = clip_functionals(clips.features, dims), clips.labels
    per_seed = over_seeds(clips, args.seeds, args.folds,
                          lambda tr, va, te, seed: fold_scores(x, y, tr, va, te, len(labels), seed))
    print_table(per_seed, f"UA, mean over {args.folds} speaker-grouped folds, per seed and their mean:")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
