"""The session pipeline: recording -> speech regions -> speaker turns -> segments with emotion, valence, arousal.

The audio track (of an audio file or a video) is decoded once at 16 kHz for voice activity and speaker
embeddings; the emotion of each speech segment comes from the model's own feature extraction of that span
(:func:`avemotion.data.extract.extract_windows`, one decoding pass), audio branch only. In a video, every face
is tracked (:mod:`.faces`, one more streaming pass over the frames) and each speech segment gets the face seen
in it (:mod:`.face_segments`): when that face is judged to be speaking (:mod:`.speaking`) and the model can
take it, the segment's emotion is the model's answer from voice and face together (``modalities_used`` "av"),
else the voice's alone, with the face (a listener's, or a speaker's the model cannot combine) reported beside
it. Nothing is written here; :class:`SessionResult` saves the outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from avemotion.data.extract import extract_windows
from avemotion.errors import AvemotionError, NoAudioStream, SilentAudio
from avemotion.inference.session.affect import valence_arousal
from avemotion.inference.session.diarize import DiarizeSettings, diarize
from avemotion.inference.session.face_segments import FaceReading, can_combine, combine, read_face
from avemotion.inference.session.faces import FACE_FPS, track_faces
from avemotion.inference.session.records import FaceTrack, Segment
from avemotion.inference.session.result import SessionResult
from avemotion.inference.session.segments import speech_pieces, summarise, with_pauses
from avemotion.inference.session.speaking import loudness_envelope
from avemotion.inference.session.vad import SAMPLE_RATE, speech_regions
from avemotion.media.audio import load_audio
from avemotion.media.probe import probe
from avemotion.modality import uses_audio
from avemotion.utils.progress import log, progress, warn


def analyze_session(path: str | Path, loaded, *, speakers: int | None = None, max_segment: float = 4.0,
                    context: float = 1.0, settings: DiarizeSettings | None = None,
                    faces: bool = True, on_progress: Callable[[str, int, int], None] | None = None
                    ) -> SessionResult:
    """Who speaks when in ``path`` and each speech segment's emotion from ``loaded`` (a ``LoadedModel``).

    ``speakers``: the number of speakers when known (None: found from the recording); ``max_segment``: speech
    turns are analysed in pieces of at most this many seconds; ``context``: each piece is analysed with up to
    this many seconds of the pause before and after it (never of another piece's speech), as the clips the
    models were trained on begin and end in silence (docs/experiments/2026-12-06-session-diarization.md);
    ``faces``: track the faces of a video (False: the voice only, ``face`` None everywhere);
    ``on_progress(stage, done, total)``: called as the work advances (stage ``"speakers"``, then ``"emotion"``
    per speech segment, then ``"faces"`` per second of video); an exception it raises stops the analysis.
    Raises :class:`NoAudioStream` (no audio track), :class:`SilentAudio` (digital silence or no speech found)
    and the media errors.
    """
    path = Path(path)
    predictor = loaded.predictor
    modality = predictor.bundle.selection.modality
    if not uses_audio(modality):
        raise AvemotionError(f"session analysis needs a model that uses audio; this one was trained on "
                             f"{modality!r} only", loaded.folder)
    info = probe(path)
    if not info.has_audio:
        raise NoAudioStream("has no audio track: session analysis finds speakers and emotions in the voice", path)
    audio = load_audio(path, SAMPLE_RATE)
    duration = len(audio) / SAMPLE_RATE
    if not np.any(audio):
        raise SilentAudio("", path)
    log(f"{path.name}: finding speech and speakers ({duration:.0f} s)")
    face_steps = round(duration) if faces and info.has_video else 0
    step = on_progress or (lambda stage, done, total: None)
    step("speakers", 0, 1)
    regions = speech_regions(audio)
    if not regions:
        raise SilentAudio("no speech found (voice activity detection found none): nothing to analyse", path)
    turns = diarize(audio, regions, speakers, settings)
    envelope = loudness_envelope(audio, SAMPLE_RATE)
    del audio
    pieces = speech_pieces(turns, max_segment)
    segments = with_pauses(pieces, duration)
    speech = [s for s in segments if s.speaker is not None]
    spans = analysis_spans(segments, context)
    total = 1 + len(spans) + face_steps
    step("emotion", 1, total)
    bar = progress(total=len(spans), desc=f"{path.name}: emotion", unit="segment")
    parts = extract_windows(path, spans, predictor.config, "audio", workers=1, info=info)
    heads: list[dict[str, float] | None] = []
    try:
        for seg, (_, _, item) in zip(speech, parts, strict=True):
            heads.append(_predict_into(seg, predictor, item, path))
            bar.update(1)
            step("emotion", 1 + len(heads), total)
    finally:
        parts.close()
        bar.close()
    labels = loaded.labels
    if faces and info.has_video:
        try:
            done = 1 + len(spans)
            tracks: list[FaceTrack] = track_faces(
                path, FACE_FPS, duration=duration,
                on_second=lambda t: step("faces", min(done + int(t), total), total))
        except AvemotionError as exc:  # an unreadable video stream: the voice's analysis stands on its own
            warn(f"{path.name}: faces not analysed ({exc.reason}: {exc.detail})")
            tracks = []
        log(f"{path.name}: {len(tracks)} face track(s)")
        for seg, head, span in zip(speech, heads, spans, strict=True):
            reading = read_face(tracks, envelope, seg.start, seg.end, FACE_FPS, labels, span)
            if reading is not None:
                _face_into(seg, reading, head, predictor)
    return SessionResult(str(path), duration, loaded.description, summarise(turns, segments, labels), segments,
                         labels, _model_card(loaded))


def analysis_spans(segments: list[Segment], context: float) -> list[tuple[float, float]]:
    """The span analysed for each speech segment: the segment widened by up to ``context`` seconds into the
    pauses next to it (not into speech)."""
    out = []
    for i, s in enumerate(segments):
        if s.speaker is None:
            continue
        before = segments[i - 1] if i > 0 and segments[i - 1].speaker is None else None
        after = segments[i + 1] if i + 1 < len(segments) and segments[i + 1].speaker is None else None
        a = s.start - (min(context, before.end - before.start) if before is not None else 0.0)
        b = s.end + (min(context, after.end - after.start) if after is not None else 0.0)
        out.append((round(a, 6), round(b, 6)))
    return out


def _predict_into(seg: Segment, predictor, item, path: Path) -> dict[str, float] | None:
    """The voice's emotion into ``seg``; returns the model's audio-head probabilities (None on an error)."""
    try:
        if isinstance(item, AvemotionError):
            raise item
        pred = predictor.predict(item, source=str(path))
    except AvemotionError as exc:
        seg.error = f"{exc.reason}: {exc.detail}"
        return None
    seg.emotion, seg.confidence = pred.emotion, pred.confidence
    seg.probabilities = dict(pred.probabilities)
    seg.valence, seg.arousal = valence_arousal(seg.probabilities)
    seg.modalities_used = pred.modalities_used
    return pred.heads.get("audio")


def _face_into(seg: Segment, reading: FaceReading, audio_head: dict[str, float] | None, predictor) -> None:
    """The segment's face; when it is the speaker's and the model takes the face prior, the emotion of voice and
    face together."""
    seg.face = reading.to_dict()
    bundle = predictor.bundle
    if (not reading.speaking or audio_head is None or tuple(bundle.labels) != reading.labels
            or not can_combine(bundle)):
        return
    probs = combine(bundle, predictor.temperature, audio_head, reading.probabilities)
    seg.emotion = max(probs, key=lambda k: probs[k])
    seg.confidence = probs[seg.emotion]
    seg.probabilities = probs
    seg.valence, seg.arousal = valence_arousal(probs)
    seg.modalities_used = "av"


def _model_card(loaded) -> dict[str, object]:
    """What the report says about the model: its card's summary, data, protocol, measured UA and limits."""
    if loaded.bundled is None:
        return {"name": str(loaded.folder), "summary": "a model trained with avemotion train (no model card)"}
    card = loaded.bundled.card
    keys = ("summary", "training_data", "protocol", "licence", "uncertain_below", "card")
    out: dict[str, object] = {"name": loaded.bundled.name, **{k: card[k] for k in keys if k in card}}
    ua = card.get("metrics", {}).get("all", {}).get("ua")
    if ua is not None:
        out["ua"] = ua
    return out
