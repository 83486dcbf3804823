"""The model side of the web app: whole-file predictions and timelines, on the same code paths as the CLI.

``avemotion predict FILE`` extracts features with ``extract_clip(path, run config)`` and calls
``Predictor.predict``; ``--window`` calls ``predict_timeline`` / ``summarise`` / ``write_csv`` / ``plot``. The
engine calls exactly these. Torch modules and MediaPipe graphs are not re-entrant, so each worker borrows a
*slot* (one Predictor) for the whole request: with a run folder there is one Predictor per worker, with a
ready Predictor instance one slot that the workers take in turn. Feature extractors (MediaPipe graphs,
openSMILE, the expression CNN) come from the process-wide pool (:func:`avemotion.data.extract.borrow_extractor`):
each request borrows one for its duration, so the server holds at most one set per worker thread however many
requests it answers.
"""

from __future__ import annotations

import dataclasses
import queue
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from avemotion.errors import AvemotionError
from avemotion.inference.bundled import uncertain_below
from avemotion.inference.predict import Prediction, Predictor
from avemotion.inference.timeline import WindowPrediction, plot, predict_timeline, summarise, write_csv
from avemotion.models.base import HEADS

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
        self._slots: queue.Queue[Predictor] = queue.Queue()
        for p in predictors:
            self._slots.put(p)
        first = predictors[0]
        self.labels: list[str] = list(first.bundle.labels)
        modality = first.bundle.selection.modality
        self.model_info = {"model": first.bundle.model_name, "modality": modality,
                           "labels": self.labels, "run": first.rundir.name if first.rundir else None,
                           "heads": model_heads(first), "uncertain_below": uncertain_below(first.rundir)}

    @contextmanager
    def predictor(self) -> Iterator[Predictor]:
        p = self._slots.get()
        try:
            yield p
        finally:
            self._slots.put(p)

    def predict(self, path: Path, name: str) -> Prediction:
        """One prediction for the whole file (as ``avemotion predict FILE``)."""
        from avemotion.data.extract import extract_clip

        with self.predictor() as p:
            features = extract_clip(path, p.config)
            pred = p.predict(features, source=name)
        return dataclasses.replace(pred, clip_id=Path(name).stem)

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


def window_dict(w: WindowPrediction) -> dict[str, object]:
    p = w.prediction
    if p is None:
        return {"start": w.start, "end": w.end, "emotion": None, "error": w.error}
    return {"start": w.start, "end": w.end, "emotion": p.emotion, "confidence": p.confidence,
            "probabilities": p.probabilities, "contributions": p.contributions,
            "modalities": p.modalities_used, "note": p.note, "error": ""}


def segments(timeline: list[WindowPrediction]) -> list[dict[str, object]]:
    """Merged runs of one emotion. Each window stands for the time nearer to its centre than to its
    neighbours' (the first from 0, the last to the end); ``emotion`` None is a run without usable signal."""
    if not timeline:
        return []
    centres = [(w.start + w.end) / 2 for w in timeline]
    bounds = [timeline[0].start] + [(a + b) / 2 for a, b in zip(centres, centres[1:])] + [timeline[-1].end]
    out: list[dict[str, object]] = []
    for i, w in enumerate(timeline):
        emotion = w.prediction.emotion if w.prediction else None
        conf = w.prediction.confidence if w.prediction else 0.0
        if out and out[-1]["emotion"] == emotion:
            seg = out[-1]
            seg["end"] = round(bounds[i + 1], 6)
            seg["windows"] += 1  # type: ignore[operator]
            seg["_conf"] += conf  # type: ignore[operator]
        else:
            out.append({"start": round(bounds[i], 6), "end": round(bounds[i + 1], 6), "emotion": emotion,
                        "windows": 1, "_conf": conf})
    for seg in out:
        total = seg.pop("_conf")
        seg["mean_confidence"] = total / seg["windows"] if seg["emotion"] else None  # type: ignore[operator]
    return out
