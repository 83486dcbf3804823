"""Speaker diarization of `avemotion session`, measured on two-speaker recordings built from RAVDESS actors.

Builds sessions with ``../shared/tools/make_session.py`` (turns alternate between two actors, one clip per turn,
1-s pauses, plus sessions without pauses), runs the session pipeline's voice activity detection and
diarization on each (the same functions `avemotion session` calls) and prints one row per session: speakers
found, turn speaker accuracy (each true turn's speaker is the one with most speech in it, ids matched to the
truth in the best way), the diarization error rate with a 0.25-s collar and its parts, and the share of the
pauses between turns left without a speaker.

The reference speech for DER: inside each true turn (a whole RAVDESS clip, with its leading and trailing room
tone), the 10-ms frames whose level is within 35 dB of the clip's loudest frame, gaps under 0.3 s bridged;
DER = (missed speech + false alarm + speaker confusion) / reference speech, frames within 0.25 s of a
reference boundary not scored, speaker ids matched to the truth by the Hungarian assignment.

Thresholds are chosen on ``--set tune`` (actors 01-06) and reported on ``--set report`` (actors 07-12)::

    PYTHONPATH=src python evaluations/session_diarization.py --set report --work /tmp/sess
    PYTHONPATH=src python evaluations/session_diarization.py --set tune --work /tmp/sess --grid

``--work`` holds the built sessions and cached embeddings (reused on the next run). ``--fit-nuisance`` rebuilds
the shipped emotion directions (src/avemotion/inference/session/data/emotion_nuisance.npy) from every clip of
actors 01-06 (all eight emotions)::

    PYTHONPATH=src python evaluations/session_diarization.py --fit-nuisance --work /tmp/sess
"""

from __future__ import annotations

import argparse
import csv
import itertools
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from avemotion.inference.session.diarize import (
    NUISANCE_FILE,
    DiarizeSettings,
    cluster_windows,
    embed_windows,
    fit_nuisance,
    turns_from_windows,
)
from avemotion.inference.session.records import Turn
from avemotion.inference.session.vad import SAMPLE_RATE, speech_regions
from avemotion.media.audio import load_audio

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
FEMALE, MALE = "female", "male"
#: (actor A, actor B, seed, pause seconds); odd actors are male
SETS = {
    "tune": [("01", "03", 1, 1.0), ("02", "04", 2, 1.0), ("02", "06", 3, 1.0), ("04", "06", 4, 1.0),
             ("01", "05", 5, 1.0), ("03", "05", 6, 1.0), ("01", "02", 7, 1.0), ("03", "04", 8, 1.0),
             ("05", "06", 9, 1.0), ("01", "04", 10, 1.0), ("02", "06", 7, 0.0), ("01", "03", 7, 0.0),
             ("04", "05", 7, 0.0), ("02", "02", 11, 1.0), ("03", "03", 12, 1.0)],
    "report": [("08", "10", 11, 1.0), ("08", "12", 12, 1.0), ("10", "12", 13, 1.0), ("07", "09", 14, 1.0),
               ("07", "11", 15, 1.0), ("09", "11", 16, 1.0), ("07", "08", 17, 1.0), ("09", "10", 18, 1.0),
               ("11", "12", 19, 1.0), ("07", "12", 20, 1.0), ("08", "10", 7, 0.0), ("09", "12", 7, 0.0),
               ("07", "10", 7, 0.0), ("10", "10", 21, 1.0), ("11", "11", 22, 1.0)],
}
COLLAR = 0.25
FRAME = 0.01


def ravdess_root(work: Path) -> Path:
    """A folder of Actor_NN links to the shared RAVDESS speech clips (actors 01-12)."""
    root = work / "ravdess"
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 13):
        src = SHARED / "data" / ("ravdess_sample" if n <= 4 else "ravdess_speech_05_12") / f"Actor_{n:02d}"
        link = root / f"Actor_{n:02d}"
        if not link.exists():
            link.symlink_to(src.resolve())
    return root


def build(work: Path, a: str, b: str, seed: int, gap: float) -> Path:
    """The session's path prefix (``.wav`` and ``.truth.csv``), built once."""
    prefix = work / "sessions" / f"{a}_{b}_s{seed}_g{gap:g}"
    if not prefix.with_suffix(".wav").exists():
        prefix.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(SHARED / "tools" / "make_session.py"), str(ravdess_root(work)), a, b,
                        "20", str(seed), str(prefix), str(gap)], check=True, stdout=subprocess.DEVNULL)
    return prefix


def reference(audio: np.ndarray, truth: list[dict[str, str]]) -> np.ndarray:
    """Reference speaker per 10-ms frame (-1: nobody), speech inside each true turn by level (module doc)."""
    n = int(len(audio) / SAMPLE_RATE / FRAME) + 1
    ref = np.full(n, -1)
    ids = sorted({r["speaker"] for r in truth})
    hop = int(FRAME * SAMPLE_RATE)
    for r in truth:
        i0, i1 = int(float(r["start"]) / FRAME), min(n, int(float(r["end"]) / FRAME))
        x = audio[i0 * hop: i1 * hop]
        frames = x[: len(x) // hop * hop].reshape(-1, hop)
        db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
        on = db > db.max() - 35.0
        idx = np.flatnonzero(on)
        if len(idx):
            for p, q in zip(idx[:-1], idx[1:], strict=True):
                if q - p <= int(0.3 / FRAME):
                    on[p:q] = True
        ref[i0: i0 + len(on)][on] = ids.index(r["speaker"])
    return ref


def hypothesis(turns: list[Turn], n: int) -> tuple[np.ndarray, list[str]]:
    ids = sorted({t.speaker for t in turns})
    hyp = np.full(n, -1)
    for t in turns:
        hyp[int(t.start / FRAME): int(t.end / FRAME)] = ids.index(t.speaker)
    return hyp, ids


def der(ref: np.ndarray, hyp: np.ndarray) -> dict[str, float]:
    """DER and its parts with a 0.25-s collar around every reference boundary (Hungarian speaker mapping)."""
    from scipy.optimize import linear_sum_assignment

    edges = np.flatnonzero(np.diff(ref) != 0) + 1
    scored = np.ones(len(ref), bool)
    c = int(COLLAR / FRAME)
    for e in edges:
        scored[max(0, e - c): e + c] = False
    r, h = ref[scored], hyp[scored]
    nr, nh = r.max() + 1, max(h.max() + 1, 1)
    over = np.zeros((nr, nh))
    for i in range(nr):
        for j in range(nh):
            over[i, j] = np.sum((r == i) & (h == j))
    rows, cols = linear_sum_assignment(-over)
    mapping = dict(zip(cols, rows, strict=True))
    speech = np.sum(r >= 0)
    miss = np.sum((r >= 0) & (h < 0))
    fa = np.sum((r < 0) & (h >= 0))
    both = (r >= 0) & (h >= 0)
    conf = np.sum([mapping.get(int(j), -2) != int(i) for i, j in zip(r[both], h[both], strict=True)])
    return {"der": (miss + fa + conf) / speech, "miss": miss / speech, "fa": fa / speech, "conf": conf / speech}


def turn_scores(truth: list[dict[str, str]], turns: list[Turn]) -> tuple[float, float]:
    """Turn speaker accuracy (best id mapping) and the share of inter-turn pauses without a speaker."""
    spk = []
    for r in truth:
        t0, t1 = float(r["start"]), float(r["end"])
        ov: dict[str, float] = {}
        for t in turns:
            o = min(t1, t.end) - max(t0, t.start)
            if o > 0:
                ov[t.speaker] = ov.get(t.speaker, 0.0) + o
        spk.append(max(ov, key=ov.get) if ov else None)  # type: ignore[arg-type]
    ids = sorted({t.speaker for t in turns})
    true_ids = sorted({r["speaker"] for r in truth})
    best = 0.0
    for perm in itertools.permutations(ids + [None] * len(true_ids), len(true_ids)):
        m = dict(zip(perm, true_ids, strict=True))
        best = max(best, float(np.mean([m.get(p) == r["speaker"] for p, r in zip(spk, truth, strict=True)])))
    gaps = [(float(a["end"]) + float(b["start"])) / 2 for a, b in zip(truth, truth[1:], strict=False)
            if float(b["start"]) - float(a["end"]) > 0.2]
    silent = float(np.mean([not any(t.start <= g <= t.end for t in turns) for g in gaps])) if gaps else float("nan")
    return best, silent


def prepared(prefix: Path) -> tuple[np.ndarray, list[dict[str, str]], list, object]:
    """Audio, truth, speech regions and window embeddings of a session (embeddings cached beside it)."""
    audio = load_audio(prefix.with_suffix(".wav"), SAMPLE_RATE)
    with open(prefix.with_suffix(".truth.csv")) as fh:
        truth = list(csv.DictReader(fh))
    cache = prefix.with_suffix(".emb.npz")
    from avemotion.inference.session.diarize import WindowEmbeddings

    if cache.exists():
        z = np.load(cache)
        regions = [tuple(x) for x in z["regions"]]
        emb = WindowEmbeddings(z["spans"], z["region"], z["raw"])
    else:
        regions = speech_regions(audio)
        emb = embed_windows(audio, regions, DiarizeSettings().rate)
        np.savez(cache, regions=np.asarray(regions), spans=emb.spans, region=emb.region, raw=emb.raw)
    return audio, truth, regions, emb


def evaluate(items: list, settings: DiarizeSettings, speakers: int | None = None, show: bool = True) -> dict:
    rows = []
    for prefix, data in items:
        audio, truth, regions, emb = data
        labels = cluster_windows(emb, speakers, settings)
        turns = turns_from_windows(regions, emb, labels)
        ref = reference(audio, truth)
        hyp, ids = hypothesis(turns, len(ref))
        d = der(ref, hyp)
        acc, silent = turn_scores(truth, turns)
        true_n = len({r["speaker"] for r in truth})
        rows.append({"session": prefix.name, "true": true_n, "found": len(ids), "acc": acc, "silent": silent, **d})
    if show:
        print(f"{'session':<16}{'true':>5}{'found':>6}{'turn acc':>9}{'DER':>7}{'miss':>7}{'FA':>7}{'conf':>7}"
              f"{'pauses silent':>14}")
        for r in rows:
            print(f"{r['session']:<16}{r['true']:>5}{r['found']:>6}{r['acc']:>9.2f}{r['der']:>7.3f}{r['miss']:>7.3f}"
                  f"{r['fa']:>7.3f}{r['conf']:>7.3f}{r['silent']:>14.2f}")
    two = [r for r in rows if r["true"] == 2]
    summary = {"count_ok": sum(r["found"] == r["true"] for r in rows), "n": len(rows),
               "two_found": sum(r["found"] == 2 for r in two), "n_two": len(two),
               "acc": float(np.mean([r["acc"] for r in two])), "min_acc": float(min(r["acc"] for r in two)),
               "der": float(np.mean([r["der"] for r in rows])),
               "der_two": float(np.mean([r["der"] for r in two])), "miss_two": float(np.mean([r["miss"] for r in two])),
               "conf_two": float(np.mean([r["conf"] for r in two])),
               "conf": float(np.mean([r["conf"] for r in rows]))}
    if show:
        print(f"speaker count right in {summary['count_ok']}/{summary['n']}; two-speaker sessions: 2 found in "
              f"{summary['two_found']}/{summary['n_two']}, turn accuracy mean {summary['acc']:.3f} "
              f"(min {summary['min_acc']:.2f}), mean DER {summary['der_two']:.3f} "
              f"(missed speech {summary['miss_two']:.3f}, confusion {summary['conf_two']:.3f}); "
              f"all sessions: mean DER {summary['der']:.3f}")
    return summary


def fit_and_save_nuisance(work: Path) -> None:
    """The emotion directions from the window embeddings of every clip of actors 01-06."""
    raw, speaker = [], []
    root = ravdess_root(work)
    for actor in range(1, 7):
        for clip in sorted((root / f"Actor_{actor:02d}").glob("*.wav")):
            audio = load_audio(clip, SAMPLE_RATE)
            emb = embed_windows(audio, speech_regions(audio))
            raw.append(emb.raw)
            speaker += [actor] * len(emb)
    directions = fit_nuisance(np.concatenate(raw), np.asarray(speaker))
    NUISANCE_FILE.parent.mkdir(parents=True, exist_ok=True)
    np.save(NUISANCE_FILE, directions)
    print(f"wrote {NUISANCE_FILE}: {directions.shape} from {len(speaker)} windows of actors 01-06")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", choices=sorted(SETS), default="report")
    ap.add_argument("--work", type=Path, default=Path("/tmp/avemotion-session-eval"))
    ap.add_argument("--speakers", type=int, help="give the pipeline the number of speakers")
    ap.add_argument("--grid", action="store_true", help="score a grid of settings (for --set tune)")
    ap.add_argument("--fit-nuisance", action="store_true", help="rebuild the shipped emotion directions")
    args = ap.parse_args()
    if args.fit_nuisance:
        fit_and_save_nuisance(args.work)
        return
    items = [(p, prepared(p)) for p in (build(args.work, *s) for s in SETS[args.set])]
    if not args.grid:
        print(f"settings: {DiarizeSettings()}")
        evaluate(items, DiarizeSettings(), args.speakers)
        return
    for dist, new in itertools.product((0.06, 0.08, 0.09, 0.1, 0.12), (0.3, 0.35, 0.4)):
        st = replace(DiarizeSettings(), one_speaker_distance=dist, new_speaker_distance=new)
        s = evaluate(items, st, args.speakers, show=False)
        print(f"one-speaker distance {dist} new-speaker distance {new}: count {s['count_ok']}/{s['n']} "
              f"acc {s['acc']:.3f} min {s['min_acc']:.2f} DER {s['der']:.3f}", flush=True)


if __name__ == "__main__":
    main()
