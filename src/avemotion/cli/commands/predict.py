"""``avemotion predict [--model RUNDIR|NAME] [--labels SET] FILE... [--json]`` (or ``--features FEATDIR --clip ID...``).

Without ``--model`` the bundled ``default`` model answers (``avemotion models`` lists the bundled ones); the
output says which model answered. ``--labels`` reports in another label set through the built-in mapping
``<model's set>_to_<SET>`` (:mod:`avemotion.inference.relabel`).

Prints the emotion, its probability, the class probabilities and the contribution of the fused, audio and
video heads; a file with one modality is predicted from the branch that exists and the output says so.
Files are turned into features with ``avemotion.data.extract.extract_clip(path, config)`` using the run's own
config (so extraction matches training); failures are reported per file and the others go on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from avemotion.cli.commands._execution_args import add_device_option
from avemotion.cli.common import add_model_argument
from avemotion.errors import AvemotionError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("predict", help="predict the emotion of audio/video files (bundled model or a run)")
    add_model_argument(p)
    p.add_argument("--labels", metavar="SET",
                   help="report in another label set through a built-in mapping (e.g. paper9 for a basic7 model)")
    p.add_argument("files", nargs="*", type=Path, metavar="FILE", help="audio or video files")
    p.add_argument("--features", type=Path, metavar="FEATDIR", help="predict clips of a feature store instead")
    p.add_argument("--clip", action="append", default=[], metavar="CLIP_ID", help="clip id in --features (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object per line")
    p.add_argument("--together", action="store_true",
                   help="the inputs are clips of one speaker (or parts of one recording): a model trained with "
                        "train.normalize=speaker|recording normalises them with their own statistics, as in "
                        "training")
    p.add_argument("--window", type=float, metavar="SECONDS",
                   help="long recordings: predict per window of this length (a timeline) instead of per file")
    p.add_argument("--hop", type=float, metavar="SECONDS", help="step between windows (default: half the window)")
    p.add_argument("--timeline-dir", type=Path, metavar="DIR",
                   help="with --window: write FILE.timeline.csv and FILE.timeline.png here (default: RUNDIR/timelines "
                        "for a run folder, ./timelines for a bundled model)")
    add_device_option(p, "prediction")
    p.set_defaults(func=run)


def _store_inputs(featdir: Path, clip_ids: list[str]):  # yields (source, ClipFeatures | error)
    from avemotion.data.store import FeatureStore

    store = FeatureStore(featdir)
    by_id = {c.record.clip_id: c for c in store.all_clips()}
    for cid in clip_ids:
        clip = by_id.get(cid)
        if clip is None or not store.has(clip.key):
            yield f"{featdir}:{cid}", AvemotionError(f"clip {cid!r} is not extracted in this feature store", featdir)
        else:
            yield f"{featdir}:{cid}", store.load(clip)


def _file_inputs(files: list[Path], config, modality: str):
    from avemotion.data.extract import extract_clip

    for path in files:
        try:
            yield str(path), extract_clip(path, config, modality)  # only what the model uses
        except AvemotionError as exc:
            yield str(path), exc


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from avemotion.inference.api import load_model
    from avemotion.models.device import set_inference_device

    if not args.files and not args.clip:
        raise AvemotionError("give FILE... or --features FEATDIR --clip CLIP_ID")
    if args.clip and not args.features:
        raise AvemotionError("--clip needs --features FEATDIR")
    set_inference_device(args.device)
    loaded = load_model(args.model)
    mapper = loaded.relabeller(args.labels)
    predictor = loaded.predictor
    if args.window is not None:
        return _run_timeline(args, loaded)
    inputs = []
    if args.clip:
        inputs.extend(_store_inputs(args.features, args.clip))
    if args.files:
        inputs.extend(_file_inputs(args.files, predictor.config, predictor.bundle.selection.modality))
    preds, failures = [], []
    ready = []
    for source, item in inputs:
        if isinstance(item, AvemotionError):
            failures.append((source, item))
        else:
            ready.append((source, item))
    if args.together and ready:
        try:
            group = predictor.predict_group([f for _, f in ready], [s for s, _ in ready])
            preds.extend(p if mapper is None else mapper.prediction(p) for p in group)
        except AvemotionError as exc:
            failures.extend((source, exc) for source, _ in ready)
        ready = []
    for source, item in ready:
        try:
            pred = predictor.predict(item, source=source)
            preds.append(pred if mapper is None else mapper.prediction(pred))
        except AvemotionError as exc:
            failures.append((source, exc))
    if predictor.normalize != "global" and not args.together and len(preds) > 1:
        print(f"note: this model was trained with {predictor.normalize} normalisation; if these files are clips of "
              "one speaker (or parts of one recording), --together predicts them as it was trained",
              file=sys.stderr)
    if args.json:
        for p in preds:
            print(json.dumps({**p.to_dict(), "model": loaded.description}))
        for source, exc in failures:
            print(json.dumps({"source": source, "error": str(exc), "reason": exc.reason, "model": loaded.description}))
    else:
        print(_model_line(loaded, mapper))
        table = Table("input", "emotion", "p", "top classes", "fused / audio / video contribution", "note")
        for p in preds:
            top = sorted(p.probabilities.items(), key=lambda kv: -kv[1])[:3]
            c = p.contributions
            table.add_row(Path(p.source).name or p.clip_id, p.emotion, f"{p.confidence:.2f}",
                          ", ".join(f"{k} {v:.2f}" for k, v in top),
                          f"{c['fused']:.2f} / {c['audio']:.2f} / {c['video']:.2f}", p.note)
        Console().print(table)
        for source, exc in failures:
            print(f"failed: {source}: {exc.detail if hasattr(exc, 'detail') else exc}")
    return 1 if failures and not preds else 0


def _model_line(loaded, mapper) -> str:  # loaded: a LoadedModel; mapper: a Relabeller or None
    line = f"model: {loaded.description}"
    if mapper is not None:
        line += f"; labels: {mapper.target} (mapped from {mapper.source})"
    return line


def _run_timeline(args: argparse.Namespace, loaded) -> int:  # loaded: a LoadedModel
    from rich.console import Console
    from rich.table import Table

    from avemotion.inference.api import predict_windows
    from avemotion.inference.timeline_report import plot, summarise, write_csv

    if not args.files:
        raise AvemotionError("--window needs FILE... (media files)")
    run_dir = loaded.folder if loaded.folder.is_dir() else loaded.folder.parent
    default_dir = Path("timelines") if loaded.bundled is not None else run_dir / "timelines"
    out_dir = args.timeline_dir or default_dir
    labels = loaded.output_labels(args.labels)
    failures = 0
    console = Console()
    if not args.json:
        print(_model_line(loaded, loaded.relabeller(args.labels)))
    for path in args.files:
        try:
            timeline = predict_windows(loaded, path, args.window, args.hop, labels=args.labels, workers=2)
        except AvemotionError as exc:
            failures += 1
            print(json.dumps({"source": str(path), "error": str(exc)}) if args.json else f"failed: {exc}")
            continue
        summary = summarise(timeline, labels)
        csv_path = write_csv(timeline, labels, out_dir / f"{path.stem}.timeline.csv")
        png_path = plot(timeline, labels, out_dir / f"{path.stem}.timeline.png", title=path.name)
        if args.json:
            print(json.dumps({"source": str(path), "model": loaded.description, "labels": labels, **summary,
                              "csv": str(csv_path), "plot": str(png_path)}))
            continue
        table = Table("start s", "end s", "emotion", "p", "fused / audio / video", "note", title=str(path))
        for w in timeline:
            p = w.prediction
            if p is None:
                table.add_row(f"{w.start:.1f}", f"{w.end:.1f}", "-", "-", "-", w.error)
            else:
                c = p.contributions
                table.add_row(f"{w.start:.1f}", f"{w.end:.1f}", p.emotion, f"{p.confidence:.2f}",
                              f"{c['fused']:.2f} / {c['audio']:.2f} / {c['video']:.2f}", p.note)
        console.print(table)
        shares = ", ".join(f"{k} {v:.0%}" for k, v in sorted(summary["share"].items(), key=lambda kv: -kv[1]) if v > 0)
        console.print(f"dominant: {summary['dominant']}; share of windows: {shares}")
        console.print(f"timeline: {csv_path}, {png_path}")
    return 1 if failures == len(args.files) else 0
