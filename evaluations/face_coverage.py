"""How a trained audio-video run decides when the face is seen in only part of a clip: each fold model of a run
folder on its held-out clips, clean and with the face kept in one stretch of ``--keep`` of the face frames (the
rest marked faceless, as when the face turns away or leaves the picture), decided with and without
``model.face_share_weighting`` (the fused and video weights of eq. 19 times the share of frames with a face).

    PYTHONPATH=src python evaluations/face_coverage.py --features /tmp/jav_feat --run /tmp/dw/av-cal-s0 \\
        --run /tmp/dw/av-cal-s1 --keep 1 0.3 0.1

Prints UA per face share and decision, pooled over the runs given (e.g. one per training seed).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from avemotion.data.store import FeatureStore
from avemotion.features.record import ClipFeatures
from avemotion.models.accuracy import unweighted_accuracy
from avemotion.models.bundle import ModelBundle
from avemotion.models.predict import predict_clips


def keep_face(clip: ClipFeatures, keep: float, rng: np.random.Generator) -> ClipFeatures:
    """``clip`` with its face kept in one random stretch of ``keep`` of its face frames (at least one)."""
    if clip.video_mask is None or keep >= 1:
        return clip
    mask = np.asarray(clip.video_mask, bool)
    idx = np.flatnonzero(mask)
    n = max(1, int(round(keep * len(idx))))
    start = int(rng.integers(0, len(idx) - n + 1))
    out = np.zeros_like(mask)
    out[idx[start:start + n]] = True
    return replace(clip, video_mask=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=Path, required=True, help="the feature store the runs trained on")
    ap.add_argument("--run", type=Path, action="append", required=True, help="an avemotion train run folder")
    ap.add_argument("--keep", type=float, nargs="+", default=[1.0, 0.3, 0.1])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    records, feats = FeatureStore(args.features).load_all()
    by_id = {r.clip_id: (r, f) for r, f in zip(records, feats, strict=True)}
    rng = np.random.default_rng(args.seed)
    answers: dict[tuple[float, bool], list[tuple[np.ndarray, np.ndarray]]] = {}
    for run in args.run:
        for fold in json.loads((run / "splits.json").read_text())["folds"]:
            bundle = ModelBundle.load(run / "folds" / str(fold["fold"]) / "model")
            y = np.array([bundle.labels.index(by_id[c][0].label) for c in fold["test"]])
            for keep in args.keep:
                clips = [keep_face(bundle.selection.apply(by_id[c][1]), keep, rng) for c in fold["test"]]
                for weighting in (False, True):
                    bundle.model.config = bundle.model.config.model_copy(update={"face_share_weighting": weighting})
                    pred = predict_clips(bundle.model, clips, bundle.dims, bundle.standardizer).probs.argmax(1)
                    answers.setdefault((keep, weighting), []).append((y, pred))
    print("| face in | eq. 19 as the paper | fused and video weights x face share |")
    print("|---|---|---|")
    for keep in args.keep:
        uas = []
        for weighting in (False, True):
            parts = answers[(keep, weighting)]
            y, pred = np.concatenate([a for a, _ in parts]), np.concatenate([b for _, b in parts])
            uas.append(unweighted_accuracy(y, pred))
        print(f"| {keep:.0%} of the face frames | {uas[0]:.3f} | {uas[1]:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
