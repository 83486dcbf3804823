"""The face of each speech segment, and the segment's emotion from voice and face when the face is the speaker's.

Per speech segment (:func:`read_face`): the face tracks seen in its span; each gets a speaking score
(:mod:`avemotion.inference.session.speaking`); the reported face is the best-scoring one judged speaking, else
the one seen in most frames (a listener). Its expression is the mean of the expression CNN's probabilities over
its frames in the span, mapped onto the model's labels as the models' face prior maps them
(:mod:`avemotion.data.expression_prior`: FER classes to labels by name, a floor for labels no FER class names).

Combining (:func:`combine`): only when the reported face is speaking and the model's video head is that same
prior (``model.video_prior = zero_shot``, as in the bundled model): the model's own decision rule
(``EmotionModel.decide``, eq. 19 with its ``model.decision_rule``) is applied to its audio head's probabilities
for the segment and the face prior as the video head, then its calibration temperature, which is what the
model answers for a clip with that voice and those face frames. Models whose video head is a trained network
are not combined here (their video features are not extracted in sessions): their segments keep the voice's
emotion, and ``face`` reports the face beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avemotion.data.expression_prior import FLOOR, prior_matrix
from avemotion.features.nets.expression_cnn import FER_CLASSES
from avemotion.inference.session.records import FaceTrack
from avemotion.inference.session.speaking import is_speaking, speaking_score


@dataclass(frozen=True)
class FaceReading:
    """The face reported for one segment: its track id, the speaking decision and score, its expression as
    probabilities over ``labels``, its frames in the span and the number of faces seen in the span."""

    track: str
    speaking: bool
    score: float | None
    labels: tuple[str, ...]
    probabilities: np.ndarray
    frames: int
    faces_visible: int

    def to_dict(self) -> dict[str, object]:
        """The segment's ``face`` as the session JSON writes it."""
        k = int(np.argmax(self.probabilities))
        return {"track": self.track, "speaking": self.speaking,
                "speaking_score": None if self.score is None else round(float(self.score), 4),
                "emotion": self.labels[k], "confidence": round(float(self.probabilities[k]), 4),
                "probabilities": {lab: round(float(p), 4) for lab, p in zip(self.labels, self.probabilities,
                                                                            strict=True)},
                "frames": self.frames, "faces_visible": self.faces_visible}


def face_prior(probs: np.ndarray, labels: list[str]) -> tuple[tuple[str, ...], np.ndarray] | None:
    """The mean expression-CNN probabilities of some face frames ((n, 7), FER order) as ``(labels, p)``: mapped
    onto ``labels`` as :func:`~avemotion.data.expression_prior.clip_prior` maps them, or over the FER classes
    themselves when no FER class names a label. None without a frame."""
    probs = np.asarray(probs, np.float64).reshape(-1, len(FER_CLASSES))
    probs = probs[np.isfinite(probs).all(1)]
    if not len(probs):
        return None
    p = probs.clip(0.0, 1.0).mean(0)
    matrix = prior_matrix(labels)
    if matrix is None:
        return tuple(FER_CLASSES), p / p.sum()
    q = p @ matrix.astype(np.float64) + FLOOR
    return tuple(labels), q / q.sum()


def read_face(tracks: list[FaceTrack], envelope: np.ndarray, start: float, end: float, fps: float,
              labels: list[str], scored: tuple[float, float] | None = None) -> FaceReading | None:
    """The face of the segment ``[start, end]`` (None when no face was seen in it); the speaking score reads the
    span ``scored`` (default: the segment), e.g. the segment with the pauses next to it, whose onsets and ends
    of speech are the clearest sign of whose voice it is."""
    a, b = scored or (start, end)
    seen = []
    for t in tracks:
        if t.end < start or t.start > end:
            continue
        times, _, probs = t.span(start, end)
        if len(times):
            st, sm, _ = t.span(a, b)
            seen.append((speaking_score(st, sm, envelope, a, b, fps), t.id, times, probs))
    if not seen:
        return None
    speaking = [s for s in seen if is_speaking(s[0])]
    if speaking:
        score, tid, times, probs = max(speaking, key=lambda s: s[0])
    else:
        score, tid, times, probs = max(seen, key=lambda s: len(s[2]))
    prior = face_prior(probs, labels)
    if prior is None:  # frames without CNN probabilities cannot happen after FaceTracker.finish
        return None
    return FaceReading(tid, bool(speaking), score, prior[0], prior[1], len(times), len(seen))


def can_combine(bundle) -> bool:
    """True when the model's video head is the face prior itself (audio+video model, ``video_prior`` zero_shot)."""
    return bundle.selection.modality == "av" and bundle.config.model.video_prior == "zero_shot"


def combine(bundle, temperature: float, audio_head: dict[str, float], prior: np.ndarray) -> dict[str, float]:
    """The model's answer for a segment from its audio head's probabilities and the face prior as its video
    head: its decision rule over both heads (the fused head, which needs the video network, left out as for
    any clip without it), then its calibration temperature."""
    import torch

    from avemotion.models.calibration import apply_temperature

    labels = list(bundle.labels)
    pa = torch.tensor([[audio_head[lab] for lab in labels]], dtype=torch.float32).clamp_min(1e-12)
    pv = torch.tensor(np.asarray(prior, np.float32)[None]).clamp_min(1e-12)
    ok = torch.ones(1, dtype=torch.bool)
    with torch.inference_mode():
        out = bundle.model.decide({"audio": torch.log(pa), "video": torch.log(pv)}, {"audio": ok, "video": ok})
    probs = apply_temperature(out.probs[0].cpu().numpy(), temperature)
    return {lab: float(p) for lab, p in zip(labels, probs, strict=True)}
