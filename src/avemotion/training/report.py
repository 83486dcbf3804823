"""Evaluation outputs of a run: metrics.json, predictions.csv, confusion.png, reliability.png and a printed table.

The top-level metrics pool the test predictions of all folds (each clip is tested exactly once in k-fold and
leave-one-speaker-out); ``per_fold`` holds each fold's own metrics and ``per_fold_mean`` / ``per_fold_std``
their mean and standard deviation.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from avemotion.config import Config
from avemotion.data.clipset import ClipSet
from avemotion.labels import LabelSet
from avemotion.modality import modality_of
from avemotion.models.base import HEADS
from avemotion.models.calibration import CalibrationReport, calibration_report
from avemotion.training.metrics import compute_metrics
from avemotion.training.results import FoldResult
from avemotion.training.splits import Splits
from avemotion.utils.atomic import atomic_open, atomic_path, atomic_write_json
from avemotion.utils.tables import fmt

SUMMARY_KEYS = ("wa", "ua", "f1_macro", "cc")


def write_report(rundir: Path, clipset: ClipSet, label_set: LabelSet, fold_results: list[FoldResult], config: Config,
                 model_name: str, splits: Splits, latency: dict, seconds: float) -> dict:
    labels = list(label_set.labels)
    grades = label_set.grade_values()
    pos = {c: i for i, c in enumerate(clipset.clip_ids)}
    all_true, all_probs, rows, per_fold = [], [], [], []
    for r in fold_results:
        probs = r.probs
        y = np.asarray(r.y_true, np.int64)
        m = compute_metrics(y, probs.argmax(1), probs, labels, grades)
        per_fold.append({"fold": r.fold, "n": m["n"], **{k: m[k] for k in SUMMARY_KEYS},
                         "best_epoch": r.best_epoch, "epochs_run": r.epochs_run, "val_ua": r.val_ua,
                         **({"readout_weight": r.readout_weight, "readout_c": r.readout_c} if r.readout_c else {})})
        all_true.append(y)
        all_probs.append(probs)
        contrib = r.predictions.contributions
        heads = r.predictions.head_probs
        for j, clip_id in enumerate(r.test):
            i = pos[clip_id]
            f = clipset.features[i]
            row = {"clip_id": clip_id, "fold": r.fold, "speaker": clipset.speakers[i] or "",
                   "true": labels[y[j]], "pred": labels[int(probs[j].argmax())],
                   "correct": int(y[j] == probs[j].argmax()),
                   "modalities": modality_of(f.audio_seq is not None or f.audio_vec is not None,
                                              f.video_seq is not None) or ""}
            row.update({f"p_{lab}": f"{probs[j, c]:.5f}" for c, lab in enumerate(labels)})
            for k, h in enumerate(HEADS):
                row[f"contrib_{h}"] = f"{contrib[j, k]:.4f}"
                hp = heads.get(h)
                row[f"pred_{h}"] = "" if hp is None or np.isnan(hp[j]).any() else labels[int(hp[j].argmax())]
            rows.append(row)
    y = np.concatenate(all_true)
    probs = np.concatenate(all_probs)
    pooled = compute_metrics(y, probs.argmax(1), probs, labels, grades)
    fold_of = np.concatenate([np.full(len(r.y_true), r.fold) for r in fold_results])
    calibration = calibration_report(probs, y, fold_of)
    for row, p in zip(rows, calibration.calibrated, strict=True):  # what a user of the final model would see
        row["confidence_calibrated"] = f"{p.max():.5f}"
    summary = {k: [f[k] for f in per_fold if f[k] is not None] for k in SUMMARY_KEYS}
    metrics = {
        **{k: pooled[k] for k in SUMMARY_KEYS},
        "cc_undefined": pooled.get("cc_undefined"),
        "cc_undefined_folds": sum(f["cc"] is None for f in per_fold),
        "cc_per_class": pooled["cc_per_class"],
        "labels": labels,
        "label_set": label_set.name,
        "grades": None if grades is None else grades.tolist(),
        "confusion": pooled["confusion"],
        "confusion_counts": pooled["confusion_counts"],
        "recall": pooled["recall"],
        "n": pooled["n"],
        "per_fold": per_fold,
        "per_fold_mean": {k: float(np.mean(v)) if v else None for k, v in summary.items()},
        "per_fold_std": {k: float(np.std(v)) if v else None for k, v in summary.items()},
        "latency_ms_per_clip": latency["ms_per_clip"],
        "latency": latency,
        "model": model_name,
        "modality": config.train.modality,
        "scheme": splits.scheme,
        "grouped": splits.grouped,
        "folds": len(splits.folds),
        "train_seconds": seconds,
        "calibration": calibration.to_dict(),
        "config": config.to_dict(),
    }
    atomic_write_json(rundir / "metrics.json", metrics)
    if rows:
        with atomic_open(rundir / "predictions.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    plot_confusion(np.asarray(pooled["confusion"]), labels, rundir / "confusion.png",
                   f"{model_name} ({config.train.modality}): UA {pooled['ua']:.3f}, WA {pooled['wa']:.3f}")
    plot_reliability(calibration, rundir / "reliability.png")
    print_table(metrics)
    print(f"calibration on held-out speakers: ECE {calibration.ece:.3f} -> {calibration.ece_calibrated:.3f} "
          f"with temperature scaling (T = {calibration.temperature:g}, kept with the final model); "
          f"see {rundir / 'reliability.png'}")
    return metrics


def plot_reliability(report: CalibrationReport, path: Path) -> Path:
    """Reliability diagram: accuracy against mean confidence per confidence bin, before and after temperature
    scaling (cross-fitted over the folds), with the diagonal of perfect calibration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.0), dpi=100)
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfectly calibrated")
    for bins, name, ece, style in ((report.bins, "as trained", report.ece, "o-"),
                                   (report.bins_calibrated, f"T = {report.temperature:g}", report.ece_calibrated,
                                    "s-")):
        pts = [(c, a) for c, a in zip(bins.confidence, bins.accuracy, strict=True) if c is not None]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.plot(xs, ys, style, ms=4, label=f"{name} (ECE {ece:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy on held-out speakers")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def plot_confusion(cm: np.ndarray, labels: list[str], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * n, 0.8 + 0.6 * n), dpi=100)
    ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{cm[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > 0.5 else "black")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def print_table(metrics: dict, console: Console | None = None) -> None:
    console = console or Console(stderr=False)
    table = Table(title=f"{metrics['model']} / {metrics['modality']} / {metrics['scheme']}"
                        f"{' (speaker-grouped)' if metrics['grouped'] else ''}")
    table.add_column("fold")
    table.add_column("n", justify="right")
    for k in SUMMARY_KEYS:
        table.add_column(k.upper() if k != "f1_macro" else "F1", justify="right")
    for f in metrics["per_fold"]:
        table.add_row(str(f["fold"] + 1), str(f["n"]), *[fmt(f[k]) for k in SUMMARY_KEYS])
    table.add_row("mean", "", *[fmt(metrics["per_fold_mean"][k]) for k in SUMMARY_KEYS])
    table.add_row("pooled", str(metrics["n"]), *[fmt(metrics[k]) for k in SUMMARY_KEYS], style="bold")
    console.print(table)
    if metrics.get("cc_undefined"):
        console.print(f"CC not reported: {metrics['cc_undefined']}")
    elif metrics.get("cc_undefined_folds"):
        console.print(f"CC undefined in {metrics['cc_undefined_folds']} of {len(metrics['per_fold'])} folds "
                      "(constant true or predicted grades); the mean is over the others")
    console.print(f"latency {metrics['latency_ms_per_clip']:.2f} ms per clip (model only, batch 1, 1 thread)")
