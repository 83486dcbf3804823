"""Per-moment prediction on long recordings: sliding windows over a file, one prediction per window.

The windows' features come from one decoding pass over the recording
(:func:`avemotion.data.extract.extract_windows`: the video branch computes each frame's x_t once and a
window takes the rows of its frames; the audio branch cuts each window's samples from the stream and
analyses them, in a second process when ``workers >= 2`` so that it runs beside the video branch). Memory
stays flat however long the recording is: a few windows of audio and rows, one frame, one CNN batch.

A window that has neither usable audio (e.g. silence) nor a visible face is reported as such, and the others
go on; the rules for a missing modality are those of per-clip extraction (:meth:`Extractor.combine`).
Writing a timeline out (CSV, plot, summary, segments) is :mod:`avemotion.inference.timeline_report`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from avemotion.data.extract import extract_windows
from avemotion.errors import AvemotionError
from avemotion.features.record import ClipFeatures
from avemotion.features.windows import Span, windows
from avemotion.inference.predict import Prediction, Predictor
from avemotion.media.probe import VIDEO_EXTENSIONS, probe
from avemotion.modality import uses_video
from avemotion.utils.progress import progress
from avemotion.utils.workers import ProcessStream, torch_threads

#: a recording split between two processes needs at least this many windows in each half
MIN_SPLIT_WINDOWS = 8


@dataclass
class WindowPrediction:
    start: float
    end: float
    prediction: Prediction | None
    error: str = ""


def predict_timeline(
    predictor: Predictor,
    path: str | Path,
    window: float = 3.0,
    hop: float = 1.5,
    on_window: Callable[[WindowPrediction, int, int], None] | None = None,
    *,
    workers: int = 2,
) -> list[WindowPrediction]:
    """One prediction per window of ``window`` seconds every ``hop`` seconds (see the module doc).

    ``on_window(result, done, total)`` is called with each window's result as soon as it is ready (progress,
    live output).
    ``workers``: 2 splits a video recording in two halves of windows, the second analysed (video, audio and
    the model) by a second process while this one does the first, so both cores work all along (a predictor
    loaded from a folder, at least ``2 * MIN_SPLIT_WINDOWS`` windows); an audio file, or a predictor without
    a folder, gets its audio features from the second process instead. 1 does everything here. The second
    process is spawned: a script that calls this needs the usual ``if __name__ == "__main__":`` guard.
    """
    path = Path(path)
    info = probe(path)
    if info.duration <= 0:
        raise AvemotionError("cannot tell the recording's duration; convert it (e.g. ffmpeg -i in -c copy "
                             "out.mp4)", path)
    modality = predictor.bundle.selection.modality
    out: list[WindowPrediction] = []
    spans = windows(info.duration, window, hop)
    is_video = path.suffix.lower() in VIDEO_EXTENSIONS and info.has_video and uses_video(modality)
    split = (workers >= 2 and is_video and predictor.rundir is not None
             and len(spans) >= 2 * MIN_SPLIT_WINDOWS)
    later: Iterator[WindowPrediction] | None = None
    if split:  # two halves of the recording, each decoded and analysed (video and audio) by its own process
        half = len(spans) // 2
        later = _timeline_in_process(predictor.rundir, path, spans[half:])  # starts the process
        parts = extract_windows(path, spans[:half], predictor.config, modality, workers=1, info=info)
    else:
        parts = extract_windows(path, spans, predictor.config, modality, workers=workers, info=info)
    bar = progress(total=len(spans), desc=path.name, unit="window")

    def emit(result: WindowPrediction) -> None:
        out.append(result)
        bar.update(1)
        if on_window is not None:
            on_window(result, len(out), len(spans))

    # with a second process (the second half, or the audio), each process gets half the cores' torch threads:
    # two processes of two threads each on 2 cores cost 28 % more CPU and 20 % more time on a 60-s recording
    threads = max(1, (os.cpu_count() or 1) // 2) if workers >= 2 else torch.get_num_threads()
    try:
        with torch_threads(threads):  # the windows are computed as they are read
            for start, end, item in parts:
                emit(_predict_window(predictor, path, start, end, item))
            if later is not None:
                for result in later:
                    emit(result)
    finally:
        parts.close()
        if later is not None:
            later.close()  # type: ignore[attr-defined]
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


# --- the second half of a recording in a second process ---------------------------------------------------
def _timeline_in_process(model_dir: Path, path: Path, spans: Sequence[Span]
                         ) -> ProcessStream[WindowPrediction]:
    """Predictions of ``spans`` made by a second process (started here). Results queue up while this process
    works on the first half: a few hundred bytes per window."""
    return ProcessStream(_timeline_part, (str(model_dir), str(path), list(spans)), what="second timeline",
                         path=path)


def _timeline_part(model_dir: str, path: str, spans: list[Span]) -> Iterator[WindowPrediction]:
    """What the second process computes: the model loaded from its folder, one torch thread."""
    import torch

    torch.set_num_threads(1)
    predictor = Predictor.load(model_dir)
    modality = predictor.bundle.selection.modality
    for start, end, item in extract_windows(Path(path), spans, predictor.config, modality, workers=1):
        yield _predict_window(predictor, Path(path), start, end, item)
