"""The pretrained facial-expression CNN's class probabilities as a prior over a label set (``model.video_prior``).

The video features hold, per face frame, the FER2013 CNN's probabilities of its seven classes (feature group
``cnn_probs``). :func:`prior_matrix` maps those classes onto the classes of a label set by name (synonyms below:
``happy`` -> joy / happy / happiness, ``neutral`` -> neutral or, as the built-in mappings onto the paper's nine
emotions do, trust); :func:`clip_prior` averages a clip's face frames and maps them. Classes of the label set
that no FER class maps to (e.g. RAVDESS's calm, the paper's anxiety and anticipation) get the floor
:data:`FLOOR` before renormalising, so the prior never rules a class out completely.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from avemotion.features.nets.expression_cnn import FER_CLASSES
from avemotion.features.record import Groups

#: label names each of the CNN's classes maps to (the matrix follows the CNN's own order, ``FER_CLASSES``)
FER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "angry": ("angry", "anger", "ang"),
    "disgust": ("disgust", "disgusted", "dis"),
    "fear": ("fear", "fearful", "fea", "afraid"),
    "happy": ("happy", "joy", "happiness", "hap"),
    "sad": ("sad", "sadness"),
    "surprise": ("surprise", "surprised", "sur"),
    "neutral": ("neutral", "neu", "trust"),
}
#: probability floor of every class before renormalising (classes the CNN does not know get just this)
FLOOR = 1e-3
PRIOR_GROUP = "cnn_probs"


def prior_matrix(labels: Sequence[str]) -> np.ndarray | None:
    """(7, C) 0/1 matrix from the CNN's classes to ``labels``; None when no CNN class matches any label."""
    index = {name.lower(): i for i, name in enumerate(labels)}
    m = np.zeros((len(FER_CLASSES), len(labels)), np.float32)
    for i, fer in enumerate(FER_CLASSES):
        hit = next((index[n] for n in FER_SYNONYMS[fer] if n in index), None)
        if hit is not None:
            m[i, hit] = 1.0
    return m if m.any() else None


def prior_columns(groups: Groups) -> np.ndarray | None:
    """Column indices of the CNN probabilities in a clip's video features (None without the CNN)."""
    for name, (start, stop) in groups.items():
        if name.split(":")[-1] == PRIOR_GROUP and stop - start == len(FER_CLASSES):
            return np.arange(start, stop)
    return None


def clip_prior(video_seq: np.ndarray, video_mask: np.ndarray, cols: np.ndarray,
               matrix: np.ndarray) -> np.ndarray | None:
    """(C,) prior of one clip: the mean CNN probabilities over its face frames mapped onto the labels."""
    valid = np.asarray(video_mask, bool)
    if not valid.any():
        return None
    p = np.asarray(video_seq[valid][:, cols], np.float64).clip(0.0, 1.0).mean(0)
    q = p @ matrix.astype(np.float64) + FLOOR
    return (q / q.sum()).astype(np.float32)
