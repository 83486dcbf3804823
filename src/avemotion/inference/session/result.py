"""The result of a session analysis: speakers, segments, and its JSON and HTML forms."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from avemotion.errors import ConfigError
from avemotion.inference.session.export import to_eaf, to_tiers_csv
from avemotion.inference.session.records import Segment, SpeakerSummary, Turn
from avemotion.inference.session.segments import summarise
from avemotion.utils.atomic import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class SessionResult:
    """Who spoke when in a recording, with each speech segment's emotion, valence and arousal.

    ``speakers``: one :class:`SpeakerSummary` per speaker; ``segment_records``: the :class:`Segment` s in time
    order (pauses with ``speaker`` None); :attr:`segments` is the same as a pandas DataFrame. ``adaptation``:
    how the segments were answered (per-speaker adaptation; ``pipeline.describe_adaptation``), None when not
    recorded.
    """

    recording: str
    duration: float
    model: str
    speakers: list[SpeakerSummary]
    segment_records: list[Segment]
    labels: list[str] = field(default_factory=list)
    model_card: dict[str, object] = field(default_factory=dict)
    adaptation: dict[str, object] | None = None

    @property
    def segments(self) -> pd.DataFrame:
        """One row per segment: start, end, speaker, emotion, confidence, valence, arousal, modalities_used,
        error, ``p_<label>`` per class (NaN for pauses), and the segment's face: face_track, face_speaking,
        face_emotion (None where no face was seen)."""
        import pandas as pd

        rows = []
        for s in self.segment_records:
            row = {"start": s.start, "end": s.end, "speaker": s.speaker, "emotion": s.emotion,
                   "confidence": s.confidence, "valence": s.valence, "arousal": s.arousal,
                   "modalities_used": s.modalities_used, "error": s.error}
            row.update({f"p_{k}": (s.probabilities or {}).get(k) for k in self.labels})
            face = s.face or {}
            row.update({"face_track": face.get("track"), "face_speaking": face.get("speaking"),
                        "face_emotion": face.get("emotion")})
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, object]:
        """The session JSON's object (see docs/session.md for the contract)."""
        return {"recording": self.recording, "duration": round(self.duration, 3), "model": self.model,
                "speakers": [s.to_dict() for s in self.speakers],
                "segments": [s.to_dict() for s in self.segment_records], "adaptation": self.adaptation}

    def to_json(self, indent: int | None = 2) -> str:
        """The session as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    def speaker_turns(self) -> list[tuple[float, float, str]]:
        """``(start, end, speaker)`` of each stretch of one speaker's speech (adjacent pieces joined)."""
        out: list[list] = []
        for seg in self.segment_records:
            if seg.speaker is None:
                continue
            if out and out[-1][2] == seg.speaker and abs(out[-1][1] - seg.start) < 1e-6:
                out[-1][1] = seg.end
            else:
                out.append([seg.start, seg.end, seg.speaker])
        return [(a, b, c) for a, b, c in out]

    def with_speaker_names(self, names: dict[str, str]) -> SessionResult:
        """The session with speakers renamed (``{"S1": "client", "S2": "counsellor"}``); ids given the same name
        become one speaker (a voice the diarization split in two), with its summary recomputed. Ids not named
        keep theirs. Raises :class:`~avemotion.errors.ConfigError` for an id the session does not have, or a
        new name that is another speaker's id left unnamed."""
        known = [s.id for s in self.speakers]
        unknown = [k for k in names if k not in known]
        if unknown:
            raise ConfigError(f"no speaker {', '.join(map(repr, unknown))} in this session; its speakers: "
                              f"{', '.join(known)}")
        kept = {k for k in known if k not in names}
        clash = sorted({v for v in names.values() if v in kept})
        if clash:
            raise ConfigError(f"{', '.join(map(repr, clash))} is already a speaker's id: name that speaker too, "
                              f"or map both ids to {clash[0]!r} explicitly to merge them")
        segments = [replace(seg, speaker=names.get(seg.speaker, seg.speaker)) if seg.speaker else seg
                    for seg in self.segment_records]
        adaptation = self.adaptation
        if adaptation is not None:  # the groups answered together keep their own entries, under the new names
            adaptation = {**adaptation, "speakers": [{**g, "id": names.get(str(g["id"]), g["id"])}
                                                     for g in adaptation.get("speakers", [])]}  # type: ignore[union-attr]
        out = replace(self, segment_records=segments, adaptation=adaptation)
        turns = [Turn(a, b, spk) for a, b, spk in out.speaker_turns()]
        return replace(out, speakers=summarise(turns, segments, self.labels))

    def to_rttm(self) -> str:
        """The speaker turns in RTTM (NIST Rich Transcription Time Marked), as diarization scorers and
        annotation tools read it: ``SPEAKER <file> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>``."""
        name = Path(self.recording).stem.replace(" ", "_")
        return "".join(f"SPEAKER {name} 1 {a:.3f} {b - a:.3f} <NA> <NA> {spk} <NA> <NA>\n"
                       for a, b, spk in self.speaker_turns())

    def to_eaf(self, media_url: str = "") -> str:
        """An ELAN annotation document: a tier per speaker (emotion and confidence per speech segment) and its
        valence and arousal tiers (:mod:`avemotion.inference.session.export`)."""
        return to_eaf(self.speakers, self.segment_records, media_url)

    def to_tiers_csv(self) -> str:
        """The same tiers as CSV rows ``tier,start,end,value`` (seconds)."""
        return to_tiers_csv(self.speakers, self.segment_records)

    def to_html(self, out_dir: str | Path | None = None, privacy: str | None = None) -> str:
        """The self-contained HTML report (inline SVG, CSS and JS; no external requests); with ``out_dir``
        (where it will be written) its time stamps play the recording through a relative link; ``privacy``
        replaces its closing sentence on where it was computed (the web app says what its server keeps)."""
        from avemotion.inference.session.report import render_html

        return render_html(self, out_dir, privacy)

    def save(self, out_dir: str | Path, *, rttm: bool = False, eaf: bool = False, tiers: bool = False) -> list[Path]:
        """Write ``<name>.session.json`` and ``<name>.session.html`` (with ``rttm`` also ``<name>.rttm``, with
        ``eaf`` ``<name>.eaf`` for ELAN, with ``tiers`` ``<name>.tiers.csv``) into ``out_dir``, each atomically;
        returns their paths."""
        out_dir = Path(out_dir)
        name = Path(self.recording).stem
        paths = [atomic_write_text(out_dir / f"{name}.session.json", self.to_json() + "\n"),
                 atomic_write_text(out_dir / f"{name}.session.html", self.to_html(out_dir))]
        if rttm:
            paths.append(atomic_write_text(out_dir / f"{name}.rttm", self.to_rttm()))
        if eaf:
            rel = os.path.relpath(Path(self.recording).resolve(), out_dir.resolve()).replace(os.sep, "/")
            paths.append(atomic_write_text(out_dir / f"{name}.eaf", self.to_eaf(rel)))
        if tiers:
            paths.append(atomic_write_text(out_dir / f"{name}.tiers.csv", self.to_tiers_csv()))
        return paths
