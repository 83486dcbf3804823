"""Per-speaker adaptation in a session: the modes, and what the session JSON says about it.

A model trained with ``train.normalize=speaker`` (or ``recording``) standardises each speaker's clips with that
speaker's own statistics (:mod:`avemotion.data.normalize`); in a session, the speech segments of one diarized
speaker are such a group. ``speaker`` answers them together (:meth:`Predictor.predict_group`), ``none`` one at a
time (the training standardisation only). Models trained with global normalisation answer one segment at a time
either way.

With a speaker-normalised model, answering a speaker's segments together beat answering them alone, so
``speaker`` is the default of this option; against a global model it helped only where each speaker showed
several emotions and hurt where the speakers were mostly neutral, so the session's default model stays a global
one (measured: docs/experiments/2026-12-06-session-adaptation.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module at start-up: nothing heavy here
    from avemotion.inference.session.records import Segment

#: how a session's speech segments are answered
ADAPT_MODES = ("speaker", "none")
DEFAULT_ADAPT = "speaker"


def describe_adaptation(adapt: str, normalize: str, speech: Sequence[Segment]) -> dict[str, object]:
    """The session JSON's ``adaptation``: the mode asked for, the model's ``train.normalize``, and per speaker
    the number of answered segments and whether they were answered with the speaker's own statistics."""
    from avemotion.data.normalize import MIN_CLIPS

    grouped = adapt == "speaker" and normalize != "global"
    counts: dict[str, int] = {}
    for seg in speech:
        if seg.probabilities is not None:
            counts[str(seg.speaker)] = counts.get(str(seg.speaker), 0) + 1
    speakers = [{"id": sid, "segments": n, "adapted": grouped and n >= MIN_CLIPS} for sid, n in counts.items()]
    if normalize == "global":
        note = "model trained with global normalisation: nothing to adapt, each segment answered on its own"
    elif not grouped:
        note = (f"model trained with {normalize} normalisation but adaptation off (--adapt none): each segment "
                "answered on its own, without its speaker's statistics (near chance on unseen voices)")
    else:
        few = [s["id"] for s in speakers if not s["adapted"]]
        note = "each speaker's segments answered together with the speaker's own statistics"
        if few:
            note += (f"; fewer than {MIN_CLIPS} segments, answered one at a time without them (unreliable): "
                     + ", ".join(map(str, few)))
    return {"mode": adapt, "model_normalize": normalize, "min_segments": MIN_CLIPS, "speakers": speakers,
            "note": note}
