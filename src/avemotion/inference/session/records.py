"""The records of a session analysis: speech regions, speaker turns, segments and per-speaker summaries."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    answer (``error`` says why); ``face`` is None until faces are tracked in sessions.
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
    """One speaker over the session: speaking time, turns, emotion shares and mean valence/arousal."""

    id: str
    speech_seconds: float
    turns: int
    emotion_shares: dict[str, float] = field(default_factory=dict)
    mean_valence: float | None = None
    mean_arousal: float | None = None

    def to_dict(self) -> dict[str, object]:
        """The speaker as the session JSON writes it."""
        return {"id": self.id, "speech_seconds": round(self.speech_seconds, 3), "turns": self.turns,
                "emotion_shares": {k: round(v, 4) for k, v in self.emotion_shares.items()},
                "mean_valence": _r(self.mean_valence), "mean_arousal": _r(self.mean_arousal)}


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)
