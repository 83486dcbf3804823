"""The result of a session analysis: speakers, segments, and its JSON and HTML forms."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from avemotion.inference.session.records import Segment, SpeakerSummary
from avemotion.utils.atomic import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class SessionResult:
    """Who spoke when in a recording, with each speech segment's emotion, valence and arousal.

    ``speakers``: one :class:`SpeakerSummary` per speaker; ``segment_records``: the :class:`Segment` s in time
    order (pauses with ``speaker`` None); :attr:`segments` is the same as a pandas DataFrame.
    """

    recording: str
    duration: float
    model: str
    speakers: list[SpeakerSummary]
    segment_records: list[Segment]
    labels: list[str] = field(default_factory=list)
    model_card: dict[str, object] = field(default_factory=dict)

    @property
    def segments(self) -> pd.DataFrame:
        """One row per segment: start, end, speaker, emotion, confidence, valence, arousal, modalities_used,
        error and ``p_<label>`` per class (NaN for pauses)."""
        import pandas as pd

        rows = []
        for s in self.segment_records:
            row = {"start": s.start, "end": s.end, "speaker": s.speaker, "emotion": s.emotion,
                   "confidence": s.confidence, "valence": s.valence, "arousal": s.arousal,
                   "modalities_used": s.modalities_used, "error": s.error}
            row.update({f"p_{k}": (s.probabilities or {}).get(k) for k in self.labels})
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, object]:
        """The session JSON's object (see docs/session.md for the contract)."""
        return {"recording": self.recording, "duration": round(self.duration, 3), "model": self.model,
                "speakers": [s.to_dict() for s in self.speakers],
                "segments": [s.to_dict() for s in self.segment_records]}

    def to_json(self, indent: int | None = 2) -> str:
        """The session as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    def to_html(self, out_dir: str | Path | None = None) -> str:
        """The self-contained HTML report (inline SVG, CSS and JS; no external requests); with ``out_dir``
        (where it will be written) its time stamps play the recording through a relative link."""
        from avemotion.inference.session.report import render_html

        return render_html(self, out_dir)

    def save(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``<name>.session.json`` and ``<name>.session.html`` into ``out_dir`` (atomically)."""
        out_dir = Path(out_dir)
        name = Path(self.recording).stem
        js = atomic_write_text(out_dir / f"{name}.session.json", self.to_json() + "\n")
        html = atomic_write_text(out_dir / f"{name}.session.html", self.to_html(out_dir))
        return js, html
