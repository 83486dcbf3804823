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

import contextlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from avemotion.data.extract import extract_windows
from avemotion.errors import AvemotionError, ConfigError, NoAudioStream, SilentAudio
from avemotion.inference.session.adapt import ADAPT_MODES, DEFAULT_ADAPT, describe_adaptation
from avemotion.inference.session.affect import valence_arousal
from avemotion.inference.session.cache import SIGNAL, SessionCache
from avemotion.inference.session.diarize import DiarizeSettings, diarize
from avemotion.inference.session.face_segments import FaceReading, can_combine, combine, read_face
from avemotion.inference.session.faces import FACE_FPS, track_faces
from avemotion.inference.session.records import Segment
from avemotion.inference.session.result import SessionResult
from avemotion.inference.session.segments import speech_pieces, summarise, with_pauses
from avemotion.inference.session.speaking import loudness_envelope
from avemotion.inference.session.vad import SAMPLE_RATE, speech_regions
from avemotion.media.audio import AudioSignal, decode_audio_file, load_audio
from avemotion.media.probe import probe
from avemotion.modality import uses_audio
from avemotion.utils.progress import log, progress, warn


def analyze_session(path: str | Path, loaded, *, speakers: int | None = None, max_segment: float = 4.0,
                    context: float = 1.0, settings: DiarizeSettings | None = None,
                    faces: bool = True, on_progress: Callable[[str, int, int], None] | None = None,
                    cache: SessionCache | None = None, adapt: str = DEFAULT_ADAPT) -> SessionResult:
    """Who speaks when in ``path`` and each speech segment's emotion from ``loaded`` (a ``LoadedModel``).

    ``speakers``: the number of speakers when known (None: found from the recording); ``max_segment``: speech
    turns are analysed in pieces of at most this many seconds; ``context``: each piece is analysed with up to
    this many seconds of the pause before and after it (never of another piece's speech), as the clips the
    models were trained on begin and end in silence (docs/experiments/2026-12-06-session-diarization.md);
    ``faces``: track the faces of a video (False: the voice only, ``face`` None everywhere);
    ``on_progress(stage, done, total)``: called as the work advances (stage ``"speakers"``, then ``"emotion"``
    per speech segment, then ``"faces"`` per second of video); an exception it raises stops the analysis.
    ``cache``: stage results are read from and written to it (:mod:`.cache`), so that a run interrupted (or
    finished) before resumes where it stopped; it must have been made for this recording and these settings
    (:func:`cache_settings`). ``adapt``: ``"speaker"`` answers each diarized speaker's segments together with
    that speaker's own statistics when the model was trained with speaker or recording normalisation (the module
    doc), ``"none"`` one segment at a time; the result's ``adaptation`` records what was done.
    Raises :class:`NoAudioStream` (no audio track), :class:`SilentAudio` (digital silence or no speech found)
    and the media errors.
    """
    path = Path(path)
    if adapt not in ADAPT_MODES:
        raise ConfigError(f"adapt must be one of {', '.join(ADAPT_MODES)}, not {adapt!r}")
    predictor = loaded.predictor
    modality = predictor.bundle.selection.modality
    if not uses_audio(modality):
        raise AvemotionError(f"session analysis needs a model that uses audio; this one was trained on "
                             f"{modality!r} only", loaded.folder)
    info = probe(path)
    if not info.has_audio:
        raise NoAudioStream("has no audio track: session analysis finds speakers and emotions in the voice", path)
    faces = faces and info.has_video
    step = on_progress or (lambda stage, done, total: None)
    known = cache.load_turns() if cache is not None else None
    envelope = None
    if known is None or faces:  # the audio: for speakers (unless cached) and for the faces' lip sync
        # with a cache, decoded into a file there and read a slice at a time (memory flat in length)
        made = _missing_folders(cache.folder) if cache is not None else []
        audio = (decode_audio_file(path, cache.folder / SIGNAL, SAMPLE_RATE) if cache is not None
                 else load_audio(path, SAMPLE_RATE))
        try:
            duration = len(audio) / SAMPLE_RATE
            if (audio.peak if isinstance(audio, AudioSignal) else float(np.abs(audio).max())) == 0:
                raise SilentAudio("", path)
            if known is None:
                log(f"{path.name}: finding speech and speakers ({duration:.0f} s)")
                step("speakers", 0, 1)
                regions = speech_regions(audio)
                if not regions:
                    raise SilentAudio("no speech found (voice activity detection found none): nothing to analyse",
                                      path)
                turns = diarize(audio, regions, speakers, settings)
                if cache is not None:
                    cache.save_turns(duration, turns)
            if faces:
                envelope = loudness_envelope(audio, SAMPLE_RATE)
        finally:
            if isinstance(audio, AudioSignal):
                audio.remove()
                for folder in made:  # the folders made for it, unless the run's results went there
                    with contextlib.suppress(OSError):
                        folder.rmdir()
        del audio
    if known is not None:
        duration, turns = known
        log(f"{path.name}: speakers from the earlier run ({cache.folder if cache else ''})")
    face_steps = round(duration) if faces else 0
    pieces = speech_pieces(turns, max_segment)
    segments = with_pauses(pieces, duration)
    speech = [s for s in segments if s.speaker is not None]
    spans = analysis_spans(segments, context)
    total = 1 + len(spans) + face_steps
    grouped = adapt == "speaker" and predictor.normalize != "global"
    if predictor.normalize != "global" and not grouped:
        warn(f"{path.name}: the model was trained with {predictor.normalize} normalisation but adaptation is off: "
             "each segment is answered without its speaker's statistics, near chance on unseen voices; use "
             "--adapt speaker (adapt='speaker'), or a model trained with global normalisation")
    rows = cache.load_emotions(len(spans)) if cache is not None else []
    rows = rows[:next((i for i, r in enumerate(rows) if r["start"] != speech[i].start), len(rows))]
    if grouped and len(rows) < len(spans):
        rows = []  # a speaker's segments are answered together: all of them, or none from the cache
    step("emotion", 1 + len(rows), total)
    bar = progress(total=len(spans), initial=len(rows), desc=f"{path.name}: emotion", unit="segment")
    parts = extract_windows(path, spans[len(rows):], predictor.config, "audio", workers=1, info=info)
    heads: list[dict[str, float] | None] = [_emotion_from_row(seg, row)
                                            for seg, row in zip(speech[:len(rows)], rows, strict=True)]
    items: list = []  # grouped: every segment's features, answered once all are in
    try:
        for seg, (_, _, item) in zip(speech[len(rows):], parts, strict=True):
            if grouped:
                items.append(item)
                bar.update(1)
                step("emotion", 1 + len(items), total)
                continue
            heads.append(_predict_into(seg, predictor, item, path))
            rows.append(_emotion_row(seg, heads[-1]))
            if cache is not None and (len(rows) % cache.chunk == 0 or len(rows) == len(spans)):
                first = (len(rows) - 1) // cache.chunk * cache.chunk
                cache.save_emotions(first, rows[first:])
            bar.update(1)
            step("emotion", 1 + len(heads), total)
    finally:
        parts.close()
        bar.close()
    if grouped and items:
        heads = _predict_by_speaker(speech, items, predictor, path)
        rows = [_emotion_row(seg, head) for seg, head in zip(speech, heads, strict=True)]
        if cache is not None:
            for first in range(0, len(rows), cache.chunk):
                cache.save_emotions(first, rows[first:first + cache.chunk])
    adaptation = describe_adaptation(adapt, predictor.normalize, speech)
    labels = loaded.labels
    if faces:
        tracks = cache.load_tracks() if cache is not None else None
        if tracks is None:
            try:
                done = 1 + len(spans)
                tracks = track_faces(path, FACE_FPS, duration=duration,
                                     on_second=lambda t: step("faces", min(done + int(t), total), total))
            except AvemotionError as exc:  # an unreadable video stream: the voice's analysis stands on its own
                warn(f"{path.name}: faces not analysed ({exc.reason}: {exc.detail})")
                tracks = []
            else:
                if cache is not None:
                    cache.save_tracks(tracks)
        log(f"{path.name}: {len(tracks)} face track(s)")
        for seg, head, span in zip(speech, heads, spans, strict=True):
            reading = read_face(tracks, envelope, seg.start, seg.end, FACE_FPS, labels, span)
            if reading is not None:
                _face_into(seg, reading, head, predictor)
    return SessionResult(str(path), duration, loaded.description, summarise(turns, segments, labels), segments,
                         labels, _model_card(loaded), adaptation)


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, innermost first."""
    out = []
    while not folder.exists() and folder != folder.parent:
        out.append(folder)
        folder = folder.parent
    return out


def cache_settings(loaded, speakers: int | None, max_segment: float, context: float,
                   settings: DiarizeSettings | None, faces: bool, adapt: str = DEFAULT_ADAPT) -> dict[str, object]:
    """Everything besides the recording that a :class:`SessionCache`'s stored results depend on."""
    folder = Path(loaded.folder)
    files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()) \
        if folder.is_dir() else []
    return {"model": str(folder), "model_files": files, "model_description": loaded.description, "speakers": speakers,
            "max_segment": max_segment, "context": context, "faces": faces, "adapt": adapt,
            "diarize": asdict(settings or DiarizeSettings())}


def _emotion_row(seg: Segment, head: dict[str, float] | None) -> dict[str, object]:
    """What the cache keeps of a speech segment's voice analysis."""
    return {"start": seg.start, "emotion": seg.emotion, "confidence": seg.confidence,
            "probabilities": seg.probabilities, "valence": seg.valence, "arousal": seg.arousal,
            "modalities_used": seg.modalities_used, "error": seg.error, "head": head}


def _emotion_from_row(seg: Segment, row: dict) -> dict[str, float] | None:
    """A cached voice analysis into ``seg``; returns its audio head's probabilities."""
    seg.emotion, seg.confidence, seg.probabilities = row["emotion"], row["confidence"], row["probabilities"]
    seg.valence, seg.arousal = row["valence"], row["arousal"]
    seg.modalities_used, seg.error = row["modalities_used"], row["error"]
    return row["head"]


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


def _predict_by_speaker(speech: list[Segment], items: list, predictor, path: Path) -> list[dict[str, float] | None]:
    """Each speaker's segments answered together (:meth:`Predictor.predict_group`: the speaker's own statistics
    when there are at least MIN_CLIPS of them, else one at a time); returns each segment's audio-head
    probabilities (None where it failed), in ``speech`` order. ``items``: each segment's features, or the
    :class:`AvemotionError` of its extraction."""
    heads: list[dict[str, float] | None] = [None] * len(speech)
    members: dict[str, list[int]] = {}
    for i, (seg, item) in enumerate(zip(speech, items, strict=True)):
        if isinstance(item, AvemotionError):
            seg.error = f"{item.reason}: {item.detail}"
        else:
            members.setdefault(str(seg.speaker), []).append(i)
    for idx in members.values():
        try:
            preds = predictor.predict_group([items[i] for i in idx], [str(path)] * len(idx))
        except AvemotionError:  # a segment the model cannot use: set it aside (with its error), group the rest
            idx = [i for i in idx if _usable(speech[i], predictor, items[i], path)]
            preds = predictor.predict_group([items[i] for i in idx], [str(path)] * len(idx)) if idx else []
        for i, pred in zip(idx, preds, strict=True):
            heads[i] = _fill(speech[i], pred)
    return heads


def _usable(seg: Segment, predictor, item, path: Path) -> bool:
    """Whether the model can answer ``item`` alone; if not, its error goes into ``seg``."""
    try:
        predictor.predict(item, source=str(path))
    except AvemotionError as exc:
        seg.error = f"{exc.reason}: {exc.detail}"
        return False
    return True


def _fill(seg: Segment, pred) -> dict[str, float] | None:
    """A prediction into ``seg``; returns its audio-head probabilities."""
    seg.emotion, seg.confidence = pred.emotion, pred.confidence
    seg.probabilities = dict(pred.probabilities)
    seg.valence, seg.arousal = valence_arousal(seg.probabilities)
    seg.modalities_used = pred.modalities_used
    return pred.heads.get("audio")


def _predict_into(seg: Segment, predictor, item, path: Path) -> dict[str, float] | None:
    """The voice's emotion into ``seg``; returns the model's audio-head probabilities (None on an error)."""
    try:
        if isinstance(item, AvemotionError):
            raise item
        pred = predictor.predict(item, source=str(path))
    except AvemotionError as exc:
        seg.error = f"{exc.reason}: {exc.detail}"
        return None
    return _fill(seg, pred)


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
