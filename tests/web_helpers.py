"""Shared by the web tests: a small trained run (real features of generated face clips), test recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from model_helpers import TINY_ARGS
from pipeline_helpers import face_frames, make_face_clip, speechlike

from avemotion.media.write import write_media

#: light feature config (one openSMILE set, no SoundNet, no expression CNN): fast extraction
FAST_FEATURES = ["--set", "audio.opensmile.sets=[IS09]", "--set", "audio.soundnet.enabled=false",
                 "--set", "audio.extractors=[mfcc,opensmile]", "--set", "video.face.expression_cnn=false"]


def tiny_run(base: Path) -> Path:
    """Extract 8 one-second face clips (two voices: anger / joy) and train a tiny model on them, with the CLI.

    Built once under ``base`` and reused (the web test modules share it)."""
    from avemotion.cli.main import main

    run = base / "run"
    if (run / "model.json").is_file():
        return run
    corpus = base / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    rows = ["path,label,speaker"]
    for i in range(8):
        make_face_clip(corpus / f"c{i}.mp4", seconds=1.0, seed=i, f0=110 + 25 * i)
        rows.append(f"c{i}.mp4,{'joy' if i % 2 else 'anger'},s{i % 4}")
    (corpus / "metadata.csv").write_text("\n".join(rows) + "\n")
    assert main(["--quiet", "extract", "--corpus", "folder", "--root", str(corpus),
                 "--out", str(base / "feat"), "--workers", "1", *FAST_FEATURES]) == 0
    assert main(["--quiet", "train", "--features", str(base / "feat"), "--out", str(run), "--cv", "2",
                 "--epochs", "3", *TINY_ARGS, *FAST_FEATURES]) == 0
    return run


def face_clip(path: Path, seconds: float = 3.0, seed: int = 5) -> Path:
    """The astronaut's face with a speech-like voice (H.264 + AAC)."""
    return make_face_clip(path, seconds=seconds, seed=seed)


def gap_clip(path: Path, fps: int = 15) -> Path:
    """6 s: face and voice, 2 s of noise frames and digital silence (nothing usable), face and voice."""
    rng = np.random.default_rng(3)
    noise = [rng.integers(0, 255, (160, 160, 3), dtype=np.uint8) for _ in range(2 * fps)]
    frames = face_frames(2 * fps, seed=1) + noise + face_frames(2 * fps, seed=2)
    audio = np.concatenate([speechlike(2.0, seed=1, f0=110), np.zeros(32000, np.float32),
                            speechlike(2.0, seed=2, f0=280)])
    return write_media(path, frames, fps=fps, audio=audio, sample_rate=16000)


def mute_faceless_clip(path: Path, seconds: float = 2.0, fps: int = 15) -> Path:
    """Video only (no audio stream), random noise frames: neither modality is usable."""
    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 255, (160, 160, 3), dtype=np.uint8) for _ in range(int(seconds * fps))]
    return write_media(path, frames, fps=fps)


def voice_wav(path: Path, seconds: float = 2.0) -> Path:
    return write_media(path, None, audio=speechlike(seconds, seed=7), sample_rate=16000)


def two_voice_wav(path: Path, turns: int = 6, turn: float = 2.5, gap: float = 1.0) -> Path:
    """Two synthetic voices (a low and a high one) taking ``turns`` turns of ``turn`` s with ``gap`` s pauses
    (as tests/test_session.py's conversation): a short session for the web app's session view."""
    from avemotion.data.synthetic.voice import VoiceParams, synthesize

    def voice(f0: float, formants: float) -> VoiceParams:
        return VoiceParams(f0_hz=f0, range_st=3.0, slope_st=-2.0, tempo=4.5, level_db=0.0, level_var_db=2.0,
                           jitter=0.01, shimmer=0.05, breathiness=0.15, effort=0.5, formant_scale=formants)

    voices, rng, sr = [voice(105.0, 1.0), voice(225.0, 1.2)], np.random.default_rng(0), 16000
    parts = [np.zeros(int(gap * sr), np.float32)]
    for i in range(turns):
        parts += [synthesize(voices[i % 2], turn, sr, rng).audio, np.zeros(int(gap * sr), np.float32)]
    return write_media(path, None, audio=np.concatenate(parts), sample_rate=sr)
