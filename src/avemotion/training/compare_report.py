"""Outputs of ``avemotion compare``: CSV and JSON tables, figures (Figs. 7-10, Table 3), report.md and the
printed table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from avemotion.config import Config
from avemotion.data.store import FeatureStore
from avemotion.training.report import plot_confusion
from avemotion.training.results import ModelResult
from avemotion.training.splits import Splits
from avemotion.training.stats import mean_std
from avemotion.utils.atomic import atomic_path, atomic_write_json, atomic_write_text
from avemotion.utils.tables import fmt, pfmt, write_csv

METRICS = ("wa", "ua", "f1_macro", "cc")


def _summarise(r: ModelResult) -> dict:
    s: dict = {"model": r.name, "base_model": r.variant.model, "description": r.variant.description,
               "overrides": r.variant.overrides, "modality": r.modality, "params": r.params,
               "folds": len(r.per_fold), "n": int(r.covered.size), "covered": int(r.covered.sum()),
               "coverage": float(r.covered.mean()) if r.covered.size else 0.0}
    for k in METRICS:
        s[f"{k}_mean"], s[f"{k}_std"] = mean_std([f[k] for f in r.per_fold])
        s[f"{k}_pooled"] = r.pooled[k]
    for k in ("wa", "ua"):
        s[f"{k}_groups_mean"], s[f"{k}_groups_std"] = mean_std([g[k] for g in r.groups])
    s["ms_per_clip"] = float(np.mean([row["ms_per_clip"] for row in r.latency])) if r.latency else None
    s["cc_undefined"] = r.pooled.get("cc_undefined")
    s["cc_undefined_folds"] = sum(f["cc"] is None for f in r.per_fold)
    return s


def write_outputs(out: Path, results: list[ModelResult], tests: list[dict], ref: ModelResult, y: np.ndarray,
                   order: list[str], fold_of: np.ndarray, labels: list[str], grades: np.ndarray, splits: Splits,
                   config: Config, store: FeatureStore, n_groups: int) -> dict:
    summaries = [_summarise(r) for r in results]
    for r, s in zip(results, summaries, strict=True):
        r.summary = s
        t = next((t for t in tests if t["model"] == r.name), None)
        s["p_wilcoxon_ua"] = t["ua"]["wilcoxon_p"] if t else None
        s["p_ttest_ua"] = t["ua"]["ttest_p"] if t else None
        s["p_mcnemar"] = t["mcnemar"]["p"] if t else None
    csv_cols = ["model", "description", "modality", "folds", "n", "coverage", "params",
                *[f"{k}_{s}" for k in METRICS for s in ("mean", "std")], *[f"{k}_pooled" for k in METRICS],
                "wa_groups_mean", "wa_groups_std", "ua_groups_mean", "ua_groups_std", "ms_per_clip",
                "p_wilcoxon_ua", "p_ttest_ua", "p_mcnemar"]
    write_csv(out / "results.csv", [{k: s[k] for k in csv_cols} for s in summaries])
    write_csv(out / "folds.csv", [{"model": r.name, **{k: f[k] for k in ("fold", "n", "covered", *METRICS,
                                                                           "best_epoch", "epochs_run", "val_ua")},
                                   "readout_weight": f.get("readout_weight", "")}
                                   for r in results for f in r.per_fold])
    write_csv(out / "groups.csv", [{"model": r.name, **g} for r in results for g in r.groups])
    write_csv(out / "cc_per_class.csv", [{"model": r.name, "class": c, "cc": r.pooled["cc_per_class"][c]}
                                          for r in results for c in labels])
    write_csv(out / "latency.csv", [{"model": r.name, **row} for r in results for row in r.latency])
    sig_rows = []
    for t in tests:
        for metric in ("ua", "wa"):
            m = t[metric]
            sig_rows.append({"reference": t["reference"], "model": t["model"], "metric": metric,
                             "ref_mean": m["ref_mean"], "model_mean": m["model_mean"], "n_folds": m["n_folds"],
                             "wilcoxon_p": m["wilcoxon_p"], "ttest_p": m["ttest_p"],
                             "mcnemar_p": t["mcnemar"]["p"], "ref_only_correct": t["mcnemar"]["ref_only_correct"],
                             "model_only_correct": t["mcnemar"]["model_only_correct"]})
    write_csv(out / "significance.csv", sig_rows)
    pred_rows = []
    for j, c in enumerate(order):
        row = {"clip_id": c, "fold": int(fold_of[j]), "true": labels[y[j]]}
        for r in results:
            row[r.name] = labels[int(r.probs[j].argmax())]
            row[f"{r.name}_covered"] = int(r.covered[j])
        pred_rows.append(row)
    write_csv(out / "predictions.csv", pred_rows)
    figures = _plots(out, results, labels)
    payload = {
        "labels": labels, "grades": None if grades is None else grades.tolist(), "reference": ref.name,
        "n_clips": int(y.size),
        "modality": config.train.modality, "scheme": splits.scheme, "grouped": splits.grouped,
        "folds": len(splits.folds), "groups": n_groups, "seed": config.train.seed,
        "budget": {k: getattr(config.train, k) for k in ("epochs", "patience", "batch_size", "lr", "weight_decay")},
        "features": str(store.root), "figures": figures,
        "models": {r.name: {**r.summary, "per_fold": r.per_fold, "groups": r.groups, "latency": r.latency,
                            "cc_per_class": r.pooled["cc_per_class"], "confusion": r.pooled["confusion"],
                            "confusion_counts": r.pooled["confusion_counts"], "recall": r.pooled["recall"]}
                   for r in results},
        "significance": tests,
    }
    atomic_write_json(out / "results.json", payload)
    atomic_write_text(out / "report.md", _report_md(payload, results, labels, splits, config))
    return payload


def _plots(out: Path, results: list[ModelResult], labels: list[str]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs: dict[str, str] = {}

    def save(fig, name: str) -> None:
        fig.tight_layout()
        with atomic_path(out / name) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        figs[name.removesuffix(".png")] = name

    for key, title in (("wa", "WA per random group (cf. Fig. 7)"), ("ua", "UA per random group (cf. Fig. 8)")):
        fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
        for r in results:
            ax.plot([g["group"] for g in r.groups], [g[key] for g in r.groups], marker="o", label=r.name)
        ax.set_xlabel("group")
        ax.set_ylabel(key.upper())
        ax.set_title(title)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, f"{key}_groups.png")
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels) * max(1, len(results)) / 2), 4), dpi=100)
    w = 0.8 / max(len(results), 1)
    for i, r in enumerate(results):
        vals = [r.pooled["cc_per_class"][c] for c in labels]
        ax.bar(np.arange(len(labels)) + i * w, [np.nan if v is None else v for v in vals], w, label=r.name)
    ax.set_xticks(np.arange(len(labels)) + w * (len(results) - 1) / 2, labels, rotation=30, ha="right")
    ax.set_ylabel("correlation coefficient")
    ax.set_title("CC per class (cf. Fig. 9)")
    ax.axhline(0, color="black", lw=0.5)
    ax.legend(fontsize=8)
    save(fig, "cc_per_class.png")
    if any(r.latency for r in results):
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for r in results:
            if r.latency:
                ax.plot([x["clips"] for x in r.latency], [x["total_ms"] for x in r.latency], marker="o", label=r.name)
        ax.set_xlabel("clips predicted (batch 1, one thread)")
        ax.set_ylabel("total time (ms)")
        ax.set_title("latency against data volume (cf. Table 3)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, "latency.png")
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(results)), 4), dpi=100)
    x = np.arange(len(results))
    for i, k in enumerate(("wa", "ua")):
        means = [r.summary[f"{k}_mean"] or 0 for r in results]
        stds = [r.summary[f"{k}_std"] or 0 for r in results]
        ax.bar(x + (i - 0.5) * 0.38, means, 0.38, yerr=stds, capsize=3, label=k.upper())
    ax.set_xticks(x, [r.name for r in results], rotation=30, ha="right")
    ax.set_ylim(0, 1)
    ax.set_title("mean and std over folds")
    ax.legend()
    save(fig, "summary.png")
    (out / "confusion").mkdir(exist_ok=True)
    for r in results:
        name = f"confusion/{r.name}.png"
        plot_confusion(np.asarray(r.pooled["confusion"]), labels, out / name,
                       f"{r.name}: UA {r.pooled['ua']:.3f}, WA {r.pooled['wa']:.3f} (pooled, cf. Fig. 10)")
        figs[f"confusion_{r.name}"] = name
    return figs


def _report_md(p: dict, results: list[ModelResult], labels: list[str], splits: Splits, config: Config) -> str:
    b = p["budget"]
    lines = [
        "# Model comparison", "",
        f"Feature store `{p['features']}`: {p['n_clips']} clips, {len(labels)} classes ({', '.join(labels)}), "
        f"modality `{p['modality']}`.",
        f"Folds: {splits.describe()}; the same `splits.json` for every model.",
        f"Budget for every model: at most {b['epochs']} epochs, early stopping on validation UA with patience "
        f"{b['patience']}, batch {b['batch_size']}, AdamW lr {b['lr']} (weight decay {b['weight_decay']}), "
        f"seed {p['seed']}.", "",
        "## WA, UA, F1, CC (mean ± std over folds; pooled = all out-of-fold predictions)", "",
        "| model | description | coverage | WA | UA | F1 | CC | pooled WA | pooled UA | parameters |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def pm(s: dict, k: str) -> str:
        return f"{fmt(s[f'{k}_mean'])} ± {fmt(s[f'{k}_std'])}"

    for r in results:
        s = r.summary
        lines.append(f"| {r.name} | {s['description']} | {s['covered']}/{s['n']} | {pm(s, 'wa')} | {pm(s, 'ua')} | "
                     f"{pm(s, 'f1_macro')} | {pm(s, 'cc')} | {fmt(s['wa_pooled'])} | {fmt(s['ua_pooled'])} | "
                     f"{s['params']:,} |")
    lines += ["", f"## WA and UA over {len(results[0].groups)} random groups (cf. Figs. 7-8)", "",
              "The pooled out-of-fold predictions shuffled (seeded) into groups; the same groups for every model.", "",
              "| model | WA mean ± std | WA min-max | UA mean ± std | UA min-max |", "|---|---|---|---|---|"]
    for r in results:
        wa = [g["wa"] for g in r.groups]
        ua = [g["ua"] for g in r.groups]
        s = r.summary
        lines.append(f"| {r.name} | {pm(s, 'wa_groups')} | {min(wa):.3f}-{max(wa):.3f} | {pm(s, 'ua_groups')} | "
                     f"{min(ua):.3f}-{max(ua):.3f} |")
    lines += ["", "![WA per group](wa_groups.png) ![UA per group](ua_groups.png)", "",
              "## Correlation coefficient per class (cf. Fig. 9)", "",
              "Point-biserial r between [true class = c] and the predicted probability of c (pooled).", "",
              "| model | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for r in results:
        lines.append(f"| {r.name} | " + " | ".join(fmt(r.pooled["cc_per_class"][c]) for c in labels) + " |")
    lines += ["", "![CC per class](cc_per_class.png)", ""]
    if any(r.latency for r in results):
        vols = [x["clips"] for x in results[0].latency]
        lines += ["## Latency against data volume (cf. Table 3)", "",
                  "Time to predict N clips one at a time (batch 1, one thread, stored features to probabilities, "
                  "best fold's model); total ms, ms per clip in brackets.", "",
                  "| clips | " + " | ".join(r.name for r in results) + " |", "|---|" + "---|" * len(results)]
        for i, n in enumerate(vols):
            cells = [f"{r.latency[i]['total_ms']:.1f} ({r.latency[i]['ms_per_clip']:.2f})" if i < len(r.latency)
                     else "-" for r in results]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines += ["", "![latency](latency.png)", ""]
    if p["significance"]:
        lines += [f"## Paired significance against `{p['reference']}`", "",
                  "Wilcoxon signed-rank and paired t-test over the per-fold values (with k folds the smallest "
                  f"two-sided Wilcoxon p is 2/2^k = {2 / 2 ** len(splits.folds):.3g}); McNemar's exact test on the "
                  "pooled per-clip correctness (b = only the reference right, c = only the model right).", "",
                  "| model | ΔUA | Wilcoxon p (UA) | t-test p (UA) | ΔWA | Wilcoxon p (WA) | t-test p (WA) | b | c | "
                  "McNemar p |", "|---|---|---|---|---|---|---|---|---|---|"]
        for t in p["significance"]:
            u, w, mc = t["ua"], t["wa"], t["mcnemar"]
            lines.append(f"| {t['model']} | {u['mean_diff']:+.3f} | {pfmt(u['wilcoxon_p'])} | {pfmt(u['ttest_p'])} "
                         f"| {w['mean_diff']:+.3f} | {pfmt(w['wilcoxon_p'])} | {pfmt(w['ttest_p'])} | "
                         f"{mc['ref_only_correct']} | {mc['model_only_correct']} | {pfmt(mc['p'])} |")
        lines += ["", "Δ = reference minus model (positive: the reference is better).", ""]
    lines += ["## Confusion matrices (cf. Fig. 10)", "", "Rows true, columns predicted, row-normalised, pooled.", ""]
    lines += [f"![{r.name}](confusion/{r.name}.png)" for r in results]
    lines += ["", "## Per fold", "", "| model | fold | n | covered | WA | UA | F1 | CC | best epoch |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for f in r.per_fold:
            lines.append(f"| {r.name} | {f['fold'] + 1} | {f['n']} | {f['covered']} | {fmt(f['wa'])} | "
                         f"{fmt(f['ua'])} | {fmt(f['f1_macro'])} | {fmt(f['cc'])} | {f['best_epoch'] + 1} |")
    if any(r.summary["coverage"] < 1 for r in results):
        lines += ["", "A model with coverage below 1 could not see some test clips (a modality it needs is absent); "
                  "for those it predicts its training part's most frequent class, and they count in its metrics."]
    lines += ["", "Standard deviations are population std (ddof 0) over folds or groups, as in `avemotion train`.",
              "Files: results.csv/json, folds.csv, groups.csv, cc_per_class.csv, latency.csv, significance.csv, "
              "predictions.csv.", ""]
    return "\n".join(lines)


def print_compare_table(payload: dict, console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
    table = Table(title=f"comparison: {payload['n_clips']} clips, {payload['folds']} folds, "
                        f"modality {payload['modality']}")
    for col in ("model", "WA", "UA", "F1", "CC", f"UA {payload['groups']} groups", "ms/clip",
                f"p vs {payload['reference']} (W / t / McN)"):
        table.add_column(col, justify="left" if col == "model" else "right")

    def pm(s: dict, k: str) -> str:
        return f"{fmt(s[f'{k}_mean'])}±{fmt(s[f'{k}_std'], 2)}"

    for name, s in payload["models"].items():
        p = "-" if name == payload["reference"] else \
            f"{pfmt(s['p_wilcoxon_ua'])} / {pfmt(s['p_ttest_ua'])} / {pfmt(s['p_mcnemar'])}"
        table.add_row(name, pm(s, "wa"), pm(s, "ua"), pm(s, "f1_macro"), pm(s, "cc"), pm(s, "ua_groups"),
                      fmt(s["ms_per_clip"], 2), p, style="bold" if name == payload["reference"] else None)
    console.print(table)
