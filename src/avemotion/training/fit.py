"""One training run (a fold, an inner fold, a refit or the final model): AdamW, early stopping on validation
UA, seeded, deterministic on CPU, resumable from ``WORKDIR/state.*`` (:class:`Checkpointer`).

:class:`TrainSetup` is what every run of one model in a run folder shares; :class:`FitPlan` is one run's part
(clips, folder, seed, epochs, read-out settings). With validation clips, the kept state is the best candidate
of :mod:`avemotion.training.selection`'s policy; the global torch RNG (dropout) is checkpointed and each
epoch's batch order and mixup draws come from a generator seeded by (seed, epoch), so a resumed run ends
exactly as an uninterrupted one."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from avemotion.config import Config
from avemotion.data.batch import iterate_batches, mix_batch
from avemotion.data.clipset import ClipSet
from avemotion.data.dims import FeatureDims
from avemotion.data.standardize import Standardizer
from avemotion.models.base import EmotionModel
from avemotion.models.device import place
from avemotion.models.ensemble import Ensemble
from avemotion.models.predict import Predictions, PreparedClips, predict_clips, predict_clips_mixes, prepare_clips
from avemotion.models.readout import ReadoutMixin
from avemotion.models.registry import build_model
from avemotion.training.checkpoint import Checkpointer
from avemotion.training.losses import balanced_weights, total_loss
from avemotion.training.metrics import compute_metrics
from avemotion.training.results import EpochLog, TrainTrack
from avemotion.training.selection import candidate_mixes, improves, pack_correct, readout_margin
from avemotion.training.stopping import EarlyStopper
from avemotion.utils.progress import log, progress

EpochHook = Callable[[str, int], None]  # (stage name e.g. "fold 0" / "final", finished epoch index)


@dataclass(frozen=True)
class TrainSetup:
    """What every training run of one model shares: its name and config, the clips and their input sizes, and
    the hook called after each epoch."""

    model_name: str
    config: Config
    clipset: ClipSet
    dims: FeatureDims
    on_epoch_end: EpochHook | None = None
    device: str = "cpu"  # where the model computes (avemotion.models.device; batches stay on the CPU)

    def build(self) -> EmotionModel:
        """A new, untrained model (its initialisation draws from the global torch RNG), on ``device``."""
        return place(build_model(self.model_name, self.dims, len(self.clipset.label_names), self.config.model),
                     self.device)


@dataclass(frozen=True)
class FitPlan:
    """One training run: its clips (positions in the clip set), folder, progress name and seed.

    ``val_idx`` None trains ``epochs`` epochs (default ``train.epochs``) with the read-outs weighted
    ``readout_weight`` and fitted with ``readout_c`` (C per head, else the default); with validation clips,
    early stopping. ``record``: keep every candidate's validation answers in the track (the inner folds'
    choice)."""

    train_idx: np.ndarray
    val_idx: np.ndarray | None
    workdir: Path
    stage: str
    seed: int
    epochs: int | None = None
    readout_weight: float = 0.0
    readout_c: dict[str, float] | None = None
    record: bool = False


@dataclass(frozen=True)
class ValScore:
    """A model on the validation clips: UA, mean NLL, and which clips it gets right."""

    ua: float
    loss: float
    correct: np.ndarray  # (N,) bool


def evaluate(model: EmotionModel, clipset: ClipSet, idx: np.ndarray, dims: FeatureDims, std: Standardizer,
             batch_size: int, prepared: PreparedClips | None = None) -> ValScore:
    """``model`` scored on the clips ``idx`` of ``clipset`` (collated once beforehand: ``prepared``)."""
    clips = prepared if prepared is not None else clipset.subset(idx)
    return _score(predict_clips(model, clips, dims, std, batch_size), clipset.labels[idx], clipset.label_names)


def evaluate_mixes(model: EmotionModel, clipset: ClipSet, idx: np.ndarray, dims: FeatureDims,
                   std: Standardizer, batch_size: int, weights: list[float],
                   prepared: PreparedClips | None = None) -> list[ValScore]:
    """:func:`evaluate` with each read-out weight in turn (the model's weight is left at the last), the
    network run once for all."""
    clips = prepared if prepared is not None else clipset.subset(idx)
    preds = predict_clips_mixes(model, clips, dims, std, batch_size, weights)
    return [_score(p, clipset.labels[idx], clipset.label_names) for p in preds]


def _score(preds: Predictions, y: np.ndarray, label_names: list[str]) -> ValScore:
    pred = preds.probs.argmax(1)
    m = compute_metrics(y, pred, None, label_names, None)
    nll = float(-np.log(np.clip(preds.probs[np.arange(len(y)), y], 1e-8, None)).mean())
    return ValScore(m["ua"], nll, pred == y)


def train_and_val(train_idx: np.ndarray, val_idx: np.ndarray) -> np.ndarray:
    """Training clips plus the validation clips that are not among them (refits after early stopping)."""
    return np.concatenate([train_idx, val_idx[~np.isin(val_idx, train_idx)]])


def fit(setup: TrainSetup, plan: FitPlan) -> tuple[EmotionModel, Standardizer, TrainTrack]:
    """Train one model; early stopping on validation UA when ``plan.val_idx`` is given, else ``plan.epochs``.

    A model with linear read-outs (``model.linear_readout=select``) has them fitted first; with validation
    clips the kept state is the best of: the read-outs alone, and after each epoch the network alone and the
    average of both (ties go to the earlier candidate; an epoch replaces the read-outs alone only by more than
    ``train.readout_margin`` standard errors, :func:`~avemotion.training.selection.readout_margin`). The state
    after every epoch goes to ``workdir/state.*``; when it exists, training resumes from it."""
    config, clipset, dims = setup.config, setup.clipset, setup.dims
    tc = config.train
    train_idx, val_idx = plan.train_idx, plan.val_idx
    n_epochs = tc.epochs if plan.epochs is None else plan.epochs
    std = Standardizer.fit(clipset.subset(train_idx), dims, tc.max_abs_z)
    class_weights = (balanced_weights(clipset.labels[train_idx], len(clipset.label_names))
                     if tc.class_weights == "balanced" else None)
    torch.manual_seed(plan.seed)
    model = setup.build()
    # nothing to learn (e.g. video-only with video_prior=zero_shot)
    if not any(True for _ in model.parameters()):
        track = TrainTrack()
        if val_idx is not None:
            score = evaluate(model.eval(), clipset, val_idx, dims, std, tc.batch_size)
            track.best_ua, track.best_loss = score.ua, score.loss
        return model.eval(), std, track
    # foreach: one call per operation for all parameters (the same numbers as one per tensor, in fewer calls)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=tc.lr,
                            weight_decay=tc.weight_decay, foreach=True)
    ckpt = Checkpointer(plan.workdir / "state", plan.stage, model, opt, tc.checkpoint_seconds)
    resuming = ckpt.exists()
    # validation clips of their own (small-data folds validate on the training clips)
    own_val = val_idx is not None and not np.isin(val_idx, train_idx).all()
    if not resuming and isinstance(model, ReadoutMixin):  # a resumed run has the read-outs in its checkpoint
        val_batches = iterate_batches(clipset, val_idx, tc.batch_size, dims, std) if own_val else None
        model.prefit(iterate_batches(clipset, train_idx, tc.batch_size, dims, std), val_batches,
                     len(clipset.label_names), plan.readout_c)
    mixes = model.readout_weights() if isinstance(model, ReadoutMixin) else ()
    record = plan.record and val_idx is not None
    # the validation clips are scored after every epoch with the same inputs: collated once
    val_clips = (prepare_clips(clipset.subset(val_idx), dims, std, tc.batch_size, model.shares_video_rows)
                 if val_idx is not None else None)
    track = TrainTrack()
    if mixes and not resuming:
        if val_idx is not None:
            # the read-outs alone are the first candidate: the network must beat them on the validation clips
            model.set_readout_weight(1.0)
            score = evaluate(model.eval(), clipset, val_idx, dims, std, tc.batch_size, val_clips)
            log(f"{plan.stage}: linear read-outs (C {model.readout_c()}) validation UA {score.ua:.3f}")
            track.best_ua, track.best_loss, track.best_mix = score.ua, score.loss, 1.0
            # the reference of the margin / the inner choice (kept for a resume)
            if tc.readout_margin > 0 or record:
                track.readout_correct = score.correct.tolist()
        else:  # no validation: the weight given (the final model: the folds' median)
            model.set_readout_weight(plan.readout_weight)
            track.best_mix = plan.readout_weight
    best_state = copy.deepcopy(model.state_dict())
    if resuming:
        best_model = setup.build()
        track = ckpt.restore(best_model)
        best_state = best_model.state_dict()
        log(f"{plan.stage}: resuming after epoch {track.epoch}")
    stopper = EarlyStopper(n_epochs, tc.patience if val_idx is not None else None)
    bar = progress(total=n_epochs, initial=track.epoch, desc=plan.stage, unit="epoch")
    ckpt.start_clock()
    try:
        while stopper.running(track):
            ckpt.epoch_started()
            epoch = track.epoch
            gen = torch.Generator().manual_seed(plan.seed * 100003 + epoch)
            entry = EpochLog(epoch, _train_epoch(setup, model, opt, train_idx, std, class_weights, gen))
            if val_idx is not None:
                kept = _validate_epoch(setup, model, val_idx, std, mixes, track, entry, record, val_clips)
                if kept is not None:
                    best_state = kept
            else:
                best_state = copy.deepcopy(model.state_dict())
                track.best_epoch = epoch
            track.history.append(entry)
            track.epoch = epoch + 1
            ckpt.epoch_finished(best_state, track)
            bar.update(1)
            post = {"loss": f"{entry.loss:.3f}"}
            if val_idx is not None:
                names = {1.0: "read-outs", 0.5: f"{track.best_epoch + 1}+read-outs"}
                kept_name = names.get(track.best_mix, str(track.best_epoch + 1))
                post.update(val_ua=f"{entry.val_ua:.3f}", best=f"{track.best_ua:.3f}@{kept_name}")
            bar.set_postfix(post)
            if setup.on_epoch_end is not None:
                setup.on_epoch_end(plan.stage, epoch)
    except BaseException:
        ckpt.interrupted(best_state, track)
        raise
    bar.close()
    model.load_state_dict(best_state)
    if mixes and track.best_mix > 0 and own_val and not tc.refit:
        # the read-outs are used: refitted on training + validation clips with the C chosen on the validation
        # clips (as the logreg baseline does); with train.refit the fold trains the whole model again on both
        # instead
        assert val_idx is not None
        both = train_and_val(train_idx, val_idx)
        model.prefit(iterate_batches(clipset, both, tc.batch_size, dims, std), None, len(clipset.label_names),
                     model.readout_c())
    model.eval()
    return model, std, track


def _train_epoch(setup: TrainSetup, model: EmotionModel, opt: torch.optim.Optimizer, train_idx: np.ndarray,
                 std: Standardizer, class_weights: torch.Tensor | None, gen: torch.Generator) -> float:
    """One pass over the training clips in the order ``gen`` draws; the mean loss."""
    config, tc = setup.config, setup.config.train
    model.train()
    losses = []
    for batch in iterate_batches(setup.clipset, train_idx, tc.batch_size, setup.dims, std, gen, tc.length_buckets):
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
    return float(np.mean(losses))


def _validate_epoch(setup: TrainSetup, model: EmotionModel, val_idx: np.ndarray, std: Standardizer,
                    mixes: tuple[float, ...], track: TrainTrack, entry: EpochLog, record: bool,
                    val_clips: PreparedClips | None = None) -> dict[str, torch.Tensor] | None:
    """Score the epoch's candidates (the network alone, then averaged with the read-outs) on the validation
    clips, update ``track`` and the early stopping; the state to keep when a candidate replaced the kept
    one."""
    clipset, tc = setup.clipset, setup.config.train
    epoch = entry.epoch
    improved = False
    kept = None
    cands = candidate_mixes(mixes)
    scores = (evaluate_mixes(model, clipset, val_idx, setup.dims, std, tc.batch_size, cands, val_clips) if mixes
              else [evaluate(model, clipset, val_idx, setup.dims, std, tc.batch_size, val_clips)])
    for mix, score in zip(cands, scores, strict=True):
        if mixes:
            model.set_readout_weight(mix)  # the weight the kept state carries
        ua, vloss = score.ua, score.loss
        if mix == 0.0:
            entry.val_ua, entry.val_loss = ua, vloss
            # patience follows the network's own progress, as without read-outs: a strong read-out must not
            # stop a network that is still improving
            if mixes and improves(ua, vloss, track.net_best_ua, track.net_best_loss):
                track.net_best_ua, track.net_best_loss, improved = ua, vloss, True
        # against the read-outs alone (best_epoch -1) only a better UA counts, not a lower loss at equal UA:
        # on a validation set that is the training set (small-data folds) both fit it perfectly
        tie_break = track.best_epoch >= 0 or not mixes
        # against the read-outs alone, a margin for the many candidates (train.readout_margin)
        margin = (readout_margin(clipset.labels[val_idx], score.correct, track.readout_correct,
                                 tc.readout_margin) if mixes and track.best_epoch < 0 else 0.0)
        if record:
            track.candidates.append(pack_correct(score.correct))
        if improves(ua, vloss, track.best_ua, track.best_loss, margin, tie_break):
            track.best_ua, track.best_loss, track.best_epoch, track.best_mix = ua, vloss, epoch, mix
            kept = copy.deepcopy(model.state_dict())
            improved = improved or not mixes
    EarlyStopper.record(track, improved)
    return kept


def fit_members(setup: TrainSetup, plan: FitPlan) -> tuple[EmotionModel, Standardizer, TrainTrack]:
    """:func:`fit`, or ``train.ensemble`` members trained one after another (each in ``workdir/mK``,
    resumable) with different seeds, returned as one :class:`Ensemble`. The track is the first member's, with
    the ensemble's validation UA as ``best_ua``."""
    k = setup.config.train.ensemble
    if k == 1:
        return fit(setup, plan)
    members, std, first = [], None, None
    for i in range(k):
        member = replace(plan, workdir=plan.workdir / f"m{i}", stage=f"{plan.stage} [{i + 1}/{k}]",
                         seed=plan.seed + 7919 * i)
        model, std, track = fit(setup, member)
        members.append(model)
        if first is None:
            first = track
    ensemble = Ensemble(members).eval()
    assert std is not None and first is not None
    if plan.val_idx is not None:
        score = evaluate(ensemble, setup.clipset, plan.val_idx, setup.dims, std,
                         setup.config.train.batch_size)
        first.best_ua, first.best_loss = score.ua, score.loss
    return ensemble, std, first
