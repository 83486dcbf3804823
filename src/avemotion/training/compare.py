"""``avemotion compare``: the paper's comparison (Figs. 7-10, Table 3) run honestly on a user's feature store.

Fairness: one :class:`~avemotion.training.splits.Splits` object (made once, saved as ``OUT/splits.json``) gives
every model the same folds; every model reads the same feature store through the same selection and
standardisation code, and trains with the same budget (``train.*``: epochs, patience, batch, lr, seeds) in the
trainer's own fold function (``trainer._run_fold``: early stopping on validation UA, resumable). A variant that
cannot see some test clips (e.g. video-only on an audio-only clip) is still scored on every test clip: for
those it predicts the class prior of its training part, and its ``coverage`` says how many it really saw.

Outputs under ``OUT``: results.csv / results.json (per model WA, UA, F1, CC: mean and std over folds, pooled
values, 15-group statistics, latency, significance against the reference), folds.csv, groups.csv,
cc_per_class.csv, latency.csv, significance.csv, predictions.csv, figures (wa_groups.png, ua_groups.png,
cc_per_class.png, latency.png, summary.png, confusion/<model>.png) and report.md. ``OUT/runs/<model>/`` holds
each model's fold checkpoints; a rerun skips finished folds and resumes an unfinished one.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from avemotion.config import Config
from avemotion.data.store import FeatureStore
from avemotion.errors import AvemotionError
from avemotion.training.checkpoint import ModelBundle
from avemotion.training.data import ClipSet, FeatureSelection, collate
from avemotion.training.metrics import compute_metrics
from avemotion.training.report import plot_confusion
from avemotion.training.splits import Fold, Splits, make_splits
from avemotion.training.trainer import (
    EpochHook,
    _run_fold,
    refuse_other_setup,
    resolve_label_set,
    training_torch_settings,
)
from avemotion.training.variants import Variant, resolve_variant
from avemotion.utils.atomic import atomic_open, atomic_path, atomic_write_json, atomic_write_text
from avemotion.utils.progress import log

METRICS = ("wa", "ua", "f1_macro", "cc")
LATENCY_CLIPS = (100, 200, 300, 400, 500)


@dataclass
class ModelResult:
    variant: Variant
    modality: str
    params: int
    per_fold: list[dict]
    probs: np.ndarray  # (N, C) pooled out-of-fold, in the comparison's clip order
    covered: np.ndarray  # (N,) bool: the model saw the clip's features
    fold_of: np.ndarray  # (N,) int
    pooled: dict
    groups: list[dict]
    latency: list[dict]
    summary: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.variant.name


# --- helpers --------------------------------------------------------------------------------------------
def store_modality(feats: list) -> str:
    """"av" when the store has clips with audio and clips with video, else the one it has."""
    a = any(f.has_audio for f in feats)
    v = any(f.has_video for f in feats)
    if a and v:
        return "av"
    if a:
        return "audio"
    if v:
        return "video"
    raise AvemotionError("the feature store holds no audio or video features")


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def random_groups(n: int, k: int, seed: int) -> list[np.ndarray]:
    """The paper's Figs. 7-8: the test samples shuffled (seeded) into ``k`` groups of near-equal size."""
    perm = np.random.default_rng(seed).permutation(n)
    return [g for g in np.array_split(perm, min(k, n)) if g.size]


def paired_tests(ref: ModelResult, other: ModelResult, y: np.ndarray) -> dict:
    """Wilcoxon signed-rank and paired t-test over folds (UA and WA), McNemar's exact test on pooled clips."""
    from scipy.stats import binomtest, ttest_rel, wilcoxon

    out: dict = {"reference": ref.name, "model": other.name}
    for metric in ("ua", "wa"):
        a = np.asarray([f[metric] for f in ref.per_fold], np.float64)
        b = np.asarray([f[metric] for f in other.per_fold], np.float64)
        d = a - b
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if np.allclose(d, 0):
                w_p, t_p = 1.0, 1.0
            else:
                w_p = float(wilcoxon(a, b).pvalue)
                t = ttest_rel(a, b).pvalue
                t_p = None if not np.isfinite(t) else float(t)
        out[metric] = {"ref_mean": float(a.mean()), "model_mean": float(b.mean()), "mean_diff": float(d.mean()),
                       "wilcoxon_p": w_p if np.isfinite(w_p) else None, "ttest_p": t_p, "n_folds": int(d.size)}
    ok_ref = ref.probs.argmax(1) == y
    ok_oth = other.probs.argmax(1) == y
    n10 = int((ok_ref & ~ok_oth).sum())  # reference right, model wrong
    n01 = int((~ok_ref & ok_oth).sum())
    p = float(binomtest(n10, n10 + n01, 0.5).pvalue) if n10 + n01 else 1.0
    out["mcnemar"] = {"ref_only_correct": n10, "model_only_correct": n01, "p": p, "n_clips": int(y.size)}
    return out


@torch.inference_mode()
def volume_latency(bundle: ModelBundle, clipset: ClipSet, volumes: tuple[int, ...], seed: int) -> list[dict]:
    """Table 3: time to predict N clips one by one (batch 1, one thread), features to class probabilities
    (collation and standardisation included). Clips are drawn from the store, with replacement when it has
    fewer than N."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    dims, std, model = bundle.dims, bundle.standardizer, bundle.model.eval()
    rows = []
    try:
        for i in range(min(5, len(clipset))):
            model(collate([clipset.features[i]], dims, std))
        for n in volumes:
            idx = rng.choice(len(clipset), size=n, replace=n > len(clipset))
            t0 = time.perf_counter()
            for i in idx:
                model(collate([clipset.features[int(i)]], dims, std))
            total = (time.perf_counter() - t0) * 1000
            rows.append({"clips": int(n), "total_ms": total, "ms_per_clip": total / n,
                         "sampled_with_replacement": bool(n > len(clipset))})
    finally:
        torch.set_num_threads(prev)
    return rows


# --- the comparison -------------------------------------------------------------------------------------
def run_compare(features: str | Path, out: str | Path, config: Config, models: list[str], groups: int = 15,
                latency_clips: tuple[int, ...] = LATENCY_CLIPS, reference: str | None = None,
                on_epoch_end: EpochHook | None = None, console: Console | None = None,
                auto_modality: bool = False) -> dict:
    """Train and evaluate ``models`` on identical folds and write every output under ``out``.

    ``auto_modality``: when ``train.modality`` is "av", use what the store has ("audio" for an audio-only store).
    """
    out = Path(out)
    if not models:
        raise AvemotionError("no models to compare (--models bimodal,lstm,dean)")
    if len(set(models)) != len(models):
        raise AvemotionError(f"a model is named twice in --models: {', '.join(models)}")
    ref_name = reference or ("bimodal" if "bimodal" in models else models[0])
    if ref_name not in models:
        raise AvemotionError(f"reference model {ref_name!r} is not among --models ({', '.join(models)})")
    store = FeatureStore(features)
    label_set = resolve_label_set(store)
    labels, grades = list(label_set.labels), label_set.grade_values()
    records, feats = store.load_all()
    if not records:
        raise AvemotionError("the feature store has no extracted clips", store.root)
    if auto_modality and config.train.modality == "av":
        config = config.with_overrides({"train.modality": store_modality(feats)})
    variants = [resolve_variant(m, config) for m in models]

    # every variant's feature selection first, so that a variant the store cannot serve fails before training
    configs = {v.name: v.config(config) for v in variants}
    selections = {v.name: FeatureSelection.fit(feats, configs[v.name].train.modality, configs[v.name].audio.extractors,
                                                store.root) for v in variants}
    base_sel = FeatureSelection.fit(feats, config.train.modality, config.audio.extractors, store.root)
    base = ClipSet.build(records, feats, base_sel, labels, store.root, group_by=config.train.group_by)
    truth = dict(zip(base.clip_ids, base.labels.tolist(), strict=True))

    setup = {"store": store.meta.get("config_hash"), "labels": labels, "clips": _digest(sorted(base.clip_ids)),
             "train": config.train.model_dump(mode="json"), "modality": config.train.modality}
    out.mkdir(parents=True, exist_ok=True)
    setup_path = out / "compare.json"
    refuse_other_setup(setup_path, "setup", setup, "this folder holds a comparison with another feature store, "
                       "clip set or training setup; choose a new --out or delete it to start over", out)
    atomic_write_json(setup_path, {"setup": setup, "features": str(Path(features).resolve())})
    splits_path = out / "splits.json"
    if splits_path.is_file():
        splits = Splits.load(splits_path)
    else:
        splits = make_splits(base.clip_ids, base.labels, base.speakers, config.train)
        splits.save(splits_path)
    order = [c for f in splits.folds for c in f.test]
    fold_of = np.asarray([f.index for f in splits.folds for _ in f.test], np.int64)
    y = np.asarray([truth[c] for c in order], np.int64)
    log(f"compare: {len(base)} clips, {len(labels)} classes, modality {config.train.modality}; {splits.describe()}")

    results: list[ModelResult] = []
    with training_torch_settings(config.train):
        for v in variants:
            log(f"compare: model {v.name} ({v.description})")
            results.append(_run_variant(v, configs[v.name], selections[v.name], records, feats, label_set, splits,
                                        order, fold_of, y, out / "runs" / v.name, store, groups, latency_clips,
                                        on_epoch_end))
    ref = next(r for r in results if r.name == ref_name)
    tests = [paired_tests(ref, r, y) for r in results if r is not ref]
    summary = _write_outputs(out, results, tests, ref, y, order, fold_of, labels, grades, splits, config, store,
                             groups)
    print_compare_table(summary, console)
    return summary


def _run_variant(v: Variant, cfg: Config, selection: FeatureSelection, records: list, feats: list, label_set,
                 splits: Splits, order: list[str], fold_of: np.ndarray, y: np.ndarray, rundir: Path,
                 store: FeatureStore, n_groups: int, latency_clips: tuple[int, ...],
                 on_epoch_end: EpochHook | None) -> ModelResult:
    labels, grades = list(label_set.labels), label_set.grade_values()
    clipset = ClipSet.build(records, feats, selection, labels, store.root, group_by=cfg.train.group_by)
    dims = selection.dims
    run_hash = _digest({"model": v.model, "overrides": v.overrides, "model_cfg": cfg.model.model_dump(mode="json"),
                        "train": cfg.train.model_dump(mode="json"), "extractors": cfg.audio.extractors,
                        "store": store.meta.get("config_hash"), "labels": labels, "splits": splits.to_dict()})
    rundir.mkdir(parents=True, exist_ok=True)
    run_json = rundir / "run.json"
    refuse_other_setup(run_json, "run_hash", run_hash, f"{rundir} holds a run of {v.name} with another config, "
                       "store or folds; delete that folder (or choose a new --out) to rerun it", rundir)
    atomic_write_json(run_json, {"run_hash": run_hash, "variant": v.name, "model": v.model, "overrides": v.overrides,
                                 "description": v.description, "dims": dims.to_dict(), "n_clips": len(clipset)})
    cfg.save(rundir / "config.yaml")
    pos = {c: i for i, c in enumerate(clipset.clip_ids)}
    n_cls = len(labels)
    probs = np.zeros((len(order), n_cls))
    covered = np.zeros(len(order), bool)
    fold_results = []
    for fold in splits.folds:
        keep = lambda ids: [c for c in ids if c in pos]  # noqa: E731
        train = keep(fold.train)
        if not train:
            raise AvemotionError(f"{v.name}: fold {fold.index + 1} has no training clip this variant can use")
        val = keep(fold.val) or train
        test = keep(fold.test)
        sub = Fold(fold.index, train, val, test)
        if test:
            r = _run_fold(sub, splits, pos, v.model, cfg, clipset, dims, selection, label_set, rundir, on_epoch_end)
        else:
            r = {"fold": fold.index, "test": [], "predictions": {"probs": []}, "best_epoch": -1, "epochs_run": 0,
                 "val_ua": -1.0}
        fold_results.append(r)
        prior = np.bincount(clipset.labels[[pos[c] for c in train]], minlength=n_cls).astype(np.float64)
        prior /= prior.sum()
        got = dict(zip(r["test"], np.asarray(r["predictions"]["probs"], np.float64).reshape(-1, n_cls), strict=True))
        for j in np.flatnonzero(fold_of == fold.index):
            c = order[j]
            if c in got:
                probs[j], covered[j] = got[c], True
            else:
                probs[j] = prior
    per_fold = []
    for r in fold_results:
        m_idx = fold_of == r["fold"]
        m = compute_metrics(y[m_idx], probs[m_idx].argmax(1), probs[m_idx], labels, grades)
        per_fold.append({"fold": int(r["fold"]), "n": m["n"], "covered": int(covered[m_idx].sum()),
                         **{k: m[k] for k in METRICS}, "best_epoch": r["best_epoch"], "epochs_run": r["epochs_run"],
                         "val_ua": r["val_ua"]})
    pooled = compute_metrics(y, probs.argmax(1), probs, labels, grades)
    groups = []
    for g, idx in enumerate(random_groups(len(y), n_groups, cfg.train.seed)):
        m = compute_metrics(y[idx], probs[idx].argmax(1), probs[idx], labels, grades)
        groups.append({"group": g + 1, "n": m["n"], "wa": m["wa"], "ua": m["ua"], "cc": m["cc"]})
    best = max((r for r in fold_results if r["test"]), key=lambda r: r["val_ua"])
    bundle = ModelBundle.load(rundir / "folds" / str(best["fold"]) / "model")
    params = sum(p.numel() for p in bundle.model.parameters())
    latency = []
    if latency_clips:
        lat_path = rundir / "latency.json"
        lat_key = {"clips": list(latency_clips), "fold": best["fold"], "run_hash": run_hash}
        cached = json.loads(lat_path.read_text()) if lat_path.is_file() else None
        if cached and cached.get("key") == lat_key:
            latency = cached["rows"]
        else:
            latency = volume_latency(bundle, clipset, tuple(latency_clips), cfg.train.seed)
            atomic_write_json(lat_path, {"key": lat_key, "rows": latency})
    return ModelResult(v, cfg.train.modality, params, per_fold, probs, covered, fold_of, pooled, groups, latency)


# --- outputs --------------------------------------------------------------------------------------------
def _mean_std(values: list) -> tuple[float | None, float | None]:
    vals = [float(x) for x in values if x is not None]
    if not vals:
        return None, None
    return float(np.mean(vals)), float(np.std(vals))


def _summarise(r: ModelResult) -> dict:
    s: dict = {"model": r.name, "base_model": r.variant.model, "description": r.variant.description,
               "overrides": r.variant.overrides, "modality": r.modality, "params": r.params,
               "folds": len(r.per_fold), "n": int(r.covered.size), "covered": int(r.covered.sum()),
               "coverage": float(r.covered.mean()) if r.covered.size else 0.0}
    for k in METRICS:
        s[f"{k}_mean"], s[f"{k}_std"] = _mean_std([f[k] for f in r.per_fold])
        s[f"{k}_pooled"] = r.pooled[k]
    for k in ("wa", "ua"):
        s[f"{k}_groups_mean"], s[f"{k}_groups_std"] = _mean_std([g[k] for g in r.groups])
    s["ms_per_clip"] = float(np.mean([row["ms_per_clip"] for row in r.latency])) if r.latency else None
    return s


def _fmt(v: object, nd: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _pfmt(p: float | None) -> str:
    return "-" if p is None else f"{p:.3g}"


def _cell(v: object) -> object:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def _write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    fields = list(rows[0])
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for row in rows:
            w.writerow({k: _cell(row.get(k)) for k in fields})


def _write_outputs(out: Path, results: list[ModelResult], tests: list[dict], ref: ModelResult, y: np.ndarray,
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
    _write_csv(out / "results.csv", [{k: s[k] for k in csv_cols} for s in summaries])
    _write_csv(out / "folds.csv", [{"model": r.name, **{k: f[k] for k in ("fold", "n", "covered", *METRICS,
                                                                           "best_epoch", "epochs_run", "val_ua")}}
                                   for r in results for f in r.per_fold])
    _write_csv(out / "groups.csv", [{"model": r.name, **g} for r in results for g in r.groups])
    _write_csv(out / "cc_per_class.csv", [{"model": r.name, "class": c, "cc": r.pooled["cc_per_class"][c]}
                                          for r in results for c in labels])
    _write_csv(out / "latency.csv", [{"model": r.name, **row} for r in results for row in r.latency])
    sig_rows = []
    for t in tests:
        for metric in ("ua", "wa"):
            m = t[metric]
            sig_rows.append({"reference": t["reference"], "model": t["model"], "metric": metric,
                             "ref_mean": m["ref_mean"], "model_mean": m["model_mean"], "n_folds": m["n_folds"],
                             "wilcoxon_p": m["wilcoxon_p"], "ttest_p": m["ttest_p"],
                             "mcnemar_p": t["mcnemar"]["p"], "ref_only_correct": t["mcnemar"]["ref_only_correct"],
                             "model_only_correct": t["mcnemar"]["model_only_correct"]})
    _write_csv(out / "significance.csv", sig_rows)
    pred_rows = []
    for j, c in enumerate(order):
        row = {"clip_id": c, "fold": int(fold_of[j]), "true": labels[y[j]]}
        for r in results:
            row[r.name] = labels[int(r.probs[j].argmax())]
            row[f"{r.name}_covered"] = int(r.covered[j])
        pred_rows.append(row)
    _write_csv(out / "predictions.csv", pred_rows)
    figures = _plots(out, results, labels)
    payload = {
        "labels": labels, "grades": grades.tolist(), "reference": ref.name, "n_clips": int(y.size),
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
    pm = lambda s, k: f"{_fmt(s[f'{k}_mean'])} ± {_fmt(s[f'{k}_std'])}"  # noqa: E731
    for r in results:
        s = r.summary
        lines.append(f"| {r.name} | {s['description']} | {s['covered']}/{s['n']} | {pm(s, 'wa')} | {pm(s, 'ua')} | "
                     f"{pm(s, 'f1_macro')} | {pm(s, 'cc')} | {_fmt(s['wa_pooled'])} | {_fmt(s['ua_pooled'])} | "
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
        lines.append(f"| {r.name} | " + " | ".join(_fmt(r.pooled["cc_per_class"][c]) for c in labels) + " |")
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
            lines.append(f"| {t['model']} | {u['mean_diff']:+.3f} | {_pfmt(u['wilcoxon_p'])} | {_pfmt(u['ttest_p'])} "
                         f"| {w['mean_diff']:+.3f} | {_pfmt(w['wilcoxon_p'])} | {_pfmt(w['ttest_p'])} | "
                         f"{mc['ref_only_correct']} | {mc['model_only_correct']} | {_pfmt(mc['p'])} |")
        lines += ["", "Δ = reference minus model (positive: the reference is better).", ""]
    lines += ["## Confusion matrices (cf. Fig. 10)", "", "Rows true, columns predicted, row-normalised, pooled.", ""]
    lines += [f"![{r.name}](confusion/{r.name}.png)" for r in results]
    lines += ["", "## Per fold", "", "| model | fold | n | covered | WA | UA | F1 | CC | best epoch |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for f in r.per_fold:
            lines.append(f"| {r.name} | {f['fold'] + 1} | {f['n']} | {f['covered']} | {_fmt(f['wa'])} | "
                         f"{_fmt(f['ua'])} | {_fmt(f['f1_macro'])} | {_fmt(f['cc'])} | {f['best_epoch'] + 1} |")
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
    for name, s in payload["models"].items():
        pm = lambda k: f"{_fmt(s[f'{k}_mean'])}±{_fmt(s[f'{k}_std'], 2)}"  # noqa: E731
        p = "-" if name == payload["reference"] else \
            f"{_pfmt(s['p_wilcoxon_ua'])} / {_pfmt(s['p_ttest_ua'])} / {_pfmt(s['p_mcnemar'])}"
        table.add_row(name, pm("wa"), pm("ua"), pm("f1_macro"), pm("cc"), pm("ua_groups"),
                      _fmt(s["ms_per_clip"], 2), p, style="bold" if name == payload["reference"] else None)
    console.print(table)
