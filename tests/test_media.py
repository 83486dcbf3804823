from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import moving_square_frames, tone

from avemotion.errors import (
    CorruptMedia,
    EmptyMediaFile,
    MediaError,
    MediaFileNotFound,
    NoAudioStream,
    NotAMediaFile,
    NoVideoStream,
)
from avemotion.media import iter_audio_windows, iter_frames, load_audio, probe, read_frames
from avemotion.media.write import write_media


def test_probe_reports_streams(av_clip: Path) -> None:
    info = probe(av_clip)
    assert info.has_audio and info.has_video
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert info.fps == pytest.approx(25.0)
    assert (info.width, info.height) == (160, 120)
    assert info.sample_rate == 16000


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100])
def test_audio_resampled_to_requested_rate(av_clip: Path, rate: int) -> None:
    audio = load_audio(av_clip, rate)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.size / rate == pytest.approx(2.0, abs=0.05)
    # the 220 Hz tone survives resampling: spectral peak at 220 Hz
    spec = np.abs(np.fft.rfft(audio[rate // 4 : rate // 4 + rate]))
    assert np.argmax(spec) == pytest.approx(220, abs=2)


@pytest.mark.parametrize("rate", [8000, 11025, 44100, 96000])
def test_odd_rates_and_multichannel_wav(tmp_path: Path, rate: int) -> None:
    left, right = tone(1.5, rate, 300.0), tone(1.5, rate, 300.0, amp=0.1)
    path = tmp_path / "multi.wav"
    write_media(path, None, audio=np.stack([left, right, left, right, left, right]), sample_rate=rate)
    info = probe(path)
    assert info.channels == 6 and info.sample_rate == rate and not info.has_video
    mono = load_audio(path, 16000)
    assert mono.size == pytest.approx(1.5 * 16000, abs=20)
    assert 0.15 < np.abs(mono).max() < 0.25  # average of 0.3 and 0.1 amplitude channels


def test_audio_window(av_clip: Path) -> None:
    whole = load_audio(av_clip, 16000)
    part = load_audio(av_clip, 16000, start=0.5, duration=1.0)
    assert part.size == 16000
    # same samples as the slice of the whole decode (up to codec frame alignment)
    corr = np.corrcoef(part[1000:15000], whole[9000:23000])[0, 1]
    assert corr > 0.99


def test_audio_windows_cut_from_one_decode(av_clip: Path) -> None:
    """Overlapping windows from one pass are exactly the slices of the whole decode, in order."""
    whole = load_audio(av_clip, 16000)
    spans = [(0.0, 1.0), (0.5, 1.5), (0.75, 1.25), (1.5, 10.0)]
    got = list(iter_audio_windows(av_clip, 16000, spans))
    assert len(got) == len(spans)
    for (a, b), x in zip(spans, got, strict=True):
        i = round(a * 16000)
        assert np.array_equal(x, whole[i : min(i + round((b - a) * 16000), whole.size)])
    assert got[-1].size < 8.5 * 16000  # a span past the end comes back short
    with pytest.raises(ValueError):
        list(iter_audio_windows(av_clip, 16000, [(1.0, 2.0), (0.0, 1.0)]))


def test_audio_decoded_to_a_file_reads_back_the_samples_of_load_audio(av_clip: Path, tmp_path: Path) -> None:
    from avemotion.media.audio import decode_audio_file

    whole = load_audio(av_clip, 16000)
    signal = decode_audio_file(av_clip, tmp_path / "sig" / "a.f32", 16000)
    assert len(signal) == len(whole) and signal.peak == float(np.abs(whole).max())
    np.testing.assert_array_equal(signal[:], whole)
    for a, b in ((0, 1), (100, 5000), (len(whole) - 3, len(whole) + 10), (-400, None), (50, 20)):
        np.testing.assert_array_equal(signal[a:b], whole[a:b])
    with pytest.raises(TypeError, match="slices"):
        signal[::2]
    signal.remove()
    assert not (tmp_path / "sig" / "a.f32").exists()
    empty = tmp_path / "empty.wav"
    import soundfile as sf

    sf.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(MediaError):
        decode_audio_file(empty, tmp_path / "e.f32")
    assert not (tmp_path / "e.f32").exists()


def test_frames_resampled_with_timestamps(av_clip: Path) -> None:
    frames = list(iter_frames(av_clip, fps=15))
    assert len(frames) == 30  # 2 s at 15 fps
    times = np.array([f.time for f in frames])
    np.testing.assert_allclose(np.diff(times), 1 / 15, atol=1e-9)
    for f in frames:
        assert f.image.shape == (120, 160, 3) and f.image.dtype == np.uint8
        assert abs(f.source_time - f.time) <= 0.5 / 25 + 1e-6  # nearest source frame


def test_frames_native_rate_and_limits(av_clip: Path) -> None:
    native = list(iter_frames(av_clip, fps=None))
    assert len(native) == 50
    assert [f.index for f in native[:3]] == [0, 1, 2]
    assert len(list(iter_frames(av_clip, fps=15, max_frames=7))) == 7
    window = list(iter_frames(av_clip, fps=10, start=0.5, end=1.5))
    assert window[0].time == pytest.approx(0.5) and window[-1].time <= 1.5 + 1e-9
    assert len(window) == 11
    small = next(iter_frames(av_clip, fps=15, max_side=80))
    assert small.image.shape == (60, 80, 3)
    frames, times = read_frames(av_clip, fps=5)
    assert frames.shape == (10, 120, 160, 3) and times.shape == (10,)


def test_variable_frame_rate(tmp_path: Path) -> None:
    """Frames with irregular timestamps come out on an even grid, each the nearest source frame."""
    import av

    path = tmp_path / "vfr.mkv"
    source_times = [0.0, 0.05, 0.3, 0.35, 0.9, 1.0, 1.6, 1.95]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=1000)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = __import__("fractions").Fraction(1, 1000)
        for i, t in enumerate(source_times):
            img = np.full((48, 64, 3), i * 30, np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = int(t * 1000)
            frame.time_base = __import__("fractions").Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    frames = list(iter_frames(path, fps=4))
    times = [f.time for f in frames]
    np.testing.assert_allclose(times, np.arange(len(times)) / 4)
    for f in frames:
        nearest = min(source_times, key=lambda s: (abs(s - f.time), s))
        assert f.source_time == pytest.approx(nearest, abs=1e-3)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaFileNotFound, match="nothere.mp4"):
        load_audio(tmp_path / "nothere.mp4")


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(EmptyMediaFile, match="empty.mp4"):
        probe(path)


def test_text_renamed_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("these are meeting notes, not a video\n" * 20)
    with pytest.raises(NotAMediaFile, match="notes.mp4") as info:
        list(iter_frames(path))
    assert not isinstance(info.value, CorruptMedia)


def test_truncated_mp4(tmp_path: Path, av_clip: Path) -> None:
    data = av_clip.read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptMedia, match="truncated.mp4"):
        load_audio(path)


def test_audio_only_file_asked_for_video(tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    write_media(path, None, audio=tone(1.0, 16000), sample_rate=16000)
    with pytest.raises(NoVideoStream, match="speech.wav"):
        next(iter_frames(path))


def test_video_without_audio(tmp_path: Path) -> None:
    path = tmp_path / "silent_film.mp4"
    write_media(path, moving_square_frames(10), fps=10)
    with pytest.raises(NoAudioStream, match="silent_film.mp4"):
        load_audio(path)
    assert len(list(iter_frames(path, fps=10))) == 10


def test_errors_are_distinct_types() -> None:
    kinds = {MediaFileNotFound, NotAMediaFile, EmptyMediaFile, CorruptMedia, NoAudioStream, NoVideoStream}
    assert len({k.reason for k in kinds}) == len(kinds)
    assert all(issubclass(k, MediaError) for k in kinds)


@pytest.mark.parametrize("suffix", [".mkv", ".webm", ".avi", ".mov", ".flv"])
def test_other_containers(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"clip{suffix}"
    codec = {".webm": "libvpx", ".flv": "flv"}.get(suffix, "libx264")
    audio_codec = {".webm": "libopus", ".flv": "libmp3lame"}.get(suffix, "aac")
    write_media(path, moving_square_frames(20), fps=10, audio=tone(2.0, 48000), sample_rate=48000,
                video_codec=codec, audio_codec=audio_codec)
    # timestamps are absolute: some muxers (avi + B-frames) start the video at one frame delay
    assert abs(len(list(iter_frames(path, fps=5))) - 10) <= 1
    assert load_audio(path, 16000).size == pytest.approx(32000, rel=0.05)


@pytest.mark.parametrize("suffix", [".flac", ".mp3", ".ogg", ".m4a"])
def test_audio_formats(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"a{suffix}"
    write_media(path, None, audio=tone(1.0, 44100), sample_rate=44100)
    audio = load_audio(path, 16000)
    assert audio.size == pytest.approx(16000, rel=0.08)


def test_long_recording_streams_frames(tmp_path: Path) -> None:
    """Iterating a recording keeps at most a couple of frames alive (a generator, not a list)."""
    path = tmp_path / "long.mp4"
    write_media(path, (f for f in moving_square_frames(300)), fps=30)
    it = iter_frames(path, fps=15)
    first = next(it)
    assert first.index == 0
    assert sum(1 for _ in it) == 149


# --- real media from ../shared/data ------------------------------------------------------------------
def test_real_cremad_flv(shared_data: Path) -> None:
    path = shared_data / "cremad_sample" / "1001_DFA_ANG_XX.flv"
    info = probe(path)
    assert info.video_codec == "vp6f" and (info.width, info.height) == (480, 360)
    frames = list(iter_frames(path, fps=15))
    assert abs(len(frames) - info.duration * 15) <= 2
    audio = load_audio(path, 16000)
    assert audio.size / 16000 == pytest.approx(info.duration, abs=0.1)
    assert np.abs(audio).max() > 0.01


def test_real_ravdess_mp4(shared_data: Path) -> None:
    path = shared_data / "ravdess_sample" / "01-01-01-01-01-01-01.mp4"
    info = probe(path)
    assert (info.width, info.height) == (1280, 720) and info.sample_rate == 48000
    n = sum(1 for _ in iter_frames(path, fps=15))
    assert abs(n - info.duration * 15) <= 2
    assert load_audio(path, 22050).size / 22050 == pytest.approx(info.duration, abs=0.05)


def test_real_ravdess_wav(shared_data: Path) -> None:
    wav = next((shared_data / "ravdess_sample" / "Actor_01").glob("*.wav"))
    info = probe(wav)
    assert info.sample_rate == 48000 and not info.has_video
    assert load_audio(wav).size / 16000 == pytest.approx(info.duration, abs=0.02)


def test_real_mp3(shared_data: Path) -> None:
    mp3 = shared_data / "cremad_sample" / "1002_DFA_ANG_XX.mp3"
    assert load_audio(mp3).size > 16000

# --- decoding only what the sampling grid needs ----------------------------------------------------------------
@pytest.fixture(scope="module", params=[30, 25, 30000 / 1001], ids=["30fps", "25fps", "29.97fps"])
def bframe_clip(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of H.264 with B-frames (x264 veryfast: 3 B-frames, B-pyramid) at the given source rate."""
    path = tmp_path_factory.mktemp("bframes") / "clip.mp4"
    return write_media(path, moving_square_frames(round(2 * request.param)), fps=request.param)


def _frames(path: Path, monkeypatch: pytest.MonkeyPatch, *, full: bool, **kwargs: object) -> tuple[list, int]:
    """``iter_frames`` output as (index, time, source_time, image) tuples, and the number of frames decoded;
    ``full``: every frame decoded (the grid is not passed to the decoder)."""
    from avemotion.media import video

    original = video._decode
    decoded = 0

    def counting(container, stream, grid):
        nonlocal decoded
        for frame in original(container, stream, None if full else grid):
            decoded += 1
            yield frame

    with monkeypatch.context() as m:
        m.setattr(video, "_decode", counting)
        out = [(f.index, f.time, f.source_time, f.image) for f in iter_frames(path, **kwargs)]  # type: ignore[arg-type]
    return out, decoded


@pytest.mark.parametrize("threads", [None, "AUTO"])
@pytest.mark.parametrize("window", [(0.0, None), (0.4, 1.3), (1.05, None)])
def test_grid_decode_matches_full_decode(
    bframe_clip: Path, monkeypatch: pytest.MonkeyPatch, window: tuple[float, float | None], threads: str | None
) -> None:
    """Skipping the non-reference frames no grid time picks changes nothing in the output (times, chosen source
    frames, pixels), with or without frame threads, and does skip frames."""
    from avemotion.media import video

    monkeypatch.setattr(video, "THREAD_TYPE", threads)
    start, end = window
    grid, n_grid = _frames(bframe_clip, monkeypatch, full=False, fps=15.0, start=start, end=end)
    full, n_full = _frames(bframe_clip, monkeypatch, full=True, fps=15.0, start=start, end=end)
    assert len(grid) == len(full) > 5
    for a, b in zip(grid, full, strict=True):
        assert a[:3] == b[:3] and np.array_equal(a[3], b[3])
    assert n_grid < n_full
    # and each output frame is the source frame nearest to its grid time (ties to the earlier one)
    source = [(f.source_time, f.image) for f in iter_frames(bframe_clip, fps=None)]
    for _, t, chosen_time, image in grid:
        nearest = min(source, key=lambda s: (abs(s[0] - t), s[0]))
        assert chosen_time == pytest.approx(nearest[0], abs=1e-9) and np.array_equal(image, nearest[1])


def test_grid_decode_skips_nothing_without_display_timestamps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An AVI's packet timestamps follow the decoding order (B-frames come out of order): decode every frame."""
    path = write_media(tmp_path / "clip.avi", moving_square_frames(60), fps=30)
    grid, n_grid = _frames(path, monkeypatch, full=False, fps=15.0)
    full, n_full = _frames(path, monkeypatch, full=True, fps=15.0)
    assert n_grid == n_full == 60
    assert [a[:3] for a in grid] == [b[:3] for b in full]
    assert all(np.array_equal(a[3], b[3]) for a, b in zip(grid, full, strict=True))
