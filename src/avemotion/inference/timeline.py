"""Per-moment prediction on long recordings: sliding windows over a file, one prediction per window.

The recording is decoded once. Video: frames are streamed from the decoder through the video branch, which
computes each frame's x_t once; a window takes the rows of its frames (overlapping windows share them), and
only the rows of windows still in progress are kept. Audio: the track is decoded once per needed rate and
each window's samples are cut from the stream (:func:`avemotion.media.iter_audio_windows`); the audio
features (openSMILE functionals etc.) are computed per window, in a second process when ``workers >= 2``
so that they run beside the video branch. Memory stays flat however long the recording is: a few windows of
audio and rows, one frame, one CNN batch.

A window that has neither usable audio (e.g. silence) nor a visible face is reported as such, and the others
go on; the rules for a missing modality are those of per-clip extraction (:meth:`Extractor.combine`).
"""

from __future__ import annotations

import csv
import multiprocessing as mp
import queue
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avemotion.config import AudioConfig, Config
from avemotion.data.extract import Extractor, borrow_extractor
from avemotion.data.manifest import ClipRecord
from avemotion.errors import AvemotionError, ConfigError, ZeroDuration
from avemotion.features.record import ClipFeatures
from avemotion.inference.predict import Prediction, Predictor
from avemotion.media.probe import VIDEO_EXTENSIONS, probe
from avemotion.modality import Modality, uses_audio, uses_video
from avemotion.utils.atomic import atomic_open
from avemotion.utils.progress import progress

MIN_WINDOW = 0.5  # seconds: a shorter tail is merged into nothing (too short to analyse)
AUDIO_QUEUE = 8  # windows the audio process may run ahead of the video branch (bounds memory)
#: a recording split between two processes needs at least this many windows in each half
MIN_SPLIT_WINDOWS = 8


@dataclass
class WindowPrediction:
    start: float
    end: float
    prediction: Prediction | None
    error: str = ""


def windows(duration: float, window: float, hop: float) -> list[tuple[float, float]]:
    if window <= 0 or hop <= 0:
        raise ConfigError("--window and --hop must be positive")
    out = []
    start = 0.0
    while start < duration - 1e-9:
        end = min(start + window, duration)
        if end - start >= MIN_WINDOW or not out:
            out.append((round(start, 6), round(end, 6)))
        if end >= duration:
            break
        start += hop
    return out


def predict_timeline(
    predictor: Predictor,
    path: str | Path,
    window: float = 3.0,
    hop: float = 1.5,
    on_window: Callable[[WindowPrediction, int, int], None] | None = None,
    *,
    workers: int = 2,
    per_window: bool = False,
) -> list[WindowPrediction]:
    """One prediction per window of ``window`` seconds every ``hop`` seconds (see the module doc).

    ``on_window(result, done, total)`` is called with each window's result as soon as it is ready (progress,
    live output).
    ``workers``: 2 splits a video recording in two halves of windows, the second analysed (video, audio and
    the model) by a second process while this one does the first, so both cores work all along (a predictor
    loaded from a folder, at least ``2 * MIN_SPLIT_WINDOWS`` windows); an audio file, or a predictor without
    a folder, gets its audio features from the second process instead. 1 does everything here. The second
    process is spawned: a script that calls this needs the usual
    ``if __name__ == "__main__":`` guard. ``per_window=True`` is the previous implementation (each window
    extracted from the file on its own: decoded again from a seek), kept as the benchmark's reference.
    """
    path = Path(path)
    info = probe(path)
    if info.duration <= 0:
        raise AvemotionError("cannot tell the recording's duration; convert it (e.g. ffmpeg -i in -c copy out.mp4)", path)
    modality = predictor.bundle.selection.modality
    out: list[WindowPrediction] = []
    spans = windows(info.duration, window, hop)
    is_video = path.suffix.lower() in VIDEO_EXTENSIONS and info.has_video and uses_video(modality)
    split = (workers >= 2 and not per_window and is_video and predictor.rundir is not None
             and len(spans) >= 2 * MIN_SPLIT_WINDOWS)
    if split:  # two halves of the recording, each decoded and analysed (video and audio) by its own process
        half = len(spans) // 2
        later = _timeline_in_process(predictor.rundir, path, spans[half:])
        next(later)  # starts the process
        parts = iter_window_features(predictor.config, path, spans[:half], modality, workers=1, info=info)
    else:
        later = None
        parts = iter_window_features(predictor.config, path, spans, modality, workers=workers, info=info,
                                     per_window=per_window)
    bar = progress(total=len(spans), desc=path.name, unit="window")

    def emit(result: WindowPrediction) -> None:
        out.append(result)
        bar.update(1)
        if on_window is not None:
            on_window(result, len(out), len(spans))

    try:
        for start, end, item in parts:
            emit(_predict_window(predictor, path, start, end, item))
        if later is not None:
            for result in later:
                emit(result)
    finally:
        parts.close()
        if later is not None:
            later.close()
        bar.close()
    return out


def _predict_window(predictor: Predictor, path: Path, start: float, end: float,
                    item: ClipFeatures | AvemotionError) -> WindowPrediction:
    try:
        if isinstance(item, AvemotionError):
            raise item
        return WindowPrediction(start, end, predictor.predict(item, source=str(path)))
    except AvemotionError as exc:
        return WindowPrediction(start, end, None, f"{exc.reason}: {exc.detail}")


def iter_window_features(
    config: Config,
    path: str | Path,
    spans: Sequence[tuple[float, float]],
    modality: Modality = "av",
    *,
    workers: int = 2,
    info: Any = None,
    per_window: bool = False,
) -> Iterator[tuple[float, float, ClipFeatures | AvemotionError]]:
    """``(start, end, features or the window's error)`` per span (sorted by start), from one decoding pass.

    Each window's :class:`ClipFeatures` match ``Extractor(config).extract`` of that window within decoder
    and sampling-grid tolerances (see the module doc). ``per_window``:
    extract each window from the file on its own instead (the previous implementation; slow).
    """
    path = Path(path)
    info = info if info is not None else probe(path)
    is_video = path.suffix.lower() in VIDEO_EXTENSIONS and info.has_video
    with borrow_extractor(config) as extractor:  # reused across recordings, never two users at once
        yield from _window_features(extractor, config, path, spans, modality, info, is_video, workers,
                                    per_window)


def _window_features(extractor: Extractor, config: Config, path: Path, spans: Sequence[tuple[float, float]],
                     modality: Modality, info: Any, is_video: bool, workers: int, per_window: bool,
                     ) -> Iterator[tuple[float, float, ClipFeatures | AvemotionError]]:
    if per_window:
        for start, end in spans:
            record = ClipRecord(f"{path.stem}@{start:.2f}", "", None, str(path) if is_video else None,
                                str(path) if info.has_audio else None, {"start": start, "end": end})
            try:
                yield start, end, extractor.extract(record, modality).features
            except AvemotionError as exc:
                yield start, end, exc
        return
    video_parts = _video_windows(extractor, path, spans) if is_video and uses_video(modality) else None
    audio_parts = None
    try:
        if info.has_audio and uses_audio(modality):
            if workers >= 2:
                audio_parts = _audio_windows_in_process(config.audio, path, spans)
                next(audio_parts)  # starts the process (yields None once it is launched)
            else:
                audio_parts = _audio_windows(extractor.audio, path, spans)
        for start, end in spans:
            # video first: the audio process starts up and runs ahead meanwhile
            v = next(video_parts) if video_parts is not None else None
            a = next(audio_parts) if audio_parts is not None else None
            record = ClipRecord(f"{path.stem}@{start:.2f}", "", None, str(path) if is_video else None,
                                str(path) if info.has_audio else None, {"start": start, "end": end})
            try:
                yield start, end, extractor.combine(record, _part(a), _part(v), modality).features
            except AvemotionError as exc:
                yield start, end, exc
    finally:
        for gen in (audio_parts, video_parts):
            if gen is not None:
                gen.close()


def _part(item: object) -> Callable[[], object]:
    """A callable for :meth:`Extractor.combine`: returns the features or raises the window's error."""
    def get() -> object:
        if isinstance(item, BaseException):
            raise item
        return item

    return get


def _video_windows(extractor: Extractor, path: Path, spans: Sequence[tuple[float, float]]) -> Iterator[object]:
    """Per span: its ``VideoFeatures`` (rows of the one streaming pass) or the error that stopped the video."""
    from avemotion.features.video.branch import VideoBranch, VideoFeatures
    from avemotion.media import iter_frames

    branch: VideoBranch = extractor.video
    cfg = branch.config
    rows: list[tuple[float, np.ndarray | None, Any]] = []
    # no frame cap: max_frames applies per window; a later part of the recording starts at its first window
    stream = branch.iter_rows(iter_frames(path, cfg.fps, start=spans[0][0] if spans else 0.0))
    exhausted = False
    error: AvemotionError | None = None
    for i, (start, end) in enumerate(spans):
        while not exhausted and error is None and (not rows or rows[-1][0] <= end + 1e-6):
            try:
                rows.append(next(stream))
            except StopIteration:
                exhausted = True
            except AvemotionError as exc:
                error = exc
        if error is not None and not rows:
            yield error
            continue
        inside = [r for r in rows if start - 1e-6 <= r[0] <= end + 1e-6]
        if not inside:
            yield ZeroDuration(f"no video frames between {start:.2f} s and {end:.2f} s", path)
        else:
            whole = VideoFeatures(
                seq=np.stack([r[1] if r[1] is not None else np.zeros(branch.dim, np.float32) for r in inside]),
                mask=np.array([r[1] is not None for r in inside]),
                times=np.array([r[0] for r in inside], np.float64), groups=dict(branch.groups), face_rate=0.0,
                boxes=np.array([r[2] if r[2] is not None else (0.0, 0.0, 0.0, 0.0) for r in inside], np.float32),
                source=str(path), feature_names=list(branch.feature_names),
            )
            yield whole.window(start, end, cfg.max_frames)
        if i + 1 < len(spans):  # keep only the rows later windows still need
            rows = [r for r in rows if r[0] >= spans[i + 1][0] - 1e-6]


def _audio_windows(branch: Any, path: Path, spans: Sequence[tuple[float, float]]) -> Iterator[object]:
    """Per span: its ``AudioFeatures`` or the :class:`AvemotionError` that window raised."""
    from avemotion.media import iter_audio_windows

    streams = {rate: iter_audio_windows(path, rate, spans) for rate in branch.rates}
    failed: AvemotionError | None = None
    for _ in spans:
        if failed is not None:
            yield failed
            continue
        try:
            signals = {rate: next(s) for rate, s in streams.items()}
        except AvemotionError as exc:  # the track cannot be read at all
            failed = exc
            yield exc
            continue
        try:
            yield branch.extract_decoded(signals, path)
        except AvemotionError as exc:
            yield exc


# --- audio features in a second process ------------------------------------------------------------------
def _audio_worker(config: dict, path: str, spans: list[tuple[float, float]], out: Any) -> None:
    try:
        import torch

        torch.set_num_threads(1)
        from avemotion.features.audio.branch import AudioBranch

        branch = AudioBranch(AudioConfig(**config))
        for item in _audio_windows(branch, Path(path), spans):
            if isinstance(item, AvemotionError):
                out.put(("error", _error_state(item)))
            else:
                out.put(("ok", item))
        out.put(("done", None))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        out.put(("fatal", traceback.format_exc()))


def _error_state(exc: AvemotionError) -> tuple[str, str, str, str | None]:
    return type(exc).__name__, str(exc), exc.detail, None if exc.path is None else str(exc.path)


def _rebuild_error(state: tuple[str, str, str, str | None]) -> AvemotionError:
    """The error raised in the worker: same class, message and file (pickling would lose the file)."""
    name, _, detail, path = state
    classes = [AvemotionError]
    cls: type[AvemotionError] = AvemotionError
    while classes:
        c = classes.pop()
        if c.__name__ == name:
            cls = c
            break
        classes.extend(c.__subclasses__())
    return cls(detail, path)


def _from_process(target: Callable[..., None], args: tuple, path: Path, what: str, maxsize: int = 0
                  ) -> Iterator[Any]:
    """What a spawned worker ``target(*args, queue)`` puts on its queue: ``("ok" | "error", payload)`` items, then
    ``("done", None)`` or ``("fatal", traceback)``. Yields None once the process is launched."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue(maxsize=maxsize)
    proc = ctx.Process(target=target, args=(*args, results), daemon=True)
    proc.start()
    yield None
    try:
        while True:
            try:
                kind, payload = results.get(timeout=1.0)
            except queue.Empty:
                if not proc.is_alive():
                    raise AvemotionError(f"the {what} process stopped (exit code {proc.exitcode})", path) from None
                continue
            if kind == "done":
                return
            if kind == "fatal":
                raise AvemotionError(f"the {what} process failed:\n{payload}", path)
            yield _rebuild_error(payload) if kind == "error" else payload
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=5)


def _audio_windows_in_process(config: AudioConfig, path: Path, spans: Sequence[tuple[float, float]]
                              ) -> Iterator[object]:
    return _from_process(_audio_worker, (config.model_dump(), str(path), list(spans)), path, "audio feature",
                         AUDIO_QUEUE)


def _timeline_worker(model_dir: str, path: str, spans: list[tuple[float, float]], out: Any) -> None:
    try:
        import torch

        torch.set_num_threads(1)
        predictor = Predictor.load(model_dir)
        modality = predictor.bundle.selection.modality
        parts = iter_window_features(predictor.config, Path(path), spans, modality, workers=1)
        for start, end, item in parts:
            out.put(("ok", _predict_window(predictor, Path(path), start, end, item)))
        out.put(("done", None))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        out.put(("fatal", traceback.format_exc()))


def _timeline_in_process(model_dir: Path, path: Path, spans: Sequence[tuple[float, float]]
                         ) -> Iterator[WindowPrediction]:
    """Predictions of ``spans`` made by a second process (yields None once it is launched). Results queue up
    while this process works on the first half: a few hundred bytes per window."""
    return _from_process(_timeline_worker, (str(model_dir), str(path), list(spans)), path, "second timeline")


def summarise(timeline: list[WindowPrediction], labels: list[str]) -> dict[str, object]:
    """Share of time per predicted emotion (overlapping windows counted by their hop), and the dominant one."""
    done = [w for w in timeline if w.prediction is not None]
    share = {label: 0.0 for label in labels}
    for w in done:
        share[w.prediction.emotion] += 1.0  # type: ignore[union-attr]
    total = max(len(done), 1)
    share = {k: v / total for k, v in share.items()}
    mean_probs = np.mean([[w.prediction.probabilities[lab] for lab in labels] for w in done], axis=0) if done else None
    return {
        "windows": len(timeline),
        "predicted": len(done),
        "failed": len(timeline) - len(done),
        "share": share,
        "dominant": max(share, key=share.get) if done else None,  # type: ignore[arg-type]
        "mean_probabilities": dict(zip(labels, mean_probs.tolist())) if mean_probs is not None else None,
    }


def write_csv(timeline: list[WindowPrediction], labels: list[str], path: str | Path) -> Path:
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["start", "end", "emotion", "confidence", "modalities", *(f"p_{lab}" for lab in labels),
                         "contrib_fused", "contrib_audio", "contrib_video", "note"])
        for w in timeline:
            p = w.prediction
            if p is None:
                writer.writerow([w.start, w.end, "", "", "", *([""] * len(labels)), "", "", "", w.error])
                continue
            writer.writerow([w.start, w.end, p.emotion, f"{p.confidence:.4f}", p.modalities_used,
                             *(f"{p.probabilities[lab]:.4f}" for lab in labels),
                             *(f"{p.contributions[h]:.4f}" for h in ("fused", "audio", "video")), p.note])
    return Path(path)


def plot(timeline: list[WindowPrediction], labels: list[str], path: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from avemotion.utils.atomic import atomic_path

    # each window's probabilities at its centre; the first and last are held out to the recording's edges
    centres = np.array([timeline[0].start] + [(w.start + w.end) / 2 for w in timeline] + [timeline[-1].end])
    probs = np.array([[w.prediction.probabilities[lab] if w.prediction else np.nan for lab in labels]
                      for w in timeline])
    probs = np.vstack([probs[:1], probs, probs[-1:]])
    with plt.rc_context({"text.parse_math": False}):  # a file name or label with '$' is text, not math
        fig, ax = plt.subplots(figsize=(10, 3.5))
        ax.stackplot(centres, np.nan_to_num(probs).T, labels=labels, alpha=0.85)
        for w in timeline:
            if w.prediction is None:
                ax.axvspan(w.start, w.end, color="0.85", zorder=0)
        ax.set_xlim(0, max(w.end for w in timeline))
        ax.set_ylim(0, 1)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("probability")
        ax.set_title(title or "emotion over time (grey: no usable signal)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
        fig.tight_layout()
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
