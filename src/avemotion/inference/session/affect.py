"""Valence and arousal from class probabilities: a projection onto Russell's circumplex, not a regressor.

Each emotion label has a fixed place (valence, arousal) in [-1, 1]^2 (:data:`CIRCUMPLEX`); a segment's
valence and arousal are the probability-weighted means of the places of its classes (labels without a place,
such as ``other``, are left out and the rest renormalised). The places are approximate readings of the
circular ordering of affect words in Russell (1980, "A circumplex model of affect", J. Pers. Soc. Psychol.
39(6), Fig. 2) and of Scherer's (2005, "What are emotions? And how can they be measured?", Soc. Sci. Inf.
44(4), Fig. 2) placement of emotion terms in the valence x arousal plane, rounded to 0.1; labels those figures
do not name (trust, anticipation) are placed by their nearest named neighbours (content / attentive, eager).
No model was trained on valence or arousal ratings: a confident "neutral" and an even spread over opposite
emotions both land near (0, 0).
"""

from __future__ import annotations

import math

#: label -> (valence, arousal); synonyms of the registered label sets map to the same place
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "calm": (0.4, -0.6),
    "happy": (0.8, 0.5), "joy": (0.8, 0.5), "happiness": (0.8, 0.5),
    "excited": (0.6, 0.8),
    "surprised": (0.2, 0.8), "surprise": (0.2, 0.8),
    "sad": (-0.7, -0.4), "sadness": (-0.7, -0.4),
    "angry": (-0.6, 0.8), "anger": (-0.6, 0.8),
    "frustrated": (-0.6, 0.4),
    "fearful": (-0.6, 0.7), "fear": (-0.6, 0.7),
    "anxiety": (-0.5, 0.5),
    "disgust": (-0.7, 0.3), "disgusted": (-0.7, 0.3),
    "trust": (0.5, -0.2),
    "anticipation": (0.4, 0.4),
}


def valence_arousal(probabilities: dict[str, float]) -> tuple[float | None, float | None]:
    """The probability-weighted circumplex place of a segment (None, None when no label has a place)."""
    v = a = w = 0.0
    for label, p in probabilities.items():
        place = CIRCUMPLEX.get(label.lower())
        if place is None or p is None or math.isnan(p):
            continue
        v += p * place[0]
        a += p * place[1]
        w += p
    if w <= 0:
        return None, None
    return v / w, a / w
