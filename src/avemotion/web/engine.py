"""The model side of the web app: whole-file predictions and timelines, on the same code paths as the CLI.

``avemotion predict FILE`` extracts features with ``extract_clip(path, run config)`` and calls
``Predictor.predict``; ``--window`` calls ``predict_timeline`` and the writers of
:mod:`avemotion.inference.timeline_report`. The engine calls exactly these. Torch modules and MediaPipe
graphs are not re-entrant, so each worker borrows a *slot* (one Predictor, from
:class:`avemotion.utils.workers.Slots`) for the whole request: with a run folder there is one Predictor per
worker, with a ready Predictor instance one slot that the workers take in turn. Feature extractors
(MediaPipe graphs, openSMILE, the expression CNN) come from the process-wide pool
(:func:`avemotion.data.extract.borrow_extractor`): each request borrows one for its duration, so the server
holds at most one set per worker thread however many requests it answers.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from avemotion.errors import AvemotionError
from avemotion.inference.api import LoadedModel
from avemotion.inference.bundled import bundled_model_at, uncertain_below
from avemotion.inference.predict import Prediction, Predictor
from avemotion.inference.session.result import SessionResult
from avemotion.inference.timeline import predict_timeline
from avemotion.inference.timeline_report import plot, segments, summarise, window_dict, write_csv
from avemotion.models.base import HEADS
from avemotion.utils.workers import Slots

_PLOT_LOCK = threading.Lock()  # pyplot keeps global state


@dataclass
class TimelineResult:
    data: dict[str, object]  # what GET /api/jobs/{id} returns as "result" (and timeline.json)
    csv: str
    png: bytes


class Engine:
    def __init__(self, source: Predictor | str | Path, workers: int = 1) -> None:
        if isinstance(source, Predictor):
            predictors = [source]
        else:
            predictors = [Predictor.load(source) for _ in range(workers)]
        self._slots = Slots(predictors)
        first = predictors[0]
        self.labels: list[str] = list(first.bundle.labels)
        modality = first.bundle.selection.modality
        self.model_info = {"model": first.bundle.model_name, "modality": modality,
                           "labels": self.labels, "run": first.rundir.name if first.rundir else None,
                           "heads": model_heads(first), "uncertain_below": uncertain_below(first.rundir)}

    def predictor(self) -> AbstractContextManager[Predictor]:
        """``with engine.predictor() as p:`` a Predictor to oneself until the block ends."""
        return self._slots.borrow()

    def predict(self, path: Path, name: str) -> Prediction:
        """One prediction for the whole file (as ``avemotion predict FILE``)."""
        from avemotion.data.extract import extract_clip

        with self.predictor() as p:
            features = extract_clip(path, p.config)
            pred = p.predict(features, source=name)
        return dataclasses.replace(pred, clip_id=Path(name).stem)

    def session(self, path: Path, name: str, max_segment: float,
                on_step: Callable[[str, int, int], None] | None = None) -> SessionResult:
        """Who speaks when and each speaker's emotions (as ``avemotion session FILE``), the recording named
        ``name`` (the client's file name, never the stored path)."""
        from avemotion.inference.session.pipeline import analyze_session

        with self.predictor() as p:
            folder = p.rundir if p.rundir is not None else Path(str(self.model_info["model"]))
            bundled = bundled_model_at(folder) if p.rundir is not None else None
            result = analyze_session(path, LoadedModel(p, folder, bundled), max_segment=max_segment,
                                     on_progress=on_step)
        result = dataclasses.replace(result, recording=name)
        if bundled is None:  # a run folder: its name, as GET /api/health gives it, not its path on the server
            result = dataclasses.replace(result, model=folder.name,
                                         model_card={**result.model_card, "name": folder.name})
        return result

    def timeline(self, path: Path, name: str, window: float, hop: float, scratch: Path,
                 on_window: Callable[[int, int], None] | None = None) -> TimelineResult:
        """Per-window predictions (as ``avemotion predict FILE --window W --hop H``), summary, CSV and PNG."""
        with self.predictor() as p:
            progress = None if on_window is None else lambda _result, done, total: on_window(done, total)
            # one process: the server's worker threads already share the machine
            timeline = predict_timeline(p, path, window, hop, on_window=progress, workers=1)
        if not any(w.prediction is not None for w in timeline):
            reasons = sorted({w.error for w in timeline})
            raise AvemotionError("no window could be predicted: " + "; ".join(reasons[:3]), name)
        token = secrets.token_hex(8)
        csv_path, png_path = scratch / f"{token}.csv", scratch / f"{token}.png"
        try:
            write_csv(timeline, self.labels, csv_path)
            with _PLOT_LOCK:
                plot(timeline, self.labels, png_path, title=name)
            csv_text, png = csv_path.read_text(encoding="utf-8"), png_path.read_bytes()
        finally:
            csv_path.unlink(missing_ok=True)
            png_path.unlink(missing_ok=True)
        data = {"filename": name, "labels": self.labels, "window": window, "hop": hop,
                "duration": max(w.end for w in timeline), "windows": [window_dict(w) for w in timeline],
                "summary": summarise(timeline, self.labels), "segments": segments(timeline)}
        return TimelineResult(data, csv_text, png)


def model_heads(predictor: Predictor) -> list[str]:
    """The heads whose predictions enter the model's decision (a model without a trained fused head answers
    from the audio and face heads alone: decision-level fusion)."""
    modality = predictor.bundle.selection.modality
    weights = predictor.bundle.model.fusion_weights().tolist()
    usable = {"av": HEADS, "audio": ("audio",), "video": ("video",)}[modality]
    return [h for h, w in zip(HEADS, weights, strict=True) if w > 0 and h in usable]
