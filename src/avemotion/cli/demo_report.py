"""The demo's report: one Markdown and one self-contained HTML page (the confusion image is embedded)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from avemotion.cli.demo_context import DemoContext
from avemotion.modality import DESCRIPTIONS
from avemotion.utils.atomic import atomic_write_text
from avemotion.utils.tables import fmt, html_table, markdown_table

_NAMES = DESCRIPTIONS


def _tables(ctx: DemoContext) -> list[tuple[str, list[str], list[list[str]]]]:
    tables = []
    rows = []
    metrics_av = None
    for modality, rundir in ctx.runs.items():
        m = json.loads((rundir / "metrics.json").read_text())
        if modality == "av":
            metrics_av = m
        ua_sd = (m.get("per_fold_std") or {}).get("ua")
        rows.append([_NAMES[modality], fmt(m["wa"]), fmt(m["ua"]) + (f" ± {ua_sd:.3f}" if ua_sd is not None else ""),
                     fmt(m["f1_macro"]), fmt(m["cc"]), fmt(m.get("latency_ms_per_clip")), str(m.get("n", ""))])
    tables.append(("Cross-validated results (speaker-grouped folds; UA ± population std over folds)",
                   ["model input", "WA", "UA", "macro-F1", "CC", "latency ms/clip", "test clips"], rows))
    if metrics_av is not None:
        recall = metrics_av.get("recall", {})
        ccs = metrics_av.get("cc_per_class", {})
        tables.append(("Per emotion (audio + video)", ["emotion", "recall", "CC"],
                       [[lab, fmt(recall.get(lab)), fmt(ccs.get(lab))] for lab in metrics_av["labels"]]))
    if ctx.heldout:
        tables.append((
            "Held-out speaker (never seen in training), predicted from the media files",
            ["file", "true", "predicted", "confidence", "fused / audio / video share"],
            [[str(h["file"]), str(h["true"]), str(h["emotion"]), f"{h['confidence']:.2f}",
              " / ".join(f"{h['contributions'][k]:.2f}" for k in ("fused", "audio", "video"))] for h in ctx.heldout],
        ))
    stage_seconds = ctx.results.get("stage_seconds", {})
    if isinstance(stage_seconds, dict):
        tables.append(("Time per stage", ["stage", "seconds"], [[k, f"{v:.1f}"] for k, v in stage_seconds.items()]))
    return tables


def write_demo_report(ctx: DemoContext) -> tuple[Path, Path]:
    tables = _tables(ctx)
    intro = (f"Synthetic corpus: {len(ctx.metadata)} clips, {ctx.corpus_params.speakers} speakers, "
             f"{ctx.corpus_params.seconds:g} s each, 9 emotions. Model: the bimodal network of Liu, Feng & Li (2026) "
             f"(RNN 128 + LSTM 256 video encoder, cross-modal attention, reconstruction, decision-level fusion "
             f"with beta {ctx.config.model.beta}, chi {ctx.config.model.chi}); {ctx.folds}-fold cross-validation "
             f"grouped by speaker, at most {ctx.epochs} epochs per fold.")
    confusion = ctx.runs.get("av", next(iter(ctx.runs.values()), None))
    confusion_png = confusion / "confusion.png" if confusion is not None else None
    md = ["# avemotion demo report", "", intro, ""]
    for title, head, rows in tables:
        md += [f"## {title}", "", *markdown_table(head, rows), ""]
    if confusion_png is not None and confusion_png.is_file():
        md += ["## Confusion matrix (audio + video, row-normalised)", "",
               f"![confusion]({confusion_png.relative_to(ctx.out).as_posix()})", ""]
    md_path = atomic_write_text(ctx.out / "report.md", "\n".join(md))

    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>avemotion demo report</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse;"
             "margin-bottom:1.5em}td,th{border:1px solid #bbb;padding:.25em .6em;text-align:right}"
             "td:first-child,th:first-child{text-align:left}</style></head><body>",
             "<h1>avemotion demo report</h1>", f"<p>{html.escape(intro)}</p>"]
    for title, head, rows in tables:
        parts.append(f"<h2>{html.escape(title)}</h2>" + html_table(head, rows))
    if confusion_png is not None and confusion_png.is_file():
        data = base64.b64encode(confusion_png.read_bytes()).decode()
        parts.append("<h2>Confusion matrix (audio + video, row-normalised)</h2>"
                     f"<img alt='confusion matrix' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    html_path = atomic_write_text(ctx.out / "report.html", "\n".join(parts))
    return md_path, html_path
