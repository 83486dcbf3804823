"""Paired differences between ``avemotion compare`` folders run on the same folds (e.g. one per setting).

For one model of each folder against the same model of the reference folder: UA, the difference, the 95 %
interval from resampling speakers (all clips of a drawn speaker; the speaker is the clip id's part before the
first "-", as in the Javanese and RAVDESS names, unless --speakers gives a CSV with clip_id,speaker) and
McNemar's exact test (clips only this folder's model gets right / only the reference's).

    PYTHONPATH=src python evaluations/paired_compare.py --model logreg-video --ref /tmp/face27/logreg/global-all \
        /tmp/face27/logreg/global-expression /tmp/face27/logreg/global-no_motion
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decision_rules import mcnemar, speaker_bootstrap

from avemotion.models.accuracy import unweighted_accuracy


def load(folder: Path, model: str) -> tuple[list[str], list[str], list[str]]:
    """Clip ids (sorted), true labels and the model's answers from a comparison's predictions.csv."""
    rows = sorted(csv.DictReader((folder / "predictions.csv").open()), key=lambda r: r["clip_id"])
    if rows and model not in rows[0]:
        raise SystemExit(f"{folder}: no model {model!r} in predictions.csv")
    return [r["clip_id"] for r in rows], [r["true"] for r in rows], [r[model] for r in rows]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="the model (a column of predictions.csv) to compare")
    ap.add_argument("--ref", type=Path, required=True, help="the reference comparison folder")
    ap.add_argument("--speakers", type=Path, help="CSV with clip_id,speaker (default: clip id before '-')")
    ap.add_argument("folders", type=Path, nargs="+")
    args = ap.parse_args(argv)
    ids, truth, ref = load(args.ref, args.model)
    if args.speakers:
        by_clip = {r["clip_id"]: r["speaker"] for r in csv.DictReader(args.speakers.open())}
        spk = np.asarray([by_clip[c] for c in ids])
    else:
        spk = np.asarray([c.split("-")[0] for c in ids])
    labels = sorted(set(truth))
    index = {label: i for i, label in enumerate(labels)}
    y = np.asarray([index[t] for t in truth])

    def codes(answers: list[str]) -> np.ndarray:
        return np.asarray([index.get(a, -1) for a in answers])

    r = codes(ref)
    base = unweighted_accuracy(y, r)
    print(f"{args.model}, reference {args.ref.name}: UA {base:.3f}")
    print("| folder | UA | minus reference | 95 % interval (speakers) | McNemar only folder / only reference, p |")
    print("|---|---|---|---|---|")
    for folder in args.folders:
        other_ids, _, answers = load(folder, args.model)
        if other_ids != ids:
            raise SystemExit(f"{folder}: another clip set than {args.ref}")
        p = codes(answers)
        ua = unweighted_accuracy(y, p)
        lo, hi = speaker_bootstrap(y, p, r, spk)
        a, b, pv = mcnemar(p == y, r == y)
        print(f"| {folder.name} | {ua:.3f} | {ua - base:+.3f} | [{lo:+.3f}, {hi:+.3f}] | {a} / {b}, {pv:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
