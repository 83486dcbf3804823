"""Settings variants of ``avemotion train`` compared over several training seeds on the same folds.

Each variant (a name and ``--set`` overrides) is trained with each seed and each modality on one feature store
with one protocol (``--loso`` or ``--cv K``, speaker-grouped); the final model is the best fold's
(``train.final_model=best_fold``: no retraining on all clips, which the comparison does not use). Runs are
resumed or skipped when their folder exists (``OUT/MODALITY-VARIANT-sSEED``). Printed per modality: UA per seed
and mean (``seed_table``), and for each variant against the reference (the first variant): the mean paired
difference over the seeds with its standard error, the 95 % interval from resampling speakers (the seeds'
predictions pooled), McNemar's exact test on the pooled clips, and the wall seconds of a run. With
``--compare DIR`` (an ``avemotion compare`` run on the same store and folds) every variant is also set against
each of its models (``--compare-models``, e.g. the classical AV floor ``logreg``): deterministic, so the same
answers are paired with every seed.

    PYTHONPATH=src python evaluations/seed_variants.py --features /tmp/jav_feat --out /tmp/pool --loso \
        --modality av video --seeds 0 1 2 --variant base --variant pool3:model.video_pool=3
    PYTHONPATH=src python evaluations/seed_variants.py --features /tmp/jav_feat --out /tmp/dw --loso \
        --seeds 0 1 2 3 4 --variant fixed --compare /tmp/cmp --compare-models logreg
    PYTHONPATH=src python evaluations/seed_variants.py --features DEMO/features --config DEMO/config.yaml \
        --out /tmp/pooldemo --cv 5 --set train.epochs=40 --modality av video audio --variant base ...

A variant is ``NAME`` or ``NAME:KEY=VALUE[,KEY=VALUE...]`` (a list value keeps its commas:
``faces:video.groups=[expression,cnn_probs]``). ``--jobs N`` runs N trainings at once (each with one
torch thread).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decision_rules import mcnemar, speaker_bootstrap
from seed_table import print_table

from avemotion.models.accuracy import unweighted_accuracy


@dataclass(frozen=True)
class Variant:
    """A name and the ``--set`` overrides it trains with."""

    name: str
    sets: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Variant:
        name, _, rest = text.partition(":")
        sets, depth, start = [], 0, 0
        for i, ch in enumerate(rest + ","):  # commas inside [...] belong to a list value
            depth += (ch == "[") - (ch == "]")
            if ch == "," and depth == 0:
                sets.append(rest[start:i])
                start = i + 1
        return cls(name, tuple(s for s in sets if s))


@dataclass(frozen=True)
class RunResult:
    """One finished run: UA, its clips' true labels, predictions and speakers (sorted by clip), wall seconds."""

    ua: float
    clips: list[str]
    y: np.ndarray
    pred: np.ndarray
    speaker: np.ndarray
    wall_seconds: float


def run_one(args: argparse.Namespace, modality: str, variant: Variant, seed: int) -> Path:
    """Train (or resume) one run; its folder."""
    out = args.out / f"{modality}-{variant.name}-s{seed}"
    if (out / "metrics.json").exists() and (out / "timing.json").exists():
        return out
    protocol = ["--loso"] if args.loso else ["--cv", str(args.cv)]
    cmd = [sys.executable, "-m", "avemotion", "train", "--features", str(args.features), "--out", str(out),
           *protocol, "--modality", modality, "--workers", "1", "--set", f"train.seed={seed}",
           "--set", "train.final_model=best_fold"]
    if args.config is not None:
        cmd += ["--config", str(args.config)]
    for s in (*args.set, *variant.sets):
        cmd += ["--set", s]
    start = time.time()
    with open(args.out / f"{out.name}.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    (out / "timing.json").write_text(json.dumps({"wall": time.time() - start}))
    print(f"done {out.name}: {time.time() - start:.0f} s", flush=True)
    return out


def load(out: Path) -> RunResult:
    with open(out / "predictions.csv", newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["clip_id"])
    timing = json.loads((out / "timing.json").read_text())
    labels = sorted({r["true"] for r in rows})
    code = {lab: i for i, lab in enumerate(labels)}
    y = np.array([code[r["true"]] for r in rows])
    pred = np.array([code.get(r["pred"], -1) for r in rows])
    return RunResult(unweighted_accuracy(y, pred), [r["clip_id"] for r in rows], y, pred,
                     np.array([r["speaker"] for r in rows]), float(timing["wall"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--loso", action="store_true")
    group.add_argument("--cv", type=int)
    ap.add_argument("--modality", nargs="+", default=["av"], choices=["av", "audio", "video"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--variant", action="append", type=Variant.parse, required=True,
                    help="NAME[:KEY=VALUE,...]; the first is the reference")
    ap.add_argument("--config", type=Path, help="YAML config every variant starts from (e.g. a run's config.yaml)")
    ap.add_argument("--set", action="append", default=[], help="override for every variant (repeatable)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--json", type=Path, help="write the per-seed UAs and differences as JSON here")
    ap.add_argument("--compare", type=Path, help="an `avemotion compare` run folder on the same store and folds")
    ap.add_argument("--compare-models", nargs="+", default=["logreg"], help="its models to set every variant against")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tasks = [(m, v, s) for m in args.modality for s in args.seeds for v in args.variant]
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda t: run_one(args, *t), tasks))
    report: dict[str, object] = {}
    ref = args.variant[0]
    for modality in args.modality:
        res = {v.name: [load(args.out / f"{modality}-{v.name}-s{s}") for s in args.seeds] for v in args.variant}
        print_table({name: [r.ua for r in runs] for name, runs in res.items()},
                    f"{modality}: UA per seed ({', '.join(map(str, args.seeds))})", ref.name)
        print("\n| variant | mean diff | SE (seeds) | 95 % speakers | McNemar only/only, p | wall s per run |")
        print("|---|---|---|---|---|---|")
        rows = {}
        for v in args.variant:
            runs, base = res[v.name], res[ref.name]
            diffs = [a.ua - b.ua for a, b in zip(runs, base, strict=True)]
            se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
            y = np.concatenate([r.y for r in runs])
            spk = np.concatenate([r.speaker for r in runs])  # a drawn speaker brings its clips of every seed
            a, b = np.concatenate([r.pred for r in runs]), np.concatenate([r.pred for r in base])
            lo, hi = (0.0, 0.0) if v is ref else speaker_bootstrap(y, a, b, spk)
            n01, n10, p = mcnemar(a == y, b == y)
            wall = statistics.mean(r.wall_seconds for r in runs)
            print(f"| {v.name} | {np.mean(diffs):+.3f} | {se:.3f} | [{lo:+.3f}, {hi:+.3f}] | {n01}/{n10}, "
                  f"{p:.3f} | {wall:.0f} |")
            rows[v.name] = {"ua": [r.ua for r in runs], "diff": diffs, "se": se, "ci95": [lo, hi],
                            "mcnemar": [n01, n10, p], "wall_seconds": wall}
        if args.compare:
            rows["against"] = against_compare(args.compare, args.compare_models, res)
        report[modality] = rows
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


def load_compare(folder: Path, model: str, like: RunResult) -> RunResult:
    """``model``'s answers in an ``avemotion compare`` run's predictions.csv, on the clips of ``like`` (same
    order, labels and speakers; a clip the model left uncovered counts as wrong)."""
    with open(folder / "predictions.csv", newline="") as fh:
        rows = {r["clip_id"]: r for r in csv.DictReader(fh)}
    missing = [c for c in like.clips if c not in rows]
    if missing or model not in next(iter(rows.values())):
        raise SystemExit(f"{folder}: no answers of {model!r} for {len(missing) or 'the'} clips of the runs")
    labels = sorted({rows[c]["true"] for c in like.clips})
    code = {lab: i for i, lab in enumerate(labels)}
    pred = np.array([code.get(rows[c][model], -1) if rows[c].get(f"{model}_covered", "1") == "1" else -1
                     for c in like.clips])
    y = np.array([code[rows[c]["true"]] for c in like.clips])
    if not np.array_equal(y, like.y):
        raise SystemExit(f"{folder}: its labels differ from the runs' (another store?)")
    return RunResult(unweighted_accuracy(y, pred), like.clips, y, pred, like.speaker, 0.0)


def against_compare(folder: Path, models: list[str], res: dict[str, list[RunResult]]) -> dict[str, object]:
    """Each variant's paired difference to each compare model (the same model answers for every seed)."""
    print(f"\nagainst {folder} (the same answers paired with every seed)\n")
    print("| variant | minus | UA of it | mean diff | SE (seeds) | seeds >= | 95 % speakers | McNemar only/only, p |")
    print("|---|---|---|---|---|---|---|---|")
    out: dict[str, object] = {}
    for model in models:
        for name, runs in res.items():
            other = load_compare(folder, model, runs[0])
            diffs = [r.ua - other.ua for r in runs]
            se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
            y = np.concatenate([r.y for r in runs])
            spk = np.concatenate([r.speaker for r in runs])
            a, b = np.concatenate([r.pred for r in runs]), np.concatenate([other.pred for _ in runs])
            lo, hi = speaker_bootstrap(y, a, b, spk)
            n01, n10, p = mcnemar(a == y, b == y)
            ge = sum(d >= -1e-12 for d in diffs)
            print(f"| {name} | {model} | {other.ua:.3f} | {np.mean(diffs):+.3f} | {se:.3f} | {ge}/{len(diffs)} | "
                  f"[{lo:+.3f}, {hi:+.3f}] | {n01}/{n10}, {p:.3f} |")
            out[f"{name}-{model}"] = {"ua_other": other.ua, "diff": diffs, "se": se, "ci95": [lo, hi],
                                      "mcnemar": [n01, n10, p]}
    return out


if __name__ == "__main__":
    raise SystemExit(main())
