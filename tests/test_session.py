"""`avemotion session`: the JSON contract, speakers on a clear case, pauses without a speaker, forcing the
number of speakers, the HTML report's self-containment, and the errors a user can act on.

The recording is made here: two synthetic voices (src/avemotion/data/synthetic/voice.py; a low male-like and
a high female-like voice) taking six turns with 1-s pauses. Tests that run the voice-activity and speaker
models skip without the [session] extra; the RAVDESS case needs ../shared/data.
"""

from __future__ import annotations

import json
import math
import re
import sys

import numpy as np
import pytest
import soundfile as sf
from tests.conftest import moving_square_frames

from avemotion.cli.main import main
from avemotion.data.synthetic.voice import VoiceParams, synthesize
from avemotion.inference.session.affect import CIRCUMPLEX, valence_arousal
from avemotion.inference.session.records import Turn
from avemotion.inference.session.segments import count_turns, speech_pieces, with_pauses
from avemotion.labels import get_label_set, label_set_names
from avemotion.media.write import write_media

SR = 16000
TURN, GAP, TURNS = 2.5, 1.0, 6


def _voice(f0: float, formants: float) -> VoiceParams:
    return VoiceParams(f0_hz=f0, range_st=3.0, slope_st=-2.0, tempo=4.5, level_db=0.0, level_var_db=2.0,
                       jitter=0.01, shimmer=0.05, breathiness=0.15, effort=0.5, formant_scale=formants)


def _conversation(voices: list[VoiceParams], seed: int = 0) -> tuple[np.ndarray, list[tuple[float, float, int]]]:
    rng = np.random.default_rng(seed)
    parts, truth, t = [np.zeros(int(GAP * SR), np.float32)], [], GAP
    for i in range(TURNS):
        k = i % len(voices)
        parts += [synthesize(voices[k], TURN, SR, rng).audio, np.zeros(int(GAP * SR), np.float32)]
        truth.append((t, t + TURN, k))
        t += TURN + GAP
    return np.concatenate(parts), truth


@pytest.fixture(scope="module")
def two_voices(tmp_path_factory: pytest.TempPathFactory):
    audio, truth = _conversation([_voice(105.0, 1.0), _voice(225.0, 1.2)])
    path = tmp_path_factory.mktemp("session") / "talk.wav"
    sf.write(path, audio, SR)
    return path, truth


@pytest.fixture(scope="module")
def cli_run(two_voices, tmp_path_factory: pytest.TempPathFactory):
    """`avemotion session talk.wav --out DIR --json` once: (exit code, printed JSON, written JSON, DIR)."""
    pytest.importorskip("silero_vad")
    pytest.importorskip("resemblyzer")
    path, _ = two_voices
    out = tmp_path_factory.mktemp("out")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["-q", "session", str(path), "--out", str(out), "--json"])
    written = json.loads((out / "talk.session.json").read_text())
    return code, json.loads(buf.getvalue()), written, out


def test_cli_writes_the_json_contract(cli_run) -> None:
    code, printed, d, out = cli_run
    assert code == 0
    assert printed == d
    # the stage results an interrupted run resumes from (tests/test_session_resume.py) sit beside the outputs
    assert sorted(p.name for p in out.iterdir()) == [".talk.session-cache", "talk.session.html", "talk.session.json"]
    assert set(d) == {"recording", "duration", "model", "speakers", "segments", "adaptation"}
    # the bundled model is trained with global normalisation: nothing to adapt, whatever --adapt says
    assert d["adaptation"]["model_normalize"] == "global" and not any(g["adapted"] for g in d["adaptation"]["speakers"])
    assert d["recording"].endswith("talk.wav") and d["model"].startswith("default")
    assert d["duration"] == pytest.approx(GAP + TURNS * (TURN + GAP), abs=0.05)
    for sp in d["speakers"]:
        assert {"id", "speech_seconds", "turns", "emotion_shares"} <= set(sp)
        assert isinstance(sp["id"], str) and sp["speech_seconds"] > 0 and sp["turns"] >= 1
        assert sum(sp["emotion_shares"].values()) == pytest.approx(1.0, abs=1e-3)
    segs = d["segments"]
    assert segs[0]["start"] == 0.0 and segs[-1]["end"] == pytest.approx(d["duration"], abs=1e-3)
    for a, b in zip(segs, segs[1:], strict=False):
        assert b["start"] == pytest.approx(a["end"], abs=1e-3)  # contiguous, in time order
    keys = {"start", "end", "speaker", "emotion", "confidence", "probabilities", "valence", "arousal",
            "modalities_used", "face"}
    ids = {sp["id"] for sp in d["speakers"]}
    for s in segs:
        assert keys <= set(s)
        assert s["face"] is None
        if s["speaker"] is None:  # a pause: no emotion from the audio head
            assert s["emotion"] is None and s["probabilities"] is None and s["valence"] is None
        else:
            assert s["speaker"] in ids
            assert s["emotion"] in s["probabilities"]
            assert sum(s["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
            assert s["confidence"] == pytest.approx(max(s["probabilities"].values()), abs=1e-4)
            assert -1 <= s["valence"] <= 1 and -1 <= s["arousal"] <= 1
            assert s["modalities_used"] == "audio"


def test_two_voices_found_and_pauses_left_without_speaker(cli_run, two_voices) -> None:
    _, _, d, _ = cli_run
    _, truth = two_voices
    assert len(d["speakers"]) == 2
    mapping = {}
    for t0, t1, k in truth:
        over: dict[str, float] = {}
        for s in d["segments"]:
            o = min(t1, s["end"]) - max(t0, s["start"])
            if o > 0 and s["speaker"] is not None:
                over[s["speaker"]] = over.get(s["speaker"], 0.0) + o
        who = max(over, key=over.get)
        assert mapping.setdefault(k, who) == who  # each voice always gets the same id
    assert len(set(mapping.values())) == 2
    for (_, end, _), (start, _, _) in zip(truth, truth[1:], strict=False):
        mid = (end + start) / 2
        at = [s for s in d["segments"] if s["start"] <= mid < s["end"]]
        assert at and at[0]["speaker"] is None


def test_html_report_is_self_contained(cli_run) -> None:
    *_, out = cli_run
    html = (out / "talk.session.html").read_text()
    assert "<svg" in html and "S1" in html and "S2" in html
    low = html.lower()
    for bad in ("http://", "https://", "<link", "<script src", "@import", "url("):
        assert bad not in low
    srcs = re.findall(r'src="([^"]*)"', html)
    assert srcs and all(":" not in x and not x.startswith("/") for x in srcs)  # the recording, by relative path


def test_python_api_matches_the_cli(cli_run, two_voices) -> None:
    import avemotion

    _, _, d, _ = cli_run
    s = avemotion.session(two_voices[0])
    assert json.loads(s.to_json()) == d
    df = s.segments
    assert list(df.columns[:4]) == ["start", "end", "speaker", "emotion"]
    assert len(df) == len(d["segments"]) and df["speaker"].isna().sum() == sum(x["speaker"] is None
                                                                                for x in d["segments"])
    assert [sp.id for sp in s.speakers] == [sp["id"] for sp in d["speakers"]]
    assert "<svg" in s.to_html()


def test_rttm_export(two_voices, tmp_path) -> None:
    pytest.importorskip("silero_vad")
    pytest.importorskip("resemblyzer")
    out = tmp_path / "out"
    assert main(["-q", "session", str(two_voices[0]), "--out", str(out), "--rttm"]) == 0
    lines = (out / "talk.rttm").read_text().splitlines()
    assert len(lines) == TURNS  # one line per turn: the pieces of a turn are joined
    for line, (t0, t1, _) in zip(lines, two_voices[1], strict=True):
        f = line.split()
        assert f[0] == "SPEAKER" and f[1] == "talk" and f[2] == "1" and f[7] in ("S1", "S2")
        start, dur = float(f[3]), float(f[4])
        assert t0 - 0.5 < start < t0 + 0.5 and dur > 0 and start + dur < t1 + 0.5
    assert [ln.split()[7] for ln in lines] == ["S1", "S2"] * (TURNS // 2)


def test_speakers_forced() -> None:
    pytest.importorskip("silero_vad")
    pytest.importorskip("resemblyzer")
    from avemotion.inference.session.diarize import diarize
    from avemotion.inference.session.vad import speech_regions

    audio, _ = _conversation([_voice(105.0, 1.0), _voice(225.0, 1.2)], seed=1)
    regions = speech_regions(audio)
    assert len(regions) == TURNS
    assert {t.speaker for t in diarize(audio, regions, speakers=1)} == {"S1"}
    three = diarize(audio, regions, speakers=3)
    assert {t.speaker for t in three} == {"S1", "S2", "S3"}


def test_silent_recording_is_an_error(tmp_path, capsys) -> None:
    path = tmp_path / "quiet.wav"
    sf.write(path, np.zeros(3 * SR, np.float32), SR)
    assert main(["-q", "session", str(path), "--out", str(tmp_path / "out")]) == 1
    assert "silent" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_no_speech_is_an_error(tmp_path, capsys) -> None:
    pytest.importorskip("silero_vad")
    path = tmp_path / "hum.wav"
    t = np.arange(3 * SR) / SR
    sf.write(path, (0.01 * np.sin(2 * np.pi * 50 * t)).astype(np.float32), SR)
    assert main(["-q", "session", str(path), "--out", str(tmp_path / "out")]) == 1
    assert "no speech found" in capsys.readouterr().err


def test_video_without_audio_is_an_error(tmp_path, capsys) -> None:
    path = tmp_path / "mute.mp4"
    write_media(path, moving_square_frames(20), fps=10)
    assert main(["-q", "session", str(path), "--out", str(tmp_path / "out")]) == 1
    assert "no audio track" in capsys.readouterr().err


def test_missing_extra_says_what_to_install(two_voices, tmp_path, capsys, monkeypatch) -> None:
    from avemotion.inference.session import vad

    vad._model.cache_clear()
    monkeypatch.setitem(sys.modules, "silero_vad", None)  # import fails as if not installed
    try:
        assert main(["-q", "session", str(two_voices[0]), "--out", str(tmp_path / "out")]) == 1
    finally:
        vad._model.cache_clear()
    assert "pip install 'avemotion[session]'" in capsys.readouterr().err


def test_speakers_option_is_checked(two_voices, tmp_path, capsys) -> None:
    assert main(["-q", "session", str(two_voices[0]), "--speakers", "two", "--out", str(tmp_path)]) == 1
    assert "--speakers must be 'auto' or a positive whole number" in capsys.readouterr().err


def test_every_registered_label_has_a_circumplex_place() -> None:
    for name in label_set_names():
        for label in get_label_set(name).labels:
            assert label in CIRCUMPLEX or label == "other", (name, label)
    assert valence_arousal({"happy": 1.0}) == (0.8, 0.5)
    v, a = valence_arousal({"happy": 0.5, "sad": 0.5, "other": 0.3})  # labels without a place are left out
    assert (v, a) == pytest.approx((0.05, 0.05))
    assert valence_arousal({"other": 1.0}) == (None, None)
    assert not math.isnan(valence_arousal({"angry": 0.2, "calm": 0.8})[0])


def test_turns_are_cut_into_pieces_and_pauses() -> None:
    turns = [Turn(1.0, 10.0, "S1"), Turn(11.0, 12.0, "S2"), Turn(12.5, 13.0, "S2")]
    pieces = speech_pieces(turns, 4.0)
    assert [(p.start, p.end) for p in pieces[:3]] == [(1.0, 4.0), (4.0, 7.0), (7.0, 10.0)]
    segs = with_pauses(pieces, 15.0)
    assert segs[0].speaker is None and (segs[0].start, segs[0].end) == (0.0, 1.0)
    assert segs[-1].speaker is None and segs[-1].end == 15.0
    assert sum(s.end - s.start for s in segs) == pytest.approx(15.0)
    assert count_turns(turns) == {"S1": 1, "S2": 1}  # a pause does not end S2's turn


@pytest.mark.shared
def test_two_ravdess_actors_of_different_gender(shared_data) -> None:
    pytest.importorskip("silero_vad")
    pytest.importorskip("resemblyzer")
    from avemotion.inference.session.diarize import diarize
    from avemotion.inference.session.vad import speech_regions
    from avemotion.media.audio import load_audio

    clips = {a: sorted((shared_data / "ravdess_speech_05_12" / f"Actor_{a}").glob("*.wav"))[::7][:3]
             for a in ("07", "08")}
    parts, truth, t = [np.zeros(SR, np.float32)], [], 1.0
    for i in range(6):
        a = ("07", "08")[i % 2]
        x = load_audio(clips[a][i // 2], SR)
        parts += [x, np.zeros(SR, np.float32)]
        truth.append((t + len(x) / SR / 2, a))
        t += len(x) / SR + 1.0
    audio = np.concatenate(parts)
    turns = diarize(audio, speech_regions(audio))
    assert len({tr.speaker for tr in turns}) == 2
    found = [next(tr.speaker for tr in turns if tr.start - 1.5 <= mid <= tr.end + 1.5) for mid, _ in truth]
    assert found[0::2] == [found[0]] * 3 and found[1::2] == [found[1]] * 3 and found[0] != found[1]


def test_emotion_directions_are_fitted_and_shipped() -> None:
    from avemotion.inference.session.diarize import fit_nuisance, nuisance_directions, remove_nuisance

    rng = np.random.default_rng(0)
    speaker = np.repeat(np.arange(4), 50)
    centres = rng.normal(size=(4, 8)) * 3
    x = centres[speaker] + np.outer(rng.normal(size=200), np.eye(8)[5]) * 2  # one speaker moves along axis 5
    d = fit_nuisance(x + 0.01 * rng.normal(size=x.shape), speaker, k=1)
    assert abs(d[5, 0]) > 0.9
    assert np.allclose(remove_nuisance(x, d) @ d, 0.0, atol=1e-5)
    shipped = nuisance_directions()
    assert shipped.shape == (256, 20)
    assert np.allclose(shipped.T @ shipped, np.eye(20), atol=1e-4)


def test_speakers_named_and_merged(cli_run, two_voices, tmp_path) -> None:
    """Users name speakers and fix a split: the JSON, the summaries and the report follow."""
    import avemotion
    from avemotion.errors import ConfigError

    _, _, d, _ = cli_run
    s = avemotion.session(two_voices[0], names={"S1": "client", "S2": "counsellor"})
    j = json.loads(s.to_json())
    assert [sp["id"] for sp in j["speakers"]] == ["client", "counsellor"]
    assert {x["speaker"] for x in j["segments"]} == {"client", "counsellor", None}
    for old, new in zip(d["speakers"], j["speakers"], strict=True):
        assert new["turns"] == old["turns"] and new["speech_seconds"] == pytest.approx(old["speech_seconds"], abs=1e-3)
        assert new["emotion_shares"] == pytest.approx(old["emotion_shares"], abs=1e-4)
    assert "counsellor" in s.to_html() and " client " in s.to_rttm()
    merged = s.with_speaker_names({"client": "client", "counsellor": "client"})
    one = json.loads(merged.to_json())["speakers"]
    assert len(one) == 1 and one[0]["id"] == "client" and one[0]["turns"] == 1
    total = sum(sp["speech_seconds"] for sp in d["speakers"])
    assert one[0]["speech_seconds"] == pytest.approx(total, abs=1e-3)
    with pytest.raises(ConfigError, match="no speaker 'S9'"):
        s.with_speaker_names({"S9": "x"})
    with pytest.raises(ConfigError, match="already a speaker's id"):
        s.with_speaker_names({"client": "counsellor"})
    out = tmp_path / "named"
    assert main(["-q", "session", str(two_voices[0]), "--out", str(out), "--name", "S1=client",
                 "--name", "S2=counsellor"]) == 0
    assert json.loads((out / "talk.session.json").read_text()) == j
    assert main(["-q", "session", str(two_voices[0]), "--out", str(out), "--name", "S1"]) == 1


def test_elan_and_tier_exports(two_voices, tmp_path) -> None:
    """--eaf writes an ELAN document (a tier per speaker, annotations on one ordered time line) and --tiers the
    same tiers as CSV; both follow the speaker names."""
    import csv
    import xml.etree.ElementTree as ET

    pytest.importorskip("silero_vad")
    pytest.importorskip("resemblyzer")
    out = tmp_path / "exp"
    assert main(["-q", "session", str(two_voices[0]), "--out", str(out), "--eaf", "--tiers",
                 "--name", "S1=client"]) == 0
    session = json.loads((out / "talk.session.json").read_text())
    root = ET.parse(out / "talk.eaf").getroot()
    assert root.tag == "ANNOTATION_DOCUMENT" and root.find("HEADER/MEDIA_DESCRIPTOR").get("MEDIA_URL").endswith(
        "talk.wav")
    slots = {s.get("TIME_SLOT_ID"): int(s.get("TIME_VALUE")) for s in root.iter("TIME_SLOT")}
    assert list(slots.values()) == sorted(slots.values())
    tiers = {t.get("TIER_ID"): t for t in root.iter("TIER")}
    assert {"client", "S2", "client-valence", "S2-arousal"} <= set(tiers)
    spoken = [s for s in session["segments"] if s["speaker"] == "client"]
    notes = tiers["client"].findall("ANNOTATION/ALIGNABLE_ANNOTATION")
    assert len(notes) == len(spoken)
    for a, s in zip(notes, spoken, strict=True):
        assert slots[a.get("TIME_SLOT_REF1")] == round(s["start"] * 1000)
        assert a.find("ANNOTATION_VALUE").text.split()[0] == s["emotion"]
    rows = list(csv.DictReader((out / "talk.tiers.csv").open()))
    assert {r["tier"] for r in rows} == set(tiers)
    assert sum(r["tier"] == "client" for r in rows) == len(spoken)
