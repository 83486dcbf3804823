"""The session's HTML report: one self-contained file (inline CSS, SVG and a few lines of JS; no external
requests), written for a reader who is not a machine-learning person.

Sections: what was found (speakers, speaking time, turns, most frequent emotion, mean valence/arousal), the
timeline (one lane per speaker: emotion as coloured blocks whose opacity is the confidence, valence and
arousal as curves under it; in a video with faces, a face lane: the expression of the face on camera in each
speech segment, solid where that face is the one speaking, outlined and pale where it listens), emotion
shares per speaker, the strongest moments (time stamps that seek the
recording when it sits where the report expects it), and the model with its limits from its card.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Protocol

from avemotion.inference.session.records import Segment, SpeakerSummary


class SessionResult(Protocol):
    """What the report reads of a :class:`~avemotion.inference.session.result.SessionResult`."""

    recording: str
    duration: float
    model: str
    speakers: list[SpeakerSummary]
    segment_records: list[Segment]
    labels: list[str]
    model_card: dict[str, object]
    adaptation: dict[str, object] | None

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac"]
NAMED = {"neutral": "#9e9e9e", "calm": "#76b7b2", "happy": "#edc948", "joy": "#edc948", "sad": "#4e79a7",
         "sadness": "#4e79a7", "angry": "#e15759", "anger": "#e15759", "fearful": "#b07aa1", "fear": "#b07aa1",
         "disgust": "#59a14f", "surprised": "#f28e2b", "surprise": "#f28e2b"}
WIDTH = 960
LANE = 34
CURVE = 46

CSS = """body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222;line-height:1.45}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}
.legend span{display:inline-block;margin-right:12px}.sw{display:inline-block;width:12px;height:12px;
margin-right:4px;vertical-align:middle}.note{color:#555;font-size:.92em}a.t{cursor:pointer;color:#1a5fb4}
svg text{font-size:11px;fill:#333}"""

#: a time stamp plays the report's own player; embedded in a page without one (the web app's session view), it
#: asks the page to seek its player instead, and tells the page its height so that no inner scrollbar is needed
JS = ("function seek(t){var m=document.getElementById('media');if(m){m.currentTime=t;m.play();}"
      "else if(window.parent!==window){window.parent.postMessage({avemotion:'seek',time:t},'*');}}"
      "window.addEventListener('load',function(){if(window.parent!==window){window.parent.postMessage("
      "{avemotion:'height',height:document.documentElement.scrollHeight},'*');}});")


def colour(label: str, labels: list[str]) -> str:
    """The colour of an emotion label (a fixed one for common names, else from the palette by position)."""
    if label in NAMED:
        return NAMED[label]
    return PALETTE[labels.index(label) % len(PALETTE)] if label in labels else "#bab0ac"


def _t(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


def _e(x: object) -> str:
    return html.escape(str(x))


def has_faces(r: SessionResult) -> bool:
    """True when some segment of the session has a face."""
    return any(s.face is not None for s in r.segment_records)


def _face_lane(r: SessionResult, y: float, x0: float, w: float, scale: float) -> str:
    """The face lane: one block per speech segment with a face, coloured by the face's expression; solid where
    the face is speaking, pale and outlined where it is listening."""
    parts = [f'<g id="face-lane"><text x="4" y="{y + LANE / 2 + 4}">faces</text>',
             f'<rect x="{x0}" y="{y}" width="{w}" height="{LANE}" fill="#f6f6f6"/>']
    for s in r.segment_records:
        f = s.face
        if not f:
            continue
        emotion = str(f.get("emotion"))
        speaking = bool(f.get("speaking"))
        fill = colour(emotion, r.labels)
        conf = float(f.get("confidence") or 0.0)  # type: ignore[arg-type]
        role = "speaking" if speaking else "listening"
        tip = (f"{_t(s.start)}-{_t(s.end)} face {f.get('track')} {role}: {emotion} ({conf:.0%})"
               f"{'' if speaking else f'; {s.speaker} speaks'}")
        style = (f'fill-opacity="{0.35 + 0.65 * conf:.2f}"' if speaking
                 else f'fill-opacity="{0.1 + 0.3 * conf:.2f}" stroke="{fill}" stroke-dasharray="3,2"')
        width = max(1.0, (s.end - s.start) * scale)
        parts.append(f'<rect class="face {role}" x="{x0 + s.start * scale:.1f}" y="{y + 1}" width="{width:.1f}" '
                     f'height="{LANE - 2}" fill="{fill}" {style} onclick="seek({s.start:.2f})">'
                     f'<title>{_e(tip)}</title></rect>')
    parts.append("</g>")
    return "".join(parts)


def _timeline(r: SessionResult) -> str:
    ids = [s.id for s in r.speakers]
    x0, w = 60, WIDTH - 70
    scale = w / max(r.duration, 1e-6)
    lane_h = LANE + CURVE + 16
    faces = has_faces(r)
    extra = LANE + 12 if faces else 0
    parts = [f'<svg width="{WIDTH}" height="{len(ids) * lane_h + extra + 30}" role="img" '
             'aria-label="timeline of speakers and emotions">']
    for i, sid in enumerate(ids):
        y = 10 + i * lane_h
        parts.append(f'<text x="4" y="{y + LANE / 2 + 4}">{_e(sid)}</text>')
        parts.append(f'<rect x="{x0}" y="{y}" width="{w}" height="{LANE}" fill="#f6f6f6"/>')
        mine = [s for s in r.segment_records if s.speaker == sid]
        for s in mine:
            fill = colour(s.emotion, r.labels) if s.emotion else "#dddddd"
            op = 0.25 + 0.75 * (s.confidence or 0.0)
            tip = f"{_t(s.start)}-{_t(s.end)} {s.emotion or 'not analysed'}"
            if s.confidence is not None:
                tip += f" ({s.confidence:.0%})"
            width = max(1.0, (s.end - s.start) * scale)
            parts.append(f'<rect x="{x0 + s.start * scale:.1f}" y="{y}" width="{width:.1f}" '
                         f'height="{LANE}" fill="{fill}" fill-opacity="{op:.2f}" onclick="seek({s.start:.2f})">'
                         f'<title>{_e(tip)}</title></rect>')
        cy = y + LANE + 4
        parts.append(f'<rect x="{x0}" y="{cy}" width="{w}" height="{CURVE}" fill="none" stroke="#eee"/>')
        parts.append(f'<line x1="{x0}" x2="{x0 + w}" y1="{cy + CURVE / 2}" y2="{cy + CURVE / 2}" stroke="#ddd"/>')
        parts.append(f'<text x="4" y="{cy + 14}" fill="#1a7f37">valence</text>'
                     f'<text x="4" y="{cy + 30}" fill="#c2410c">arousal</text>')
        for key, col in (("valence", "#1a7f37"), ("arousal", "#c2410c")):
            pts = _curve(mine, key, x0, cy, scale)
            for run in pts:
                parts.append(f'<polyline fill="none" stroke="{col}" stroke-width="1.6" points="{run}"/>')
    if faces:
        parts.append(_face_lane(r, 10 + len(ids) * lane_h, x0, w, scale))
    ty = 10 + len(ids) * lane_h + extra + 12
    step = _tick_step(r.duration)
    t = 0.0
    while t <= r.duration + 1e-6:
        parts.append(f'<text x="{x0 + t * scale:.1f}" y="{ty}" text-anchor="middle">{_t(t)}</text>')
        t += step
    parts.append("</svg>")
    return "".join(parts)


def _curve(segs: list[Segment], key: str, x0: float, y: float, scale: float) -> list[str]:
    """Polyline point strings (one per run of analysed segments not interrupted by a pause of the speaker)."""
    runs: list[list[str]] = []
    last_end = None
    for s in segs:
        v = getattr(s, key)
        if v is None:
            last_end = None
            continue
        py = y + CURVE / 2 - v * (CURVE / 2 - 2)
        pts = [f"{x0 + s.start * scale:.1f},{py:.1f}", f"{x0 + s.end * scale:.1f},{py:.1f}"]
        if last_end is not None and abs(s.start - last_end) < 1e-3:
            runs[-1] += pts
        else:
            runs.append(pts)
        last_end = s.end
    return [" ".join(r) for r in runs]


def _tick_step(duration: float) -> float:
    for step in (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800):
        if duration / step <= 12:
            return float(step)
    return 3600.0


def _shares(r: SessionResult) -> str:
    rows = []
    for s in r.speakers:
        x = 0.0
        bar = ['<svg width="520" height="20">']
        for lab, share in sorted(s.emotion_shares.items(), key=lambda kv: -kv[1]):
            if share <= 0:
                continue
            bar.append(f'<rect x="{x * 500:.1f}" y="2" width="{share * 500:.1f}" height="16" '
                       f'fill="{colour(lab, r.labels)}"><title>{_e(lab)} {share:.0%}</title></rect>')
            x += share
        bar.append("</svg>")
        top = ", ".join(f"{_e(k)} {v:.0%}" for k, v in sorted(s.emotion_shares.items(), key=lambda kv: -kv[1])
                        if v >= 0.05)
        rows.append(f"<tr><td>{_e(s.id)}</td><td>{''.join(bar)}</td><td>{top or 'nothing analysed'}</td></tr>")
    legend = "".join(f'<span><i class="sw" style="background:{colour(lab, r.labels)}"></i>{_e(lab)}</span>'
                     for lab in r.labels)
    return f'<table>{"".join(rows)}</table><p class="legend">{legend}</p>'


def strongest_moments(r: SessionResult, n: int = 6) -> list[Segment]:
    """The ``n`` analysed speech segments with the most confident non-neutral emotion, strongest first."""
    cands = [s for s in r.segment_records if s.emotion and s.emotion not in ("neutral", "calm")
             and s.confidence is not None]
    return sorted(cands, key=lambda s: -(s.confidence or 0.0) * (0.5 + abs(s.arousal or 0.0)))[:n]


def _summary(r: SessionResult) -> str:
    n = len(r.speakers)
    faces = has_faces(r)
    how = ("each segment's emotion is the model's reading of the voice, and of the face too where the face on "
           "camera is the one speaking" if faces else "each segment's emotion is the model's reading of the voice "
           "alone")
    head = (f"<p>{n} speaker{'s' if n != 1 else ''} found in {_t(r.duration)} of recording. Speech is cut into "
            f"segments of a few seconds; {how}.</p>")
    rows = ["<tr><th>speaker</th><th>speaking time</th><th>turns</th><th>most frequent emotion</th>"
            "<th>mean valence</th><th>mean arousal</th>" + ("<th>speaking on camera</th>" if faces else "") + "</tr>"]
    for s in r.speakers:
        top = max(s.emotion_shares.items(), key=lambda kv: kv[1])[0] if s.emotion_shares else "-"
        mv = "-" if s.mean_valence is None else f"{s.mean_valence:+.2f}"
        ma = "-" if s.mean_arousal is None else f"{s.mean_arousal:+.2f}"
        cam = ""
        if faces:
            cam = f"<td>{'-' if s.speaking_face_share is None else f'{s.speaking_face_share:.0%}'}</td>"
        rows.append(f"<tr><td>{_e(s.id)}</td><td>{_t(s.speech_seconds)}</td><td>{s.turns}</td><td>{_e(top)}</td>"
                    f"<td>{mv}</td><td>{ma}</td>{cam}</tr>")
    return head + f"<table>{''.join(rows)}</table>"


def _moments(r: SessionResult) -> str:
    items = []
    for s in strongest_moments(r):
        items.append(f'<li><a class="t" onclick="seek({s.start:.2f})">{_t(s.start)}</a> {_e(s.speaker)}: '
                     f"{_e(s.emotion)} ({(s.confidence or 0):.0%} sure; valence {(s.valence or 0):+.2f}, "
                     f"arousal {(s.arousal or 0):+.2f})</li>")
    return f"<ol>{''.join(items)}</ol>" if items else "<p>No segment with a confident non-neutral emotion.</p>"


LOCAL_NOTE = "Everything in this report was computed on this computer; nothing was sent anywhere."


def _model(r: SessionResult, privacy: str = LOCAL_NOTE) -> str:
    c = r.model_card
    lines = [f"<p><b>Model:</b> {_e(r.model)}. {_e(c.get('summary', ''))}</p>"]
    if "ua" in c:
        lines.append(f"<p>On held-out speakers of its training corpora it named the acted emotion right "
                     f"{float(c['ua']):.0%} of the time (unweighted average recall; protocol: "
                     f"{_e(c.get('protocol', ''))}).</p>")
    if "uncertain_below" in c:
        lines.append(f"<p>Answers below {float(c['uncertain_below']):.0%} confidence are uncertain: "
                     "read them as 'not sure' (they are drawn paler in the timeline).</p>")
    if "training_data" in c:
        lines.append(f"<p>Trained on: {_e(', '.join(map(str, c['training_data'])))}. "
                     f"Licence: {_e(c.get('licence', '-'))}.</p>")
    lines.append(_adaptation(r))
    if has_faces(r):
        senses = ("It reads the voice, and the face only where the face on camera was judged to be the one "
                  "speaking (lips moving in step with the voice); that judgement misses many speaking faces in "
                  "short segments and is sometimes wrong (measured error rates: docs/session.md). A listener's "
                  "face is shown in its own lane and never mixed into the speaker's emotion; the face's "
                  "expression comes from a network trained on posed photos and reads subtle faces poorly.")
    else:
        senses = "It hears the voice only (no face was analysed for this recording)."
    lines.append(
        "<p><b>Limits, in plain words.</b> The model learned from actors speaking short sentences with acted "
        "emotion; everyday speech is subtler, and the model's answers on it are less reliable than the figure "
        f"above. {senses} Valence (pleasant-unpleasant) and "
        "arousal (calm-activated) are not measured directly: they are the emotion probabilities placed on "
        "Russell's circumplex (Russell 1980; Scherer 2005), so they move only as far as the emotion guesses "
        "move. The split between speakers is automatic: two similar voices (for example, two women speaking "
        "with strong emotion) can be merged or confused, and a single very expressive speaker can be split. "
        "Use this report to find moments worth listening to, not to diagnose.</p>")
    lines.append(f'<p class="note">{_e(privacy)}</p>')
    return "".join(lines)


def _adaptation(r: SessionResult) -> str:
    """A sentence on per-speaker adaptation, where the model has something to adapt."""
    a = r.adaptation or {}
    if a.get("model_normalize", "global") == "global":
        return ""
    groups = a.get("speakers") or []
    few = [str(g["id"]) for g in groups if not g.get("adapted")]  # type: ignore[union-attr]
    if a.get("mode") != "speaker":
        return ("<p><b>Per-speaker adaptation was off.</b> This model compares each voice with that speaker's own "
                "average, but each stretch of speech was answered alone here: its answers are unreliable.</p>")
    text = ("<p><b>Per-speaker adaptation.</b> Each speaker's speech was compared with that speaker's own average "
            "over this recording, as the model was trained: it reads how a voice changes rather than what it is "
            "like. That works when a speaker shows several emotions over the recording; when a speaker is calm or "
            "neutral nearly throughout, it reads their ordinary variation as emotion (measured on acted "
            "recordings: about two thirds of such calm turns got another emotion).")
    if few:
        text += (f" Too little speech to adapt to (fewer than {_e(a.get('min_segments'))} segments): "
                 f"{_e(', '.join(few))}; those answers are unreliable.")
    return text + "</p>"


def _face_note(r: SessionResult) -> str:
    if not has_faces(r):
        return ""
    return (" The last lane, <i>faces</i>, shows the expression of the face on camera during each stretch of "
            "speech: solid where that face is the one speaking (its expression then counts in the speaker's "
            "emotion), pale and dashed where it is listening to someone else.")


def render_html(r: SessionResult, out_dir: str | Path | None = None, privacy: str | None = None) -> str:
    """The report as one HTML string; ``out_dir`` (where it will be written) lets the time stamps play the
    recording through a relative link; ``privacy``: the closing sentence on where the analysis ran and what was
    kept (default :data:`LOCAL_NOTE`)."""
    name = Path(r.recording).name
    media = ""
    if out_dir is not None:
        rel = os.path.relpath(Path(r.recording).resolve(), Path(out_dir).resolve()).replace(os.sep, "/")
        tag = "video" if Path(r.recording).suffix.lower() in (".mp4", ".mov", ".mkv", ".webm", ".avi") else "audio"
        media = (f'<p><{tag} id="media" controls preload="none" src="{_e(rel)}" '
                 f'style="max-width:100%"></{tag}></p>')
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Session report: {_e(name)}</title>'
            f"<style>{CSS}</style><script>{JS}</script></head><body>"
            f"<h1>Session report: {_e(name)}</h1>{media}"
            f"<h2>What was found</h2>{_summary(r)}"
            f"<h2>Timeline</h2><p class=\"note\">One lane per speaker. Colour: the emotion (legend below); paler: "
            f"less sure. Under each lane: valence (green) and arousal (orange), from -1 to +1; gaps are pauses or "
            f"the other speaker's turns. Click a block to play from there.{_face_note(r)}</p>{_timeline(r)}"
            f"<h2>Emotion shares per speaker</h2>{_shares(r)}"
            f"<h2>Strongest moments</h2>{_moments(r)}"
            f"<h2>About the model</h2>{_model(r, privacy or LOCAL_NOTE)}"
            "</body></html>")
