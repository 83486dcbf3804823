"""Writing a timeline out: its summary, CSV, plot, JSON rows, merged segments and DataFrame.

The timeline itself (a list of :class:`~avemotion.inference.timeline.WindowPrediction`) is computed by
:func:`avemotion.inference.timeline.predict_timeline`; the CLI (``predict --window``), the web engine and the
Python API write it with these.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avemotion.inference.timeline import WindowPrediction
from avemotion.models.base import HEADS
from avemotion.utils.atomic import atomic_open

if TYPE_CHECKING:
    import pandas as pd


def summarise(timeline: list[WindowPrediction], labels: list[str]) -> dict[str, object]:
    """Share of time per predicted emotion (overlapping windows counted by their hop), and the dominant
    one."""
    done = [w for w in timeline if w.prediction is not None]
    share = {label: 0.0 for label in labels}
    for w in done:
        share[w.prediction.emotion] += 1.0  # type: ignore[union-attr]
    total = max(len(done), 1)
    share = {k: v / total for k, v in share.items()}
    mean_probs = (np.mean([[w.prediction.probabilities[lab] for lab in labels] for w in done], axis=0)
                  if done else None)
    return {
        "windows": len(timeline),
        "predicted": len(done),
        "failed": len(timeline) - len(done),
        "share": share,
        "dominant": max(share, key=share.get) if done else None,  # type: ignore[arg-type]
        "mean_probabilities": (dict(zip(labels, mean_probs.tolist(), strict=True)) if mean_probs is not None
                               else None),
    }


def write_csv(timeline: list[WindowPrediction], labels: list[str], path: str | Path) -> Path:
    """One row per window: times, emotion, confidence, modalities, probabilities, contributions, note (or
    the window's error)."""
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["start", "end", "emotion", "confidence", "modalities",
                         *(f"p_{lab}" for lab in labels), "contrib_fused", "contrib_audio", "contrib_video",
                         "note"])
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
    """A PNG of the probabilities over time (stacked), windows without a prediction shaded grey."""
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


def window_dict(w: WindowPrediction) -> dict[str, object]:
    """One window as the web API's JSON reports it."""
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
    bounds = [timeline[0].start] + [(a + b) / 2 for a, b in zip(centres, centres[1:], strict=False)]
    bounds.append(timeline[-1].end)
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


def timeline_frame(windows: list[WindowPrediction], labels: list[str]) -> pd.DataFrame:
    """The timeline as a DataFrame, one row per window (the columns :func:`avemotion.timeline` documents)."""
    import numpy as np
    import pandas as pd

    rows = []
    for w in windows:
        p = w.prediction
        row: dict[str, object] = {"start": w.start, "end": w.end, "emotion": p.emotion if p else None,
                                  "confidence": p.confidence if p else np.nan}
        row.update({f"p_{lab}": p.probabilities[lab] if p else np.nan for lab in labels})
        row.update({f"contribution_{h}": p.contributions.get(h, np.nan) if p else np.nan for h in HEADS})
        row.update({"modalities_used": p.modalities_used if p else None, "note": p.note if p else "",
                    "error": w.error})
        rows.append(row)
    columns = ["start", "end", "emotion", "confidence", *(f"p_{lab}" for lab in labels),
               *(f"contribution_{h}" for h in HEADS), "modalities_used", "note", "error"]
    return pd.DataFrame(rows, columns=columns)
