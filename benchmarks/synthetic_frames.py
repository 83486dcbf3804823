"""Render docs/synthetic_frames.png: frames of two emotions of one synthetic speaker, side by side.

    PYTHONPATH=src python benchmarks/synthetic_frames.py [--labels surprise sadness] [--out docs/synthetic_frames.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from avemotion.data.synthetic.corpus import CorpusParams, plan, render_clip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--labels", nargs="+", default=["anger", "joy", "surprise", "sadness"])
    ap.add_argument("--speaker", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("docs/synthetic_frames.png"))
    args = ap.parse_args()
    params = CorpusParams(per_class=20, speakers=5, seconds=2.5)
    picks = [0, 8, 16, 24, 32]
    fig, axes = plt.subplots(len(args.labels), len(picks), figsize=(2.1 * len(picks), 2.25 * len(args.labels)))
    for r, label in enumerate(args.labels):
        spec = next(s for s in plan(params) if s.label == label and s.speaker == args.speaker)
        clip = render_clip(spec, params)
        for c, i in enumerate(picks):
            ax = axes[r, c]
            ax.imshow(clip.frames[i])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{label}  t={i / params.fps:.2f}s", fontsize=8)
    fig.suptitle(f"synthetic corpus (seed {params.seed}), speaker spk{args.speaker + 1:02d}", fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(args.out)


if __name__ == "__main__":
    main()
