"""Is the visible face speaking? The session's lip-voice synchrony score on matched and mismatched audio.

For each audio-video clip: the session's face tracker (src/avemotion/inference/session/faces.py) follows its
face (the longest track) and the session's voice activity detection finds its speech span. Each window is
scored with the clip's own loudness envelope (matched: the face is speaking) and with the envelope of another
speaker's clip read at the same times (mismatched: the face is not the voice). The mismatched audio is not
muxed under the video: its envelope is computed from the other clip's decoded audio and read at the face's
frame times, which is what the score sees either way.

A window is what the session scores for a segment: the segment with the pauses next to it (the session reads
each speech segment widened by up to 1 s into the pauses around it). Windows of 1, 2 and 3 s are cut back to
back from the clip's start, keeping those that are at least half speech; "clip" is the whole clip (a turn
with its pauses).

Clips (../shared/data; measured only, nothing copied):

* ``dev``: the Javanese AV clips of actors 01 and 02 (faces of one, voices of the other for mismatches):
  the measure (:data:`avemotion.inference.session.speaking.MEASURES`) and the threshold are chosen here, on
  the 1-3 s windows together: the measure with the highest AUC, and the lowest threshold whose false
  "speaking" rate is at most 10 % (a false "speaking" merges a listener's face into another person's voice,
  which is worse than keeping a speaker's face apart).
* ``javanese-test``: actors 03-05 (mismatched voices from another of these actors);
* ``cremad``: CREMA-D speaker 1001's six AV clips (mismatched voices: speaker 1002's audio-only clips);
* ``ravdess``: the RAVDESS AV clip of actor 01 (mismatched voices: actors 05-12's speech clips).

Prints per set, measure and window length: ROC AUC, accuracy on the balanced matched + mismatched windows
at the threshold (the mean of the hit and correct-rejection rates), the false "speaking" rate (mismatched
windows at or above it) and the miss rate (matched windows below it or without a score). Face tracks are
cached under ``--work``::

    PYTHONPATH=src python evaluations/speaking_face.py --work /tmp/speaking
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avemotion.inference.session.faces import FACE_FPS, track_faces
from avemotion.inference.session.speaking import ENVELOPE_RATE, MEASURES, loudness_envelope, speaking_score
from avemotion.inference.session.vad import SAMPLE_RATE, speech_regions
from avemotion.media.audio import load_audio

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
LENGTHS: tuple[float | None, ...] = (1.0, 2.0, 3.0, None)  # None: the whole clip


@dataclass
class Clip:
    name: str
    speaker: str
    envelope: np.ndarray
    speech: tuple[float, float]
    times: np.ndarray | None = None  # face frames (None: audio-only donor)
    mouth: np.ndarray | None = None


def load_clip(path: Path, speaker: str, work: Path, face: bool) -> Clip:
    audio = load_audio(path, SAMPLE_RATE)
    regions = speech_regions(audio)
    span = (regions[0][0], regions[-1][1]) if regions else (0.0, len(audio) / SAMPLE_RATE)
    clip = Clip(path.name, speaker, loudness_envelope(audio), span)
    if face:
        cache = work / f"{path.parent.name}__{path.stem}.npz"
        if not cache.exists():
            tracks = track_faces(path, FACE_FPS)
            best = max(tracks, key=len) if tracks else None
            np.savez(cache, times=np.asarray(best.times if best else []), mouth=np.asarray(best.mouth if best else []))
        z = np.load(cache)
        clip.times, clip.mouth = z["times"], z["mouth"]
    return clip


def windows(clip: Clip, length: float | None) -> list[tuple[float, float]]:
    """Back-to-back windows of ``length`` s over the clip (None: the whole clip) that are at least half speech."""
    assert clip.times is not None
    a, b = clip.speech
    total = len(clip.envelope) / ENVELOPE_RATE
    if length is None:
        return [(0.0, total)]
    out = []
    for i in range(int(total // length)):
        s, e = i * length, (i + 1) * length
        if min(e, b) - max(s, a) >= 0.5 * length:
            out.append((s, e))
    return out


def pair_scores(faces: list[Clip], donors: list[Clip], length: float | None, measure: str,
                rng: np.random.Generator) -> tuple[list[float | None], list[float | None]]:
    """Scores of every window of every face with its own voice, and with another speaker's voice read at the
    same clip times (clips begin in silence, so the donor's speech falls where a clip's speech falls)."""
    matched: list[float | None] = []
    mismatched: list[float | None] = []
    for face in faces:
        assert face.times is not None and face.mouth is not None
        others = [d for d in donors if d.speaker != face.speaker]
        for start, end in windows(face, length):
            keep = (face.times >= start - 1e-6) & (face.times <= end + 1e-6)
            t, m = face.times[keep], face.mouth[keep]
            matched.append(speaking_score(t, m, face.envelope, start, end, FACE_FPS, measure))
            usable = [d for d in others if len(d.envelope) / ENVELOPE_RATE >= end - 0.05]
            if not usable:
                continue
            donor = usable[int(rng.integers(len(usable)))]
            mismatched.append(speaking_score(t, m, donor.envelope, start, end, FACE_FPS, measure))
    return matched, mismatched


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties count half)."""
    if not len(pos) or not len(neg):
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def as_array(scores: list[float | None]) -> np.ndarray:
    """Scores with None (too few face frames) as -1: never "speaking"."""
    return np.asarray([-1.0 if s is None else s for s in scores], np.float64)


def rates(pos: np.ndarray, neg: np.ndarray, thr: float) -> tuple[float, float, float]:
    """(balanced accuracy, false speaking rate, miss rate) at ``thr``."""
    fsr = float((neg >= thr).mean()) if len(neg) else float("nan")
    miss = float((pos < thr).mean()) if len(pos) else float("nan")
    return 1 - (fsr + miss) / 2, fsr, miss


def best_threshold(pos: np.ndarray, neg: np.ndarray, max_false: float = 0.1) -> float:
    """The lowest threshold (in steps of 0.01 from -1) whose false "speaking" rate is at most ``max_false``."""
    top = float(np.ceil(max(pos.max(), neg.max()) * 100) / 100) + 0.01
    for c in np.round(np.arange(-1.0, top, 0.01), 2):
        if rates(pos, neg, c)[1] <= max_false:
            return float(c)
    return top


def load_sets(work: Path) -> dict[str, tuple[list[Clip], list[Clip]]]:
    jav = DATA / "javanese_av_01_05"
    rows = list(csv.DictReader((jav / "metadata.csv").open()))
    by = {s: [load_clip(jav / r["path"], s, work, True) for r in rows if r["speaker"] == s]
          for s in ("01", "02", "03", "04", "05")}
    dev = by["01"] + by["02"]
    test = by["03"] + by["04"] + by["05"]
    cre = [load_clip(p, "1001", work, True) for p in sorted((DATA / "cremad_sample").glob("1001_*.flv"))]
    cre_donors = [load_clip(p, "1002", work, False) for p in sorted((DATA / "cremad_sample").glob("1002_*.mp3"))]
    rav = [load_clip(p, "r01", work, True) for p in sorted((DATA / "ravdess_sample").glob("*.mp4"))]
    rav_donors = [load_clip(p, f"r{p.parent.name[-2:]}", work, False)
                  for p in sorted((DATA / "ravdess_speech_05_12").glob("Actor_*/*-01-01-01-01-0?.wav"))[:16]]
    return {"dev": (dev, dev), "javanese-test": (test, test), "cremad": (cre, cre_donors),
            "ravdess": (rav, rav_donors)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="cache folder for the face tracks")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if not (DATA / "javanese_av_01_05").exists():
        sys.exit(f"no shared data at {DATA}")
    sets = load_sets(args.work)
    table: dict[tuple[str, str, float | None], tuple[np.ndarray, np.ndarray]] = {}
    for name, (faces, donors) in sets.items():
        for measure in MEASURES:
            for length in LENGTHS:
                rng = np.random.default_rng(0)
                pos, neg = pair_scores(faces, donors, length, measure, rng)
                table[name, measure, length] = as_array(pos), as_array(neg)
    chosen: dict[str, float] = {}
    for measure in MEASURES:
        pos = np.concatenate([table["dev", measure, n][0] for n in LENGTHS if n])
        neg = np.concatenate([table["dev", measure, n][1] for n in LENGTHS if n])
        chosen[measure] = best_threshold(pos, neg)
    dev_auc = {m: auc(np.concatenate([table["dev", m, n][0] for n in LENGTHS if n]),
                      np.concatenate([table["dev", m, n][1] for n in LENGTHS if n])) for m in MEASURES}
    best = max(MEASURES, key=lambda m: dev_auc[m])
    print("dev (Javanese actors 01-02), 1-3 s windows together: AUC " +
          ", ".join(f"{m} {dev_auc[m]:.3f} (threshold {chosen[m]:.2f})" for m in MEASURES) + f"; chosen: {best}")
    print("| set | measure | window | matched | mismatched | AUC | accuracy | false speaking | missed |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (name, measure, length), (pos, neg) in table.items():
        acc, fsr, miss = rates(pos, neg, chosen[measure])
        mark = " **" if measure == best else ""
        window = "clip" if length is None else f"{length:.0f} s"
        print(f"| {name} | {measure}{mark} | {window} | {len(pos)} | {len(neg)} | {auc(pos, neg):.3f} | "
              f"{acc:.3f} | {fsr:.3f} | {miss:.3f} |")


if __name__ == "__main__":
    main()
