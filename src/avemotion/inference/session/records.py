"""The records of a session analysis: speaker turns, segments, per-speaker summaries and face tracks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Turn:
    """A stretch of speech by one speaker (``speaker`` is an id such as ``"S1"``)."""

    start: float
    end: float
    speaker: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Segment:
    """One row of the session: speech of one speaker (with its emotion) or a pause (``speaker`` None).

    ``probabilities``, ``valence`` and ``arousal`` are None for pauses and for speech the model could not
    answer (``error`` says why); ``face`` is None for pauses, audio-only recordings and spans where no face was
    seen (its keys: docs/session.md, "Faces").
    """

    start: float
    end: float
    speaker: str | None
    emotion: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] | None = None
    valence: float | None = None
    arousal: float | None = None
    modalities_used: str | None = None
    face: dict[str, object] | None = None
    error: str = ""

    def to_dict(self) -> dict[str, object]:
        """The segment as the session JSON writes it."""
        d: dict[str, object] = {
            "start": round(self.start, 3), "end": round(self.end, 3), "speaker": self.speaker,
            "emotion": self.emotion, "confidence": _r(self.confidence),
            "probabilities": None if self.probabilities is None else {k: _r(v) for k, v in self.probabilities.items()},
            "valence": _r(self.valence), "arousal": _r(self.arousal), "modalities_used": self.modalities_used,
            "face": self.face,
        }
        if self.error:
            d["error"] = self.error
        return d


@dataclass
class SpeakerSummary:
    """One speaker over the session: speaking time, turns, emotion shares and mean valence/arousal.

    ``speaking_face_share``: the share of the speaker's speech during which a face on camera was judged to be
    the one speaking (None when the session has no face at all: audio-only, or faces not analysed).
    """

    id: str
    speech_seconds: float
    turns: int
    emotion_shares: dict[str, float] = field(default_factory=dict)
    mean_valence: float | None = None
    mean_arousal: float | None = None
    speaking_face_share: float | None = None

    def to_dict(self) -> dict[str, object]:
        """The speaker as the session JSON writes it."""
        return {"id": self.id, "speech_seconds": round(self.speech_seconds, 3), "turns": self.turns,
                "emotion_shares": {k: round(v, 4) for k, v in self.emotion_shares.items()},
                "mean_valence": _r(self.mean_valence), "mean_arousal": _r(self.mean_arousal),
                "speaking_face_share": _r(self.speaking_face_share)}


@dataclass
class FaceTrack:
    """One face followed through a recording: per sampled frame where it was seen, the time (s), the face box
    (x0, y0, x1, y1 in frame pixels), the mouth opening (inner-lip gap in inter-ocular distances) and the
    expression CNN's probabilities of its seven FER2013 classes (``FER_CLASSES`` order)."""

    id: str
    times: list[float] = field(default_factory=list)
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    mouth: list[float] = field(default_factory=list)
    probabilities: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times)

    @property
    def start(self) -> float:
        return self.times[0] if self.times else 0.0

    @property
    def end(self) -> float:
        return self.times[-1] if self.times else 0.0

    def span(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(times, mouth, probabilities (n, 7))`` of the frames in ``[start, end]``."""
        t = np.asarray(self.times, np.float64)
        lo, hi = int(np.searchsorted(t, start - 1e-6, "left")), int(np.searchsorted(t, end + 1e-6, "right"))
        probs = np.asarray(self.probabilities[lo:hi], np.float32).reshape(-1, 7)
        return t[lo:hi], np.asarray(self.mouth[lo:hi], np.float64), probs


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)
