"""The read-out / model-selection policy: ``model.linear_readout=auto`` made definite, which candidates a
training run scores on its validation clips (the linear read-outs alone; after each epoch the network alone and
averaged with them), when a candidate replaces the kept one (ties, the margin against the read-outs), and the
choice on inner folds (``train.inner_folds``): pooled validation answers, and an honest score for "the best of
many candidates". The training runs themselves are :mod:`avemotion.training.fit` and, for the inner folds,
:func:`avemotion.training.folds.inner_choice`.

With ``train.inner_folds = k`` each fold trains k models, one per speaker-grouped inner fold of its training +
validation clips, and records which validation clips every candidate gets right: each epoch's network alone
and averaged with the linear read-outs, and the read-outs alone. Pooled over the inner folds, every training
speaker has judged once, so the epoch count and the read-outs-or-network decision no longer hang on one speaker.

The best candidate's pooled UA is still flattered: with dozens of epochs scored on the same clips, the maximum
beats a single fixed candidate (the read-outs) by chance alone. Cross-fitting removes the flattery: split the
pooled clips into two class-stratified halves, choose the best candidate on one half, score it on the other, and
the other way round; average over several random splits. The read-outs, a single candidate, are scored on the
same halves. The network replaces them only when its held-out score is higher: two honest estimates compared
(the network's a little pessimistic, as it was chosen on half the clips; on hundreds of pooled clips that
matters little).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avemotion.config import Config
from avemotion.models.accuracy import unweighted_accuracies
from avemotion.training.metrics import paired_ua_se
from avemotion.utils.progress import log

#: below this many training clips in a class (in any fold), ``model.linear_readout=auto`` means "select"
SMALL_DATA_PER_CLASS = 10


# --- which candidates there are ---------------------------------------------------------------------------
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


def min_epochs(config: Config) -> int:
    """Fewest epochs of a run without validation: 0 (the read-outs alone) when the model has read-outs, else 1."""
    return 0 if config.model.linear_readout == "select" else 1


def candidate_mixes(mixes: tuple[float, ...]) -> list[float]:
    """The read-out weights an epoch is scored with: the network alone, then averaged with the read-outs (only the
    network without read-outs)."""
    return [m for m in mixes if m < 1.0] or [0.0]


def median_c(chosen: list[dict[str, float]]) -> dict[str, float] | None:
    """Per head, the median of the C several runs' read-outs chose (the folds', or a fold's inner runs')."""
    heads = {h for c in chosen for h in c}
    return {h: float(np.median([c[h] for c in chosen if h in c])) for h in heads} or None


# --- one run's choice, epoch by epoch ---------------------------------------------------------------------
def readout_margin(y: np.ndarray, candidate: np.ndarray, readouts: list[bool] | None, n_se: float) -> float:
    """How much a candidate's validation UA must exceed the read-outs' alone (``train.readout_margin`` standard
    errors of the paired difference, :func:`paired_ua_se`). The network's epochs and mixes are many candidates
    against one, judged on a few validation speakers: without a margin, the best of them beats the read-outs by
    chance alone (docs/experiments/2026-12-01-linear-readouts.md)."""
    if n_se <= 0 or readouts is None:
        return 0.0
    return n_se * paired_ua_se(y, candidate, np.asarray(readouts, dtype=bool))


def improves(ua: float, loss: float, best_ua: float, best_loss: float, margin: float = 0.0,
             tie_break: bool = True) -> bool:
    """Whether a candidate (validation UA, NLL) replaces the kept one: a UA higher by more than ``margin``, or
    with ``tie_break`` an equal UA (within 1e-9) and a lower loss."""
    return ua > best_ua + margin + 1e-9 or (tie_break and abs(ua - best_ua) <= 1e-9 and loss < best_loss)


# --- the choice on inner folds ----------------------------------------------------------------------------


def pack_correct(correct: np.ndarray) -> str:
    """Which clips a candidate gets right, as a hex string (8 clips a byte), for the resumable track."""
    return np.packbits(np.asarray(correct, dtype=bool)).tobytes().hex()


def unpack_correct(packed: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(packed), dtype=np.uint8))[:n].astype(bool)


@dataclass(frozen=True)
class CrossfitScore:
    """Held-out UA of "the best candidate, chosen on the other half" and of the reference on the same halves,
    averaged over the splits; ``wins``: in how many of the ``halves`` the chosen candidate beat the reference."""

    chosen: float
    reference: float
    wins: int
    halves: int


def _stratified_half(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random half of the clips, half of every class (an odd class's extra clip goes to either side)."""
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        mask[idx[:(len(idx) + int(rng.integers(2))) // 2]] = True
    return mask


def crossfit_ua(y: np.ndarray, candidates: np.ndarray, reference: np.ndarray, seed: int = 0,
                repeats: int = 20) -> CrossfitScore:
    """Cross-fitted UA of choosing the best of ``candidates`` (K, N) bool by UA (ties: the first) against the
    single ``reference`` (N,) bool, on validation labels ``y`` (N,): random class-stratified halves, the candidate
    chosen on one half and scored on the other, both ways, ``repeats`` times (seeded). Halves (rather than leaving
    one clip out) because the answer must be steady: with near-tied candidates, leaving out one clip flips the
    choice exactly on the clips that decide the tie, and the score swings widely from one draw of the data to the
    next. Without any usable split (fewer than 2 clips) both scores are the in-sample ones."""
    y = np.asarray(y, dtype=np.int64)
    cand = np.asarray(candidates, dtype=bool).reshape(-1, len(y)) if len(y) else np.zeros((0, 0), dtype=bool)
    ref = np.asarray(reference, dtype=bool)[None, :]
    rng = np.random.default_rng(seed)
    chosen, refs, wins = [], [], 0
    for _ in range(repeats if len(y) >= 2 and len(cand) else 0):
        half = _stratified_half(y, rng)
        for pick in (half, ~half):
            held = ~pick
            if not pick.any() or not held.any():
                continue
            best = int(np.argmax(unweighted_accuracies(cand, y, pick)))
            c_ua = float(unweighted_accuracies(cand[best:best + 1], y, held)[0])
            r_ua = float(unweighted_accuracies(ref, y, held)[0])
            chosen.append(c_ua)
            refs.append(r_ua)
            wins += c_ua > r_ua + 1e-9
    if not chosen:
        c_ua = float(unweighted_accuracies(cand, y).max(initial=0.0))
        r_ua = float(unweighted_accuracies(ref, y)[0])
        return CrossfitScore(c_ua, r_ua, int(c_ua > r_ua + 1e-9), 1)
    return CrossfitScore(float(np.mean(chosen)), float(np.mean(refs)), wins, len(chosen))


@dataclass(frozen=True)
class ValAnswers:
    """One training run's answers on its validation clips: which clips each candidate gets right (packed, epoch-
    major; per epoch one candidate per read-out weight tried), and the read-outs alone's (None without)."""

    labels: np.ndarray  # (N,) int
    candidates: list[str]
    readouts: np.ndarray | None  # (N,) bool
    epochs: int  # epochs run


@dataclass(frozen=True)
class PooledChoice:
    """The choice made on several runs' validation answers pooled: ``epoch`` -1 is the read-outs alone."""

    epoch: int
    mix: float
    ua: float  # pooled validation UA of the choice
    network_ua: float | None  # cross-fitted pooled UA of the network's best candidate (None without candidates)
    readout_ua: float | None
    curve: list[float]  # pooled validation UA of the network alone per epoch


def choose_pooled(runs: list[ValAnswers], mixes: list[float]) -> PooledChoice:
    """Pool ``runs`` (disjoint validation clips) over the epochs all of them ran; the network's candidate with the
    best pooled UA (ties: the earliest), kept over the read-outs only if its cross-fitted pooled UA
    (:func:`crossfit_ua`, random halves) beats theirs. ``mixes``: the read-out weights tried each epoch, in the
    recorded order."""
    y = np.concatenate([r.labels for r in runs])
    n_epochs = min(r.epochs for r in runs)
    q = n_epochs * len(mixes)
    cands = (np.concatenate([np.stack([unpack_correct(c, len(r.labels)) for c in r.candidates[:q]]) for r in runs], 1)
             if q else np.zeros((0, len(y)), dtype=bool))
    has_readouts = all(r.readouts is not None for r in runs)
    ref = np.concatenate([r.readouts for r in runs if r.readouts is not None]) if has_readouts else None
    uas = unweighted_accuracies(cands, y)
    curve = [float(uas[e * len(mixes) + mixes.index(0.0)]) for e in range(n_epochs)] if 0.0 in mixes else []
    ro_ua = float(unweighted_accuracies(ref[None, :], y)[0]) if ref is not None else None
    if not q:  # nothing trained (e.g. a model without parameters): the read-outs alone where there are any
        return PooledChoice(-1, 1.0 if ref is not None else 0.0, ro_ua or 0.0, None, ro_ua, curve)
    best = int(np.argmax(uas))
    epoch, mix = best // len(mixes), mixes[best % len(mixes)]
    if ref is None:
        return PooledChoice(epoch, mix, float(uas[best]), None, None, curve)
    cf = crossfit_ua(y, cands, ref)
    if cf.chosen > cf.reference + 1e-9:
        return PooledChoice(epoch, mix, float(uas[best]), cf.chosen, cf.reference, curve)
    return PooledChoice(-1, 1.0, cf.reference, cf.chosen, cf.reference, curve)
