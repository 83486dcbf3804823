"""Training and timing the classical baselines (:mod:`avemotion.models.classical`) on the comparison's folds.

A fold's result is written by the fold runner as ``folds/k/result.json`` like a deep model's, so a rerun skips
finished folds. The fitted scikit-learn objects are not saved (loading them would mean unpickling); the latency
run refits the best fold's model, which takes seconds.
"""

from __future__ import annotations

import numpy as np

from avemotion.data.batch import clip_functionals as functionals  # the baselines' inputs
from avemotion.data.clipset import ClipSet
from avemotion.data.dims import FeatureDims
from avemotion.models.classical import CLASSICAL, ClassicalModel
from avemotion.models.predict import Predictions
from avemotion.training.latency import Latency, time_calls
from avemotion.training.results import FoldResult
from avemotion.training.splits import Fold


def _fit(name: str, clipset: ClipSet, dims: FeatureDims, pos: dict[str, int], fold: Fold, seed: int
         ) -> ClassicalModel:
    idx = fold.indices(pos)
    x_tr = functionals(clipset.subset(idx["train"]), dims)
    model = ClassicalModel(CLASSICAL.get(name), len(clipset.label_names), seed)
    if fold.val_is_train:
        return model.fit(x_tr, clipset.labels[idx["train"]])
    return model.fit(x_tr, clipset.labels[idx["train"]], functionals(clipset.subset(idx["val"]), dims),
                     clipset.labels[idx["val"]])


def classical_fold_result(name: str, fold: Fold, pos: dict[str, int], clipset: ClipSet, dims: FeatureDims,
                          seed: int) -> tuple[FoldResult, dict[str, object]]:
    """The baseline ``name`` fitted on the fold and its test predictions, and what its ``result.json`` records
    beside them (the chosen C). The fold runner (:func:`avemotion.training.folds.run_fold`) writes it."""
    model = _fit(name, clipset, dims, pos, fold, seed)
    test = fold.indices(pos)["test"]
    probs = model.predict_proba(functionals(clipset.subset(test), dims))
    n = len(test)
    result = FoldResult(fold.index, list(fold.test), clipset.labels[test].tolist(), -1, 0, model.val_ua,
                        Predictions(probs, {}, np.zeros((n, 3)), np.zeros((n, 3))), fold.val_is_train)
    return result, {"C": model.c}


def classical_latency(name: str, fold: Fold, pos: dict[str, int], clipset: ClipSet, dims: FeatureDims,
                      volumes: tuple[int, ...], seed: int) -> tuple[int, list[dict]]:
    """Parameters of the best fold's model and Table 3's timing: clips predicted one by one, stored features to
    probabilities (functionals included), like the deep models' ``volume_latency``."""
    model = _fit(name, clipset, dims, pos, fold, seed)
    rng = np.random.default_rng(seed)
    rows = []
    for n in volumes:
        idx = rng.choice(len(clipset), size=n, replace=n > len(clipset))
        total, times = time_calls(lambda c: model.predict_proba(functionals([c], dims)),
                                  [clipset.features[int(i)] for i in idx], warmup=0)
        rows.append({**Latency(int(n), total, times, include_collate=True).to_dict(),
                     "sampled_with_replacement": bool(n > len(clipset))})
    return model.n_parameters, rows
