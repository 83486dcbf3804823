"""Per-moment prediction on long recordings: sliding windows over a file, one prediction per window.

Each window is extracted on its own (audio read from its time range, video frames decoded from a seek to its
start), so memory stays bounded however long the recording is. A window that has neither usable audio (e.g.
silence) nor a visible face is reported as such, and the others go on.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avemotion.data.extract import Extractor
from avemotion.data.manifest import ClipRecord
from avemotion.errors import AvemotionError, ConfigError
from avemotion.inference.predict import Prediction, Predictor
from avemotion.media.probe import VIDEO_EXTENSIONS, probe
from avemotion.utils.atomic import atomic_open
from avemotion.utils.progress import progress

MIN_WINDOW = 0.5  # seconds: a shorter tail is merged into nothing (too short to analyse)


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


def predict_timeline(predictor: Predictor, path: str | Path, window: float = 3.0, hop: float = 1.5,
                     on_window: Callable[[int, int], None] | None = None) -> list[WindowPrediction]:
    """One prediction per window; ``on_window(done, total)`` is called after each window (progress)."""
    path = Path(path)
    info = probe(path)
    if info.duration <= 0:
        raise AvemotionError("cannot tell the recording's duration; convert it (e.g. ffmpeg -i in -c copy out.mp4)", path)
    is_video = path.suffix.lower() in VIDEO_EXTENSIONS and info.has_video
    extractor = Extractor(predictor.config)
    modality = predictor.bundle.selection.modality
    out = []
    spans = windows(info.duration, window, hop)
    for start, end in progress(spans, desc=path.name, unit="window"):
        record = ClipRecord(f"{path.stem}@{start:.2f}", "", None, str(path) if is_video else None,
                            str(path) if info.has_audio else None, {"start": start, "end": end})
        try:
            features = extractor.extract(record, modality).features
            out.append(WindowPrediction(start, end, predictor.predict(features, source=str(path))))
        except AvemotionError as exc:
            out.append(WindowPrediction(start, end, None, f"{exc.reason}: {exc.detail}"))
        if on_window is not None:
            on_window(len(out), len(spans))
    return out


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
