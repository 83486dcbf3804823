"""Faces in sessions: tracks (one per face), the speaking decision, the face prior combined the model's way, and
the ``face`` of each segment in `avemotion session`.

The videos are made here: the synthetic face (src/avemotion/data/synthetic/face.py, a warped photo) with its lips
opened by a synthetic voice's loudness (``mouth_opening``, as the synthetic corpus drives them), over 1-s pauses
and 3-s stretches of speech. Swapping in another voice's audio, or keeping the mouth still, gives a face that is
not the one speaking. The session tests need the [session] extra.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avemotion.cli.main import main
from avemotion.data.synthetic.face import BASIS_NAMES, FaceIdentity, FaceRig
from avemotion.data.synthetic.voice import VoiceParams, mouth_opening, synthesize
from avemotion.inference.session.face_segments import combine, face_prior, read_face
from avemotion.inference.session.faces import FACE_FPS, track_faces
from avemotion.inference.session.records import FaceTrack
from avemotion.inference.session.speaking import SPEAKING_THRESHOLD, is_speaking, loudness_envelope, speaking_score
from avemotion.media.write import write_media

SR = 16000
FPS = 15
GAP, TALK, TURNS = 1.0, 3.0, 2


def _voice(f0: float, formants: float) -> VoiceParams:
    return VoiceParams(f0_hz=f0, range_st=3.0, slope_st=-2.0, tempo=4.5, level_db=0.0, level_var_db=2.0,
                       jitter=0.01, shimmer=0.05, breathiness=0.15, effort=0.5, formant_scale=formants)


def _speech(params: VoiceParams, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Audio (16 kHz) of pauses and speech turns, and the lip opening in [0, 1] per video frame."""
    rng = np.random.default_rng(seed)
    audio, opening = [np.zeros(int(GAP * SR), np.float32)], [np.zeros(int(GAP * FPS))]
    for _ in range(TURNS):
        utt = synthesize(params, TALK, SR, rng)
        audio += [utt.audio.astype(np.float32), np.zeros(int(GAP * SR), np.float32)]
        opening += [mouth_opening(utt, FPS, int(TALK * FPS)), np.zeros(int(GAP * FPS))]
    return np.concatenate(audio), np.concatenate(opening)


def _frames(rig: FaceRig, opening: np.ndarray) -> list[np.ndarray]:
    close, jaw = BASIS_NAMES.index("lip_close"), BASIS_NAMES.index("jaw")
    out = []
    for a in 0.15 + 1.1 * opening:
        w = np.zeros(len(BASIS_NAMES), np.float32)
        w[close] = np.clip(1.0 - a, 0.0, 1.0)
        w[jaw] = np.clip(a - 1.0, 0.0, 1.2)
        out.append(rig.render(w, (0.0, 0.0, 0.0, 0.0)))
    return out


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """talking.mp4 (the face speaks its own voice), dubbed.mp4 (the same face, another voice with its own
    timing), still.mp4 (a still mouth, a listener's, under the first voice), two.mp4 (the talking and the still
    face side by side), talk.wav (the voice alone)."""
    folder = tmp_path_factory.mktemp("faces")
    audio, opening = _speech(_voice(110.0, 1.0), seed=1)
    other, _ = _speech(_voice(220.0, 1.2), seed=7)
    other = np.roll(other, int(1.5 * SR))  # another person's turns: they start and end at other times
    rig = FaceRig(FaceIdentity(), size=(256, 256))
    talking = _frames(rig, opening)
    still = _frames(rig, np.zeros_like(opening))
    paths = {"talking": folder / "talking.mp4", "dubbed": folder / "dubbed.mp4", "still": folder / "still.mp4",
             "two": folder / "two.mp4", "wav": folder / "talk.wav"}
    write_media(paths["talking"], talking, FPS, audio, SR)
    write_media(paths["dubbed"], talking, FPS, other[: len(audio)], SR)
    write_media(paths["still"], still, FPS, audio, SR)
    write_media(paths["two"], [np.concatenate([a, b], 1) for a, b in zip(talking, still, strict=True)], FPS, audio, SR)
    sf.write(paths["wav"], audio, SR)
    return paths


@pytest.fixture(scope="module")
def tracks(media: dict[str, Path]) -> dict[str, list[FaceTrack]]:
    return {k: track_faces(media[k]) for k in ("talking", "dubbed", "still", "two")}


def _score(track: FaceTrack, path: Path, start: float, end: float) -> float | None:
    from avemotion.media.audio import load_audio

    times, mouth, _ = track.span(start, end)
    return speaking_score(times, mouth, loudness_envelope(load_audio(path, SR), SR), start, end, FACE_FPS)


def test_one_face_one_track_with_frames_and_expression(tracks) -> None:
    (track,) = tracks["talking"]
    assert track.id == "F1"
    assert len(track) >= 0.9 * (GAP + TURNS * (TALK + GAP)) * FACE_FPS
    assert np.all(np.diff(track.times) > 0)
    probs = np.asarray(track.probabilities)
    assert probs.shape == (len(track), 7) and np.allclose(probs.sum(1), 1.0, atol=1e-3)
    mouth = np.asarray(track.mouth)
    assert mouth.max() > 3 * max(np.median(mouth[: int(GAP * FACE_FPS)]), 0.01)  # opens while speaking


def test_two_faces_give_two_tracks(tracks) -> None:
    two = tracks["two"]
    assert len(two) == 2
    left, right = sorted(two, key=lambda t: t.boxes[0][0])
    assert left.boxes[0][2] <= 256 + 8 and right.boxes[0][0] >= 256 - 8
    assert min(len(left), len(right)) >= 0.9 * len(tracks["talking"][0])


def test_speaking_face_and_faces_that_are_not(tracks, media) -> None:
    span = (GAP - 1.0 + 1e-3, GAP + TALK + GAP)  # the first turn with the pauses around it, as sessions read it
    own = _score(tracks["talking"][0], media["talking"], *span)
    dubbed = _score(tracks["dubbed"][0], media["dubbed"], *span)
    still = _score(tracks["still"][0], media["still"], *span)
    assert own is not None and is_speaking(own), own
    assert dubbed is not None and not is_speaking(dubbed), dubbed
    assert still is not None and not is_speaking(still) and still < SPEAKING_THRESHOLD / 2, still
    left, right = sorted(tracks["two"], key=lambda t: t.boxes[0][0])
    assert is_speaking(_score(left, media["two"], *span)) and not is_speaking(_score(right, media["two"], *span))


def test_read_face_picks_the_speaking_face(tracks, media) -> None:
    from avemotion.media.audio import load_audio

    env = loudness_envelope(load_audio(media["two"], SR), SR)
    labels = ["neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
    reading = read_face(tracks["two"], env, GAP, GAP + TALK, FACE_FPS, labels, (0.0, GAP + TALK + GAP))
    left = min(tracks["two"], key=lambda t: t.boxes[0][0])
    assert reading is not None and reading.speaking and reading.track == left.id and reading.faces_visible == 2
    d = reading.to_dict()
    assert set(d) == {"track", "speaking", "speaking_score", "emotion", "confidence", "probabilities", "frames",
                      "faces_visible"}
    assert list(d["probabilities"]) == labels and abs(sum(d["probabilities"].values()) - 1) < 1e-3
    assert read_face(tracks["two"], env, 100.0, 101.0, FACE_FPS, labels) is None


def test_combine_is_the_models_own_audio_video_answer(media) -> None:
    """The face prior through the model's decision rule gives what the model answers for the same clip with its
    video branch (the bundled model's video head is that prior)."""
    from avemotion.data.expression_prior import clip_prior, prior_columns, prior_matrix
    from avemotion.data.extract import extract_clip
    from avemotion.inference.api import load_model

    loaded = load_model(None)
    predictor = loaded.predictor
    feats = extract_clip(media["talking"], predictor.config, "av")
    pred = predictor.predict(feats)
    assert pred.modalities_used == "av"
    cols = prior_columns(feats.video_groups)
    assert cols is not None
    prior = clip_prior(feats.video_seq, feats.video_mask, cols, prior_matrix(loaded.labels))
    probs = combine(predictor.bundle, predictor.temperature, pred.heads["audio"], prior)
    assert max(abs(probs[k] - pred.probabilities[k]) for k in probs) < 1e-4
    # the same prior from a face track's CNN probabilities
    labels, p = face_prior(feats.video_seq[feats.video_mask][:, cols], loaded.labels)
    assert list(labels) == loaded.labels and np.allclose(p, prior, atol=1e-5)


def _session(path: Path, out: Path, *extra: str) -> dict:
    pytest.importorskip("silero_vad")
    pytest.importorskip("resemblyzer")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["-q", "session", str(path), "--out", str(out), "--json", *extra]) == 0
    return json.loads(buf.getvalue())


def test_session_segments_get_the_speaking_face(media, tmp_path: Path) -> None:
    d = _session(media["talking"], tmp_path)
    speech = [s for s in d["segments"] if s["speaker"] is not None]
    assert speech and all(s["face"] is not None for s in speech)
    assert all(s["face"] is None for s in d["segments"] if s["speaker"] is None)
    spoken = [s for s in speech if s["face"]["speaking"]]
    assert len(spoken) >= len(speech) / 2
    for s in spoken:
        assert s["modalities_used"] == "av" and s["face"]["faces_visible"] == 1 and s["face"]["frames"] > 10
        assert abs(sum(s["probabilities"].values()) - 1) < 1e-3
    assert d["speakers"][0]["speaking_face_share"] > 0.4
    html = (tmp_path / "talking.session.html").read_text()
    assert 'id="face-lane"' in html


def test_session_listener_face_is_kept_apart(media, tmp_path: Path) -> None:
    d = _session(media["still"], tmp_path)
    speech = [s for s in d["segments"] if s["speaker"] is not None]
    assert speech and all(s["face"] is not None and not s["face"]["speaking"] for s in speech)
    assert all(s["modalities_used"] == "audio" for s in speech)
    assert d["speakers"][0]["speaking_face_share"] == 0


def test_session_without_faces(media, tmp_path: Path) -> None:
    d = _session(media["talking"], tmp_path / "a", "--no-faces")
    assert all(s["face"] is None for s in d["segments"])
    assert all(s["speaking_face_share"] is None for s in d["speakers"])
    w = _session(media["wav"], tmp_path / "b")
    assert all(s["face"] is None for s in w["segments"])
    assert 'id="face-lane"' not in (tmp_path / "b" / "talk.session.html").read_text()


def test_result_frame_and_renaming_keep_the_face() -> None:
    from avemotion.inference.session.records import Segment, Turn
    from avemotion.inference.session.result import SessionResult
    from avemotion.inference.session.segments import summarise

    face = {"track": "F1", "speaking": True, "speaking_score": 4.0, "emotion": "happy", "confidence": 0.8,
            "probabilities": {"happy": 0.8, "sad": 0.2}, "frames": 30, "faces_visible": 1}
    segs = [Segment(0.0, 1.0, None), Segment(1.0, 3.0, "S1", "happy", 0.9, {"happy": 0.9, "sad": 0.1}, face=face),
            Segment(3.0, 4.0, "S2", "sad", 0.7, {"happy": 0.3, "sad": 0.7},
                    face={**face, "speaking": False})]
    turns = [Turn(1.0, 3.0, "S1"), Turn(3.0, 4.0, "S2")]
    r = SessionResult("x.mp4", 4.0, "m", summarise(turns, segs, ["happy", "sad"]), segs, ["happy", "sad"])
    assert [s.speaking_face_share for s in r.speakers] == [1.0, 0.0]
    df = r.segments
    assert list(df["face_speaking"]) == [None, True, False]
    assert df["face_track"].isna().tolist() == [True, False, False] and list(df["face_track"][1:]) == ["F1", "F1"]
    named = r.with_speaker_names({"S1": "client", "S2": "client"})
    assert named.speakers[0].speaking_face_share == pytest.approx(2 / 3)
    audio_only = summarise(turns, [replace(s, face=None) for s in segs], ["happy", "sad"])
    assert all(s.speaking_face_share is None for s in audio_only)


def test_exports_have_a_tier_per_face_track() -> None:
    """--eaf / --tiers: per face track, its expression in each speech segment where it is the segment's face and
    whether it speaks or listens there; tracks in id order (F2 before F10); no face tier without faces."""
    import csv
    import xml.etree.ElementTree as ET

    from avemotion.inference.session.records import Segment, Turn
    from avemotion.inference.session.result import SessionResult
    from avemotion.inference.session.segments import summarise

    face = {"track": "F10", "speaking": True, "emotion": "happy", "confidence": 0.8}
    segs = [Segment(0.0, 1.0, None), Segment(1.0, 3.0, "S1", "happy", 0.9, {"happy": 0.9, "sad": 0.1}, face=face),
            Segment(3.0, 4.0, "S2", "sad", 0.7, {"happy": 0.3, "sad": 0.7},
                    face={**face, "track": "F2", "speaking": False, "emotion": "sad", "confidence": 0.55}),
            Segment(4.0, 5.5, "S1", "sad", 0.6, {"happy": 0.4, "sad": 0.6}, face={**face, "speaking": False})]
    turns = [Turn(1.0, 3.0, "S1"), Turn(3.0, 4.0, "S2"), Turn(4.0, 5.5, "S1")]
    r = SessionResult("x.mp4", 5.5, "m", summarise(turns, segs, ["happy", "sad"]), segs, ["happy", "sad"])
    rows = list(csv.DictReader(io.StringIO(r.to_tiers_csv())))
    face_rows = [(x["tier"], x["start"], x["end"], x["value"]) for x in rows if x["tier"].startswith("face-")]
    assert face_rows == [("face-F2", "3.000", "4.000", "sad 0.55"), ("face-F2-role", "3.000", "4.000", "listening"),
                         ("face-F10", "1.000", "3.000", "happy 0.80"), ("face-F10", "4.000", "5.500", "happy 0.80"),
                         ("face-F10-role", "1.000", "3.000", "speaking"),
                         ("face-F10-role", "4.000", "5.500", "listening")]
    root = ET.fromstring(r.to_eaf("x.mp4"))
    slots = {s.get("TIME_SLOT_ID"): int(s.get("TIME_VALUE")) for s in root.iter("TIME_SLOT")}
    tiers = {t.get("TIER_ID"): t for t in root.iter("TIER")}
    assert {"face-F2", "face-F2-role", "face-F10", "face-F10-role", "S1", "S2"} <= set(tiers)
    notes = tiers["face-F10-role"].findall("ANNOTATION/ALIGNABLE_ANNOTATION")
    assert [(slots[a.get("TIME_SLOT_REF1")], slots[a.get("TIME_SLOT_REF2")], a.find("ANNOTATION_VALUE").text)
            for a in notes] == [(1000, 3000, "speaking"), (4000, 5500, "listening")]
    audio_only = replace(r, segment_records=[replace(s, face=None) for s in segs])
    assert not [x for x in csv.DictReader(io.StringIO(audio_only.to_tiers_csv())) if x["tier"].startswith("face")]


def test_session_exports_of_a_video_with_a_face(media, tmp_path: Path) -> None:
    import csv

    d = _session(media["talking"], tmp_path, "--eaf", "--tiers")
    faced = [s for s in d["segments"] if s["face"] is not None]
    rows = list(csv.DictReader((tmp_path / "talking.tiers.csv").open()))
    face = [r for r in rows if r["tier"] == "face-F1"]
    role = [r for r in rows if r["tier"] == "face-F1-role"]
    assert faced and len(face) == len(role) == len(faced)
    for r, q, s in zip(face, role, faced, strict=True):
        assert float(r["start"]) == pytest.approx(s["start"], abs=1e-3)
        assert r["value"].split()[0] == s["face"]["emotion"]
        assert q["value"] == ("speaking" if s["face"]["speaking"] else "listening")
    assert 'TIER_ID="face-F1"' in (tmp_path / "talking.eaf").read_text()


_REPEAT_SCRIPT = """
import json, sys
import avemotion
from avemotion.utils.resources import usage
for _ in range(int(sys.argv[2])):
    assert avemotion.session(sys.argv[1]).segments["face_track"].notna().any()
    u = usage()
    print(json.dumps({"rss": u.rss_mib, "threads": u.threads}), flush=True)
"""


@pytest.mark.slow
def test_repeated_video_sessions_keep_threads_and_memory_flat(media) -> None:
    """One process analysing many videos (the web app's session view): each session's face graphs and CNN are
    released, so threads stay constant and resident memory stays in a band (about +-40 MiB of allocator noise
    here; a graph left open per session cost +47 MiB and +4 threads per prediction before the extractor pool)."""
    out = subprocess.run([sys.executable, "-c", _REPEAT_SCRIPT, str(media["talking"]), "12"], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    readings = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(readings) == 12
    later = readings[2:]
    assert len({r["threads"] for r in later}) == 1, [r["threads"] for r in readings]
    rss = [r["rss"] for r in later]
    assert np.mean(rss[-4:]) - np.mean(rss[:4]) < 60, rss
