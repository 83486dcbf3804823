"""Per-speaker adaptation in `avemotion session`, measured on built two-speaker sessions with held-out actors.

Speaker-grouped folds on the 12 RAVDESS speech actors of ``../shared/data`` (``Actor_01..04`` in
``ravdess_sample``, ``05..12`` in ``ravdess_speech_05_12``, linked into one corpus under ``--work``): one feature
store (Whisper-tiny audio features, basic7 labels with calm counted as neutral, as the held-out session model of
docs/experiments/2026-12-06-session-diarization.md), then ``avemotion train --cv 6`` twice on it, once with
``train.normalize=global`` and once with ``speaker`` (the same speaker-grouped folds: two held-out actors each).
For each fold, sessions are built from its two held-out actors only (20 alternating turns, 1-s pauses):

- **balanced**: the clips ``../shared/tools/make_session.py`` draws (any emotion, as the corpus has them);
- **skewed**: mostly neutral or calm turns and one strong episode: 2-4 consecutive turns of one speaker in one
  emotion (strong intensity), the other turns of both speakers neutral or calm (:func:`build_skewed`).

Each session is analysed by the session pipeline (:func:`analyze_session`, the code ``avemotion session``
runs; faces off, audio files) with the fold's models, never with a model that heard its actors:

- ``global``: the global-normalisation fold model, each segment on its own (today's session);
- ``speaker``: the speaker-normalisation fold model, ``adapt="speaker"`` (each diarized speaker's segments
  together, with that speaker's statistics);
- ``speaker-none``: the same model, ``adapt="none"`` (one segment at a time; for reference).

Scores per session (``../shared/tools/session_eval.py``'s measure): each true turn's emotion is the argmax of the
overlap-weighted probabilities of the segments overlapping it, calm counted as neutral; turn emotion UA is the
mean recall over the labels present in the session. Skewed sessions also get the recall of their neutral turns
and of their episode turns. The paired difference speaker - global per session, its mean and wins/losses.

    PYTHONPATH=src python evaluations/session_adaptation.py --work /tmp/adapt

Everything is cached in ``--work`` (the store, the runs, the sessions, each analysis's JSON): a rerun resumes.
Prints the table and writes ``WORK/session_adaptation.json``.
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT / ".." / "shared"
TOOLS = SHARED / "tools"
ACTOR_DIRS = [SHARED / "data" / "ravdess_sample", SHARED / "data" / "ravdess_speech_05_12"]
FEATURES = ["--set", "label_set=basic7", "--set", "audio.extractors=[whisper]", "--set", "audio.speed_views=[]"]
TRAIN = ["--set", "model.clip_vector_pooling=separate", "--set", "model.linear_readout=none",
         "--set", "train.ensemble=1", "--set", "train.mixup=0.2", "--set", "train.refit=false",
         "--set", "train.inner_folds=0"]
NAMES = {1: "neutral", 2: "calm", 3: "happy", 4: "sad", 5: "angry", 6: "fearful", 7: "disgust", 8: "surprised"}
CANON = {"calm": "neutral"}
ARMS = {"global": ("global", "none"), "speaker": ("speaker", "speaker"), "speaker-none": ("speaker", "none")}


def sh(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})


def corpus(work: Path) -> Path:
    """The 12 actors' folders linked into one RAVDESS root."""
    root = work / "ravdess"
    root.mkdir(parents=True, exist_ok=True)
    for d in ACTOR_DIRS:
        for actor in sorted(d.glob("Actor_*")):
            link = root / actor.name
            if not link.exists():
                link.symlink_to(actor.resolve())
    if len(list(root.glob("Actor_*"))) != 12:
        sys.exit(f"expected 12 RAVDESS actors under {root} (linked from {', '.join(map(str, ACTOR_DIRS))})")
    return root


def prepare(work: Path, root: Path, epochs: int | None) -> None:
    """The feature store and the two cross-validated runs (skipped when already there)."""
    py = [sys.executable, "-m", "avemotion", "-q"]
    if not (work / "feat" / "summary.json").is_file():
        sh(py + ["extract", "--corpus", "ravdess", "--root", str(root), "--option", "channel=speech",
                 "--label-map", "ravdess_to_basic7", "--out", str(work / "feat"), "--modality", "audio",
                 "--workers", "1"] + FEATURES)
    for norm in ("global", "speaker"):
        run = work / f"run-{norm}"
        if (run / "metrics.json").is_file():
            continue
        sh(py + ["train", "--features", str(work / "feat"), "--out", str(run), "--modality", "audio", "--cv", "6",
                 "--workers", "1", "--set", f"train.normalize={norm}"] + FEATURES + TRAIN
           + (["--epochs", str(epochs)] if epochs else []))


def fold_actors(work: Path) -> list[tuple[str, str]]:
    """The two held-out actors ("01".."12") of each fold, the same in both runs."""
    speaker = {}
    with open(work / "feat" / "manifest.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            speaker[row["clip_id"]] = row["speaker"].removeprefix("actor")
    folds = []
    for norm in ("global", "speaker"):
        splits = json.loads((work / f"run-{norm}" / "splits.json").read_text())
        folds.append([tuple(sorted({speaker[c] for c in f["test"]})) for f in splits["folds"]])
    if folds[0] != folds[1]:
        sys.exit("the two runs' folds differ")
    for pair in folds[0]:
        if len(pair) != 2:
            sys.exit(f"a fold holds out {len(pair)} actors, expected 2: {pair}")
    return folds[0]


def build_skewed(root: Path, a: str, b: str, turns: int, seed: int, out: Path, gap: float = 1.0) -> None:
    """A session like make_session.py's (same format) whose turns are neutral or calm, but for one episode of
    2-4 consecutive turns of one speaker (a or b, drawn) in one emotion at strong intensity (drawn)."""
    rng = random.Random(seed)
    clips = {s: sorted(glob.glob(str(root / f"Actor_{s}" / "*.wav"))) for s in (a, b)}
    emo = lambda p: int(Path(p).name.split("-")[2])  # noqa: E731
    strong = lambda p: Path(p).name.split("-")[3] == "02"  # noqa: E731
    who = rng.choice((a, b))
    length = rng.randint(2, 4)
    label = rng.choice([3, 4, 5, 6, 7, 8])
    mine = [i for i in range(turns) if (a, b)[i % 2] == who]
    first = rng.randint(0, len(mine) - length)
    episode = set(mine[first:first + length])
    calm = {s: [p for p in clips[s] if emo(p) in (1, 2)] for s in (a, b)}
    hot = [p for p in clips[who] if emo(p) == label and strong(p)]
    for pool in (*calm.values(), hot):
        rng.shuffle(pool)
    sig, rows, t = [np.zeros(int(48000 * gap), np.float32)], [], gap
    for i in range(turns):
        spk = (a, b)[i % 2]
        path = hot.pop() if i in episode else calm[spk].pop()
        x, sr = sf.read(path, dtype="float32")
        assert sr == 48000, path
        x = x.mean(1) if x.ndim > 1 else x
        rows.append((round(t, 3), round(t + len(x) / sr, 3), spk, NAMES[emo(path)]))
        sig += [x, np.zeros(int(48000 * gap), np.float32)]
        t += len(x) / sr + gap
    sf.write(str(out) + ".wav", np.concatenate(sig), 48000)
    with open(str(out) + ".truth.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["start", "end", "speaker", "label"])
        w.writerows(rows)


def sessions(work: Path, root: Path, folds: list[tuple[str, str]], per_kind: int) -> list[dict]:
    """Build (or find) the sessions of every fold: ``per_kind`` balanced and skewed ones each."""
    out = []
    folder = work / "sessions"
    folder.mkdir(exist_ok=True)
    for k, (a, b) in enumerate(folds):
        for kind in ("balanced", "skewed"):
            for j in range(per_kind):
                seed = 1000 * (k + 1) + 10 * j + (kind == "skewed")
                prefix = folder / f"f{k}-{a}-{b}-{kind}-{j}"
                if not Path(str(prefix) + ".truth.csv").is_file():
                    if kind == "balanced":
                        subprocess.run([sys.executable, str(TOOLS / "make_session.py"), str(root), a, b, "20",
                                        str(seed), str(prefix), "1.0"], check=True, stdout=subprocess.DEVNULL)
                    else:
                        build_skewed(root, a, b, 20, seed, prefix)
                out.append({"fold": k, "actors": f"{a}-{b}", "kind": kind, "name": prefix.name,
                            "wav": str(prefix) + ".wav", "truth": str(prefix) + ".truth.csv"})
    return out


def turn_emotions(segments: list[dict], truth: list[dict]) -> list[str | None]:
    """session_eval.py's per-turn emotion: the argmax of the overlap-weighted probabilities (calm as neutral)."""
    out = []
    for r in truth:
        t0, t1 = float(r["start"]), float(r["end"])
        probs: dict[str, float] = {}
        for s in segments:
            o = max(0.0, min(t1, float(s["end"])) - max(t0, float(s["start"])))
            if o <= 0:
                continue
            for lab, p in (s.get("probabilities") or {}).items():
                if p is not None and p == p:
                    probs[CANON.get(lab, lab)] = probs.get(CANON.get(lab, lab), 0.0) + o * float(p)
        out.append(max(probs, key=lambda x: probs[x]) if probs else None)
    return out


def score(d: dict, truth_csv: str) -> dict:
    truth = list(csv.DictReader(open(truth_csv)))
    y = np.array([CANON.get(r["label"], r["label"]) for r in truth])
    p = np.array(turn_emotions(d["segments"], truth), dtype=object)
    ua = float(np.mean([np.mean(p[y == k] == k) for k in sorted(set(y))]))
    out = {"ua": ua, "speakers": len(d["speakers"]), "turns": len(truth)}
    if set(y) - {"neutral"}:
        out["neutral_recall"] = float(np.mean(p[y == "neutral"] == "neutral")) if (y == "neutral").any() else None
        out["other_recall"] = float(np.mean(p[y != "neutral"] == y[y != "neutral"]))
    groups = (d.get("adaptation") or {}).get("speakers") or []
    out["adapted_speakers"] = sum(bool(g.get("adapted")) for g in groups)
    return out


def analyse(work: Path, sess: list[dict], arms: list[str]) -> list[dict]:
    from avemotion.inference.api import load_model
    from avemotion.inference.session.pipeline import analyze_session

    rows = []
    for s in sess:
        for arm in arms:
            norm, adapt = ARMS[arm]
            js = work / "out" / arm / f"{s['name']}.session.json"
            if not js.is_file():
                t = time.perf_counter()
                loaded = load_model(work / f"run-{norm}" / "folds" / str(s["fold"]))
                result = analyze_session(s["wav"], loaded, faces=False, adapt=adapt)
                js.parent.mkdir(parents=True, exist_ok=True)
                js.write_text(result.to_json())
                print(f"{s['name']} {arm}: {time.perf_counter() - t:.1f} s", flush=True)
            rows.append({**s, "arm": arm, **score(json.loads(js.read_text()), s["truth"])})
    return rows


def summarise(rows: list[dict], arms: list[str]) -> dict:
    out: dict = {}
    for kind in ("balanced", "skewed"):
        mine = [r for r in rows if r["kind"] == kind]
        names = sorted({r["name"] for r in mine})
        by = {(r["name"], r["arm"]): r for r in mine}
        k = out.setdefault(kind, {"sessions": len(names)})
        for arm in arms:
            k[arm] = {key: float(np.mean([by[n, arm][key] for n in names if by[n, arm].get(key) is not None]))
                      for key in ("ua", "neutral_recall", "other_recall")
                      if any(by[n, arm].get(key) is not None for n in names)}
        if "global" in arms and "speaker" in arms:
            diff = np.array([by[n, "speaker"]["ua"] - by[n, "global"]["ua"] for n in names])
            k["paired_speaker_minus_global"] = {
                "mean": float(diff.mean()), "wins": int((diff > 1e-9).sum()), "losses": int((diff < -1e-9).sum()),
                "ties": int((np.abs(diff) <= 1e-9).sum()),
                "per_session": dict(zip(names, map(float, diff), strict=True))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/adapt"), help="cache folder (default /tmp/adapt)")
    ap.add_argument("--sessions", type=int, default=2, help="sessions per kind per fold (default 2)")
    ap.add_argument("--arms", default="global,speaker,speaker-none", help="comma-separated: " + ", ".join(ARMS))
    ap.add_argument("--epochs", type=int, default=None, help="maximum epochs per fold (default: the config's)")
    args = ap.parse_args()
    arms = [a for a in args.arms.split(",") if a]
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    root = corpus(work)
    prepare(work, root, args.epochs)
    folds = fold_actors(work)
    clip_ua = {n: json.loads((work / f"run-{n}" / "metrics.json").read_text()) for n in ("global", "speaker")}
    sess = sessions(work, root, folds, args.sessions)
    rows = analyse(work, sess, arms)
    summary = summarise(rows, arms)
    print("\nfolds (held-out actors):", ", ".join(f"{k}: {a}-{b}" for k, (a, b) in enumerate(folds)))
    print("\n| kind | sessions | " + " | ".join(f"{a} UA" for a in arms)
          + " | speaker - global (mean; wins/losses/ties) |")
    print("|---|---:|" + "---:|" * len(arms) + "---|")
    for kind, k in summary.items():
        p = k.get("paired_speaker_minus_global", {})
        pair = f"{p['mean']:+.3f}; {p['wins']}/{p['losses']}/{p['ties']}" if p else "-"
        print(f"| {kind} | {k['sessions']} | " + " | ".join(f"{k[a]['ua']:.3f}" for a in arms) + f" | {pair} |")
    print("\nskewed sessions, recall of the neutral turns / of the episode turns:")
    for a in arms:
        s = summary["skewed"][a]
        print(f"  {a}: {s.get('neutral_recall', float('nan')):.3f} / {s.get('other_recall', float('nan')):.3f}")
    print("\nper session (UA):")
    for name in sorted({r["name"] for r in rows}):
        print("  " + name + ": " + "  ".join(f"{r['arm']} {r['ua']:.2f}" for r in rows if r["name"] == name))
    report = {"folds": [f"{a}-{b}" for a, b in folds], "arms": arms, "summary": summary, "rows": rows,
              "clip_metrics": {n: {k: v for k, v in m.items() if not isinstance(v, (dict, list))}
                               for n, m in clip_ua.items()}}
    (work / "session_adaptation.json").write_text(json.dumps(report, indent=2))
    print(f"\nwrote {work / 'session_adaptation.json'}")


if __name__ == "__main__":
    main()
