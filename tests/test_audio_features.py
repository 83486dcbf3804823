"""The audio branch X^a: dimensions, token-grid alignment, determinism, ablations, bad audio, real files."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from audio_helpers import noise, speech_like, tone

from avemotion.config import AudioConfig, MfccConfig, OpenSmileConfig, SoundNetConfig
from avemotion.errors import ClipTooShort, ConfigError, SilentAudio
from avemotion.features import AUDIO_EXTRACTORS
from avemotion.features.audio import AudioBranch, AudioFeatures
from avemotion.features.audio import smile as sm
from avemotion.features.audio.common import grid_length, pool_to_grid
from avemotion.features.record import ClipFeatures
from avemotion.media import probe
from avemotion.media.write import write_media
from avemotion.training.variants import PAPER_AUDIO

SR = 16000


@pytest.fixture(scope="module")
def branch() -> AudioBranch:
    return AudioBranch(AudioConfig(extractors=PAPER_AUDIO))


@pytest.fixture(scope="module")
def fast_branch() -> AudioBranch:
    """MFCC + IS09 + SoundNet: the cheap parts, for the many bad-audio cases."""
    return AudioBranch(AudioConfig(extractors=PAPER_AUDIO, opensmile=OpenSmileConfig(sets=["IS09"])))


@pytest.fixture(scope="module")
def speech3() -> np.ndarray:
    return speech_like(3.0, SR, seed=0)


@pytest.fixture(scope="module")
def full3(branch: AudioBranch, speech3: np.ndarray) -> AudioFeatures:
    return branch.extract(speech3, SR)


def check(feats: AudioFeatures, b: AudioBranch, duration: float) -> None:
    t = math.ceil(duration * b.config.token_rate - 1e-6)
    dims = b.dims
    assert feats.seq.shape == (t, dims["seq"]) and feats.seq.dtype == np.float32
    assert feats.vec.shape == (dims["vec"],) and feats.vec.dtype == np.float32
    assert feats.times.shape == (t,)
    assert np.isfinite(feats.seq).all() and np.isfinite(feats.vec).all()
    assert feats.seq_groups == dims["seq_groups"] and feats.vec_groups == dims["vec_groups"]


# --- registration, dimensions --------------------------------------------------------------------------
def test_extractors_registered() -> None:
    assert {"mfcc", "opensmile", "soundnet"} <= set(AUDIO_EXTRACTORS.names())


@pytest.mark.parametrize(
    ("name", "n_func", "n_lld"), [("IS09", 384, 16), ("IS11", 4368, 59), ("IS13", 6373, 65)]
)
def test_opensmile_dimensions(name: str, n_func: int, n_lld: int, speech3: np.ndarray) -> None:
    runner = sm.get_runner(name, SR)
    result = runner.run(speech3)
    assert result.func.shape == (n_func,)
    assert result.lld.values.shape[1] == n_lld and result.lld_de is not None
    assert result.lld_de.values.shape[1] == n_lld
    assert abs(result.lld.values.shape[0] - 300) <= 8  # 10 ms frames over 3 s
    assert sm.get_runner(name.lower(), SR) is runner  # reused, case-insensitive


def test_one_pass_equals_opensmile_package(speech3: np.ndarray) -> None:
    """The single run with three sinks gives what two separate opensmile.Smile objects give."""
    import opensmile

    res = sm.get_runner("IS09", SR).run(speech3)
    func = opensmile.Smile(opensmile.FeatureSet.IS09, opensmile.FeatureLevel.Functionals)
    lld = opensmile.Smile(opensmile.FeatureSet.IS09, opensmile.FeatureLevel.LowLevelDescriptors)
    np.testing.assert_allclose(res.func, func.process_signal(speech3, SR).to_numpy()[0], rtol=1e-5, atol=1e-6)
    ref = lld.process_signal(speech3, SR)
    n = res.lld.values.shape[0]
    assert ref.shape[0] - 5 <= n <= ref.shape[0]  # block-wise sinks may drop a few final 10 ms frames
    np.testing.assert_allclose(res.lld.values, ref.to_numpy()[:n], rtol=1e-5, atol=1e-6)
    starts = ref.index.get_level_values("start").total_seconds().to_numpy()[:n]
    ends = ref.index.get_level_values("end").total_seconds().to_numpy()[:n]
    np.testing.assert_allclose(res.lld.times, (starts + ends) / 2, atol=1e-6)


def test_default_branch_dimensions(branch: AudioBranch, full3: AudioFeatures) -> None:
    dims = branch.dims
    assert dims["vec_groups"]["opensmile"][1] - dims["vec_groups"]["opensmile"][0] == 384 + 4368 + 6373
    assert dims["seq_groups"]["mfcc"] == (0, 39)
    assert dims["seq_groups"]["soundnet"][1] - dims["seq_groups"]["soundnet"][0] == 1024
    assert dims["seq_groups"]["opensmile"][1] - dims["seq_groups"]["opensmile"][0] == 2 * (16 + 59 + 65)
    check(full3, branch, 3.0)
    np.testing.assert_allclose(full3.times[:3], [0.05, 0.15, 0.25])


def test_other_opensmile_sets_selectable() -> None:
    b = AudioBranch(AudioConfig(extractors=["opensmile"], opensmile=OpenSmileConfig(
        sets=["eGeMAPSv02", "IS10"], lld_sets=["eGeMAPSv02"])))
    f = b.extract(speech_like(1.0, SR, seed=1), SR)
    assert f.vec.shape == (88 + 1582,)
    assert f.seq.shape == (10, 25)  # eGeMAPS has no LLD deltas
    with pytest.raises(ConfigError, match="unknown openSMILE feature set"):
        AudioBranch(AudioConfig(extractors=PAPER_AUDIO, opensmile=OpenSmileConfig(sets=["IS99"])))


def test_mfcc_matches_librosa(speech3: np.ndarray) -> None:
    """Eqs. 1-4 against librosa.feature.mfcc (dB = 10 log10: natural-log MFCCs differ by 10 / ln 10)."""
    import librosa

    from avemotion.features.audio.mfcc import DYNAMIC_RANGE, mfcc_frames

    feats, times = mfcc_frames(speech3, SR, MfccConfig())
    mel = librosa.feature.melspectrogram(y=speech3, sr=SR, n_fft=512, hop_length=160, win_length=400,
                                         window="hamming", center=True, pad_mode="constant", n_mels=40)
    floor = mel.max() * DYNAMIC_RANGE
    ref = librosa.feature.mfcc(S=librosa.power_to_db(mel, amin=floor, top_db=None), n_mfcc=13).T
    np.testing.assert_allclose(feats[:, :13] * (10.0 / np.log(10.0)), ref, atol=2e-3 * np.abs(ref).max())
    assert feats.shape == (301, 39)
    np.testing.assert_allclose(times[:3], [0.0, 0.01, 0.02])


@pytest.mark.parametrize("n", [300, 511, 4000, 48001])
@pytest.mark.parametrize(("sr", "frame_ms", "hop_ms"),
                         [(16000, 25.0, 10.0), (22050, 30.0, 12.5), (8000, 25.0, 10.0)])
def test_mfcc_is_the_librosa_computation_bit_for_bit(sr: int, frame_ms: float, hop_ms: float, n: int) -> None:
    """The numpy STFT and scipy's Savitzky-Golay deltas replace librosa.stft / librosa.feature.delta (librosa
    is a test dependency only) without changing a bit of the features (so FEATURE_VERSION stays)."""
    import librosa
    import scipy.fft

    from avemotion.features.audio.common import finite, mel_filters
    from avemotion.features.audio.mfcc import DYNAMIC_RANGE, mfcc_frames

    config = MfccConfig(frame_ms=frame_ms, hop_ms=hop_ms)
    x = np.asarray((speech_like(1.0, sr, seed=n) + noise(1.0, sr, seed=1, amp=0.01))[:n], dtype=np.float32)
    win, hop = round(frame_ms * sr / 1000), round(hop_ms * sr / 1000)
    n_fft = 1 << (win - 1).bit_length()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa: n_fft larger than a short signal
        spec = librosa.stft(x, n_fft=n_fft, hop_length=hop, win_length=win, window="hamming", center=True,
                            pad_mode="constant")
    mel = mel_filters(sr, n_fft, config.n_mels) @ (spec.real**2 + spec.imag**2)
    ceps = scipy.fft.dct(np.log(np.maximum(mel, max(float(mel.max()) * DYNAMIC_RANGE, 1e-12))), type=2,
                         norm="ortho", axis=0)[: config.n_mfcc]
    width = min(9, ceps.shape[1] if ceps.shape[1] % 2 else ceps.shape[1] - 1)
    parts = [ceps] + [librosa.feature.delta(ceps, width=width, order=o, axis=1, mode="interp") if width >= 3
                      else np.zeros_like(ceps) for o in (1, 2)]
    ref = finite(np.concatenate(parts, axis=0).T)
    feats, _ = mfcc_frames(x, sr, config)
    assert feats.dtype == ref.dtype and feats.shape == ref.shape
    assert np.array_equal(feats.view(np.uint32), ref.view(np.uint32))


# --- the token grid ------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [10.0, 25.0, 4.0])
@pytest.mark.parametrize("duration", [0.2, 0.95, 2.345])
def test_sequence_length_follows_duration(fast_branch: AudioBranch, rate: float, duration: float) -> None:
    b = AudioBranch(fast_branch.config.model_copy(update={"token_rate": rate}))
    f = b.extract(speech_like(duration, SR, seed=2), SR)
    check(f, b, duration)
    assert f.seq.shape[0] == grid_length(duration, rate)
    assert f.times[-1] < duration + 1.0 / rate


def test_pool_to_grid_means_and_interpolates() -> None:
    # 100/s stream: token k is the mean of its 10 rows
    t = np.arange(30) / 100.0 + 0.005
    v = np.arange(30, dtype=np.float64)[:, None]
    np.testing.assert_allclose(pool_to_grid(v, t, 10.0, 3)[:, 0], [4.5, 14.5, 24.5])
    # slow stream (two rows, 1 s apart): tokens between them are interpolated, beyond held
    slow = pool_to_grid(np.array([[0.0], [10.0]]), np.array([0.25, 1.25]), 10.0, 20)[:, 0]
    assert slow[2] == 0.0 and slow[12] == 10.0 and slow[19] == 10.0
    np.testing.assert_allclose(slow[7], (0.75 - 0.25) * 10.0, atol=1e-6)  # centre 0.75 s


def test_frames_are_aligned_with_time(branch: AudioBranch) -> None:
    """Quiet - loud speech - quiet: every group's loudness follows the loud second."""
    x = np.concatenate([noise(1.0, SR, seed=3, amp=0.002), speech_like(1.0, SR, seed=4),
                        noise(1.0, SR, seed=5, amp=0.002)])
    f = branch.extract(x, SR)
    loud = np.zeros(30, bool)
    loud[10:20] = True

    def assert_follows(col: np.ndarray, margin: int) -> None:
        thr = 0.5 * (col.max() + col.min())
        hot = col > thr
        core = loud.copy()
        core[10:10 + margin] = core[20 - margin:20] = False
        assert hot[core].all(), np.flatnonzero(hot)
        far = ~loud
        far[10 - margin:10] = far[20:20 + margin] = False
        assert not hot[far].any(), np.flatnonzero(hot)

    a, _ = f.seq_groups["mfcc"]
    assert_follows(f.seq[:, a], margin=1)  # c0 (log energy)
    names = sm.get_runner("IS09", SR).names["avelld"]
    o, _ = f.seq_groups["opensmile"]
    assert_follows(f.seq[:, o + names.index("pcm_RMSenergy_sma")], margin=1)
    # SoundNet conv5 rows (93 ms hop, 0.5 s receptive field): the features of the loud second stand apart
    # from those of the quiet noise before and after it
    b5 = AudioBranch(AudioConfig(extractors=["soundnet"], soundnet=SoundNetConfig(layer="conv5")))
    seq = b5.extract(x, SR).seq
    dist = np.linalg.norm(seq - seq[np.r_[0:5, 25:30]].mean(axis=0), axis=1)
    assert dist[12:18].min() > 2 * max(dist[:6].max(), dist[24:].max()), dist.round(2)


# --- determinism, ablations, the ClipFeatures contract --------------------------------------------------
def test_deterministic(branch: AudioBranch, speech3: np.ndarray, full3: AudioFeatures) -> None:
    again = AudioBranch(AudioConfig(extractors=PAPER_AUDIO)).extract(speech3, SR)
    assert np.array_equal(again.seq, full3.seq) and np.array_equal(again.vec, full3.vec)


def test_ablation_drops_a_group(full3: AudioFeatures, speech3: np.ndarray) -> None:
    for names in (["mfcc", "soundnet"], ["opensmile"], ["soundnet", "mfcc"]):
        b = AudioBranch(AudioConfig(extractors=names))
        f = b.extract(speech3, SR)
        assert list(f.seq_groups) == names
        for name in names:
            s0, s1 = f.seq_groups[name]
            r0, r1 = full3.seq_groups[name]
            np.testing.assert_array_equal(f.seq[:, s0:s1], full3.seq[:, r0:r1])
            v0, v1 = f.vec_groups[name]
            w0, w1 = full3.vec_groups[name]
            np.testing.assert_array_equal(f.vec[v0:v1], full3.vec[w0:w1])
    no_soundnet = AudioConfig(extractors=PAPER_AUDIO, soundnet=SoundNetConfig(enabled=False))
    assert AudioBranch(no_soundnet).names == ["mfcc", "opensmile"]
    with pytest.raises(ConfigError):
        AudioBranch(AudioConfig(extractors=["mfcc", "wav2vec"]))


def test_clip_features_from_audio(full3: AudioFeatures, tmp_path: Path) -> None:
    clip = ClipFeatures.from_branches("c1", audio=full3)
    clip.validate()
    back = ClipFeatures.load(clip.save(tmp_path / "c1.npz"))
    assert np.array_equal(back.audio_seq, full3.seq)
    assert back.audio_vec_groups == full3.vec_groups and back.audio_groups == full3.seq_groups


# --- bad audio -----------------------------------------------------------------------------------------
def _bad_inputs() -> dict[str, tuple[np.ndarray, int]]:
    x = speech_like(1.5, SR, seed=6)
    nan = x.copy()
    nan[100:200] = np.nan
    nan[300] = np.inf
    return {
        "clipped": (np.clip(x * 20.0, -1.0, 1.0), SR),
        "overdriven_beyond_1": (x * 20.0, SR),
        "dc_offset": (x + 0.6, SR),
        "near_silent": (noise(1.5, SR, seed=7, amp=1e-4), SR),
        "one_lsb_noise": (np.sign(noise(1.5, SR, seed=8)) * (1.5 / 32768.0), SR),
        "nan_and_inf": (nan, SR),
        "stereo_channels_first": (np.stack([x, tone(1.5, SR)]), SR),
        "stereo_channels_last": (np.stack([x, tone(1.5, SR)], axis=1), SR),
        "int16": ((x * 32767).astype(np.int16), SR),
        "8k": (speech_like(1.5, 8000, seed=9), 8000),
        "44k1": (speech_like(1.5, 44100, seed=9), 44100),
        "48k_six_channels": (np.tile(speech_like(1.5, 48000, seed=9), (6, 1)), 48000),
        "pure_tone": (tone(1.5, SR), SR),
    }


@pytest.mark.parametrize("case", list(_bad_inputs()))
def test_bad_audio_gives_finite_features(fast_branch: AudioBranch, case: str) -> None:
    audio, rate = _bad_inputs()[case]
    f = fast_branch.extract(audio, rate)
    check(f, fast_branch, 1.5)


def test_dc_offset_is_removed(fast_branch: AudioBranch) -> None:
    x = speech_like(1.5, SR, seed=6)
    a = fast_branch.extract(x, SR)
    b = fast_branch.extract(x + 0.3, SR)
    np.testing.assert_allclose(a.seq, b.seq, rtol=1e-3, atol=1e-3)


def test_long_clip(fast_branch: AudioBranch) -> None:
    f = fast_branch.extract(speech_like(45.0, SR, seed=10), SR)
    check(f, fast_branch, 45.0)


@pytest.mark.parametrize("silence", [np.zeros(SR, np.float32), np.full(SR, 0.25, np.float32),
                                     np.zeros((2, SR), np.int16)])
def test_digital_silence_raises(fast_branch: AudioBranch, silence: np.ndarray) -> None:
    with pytest.raises(SilentAudio, match="digitally silent"):
        fast_branch.extract(silence, SR)


def test_too_short_raises(fast_branch: AudioBranch) -> None:
    with pytest.raises(ClipTooShort, match="at least 0.2 s"):
        fast_branch.extract(speech_like(0.15, SR), SR)
    fast_branch.extract(speech_like(0.2, SR), SR)  # the limit itself is fine


def test_file_errors_name_the_file(fast_branch: AudioBranch, tmp_path: Path) -> None:
    silent = write_media(tmp_path / "silent.wav", None, audio=np.zeros(SR, np.float32), sample_rate=SR)
    with pytest.raises(SilentAudio) as err:
        fast_branch.extract_file(silent)
    assert "silent.wav" in str(err.value) and err.value.path == silent
    short = write_media(tmp_path / "short.wav", None, audio=tone(0.1, SR), sample_rate=SR)
    with pytest.raises(ClipTooShort) as err2:
        fast_branch.extract_file(short)
    assert "short.wav" in str(err2.value)


def test_extract_file_matches_duration(branch: AudioBranch, tmp_path: Path) -> None:
    stereo = np.stack([speech_like(2.5, 44100, seed=11)] * 2)
    path = write_media(tmp_path / "stereo44.wav", None, audio=stereo, sample_rate=44100)
    f = branch.extract_file(path)
    check(f, branch, 2.5)
    assert f.duration == pytest.approx(2.5, abs=1e-3)


# --- real recordings -----------------------------------------------------------------------------------
@pytest.mark.shared
def test_real_files(shared_data: Path, branch: AudioBranch) -> None:
    files = [
        shared_data / "ravdess_sample/Actor_01/03-01-05-02-01-01-01.wav",
        shared_data / "ravdess_sample/01-01-01-01-01-01-01.mp4",
        shared_data / "cremad_sample/1001_DFA_ANG_XX.flv",
        shared_data / "cremad_sample/1002_DFA_SAD_XX.mp3",
    ]
    vecs = []
    for path in files:
        f = branch.extract_file(path)
        info = probe(path)
        assert abs(f.duration - info.duration) < 0.1, path
        check(f, branch, f.duration)
        assert f.seq.std(axis=0).max() > 0  # varies over time
        vecs.append(f.vec)
    assert not np.allclose(vecs[0], vecs[1])
