"""The session's segments: speaker turns cut into pieces of a few seconds, and the pauses between them."""

from __future__ import annotations

import math

from avemotion.inference.session.records import Segment, SpeakerSummary, Turn


def speech_pieces(turns: list[Turn], max_seconds: float = 4.0) -> list[Turn]:
    """Each turn cut into equal pieces of at most ``max_seconds`` (a turn is analysed piece by piece)."""
    out: list[Turn] = []
    for t in turns:
        n = max(1, math.ceil(t.duration / max_seconds - 1e-9))
        step = t.duration / n
        out += [Turn(t.start + i * step, t.start + (i + 1) * step if i < n - 1 else t.end, t.speaker)
                for i in range(n)]
    return out


def with_pauses(pieces: list[Turn], duration: float, min_pause: float = 0.01) -> list[Segment]:
    """Segments covering ``[0, duration]``: one per speech piece, one (``speaker`` None) per pause."""
    out: list[Segment] = []
    t = 0.0
    for p in sorted(pieces, key=lambda x: x.start):
        if p.start - t >= min_pause:
            out.append(Segment(t, p.start, None))
        out.append(Segment(p.start, p.end, p.speaker))
        t = max(t, p.end)
    if duration - t >= min_pause:
        out.append(Segment(t, duration, None))
    return out


def count_turns(turns: list[Turn]) -> dict[str, int]:
    """Turns per speaker: a turn lasts until another speaker speaks (pauses do not end it)."""
    counts: dict[str, int] = {}
    last = None
    for t in sorted(turns, key=lambda x: x.start):
        if t.speaker != last:
            counts[t.speaker] = counts.get(t.speaker, 0) + 1
            last = t.speaker
    return counts


def summarise(turns: list[Turn], segments: list[Segment], labels: list[str]) -> list[SpeakerSummary]:
    """Per speaker (in order of first speech): speech seconds, turns, emotion shares (of the analysed speech,
    by duration), duration-weighted mean valence and arousal, and the share of the speaker's speech segments
    (by duration) with a face judged speaking (None when no segment of the session has a face)."""
    counts = count_turns(turns)
    any_face = any(s.face is not None for s in segments)
    out = []
    for sid in dict.fromkeys(t.speaker for t in sorted(turns, key=lambda x: x.start)):
        speech = sum(t.duration for t in turns if t.speaker == sid)
        mine = [s for s in segments if s.speaker == sid and s.emotion is not None]
        total = sum(s.end - s.start for s in mine)
        shares = {lab: 0.0 for lab in labels}
        v = a = 0.0
        for s in mine:
            d = s.end - s.start
            shares[s.emotion] = shares.get(s.emotion, 0.0) + d  # type: ignore[index]
            v += d * (s.valence or 0.0)
            a += d * (s.arousal or 0.0)
        spoken = [s for s in segments if s.speaker == sid]
        spoken_total = sum(s.end - s.start for s in spoken)
        face_share = None
        if any_face and spoken_total > 0:
            face_share = sum(s.end - s.start for s in spoken if s.face and s.face.get("speaking")) / spoken_total
        out.append(SpeakerSummary(sid, speech, counts.get(sid, 0),
                                  {k: x / total for k, x in shares.items()} if total > 0 else {},
                                  v / total if total > 0 else None, a / total if total > 0 else None, face_share))
    return out
