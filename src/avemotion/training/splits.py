"""Train / validation / test splits, seeded and saved to ``RUNDIR/splits.json``.

- ``kfold``: stratified k-fold; speaker-grouped (scikit-learn ``StratifiedGroupKFold``) when
  ``group_by`` is not "none" and every clip has a speaker and there are at least k speakers;
- ``split``: one random stratified train:val:test split (the paper's 8:1:1, section 4.2; not speaker-grouped);
- ``logo``: leave one speaker out (one fold per speaker).

In ``kfold`` and ``logo`` the validation set (for early stopping) is carved from the training part:
``val_fraction`` of it, speaker-grouped when the folds are. A class with too few clips to stratify falls
back to an unstratified split; the fallbacks taken are listed under ``notes``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import (
    GroupShuffleSplit,
    LeaveOneGroupOut,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

from avemotion.config import TrainConfig
from avemotion.config.schema import UNGROUPED
from avemotion.errors import AvemotionError
from avemotion.utils.atomic import atomic_write_json


@dataclass
class Fold:
    index: int
    train: list[str]
    val: list[str]
    test: list[str]

    def indices(self, pos: dict[str, int]) -> dict[str, np.ndarray]:
        """Positions of the fold's "train", "val" and "test" clips in a clip set (``pos``: clip id -> position)."""
        return {k: np.asarray([pos[c] for c in getattr(self, k)], dtype=np.int64) for k in ("train", "val", "test")}

    @property
    def val_is_train(self) -> bool:
        """Too few clips for a validation part: the fold validates on its training clips."""
        return set(self.val) == set(self.train)


@dataclass
class Splits:
    scheme: str
    grouped: bool
    seed: int
    folds: list[Fold]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"scheme": self.scheme, "grouped": self.grouped, "seed": self.seed, "notes": self.notes,
                "folds": [{"fold": f.index, "train": f.train, "val": f.val, "test": f.test} for f in self.folds]}

    @classmethod
    def from_dict(cls, d: dict) -> Splits:
        return cls(d["scheme"], bool(d["grouped"]), int(d["seed"]),
                   [Fold(int(f["fold"]), list(f["train"]), list(f["val"]), list(f["test"])) for f in d["folds"]],
                   list(d.get("notes", [])))

    def save(self, path: str | Path) -> Path:
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Splits:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AvemotionError(f"unreadable splits file ({exc}); delete it to make new splits", path) from None

    def describe(self) -> str:
        sizes = ", ".join(f"{len(f.train)}/{len(f.val)}/{len(f.test)}" for f in self.folds)
        return f"{self.scheme}{' (speaker-grouped)' if self.grouped else ''}, train/val/test per fold: {sizes}"


def _stratify_ok(y: np.ndarray, n_splits: int) -> bool:
    return bool(np.bincount(y).max() > 0 and np.bincount(y)[np.bincount(y) > 0].min() >= n_splits)


def _carve_val(idx: np.ndarray, y: np.ndarray, groups: np.ndarray | None, frac: float, seed: int,
               notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (train, val) with about ``frac`` of it in val; grouped when ``groups`` is given."""
    if len(idx) < 4:
        notes.append("training part too small for a validation set: early stopping on the training part")
        return idx, idx
    if groups is not None:
        g = groups[idx]
        if len(np.unique(g)) >= 3:
            k = max(2, int(round(1 / frac)))
            k = min(k, len(np.unique(g)))
            if _stratify_ok(y[idx], k):
                sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
                tr, va = next(sgkf.split(idx, y[idx], g))
            else:
                gss = GroupShuffleSplit(n_splits=1, test_size=frac, random_state=seed)
                tr, va = next(gss.split(idx, y[idx], g))
            return idx[tr], idx[va]
        notes.append("fewer than 3 speakers in a training part: its validation set is not speaker-grouped")
    strat = y[idx] if _stratify_ok(y[idx], 2) else None
    n_val = max(1, int(round(frac * len(idx))))
    if strat is not None and n_val < len(np.unique(strat)):
        n_val = len(np.unique(strat))
        if n_val >= len(idx):
            strat = None
            n_val = max(1, int(round(frac * len(idx))))
    tr, va = train_test_split(np.arange(len(idx)), test_size=n_val, random_state=seed, stratify=strat)
    return idx[np.sort(tr)], idx[np.sort(va)]


def _few_per_class(train: np.ndarray, y: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``k`` clips of each class from ``train`` (seeded); they are also the validation clips."""
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(train[y[train] == c])[:k] for c in np.unique(y[train])]
    kept = np.sort(np.concatenate(keep))
    return kept, kept


def make_splits(clip_ids: Sequence[str], labels: np.ndarray, speakers: Sequence[str | None],
                config: TrainConfig) -> Splits:
    ids = np.asarray(list(clip_ids))
    y = np.asarray(labels, dtype=np.int64)
    n = len(ids)
    seed = config.seed
    notes: list[str] = []
    known = all(s for s in speakers)
    groups = np.asarray([s or "" for s in speakers]) if known else None
    n_groups = len(np.unique(groups)) if groups is not None else 0
    folds: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    grouped = False
    if config.scheme == "split":
        r_tr, r_va, r_te = config.split_ratios()
        strat = y if _stratify_ok(y, 3) else None
        if strat is None:
            notes.append("a class has fewer than 3 clips: the 8:1:1 split is not stratified")
        all_idx = np.arange(n)
        if r_te > 0:
            rest, test = train_test_split(all_idx, test_size=max(r_te, 1 / n), random_state=seed, stratify=strat)
        else:
            raise AvemotionError("the split needs a test share, e.g. 8:1:1")
        if r_va > 0:
            s2 = y[rest] if strat is not None else None
            tr, va = train_test_split(rest, test_size=max(r_va / (r_tr + r_va), 1 / len(rest)),
                                      random_state=seed, stratify=s2)
        else:
            tr, va = rest, rest
            notes.append("no validation share: early stopping on the training part")
        folds.append((np.sort(tr), np.sort(va), np.sort(test)))
    elif config.scheme == "logo":
        if groups is None or n_groups < 2:
            raise AvemotionError("leave-one-speaker-out needs the speaker of every clip and at least 2 speakers")
        grouped = True
        for tr, te in LeaveOneGroupOut().split(np.arange(n), y, groups):
            tr2, va = _carve_val(tr, y, groups, config.val_fraction, seed, notes)
            folds.append((tr2, va, te))
    else:
        k = config.folds
        if n < k:
            raise AvemotionError(f"{n} clips cannot make {k} folds; lower --cv")
        grouping = config.group_by != UNGROUPED
        if grouping and groups is not None and n_groups >= k:
            grouped = True
            splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            parts = splitter.split(np.arange(n), y, groups)
        else:
            if grouping:
                notes.append("speakers unknown or fewer than k: folds are not speaker-grouped")
            if _stratify_ok(y, k):
                parts = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.arange(n), y)
            else:
                from sklearn.model_selection import KFold

                notes.append(f"a class has fewer than {k} clips: folds are not stratified")
                parts = KFold(n_splits=k, shuffle=True, random_state=seed).split(np.arange(n))
        for tr, te in parts:
            tr2, va = _carve_val(tr, y, groups if grouped else None, config.val_fraction, seed, notes)
            folds.append((tr2, va, te))
    if config.train_per_class:
        folds = [_few_per_class(tr, y, config.train_per_class, seed + i) + (te,) for i, (tr, _, te) in enumerate(folds)]
        notes.append(f"small-data setting: at most {config.train_per_class} training clips per class, validation on "
                     "those same clips (no held-out validation data)")
    out = [Fold(i, ids[tr].tolist(), ids[va].tolist(), ids[te].tolist()) for i, (tr, va, te) in enumerate(folds)]
    return Splits(config.scheme, grouped, seed, out, sorted(set(notes)))


def inner_folds(labels: np.ndarray, groups: Sequence[str | None], k: int, seed: int) -> list[np.ndarray]:
    """``k`` validation parts (positions into ``labels``) that cover every clip once, for ``train.inner_folds``:
    speaker-grouped and stratified when every clip has a speaker and there are at least 2 (``k`` capped at their
    number), else stratified (unstratified when a class has fewer than ``k`` clips)."""
    from sklearn.model_selection import KFold

    y = np.asarray(labels, dtype=np.int64)
    pos = np.arange(len(y))
    known = all(g for g in groups)
    g = np.asarray([s or "" for s in groups])
    if known and len(np.unique(g)) >= 2:
        k = min(k, len(np.unique(g)))
        parts = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(pos, y, g)
    elif _stratify_ok(y, k):
        parts = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(pos, y)
    else:
        parts = KFold(n_splits=min(k, len(y)), shuffle=True, random_state=seed).split(pos)
    return [np.sort(va) for _, va in parts]

