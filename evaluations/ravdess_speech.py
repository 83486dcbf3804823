"""Speaker-independent evaluation on RAVDESS speech (the README's RAVDESS rows come from this script).

Builds a corpus folder of symbolic links to the actor folders found under the given roots (by default the
project's samples in ../shared/data: actors 01-04 and 05-12, 720 clips), extracts audio features with
`avemotion extract`, and runs `avemotion compare` with actor-grouped folds (6 by default). Everything goes under
--out (default runs/ravdess_speech/) and resumes: a rerun reuses the features and finished folds.

With --seeds (e.g. 0,1,2,3,4) the comparison runs once per seed (`train.seed`: other actor folds, other
initialisations) and a last table (evaluations/seed_table.py) gives each model's UA per seed, its mean, and the
model minus the first model with the seeds where it is at least as good: 6 folds of 2 actors are few, and one
seed's 1-2 points are within its noise.

    .venv/bin/python evaluations/ravdess_speech.py [--models bimodal,logreg,svm] [--folds 6] [--seeds 0,1,2]
        [--set k=v ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from seed_table import print_table

REPO = Path(__file__).resolve().parents[1]
ALL_AUDIO = ["mfcc", "opensmile", "soundnet", "whisper"]
DEFAULT_ROOTS = [REPO.parent / "shared" / "data" / "ravdess_sample",
                 REPO.parent / "shared" / "data" / "ravdess_speech_05_12"]


def link_actors(roots: list[Path], corpus: Path) -> int:
    corpus.mkdir(parents=True, exist_ok=True)
    n = 0
    for root in roots:
        for actor in sorted(root.glob("Actor_*")):
            link = corpus / actor.name
            if not link.exists():
                link.symlink_to(actor.resolve(), target_is_directory=True)
            n += 1
    return n


def avemotion(*args: str) -> None:
    cmd = [sys.executable, "-m", "avemotion", *args]
    print("+ avemotion " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--roots", type=Path, nargs="+", default=DEFAULT_ROOTS, help="folders holding Actor_XX/")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "ravdess_speech")
    ap.add_argument("--models", default="bimodal", help="comma-separated models/variants for avemotion compare")
    ap.add_argument("--folds", type=int, default=6)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for extraction and training (e.g. train.normalize=speaker)")
    ap.add_argument("--tag", default="", help="name of the comparison folder (default: from the options)")
    ap.add_argument("--seeds", default="", help="comma-separated train.seed values: one comparison per seed and a "
                    "table over the seeds (default: one comparison, the config's seed)")
    args = ap.parse_args()
    roots = [r for r in args.roots if r.is_dir()]
    if not roots:
        print("no RAVDESS folders found (looked in: " + ", ".join(map(str, args.roots)) + ")", file=sys.stderr)
        return 2
    corpus = args.out / "corpus"
    actors = link_actors(roots, corpus)
    sets = [x for o in args.overrides for x in ("--set", o)]
    # every audio extractor is stored once, so the ablations (bimodal-paperxa, -nowhisper, ...) find their groups;
    # each model selects its own (the default X^a: whisper)
    extract_sets = ["--set", f"audio.extractors=[{','.join(ALL_AUDIO)}]"]
    extract_sets += [x for o in args.overrides if o.startswith(("audio.", "video.")) and not
                     o.startswith("audio.extractors") for x in ("--set", o)]
    feats = args.out / "features"
    avemotion("--quiet", "extract", "--corpus", "ravdess", "--root", str(corpus), "--option", "channel=speech",
              "--modality", "audio", "--out", str(feats), "--workers", str(args.workers), *extract_sets)
    tag = args.tag or ("compare" + "".join(f"_{o.replace('=', '-')}" for o in args.overrides))
    seeds = [int(x) for x in args.seeds.split(",") if x.strip()] if args.seeds else [None]
    per_seed: dict[int | None, dict] = {}
    for seed in seeds:
        out = args.out / (tag if seed is None else f"{tag}_seed{seed}")
        seed_sets = [] if seed is None else ["--set", f"train.seed={seed}"]
        avemotion("compare", "--features", str(feats), "--models", args.models, "--cv", str(args.folds),
                  "--out", str(out), "--latency-clips", "100" if seed is None else "", *sets, *seed_sets)
        res = json.loads((out / "results.json").read_text())
        per_seed[seed] = res["models"]
        print(f"\nRAVDESS speech, {actors} actors, {res['n_clips']} clips, {len(res['labels'])} classes, audio only, "
              f"{res['folds']} actor-grouped folds ({out}):")
        print("| model | WA | UA | macro-F1 |")
        print("|---|---|---|---|")
        for name, s in res["models"].items():
            print(f"| {name} | {s['wa_mean']:.3f} ± {s['wa_std']:.3f} | {s['ua_mean']:.3f} ± {s['ua_std']:.3f} | "
                  f"{s['f1_macro_mean']:.3f} |")
    if len(seeds) > 1:
        models = list(per_seed[seeds[0]])
        print_table({m: [per_seed[s][m]["ua_mean"] for s in seeds] for m in models},
                    f"UA over {len(seeds)} seeds ({', '.join(map(str, seeds))}):", reference=models[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
