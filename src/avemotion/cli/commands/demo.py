"""``avemotion demo``: the whole pipeline on the built-in synthetic corpus, end to end.

Stages run in order and each writes under ``--out``; the effective config is saved as ``config.yaml``:

1. ``corpus/``   the synthetic corpus (9 emotions x 20 clips, 5 speakers);
2. ``features/`` audio X^a and video x_t of every clip (``avemotion extract``);
3. ``run_av/``, ``run_audio/``, ``run_video/``: 5-fold speaker-grouped training and evaluation of the bimodal
   model on both modalities and on each alone (``avemotion train``; ``--workers`` folds at once);
4. ``heldout/``  one clip per emotion by a speaker never seen in training, predicted with ``run_av``;
5. ``report.md`` / ``report.html``: metrics, confusion matrix and the held-out predictions.

Every stage resumes: a rerun reuses the corpus, the cached features and finished folds.
Each stage is a function ``stage(ctx: DemoContext) -> None`` listed in :data:`STAGES`.
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from avemotion.cli.commands.make_corpus import add_corpus_options, build, params_from_args
from avemotion.cli.common import add_config_options, config_from_args
from avemotion.cli.demo_context import (
    DEMO_EPOCHS,
    DEMO_PER_CLASS,
    DEMO_SECONDS,
    DEMO_SPEAKERS,
    HELDOUT_SEED_OFFSET,
    DemoContext,
)
from avemotion.errors import ConfigError
from avemotion.utils.atomic import atomic_write_json
from avemotion.utils.progress import log, progress


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="run the pipeline end to end on the built-in synthetic corpus")
    p.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out)")
    p.add_argument("--epochs", type=int, default=DEMO_EPOCHS, help=f"maximum epochs per fold (default {DEMO_EPOCHS})")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5, as in the paper)")
    p.add_argument("--modalities", default="av,audio,video",
                   help="which models to train: av, audio, video, comma-separated (default all three)")
    add_corpus_options(p, per_class=DEMO_PER_CLASS, speakers=DEMO_SPEAKERS, seconds=DEMO_SECONDS)
    add_config_options(p)
    p.set_defaults(func=run)


def stage_corpus(ctx: DemoContext) -> None:
    """Generate the synthetic corpus into OUT/corpus (reused when complete with the same parameters)."""
    from avemotion.data.synthetic.corpus import read_metadata
    from avemotion.media import probe

    ctx.corpus_dir = ctx.out / "corpus"
    build(ctx.corpus_dir, ctx.corpus_params, ctx.workers)
    ctx.metadata = read_metadata(ctx.corpus_dir / "metadata.csv")
    for row in progress(ctx.metadata, desc="checking clips", unit="clip"):
        ctx.durations[row["path"]] = probe(ctx.corpus_dir / row["path"]).duration
    print(corpus_summary(ctx.metadata, ctx.durations))


def corpus_summary(metadata: list[dict[str, str]], durations: dict[str, float]) -> str:
    """A plain-text table: clips per label and speaker, and the total and mean duration per label."""
    speakers = sorted({r["speaker"] for r in metadata})
    labels = list(dict.fromkeys(r["label"] for r in metadata))
    counts = Counter((r["label"], r["speaker"]) for r in metadata)
    head = ["label", *speakers, "clips", "mean s", "total s"]
    rows = []
    for label in labels:
        durs = [durations.get(r["path"], 0.0) for r in metadata if r["label"] == label]
        rows.append([label, *(str(counts[(label, s)]) for s in speakers), str(len(durs)),
                     f"{sum(durs) / max(len(durs), 1):.2f}", f"{sum(durs):.1f}"])
    all_d = list(durations.values())
    rows.append(["all", *(str(sum(counts[(lb, s)] for lb in labels)) for s in speakers), str(len(metadata)),
                 f"{sum(all_d) / max(len(all_d), 1):.2f}", f"{sum(all_d):.1f}"])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]

    def line(cells: list[str]) -> str:
        cols = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in cols)

    return "\n".join([line(head), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def stage_extract(ctx: DemoContext) -> None:
    """Audio and video features of every clip into OUT/features (cached: a rerun skips finished clips)."""
    from avemotion.cli.commands.extract import print_summary
    from avemotion.data.corpora import load_corpus
    from avemotion.data.pipeline import run_extraction

    corpus, records = load_corpus("folder", ctx.corpus_dir)
    label_set = corpus.label_set(records)
    ctx.features_dir = ctx.out / "features"
    summary = run_extraction(records, ctx.features_dir, ctx.config, corpus="synthetic", label_set=label_set,
                             workers=ctx.workers)
    print_summary(summary, ctx.features_dir)
    ctx.results["extraction"] = summary.to_dict()


def stage_train(ctx: DemoContext) -> None:
    """k-fold (speaker-grouped) training and evaluation, for both modalities together and each alone."""
    from avemotion.training.parallel import Execution
    from avemotion.training.run_setup import holds_other_run
    from avemotion.training.trainer import RunSpec, run_trainings

    runs = []
    for modality in ctx.modalities:
        config = ctx.config.with_overrides({"train.modality": modality, "train.folds": ctx.folds,
                                            "train.scheme": "kfold", "train.epochs": ctx.epochs})
        rundir = ctx.out / f"run_{modality}"
        if holds_other_run(rundir, ctx.features_dir, config):
            # the demo's own folder: a run with other settings (an older version's defaults) is started again
            log(f"    {rundir} holds a run with other settings (an earlier demo?): training it again")
            shutil.rmtree(rundir)
        log(f"    training the bimodal model on {modality} features ({ctx.folds} folds) -> {rundir}")
        runs.append(RunSpec(ctx.features_dir, rundir, config))
    # with --workers, every model's folds are tasks of one pool: the same numbers as one after another
    results = run_trainings(runs, execution=Execution(workers=ctx.workers))
    rows = []
    for modality, result in zip(ctx.modalities, results, strict=True):
        m = result.metrics
        ctx.runs[modality] = result.rundir
        rows.append((modality, m))
        ctx.results[f"metrics_{modality}"] = {k: m[k] for k in ("wa", "ua", "f1_macro", "cc", "n")}
    print(f"{'modality':9s} {'WA':>6s} {'UA':>6s} {'F1':>6s} {'CC':>6s}")
    for modality, m in rows:
        cc = "-" if m["cc"] is None else f"{m['cc']:.3f}"
        print(f"{modality:9s} {m['wa']:6.3f} {m['ua']:6.3f} {m['f1_macro']:6.3f} {cc:>6s}")


def stage_predict(ctx: DemoContext) -> None:
    """One new clip per emotion by an unseen speaker, predicted from the media files by the AV model."""
    from avemotion.data.extract import extract_clip
    from avemotion.data.synthetic.corpus import CorpusParams, read_metadata
    from avemotion.inference.predict import Predictor

    modality = "av" if "av" in ctx.runs else next(iter(ctx.runs))
    params = CorpusParams(per_class=1, speakers=1, seconds=ctx.corpus_params.seconds,
                          seed=ctx.corpus_params.seed + HELDOUT_SEED_OFFSET, labels=ctx.corpus_params.labels)
    heldout_dir = ctx.out / "heldout"
    build(heldout_dir, params, ctx.workers)
    predictor = Predictor.load(ctx.runs[modality])
    for row in read_metadata(heldout_dir / "metadata.csv"):
        path = heldout_dir / row["path"]
        pred = predictor.predict(extract_clip(path, predictor.config), source=str(path))
        ctx.heldout.append({"file": row["path"], "true": row["label"], **pred.to_dict()})
    correct = sum(h["true"] == h["emotion"] for h in ctx.heldout)
    print(f"held-out speaker: {correct}/{len(ctx.heldout)} clips right")
    print(f"{'file':28s} {'true':13s} {'predicted':13s} {'conf':>5s}  fused/audio/video contribution")
    for h in ctx.heldout:
        c = h["contributions"]
        print(f"{str(h['file'])[-28:]:28s} {h['true']:13s} {h['emotion']:13s} {h['confidence']:5.2f}  "
              f"{c['fused']:.2f}/{c['audio']:.2f}/{c['video']:.2f}")
    ctx.results["heldout_correct"] = correct


def stage_report(ctx: DemoContext) -> None:
    """OUT/report.md and OUT/report.html: metrics per modality, the confusion matrix, held-out predictions."""
    from avemotion.cli.demo_report import write_demo_report

    md, html = write_demo_report(ctx)
    print(f"report: {md} and {html}")


#: the demo's stages, in order
STAGES: list[tuple[str, Callable[[DemoContext], None]]] = [
    ("synthetic corpus", stage_corpus),
    ("feature extraction", stage_extract),
    ("training and evaluation", stage_train),
    ("prediction on a held-out speaker", stage_predict),
    ("report", stage_report),
]


#: the demo's own settings (unless --set or --config gives them): the paper's whole X^a plus the Whisper encoder,
#: one clip-vector token per extractor. The synthetic voices carry emotion in prosody (pitch, tempo, jitter,
#: effort), which the openSMILE functionals describe directly. No audio speed views: with the paper's X^a each
#: view is another openSMILE pass, and on the synthetic voices they made no clear difference
#: (docs/experiments/2026-12-01-linear-readouts.md, "Speed views in the pipeline"). Each fold chooses on 2 inner
#: folds with patience 5 (library defaults: 3 and 10) so that the demo runs in 3 minutes on 2 cores: on the demo's
#: corpus the same accuracy over 3 seeds (docs/experiments/2026-12-06-demo-in-three-minutes.md); the defaults
#: stay for real corpora, where 2 inner folds of 5 actors cost 5 points (2026-12-06-inner-fold-count.md).
DEMO_SETTINGS: dict[str, object] = {"audio.extractors": ["mfcc", "opensmile", "soundnet", "whisper"],
                                    "model.clip_vector_tokens": "per_group", "audio.speed_views": [],
                                    "train.inner_folds": 2, "train.patience": 5}


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args, defaults=DEMO_SETTINGS)
    params = params_from_args(args)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    config.save(out / "config.yaml")
    modalities = [m.strip() for m in args.modalities.split(",") if m.strip()]
    unknown = set(modalities) - {"av", "audio", "video"}
    if unknown or not modalities:
        raise ConfigError(f"--modalities takes av, audio and/or video, not {args.modalities!r}")
    ctx = DemoContext(out=out, config=config, corpus_params=params, workers=args.workers, epochs=args.epochs,
                      folds=args.folds, modalities=modalities)
    t0 = time.perf_counter()
    for i, (name, stage) in enumerate(STAGES, 1):
        log(f"[{i}/{len(STAGES)}] {name}")
        t_stage = time.perf_counter()
        stage(ctx)
        ctx.results.setdefault("stage_seconds", {})[name] = round(time.perf_counter() - t_stage, 1)  # type: ignore[union-attr]
    ctx.results["total_seconds"] = round(time.perf_counter() - t0, 1)
    atomic_write_json(out / "demo_results.json", ctx.results)
    log(f"demo finished in {ctx.results['total_seconds']:.0f} s; see {out / 'report.html'}")
    return 0
