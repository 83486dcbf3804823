"""Session exports for annotation tools: ELAN's EAF (one tier per speaker, each speech segment annotated with its
emotion; in a video with faces, tiers per face track too) and a tier table as CSV (tier, start, end, value), as
ELAN, Praat-based and spreadsheet workflows import them. RTTM (diarization scorers) is
:meth:`SessionResult.to_rttm`."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import PurePosixPath
from xml.sax.saxutils import escape, quoteattr

from avemotion.inference.session.records import Segment, SpeakerSummary

EAF_VERSION = "3.0"
#: MIME types ELAN expects in a media descriptor, by file suffix
MIME_TYPES = {".wav": "audio/x-wav", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".flac": "audio/flac",
              ".mp4": "video/mp4", ".mov": "video/quicktime", ".mkv": "video/x-matroska", ".webm": "video/webm",
              ".avi": "video/x-msvideo", ".flv": "video/x-flv"}


def _value(seg: Segment) -> str:
    if seg.emotion is None:
        return "(not analysed)" if not seg.error else f"(not analysed: {seg.error})"
    return f"{seg.emotion} {seg.confidence:.2f}" if seg.confidence is not None else seg.emotion


def tier_rows(speakers: list[SpeakerSummary], segments: list[Segment]) -> list[tuple[str, float, float, str]]:
    """``(tier, start, end, value)``: per speaker tier its speech segments valued "emotion confidence", then
    ``<speaker>-valence`` and ``<speaker>-arousal`` tiers with the segment's values. When faces were analysed,
    per face track (``F1``, ...) a tier ``face-<track>`` with the face's expression "emotion confidence" in each
    speech segment where it is the segment's face, and ``face-<track>-role`` saying "speaking" or "listening"
    there (:func:`face_tier_rows`)."""
    rows = []
    for sp in speakers:
        mine = [s for s in segments if s.speaker == sp.id]
        rows += [(sp.id, s.start, s.end, _value(s)) for s in mine]
        rows += [(f"{sp.id}-valence", s.start, s.end, f"{s.valence:.3f}") for s in mine if s.valence is not None]
        rows += [(f"{sp.id}-arousal", s.start, s.end, f"{s.arousal:.3f}") for s in mine if s.arousal is not None]
    return rows + face_tier_rows(segments)


def face_tier_rows(segments: list[Segment]) -> list[tuple[str, float, float, str]]:
    """The face tiers of :func:`tier_rows`, tracks in the order of their ids (none without faces)."""
    faces: list[tuple[str, Segment, dict[str, object]]] = [
        (str(s.face.get("track")), s, s.face) for s in segments if s.face is not None]
    rows = []
    for track in sorted({t for t, _, _ in faces}, key=_track_order):
        mine = [(s, f) for t, s, f in faces if t == track]
        rows += [(f"face-{track}", s.start, s.end, f"{f.get('emotion')} {_number(f.get('confidence')):.2f}")
                 for s, f in mine]
        rows += [(f"face-{track}-role", s.start, s.end, "speaking" if f.get("speaking") else "listening")
                 for s, f in mine]
    return rows


def _number(x: object) -> float:
    return float(x) if isinstance(x, (int, float)) else 0.0


def _track_order(track: str) -> tuple[int, str]:
    digits = "".join(c for c in track if c.isdigit())
    return (int(digits) if digits else 0, track)


def to_tiers_csv(speakers: list[SpeakerSummary], segments: list[Segment]) -> str:
    """The tier table as CSV text with a header (times in seconds)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["tier", "start", "end", "value"])
    for tier, a, b, v in tier_rows(speakers, segments):
        w.writerow([tier, f"{a:.3f}", f"{b:.3f}", v])
    return buf.getvalue()


def to_eaf(speakers: list[SpeakerSummary], segments: list[Segment], media_url: str = "") -> str:
    """An ELAN annotation document (EAF 3.0): the tiers of :func:`tier_rows` on one time line in milliseconds,
    linked to ``media_url`` (relative or file URL) when given."""
    rows = tier_rows(speakers, segments)
    times = sorted({round(t * 1000) for _, a, b, _ in rows for t in (a, b)})
    slot = {t: f"ts{i + 1}" for i, t in enumerate(times)}
    date = datetime.now(UTC).replace(microsecond=0).isoformat()
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<ANNOTATION_DOCUMENT AUTHOR="avemotion" DATE="{date}" FORMAT="{EAF_VERSION}" VERSION="{EAF_VERSION}" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
           'xsi:noNamespaceSchemaLocation="http://www.mpi.nl/tools/elan/EAFv3.0.xsd">',
           '<HEADER MEDIA_FILE="" TIME_UNITS="milliseconds">']
    if media_url:
        mime = MIME_TYPES.get(PurePosixPath(media_url).suffix.lower(), "unknown")
        out.append(f'<MEDIA_DESCRIPTOR MEDIA_URL={quoteattr(media_url)} MIME_TYPE="{mime}"/>')
    out += ["</HEADER>", "<TIME_ORDER>"]
    out += [f'<TIME_SLOT TIME_SLOT_ID="{slot[t]}" TIME_VALUE="{t}"/>' for t in times]
    out.append("</TIME_ORDER>")
    n = 0
    for tier in dict.fromkeys(t for t, *_ in rows):
        out.append(f'<TIER LINGUISTIC_TYPE_REF="default-lt" TIER_ID={quoteattr(tier)}>')
        for t, a, b, v in rows:
            if t != tier:
                continue
            n += 1
            out.append(f'<ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a{n}" '
                       f'TIME_SLOT_REF1="{slot[round(a * 1000)]}" TIME_SLOT_REF2="{slot[round(b * 1000)]}">'
                       f"<ANNOTATION_VALUE>{escape(v)}</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>")
        out.append("</TIER>")
    out += ['<LINGUISTIC_TYPE GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="default-lt" TIME_ALIGNABLE="true"/>',
            "</ANNOTATION_DOCUMENT>"]
    return "\n".join(out) + "\n"

