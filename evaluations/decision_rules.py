"""How a trained model's audio and video heads should be combined, measured on real audio-video clips.

For every clip of a corpus the model's heads are run once (features extracted with the model's own config,
cached in ``--cache``), and each combination rule of :data:`RULES` is scored on the same answers: UA over the
corpus's classes, the paired difference from the model's own rule (``linear``: eq. 19 with its beta / chi)
with a 95 % interval from resampling speakers, and McNemar's exact test on the clips one rule gets right and
the other wrong. Every rule is parameter-free or uses the model's own weights: nothing is fitted on the
corpus measured here (its clips may be unlicensed: measure, never train).

    PYTHONPATH=src python evaluations/decision_rules.py --corpus folder --root ../shared/data/javanese_av_01_05 \
        --cache /tmp/rules_javanese.json
    PYTHONPATH=src python evaluations/decision_rules.py --corpus cremad --root ../shared/data/cremad_sample \
        --cache /tmp/rules_cremad.json

``--model`` takes a run folder or a bundled model's name (default: the bundled ``default``). Labels of the
corpus are matched to the model's by name and synonym (``sadness`` -> ``sad``, ...); the argmax is taken over
the model's classes that some corpus class maps to.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from avemotion.data.corpora import load_corpus
from avemotion.data.expression_prior import FER_SYNONYMS
from avemotion.data.extract import extract_clip
from avemotion.inference.api import load_model
from avemotion.models.accuracy import unweighted_accuracy
from avemotion.utils.atomic import atomic_write_json
from avemotion.utils.progress import progress

#: every spelling of a class a corpus may use -> the canonical (FER) name
CANONICAL = {s: fer for fer, names in FER_SYNONYMS.items() for s in (fer, *names)}
CANONICAL["calm"] = "calm"


Arr = np.ndarray


def _entropy_confidence(p: np.ndarray) -> np.ndarray:
    """1 - H(p) / log C per row: 1 for a one-hot answer, 0 for a uniform one."""
    q = np.clip(p, 1e-12, 1.0)
    return 1.0 - (-(q * np.log(q)).sum(1)) / math.log(p.shape[1])


def _pool(pa: np.ndarray, pv: np.ndarray, wa: np.ndarray, wv: np.ndarray) -> np.ndarray:
    w = wa + wv
    w = np.where(w > 0, w, 1.0)
    return (wa[:, None] * pa + wv[:, None] * pv) / w[:, None]


Rule = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, float], np.ndarray]


def rule_linear(pa: Arr, pv: Arr, has_v: Arr, face: Arr, beta: float, chi: float) -> Arr:
    """Eq. 19 without a fused head: beta p_a + chi p_v (audio alone without a face)."""
    n = len(pa)
    return _pool(pa, pv, np.full(n, beta), np.where(has_v, chi, 0.0))


def rule_audio(pa: Arr, pv: Arr, has_v: Arr, face: Arr, beta: float, chi: float) -> Arr:
    """The audio head alone."""
    return pa


def rule_face(pa: Arr, pv: Arr, has_v: Arr, face: Arr, beta: float, chi: float) -> Arr:
    """The face head alone (the audio head where no face was found)."""
    return np.where(has_v[:, None], pv, pa)


def rule_equal(pa: Arr, pv: Arr, has_v: Arr, face: Arr, beta: float, chi: float) -> Arr:
    """Equal weights."""
    return rule_linear(pa, pv, has_v, face, 1.0, 1.0)


def rule_loglinear(pa: Arr, pv: Arr, has_v: Arr, face: Arr, beta: float, chi: float) -> Arr:
    """Log-linear pooling (a product of experts): p ~ p_a^beta p_v^chi, renormalised."""
    wv = np.where(has_v, chi, 0.0)[:, None]
    logp = beta * np.log(np.clip(pa, 1e-12, 1)) + wv * np.log(np.clip(pv, 1e-12, 1))
    logp /= beta + wv
    p = np.exp(logp - logp.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def rule_reliability(pa: Arr, pv: Arr, has_v: Arr, face: Arr, beta: float, chi: float) -> Arr:
    """beta / chi each scaled by its head's confidence (1 - normalised entropy), as ``model.decision_rule``
    reliability (models/decision.py): an unsure head weighs less, a sure one more."""
    wa = beta * _entropy_confidence(pa)
    wv = np.where(has_v, chi * _entropy_confidence(pv), 0.0)
    return _pool(pa, pv, wa, wv)


def rule_reliability_coverage(pa: Arr, pv: Arr, has_v: Arr, face: Arr, beta: float, chi: float) -> Arr:
    """reliability, with the face's weight also scaled by the share of frames with a face."""
    wa = beta * _entropy_confidence(pa)
    wv = np.where(has_v, chi * _entropy_confidence(pv) * face, 0.0)
    return _pool(pa, pv, wa, wv)


def rule_coverage(pa: Arr, pv: Arr, has_v: Arr, face: Arr, beta: float, chi: float) -> Arr:
    """beta / chi with the face's weight scaled by the share of frames with a face."""
    return _pool(pa, pv, np.full(len(pa), beta), np.where(has_v, chi * face, 0.0))


def rule_max_confidence(pa: Arr, pv: Arr, has_v: Arr, face: Arr, beta: float, chi: float) -> Arr:
    """The more confident head alone (highest top probability; audio on ties), as ``model.decision_rule``
    max_confidence."""
    pick_v = has_v & (pv.max(1) > pa.max(1))
    return np.where(pick_v[:, None], pv, pa)


RULES: dict[str, Rule] = {"linear": rule_linear, "audio": rule_audio, "face": rule_face, "equal": rule_equal,
                          "loglinear": rule_loglinear, "reliability": rule_reliability,
                          "reliability_coverage": rule_reliability_coverage,
                          "coverage": rule_coverage, "max_confidence": rule_max_confidence}


def answers(corpus: str, root: Path, model: str, cache: Path | None) -> tuple[list[dict], list[str]]:
    """Per clip: label, speaker, each head's probabilities and the share of frames with a face (cached)."""
    loaded = load_model(model)
    predictor = loaded.predictor
    labels = loaded.labels
    done: dict[str, dict] = {}
    if cache is not None and cache.is_file():
        saved = json.loads(cache.read_text())
        if saved.get("model") == loaded.description and saved.get("labels") == labels:
            done = saved["clips"]
    _, records = load_corpus(corpus, root)
    for i, rec in enumerate(progress(records, desc="heads", unit="clip")):
        if rec.clip_id in done:
            continue
        path = rec.video_path or rec.audio_path
        feats = extract_clip(path, predictor.config)
        pred = predictor.predict(feats, source=str(path))
        mask = feats.video_mask
        done[rec.clip_id] = {"label": rec.label, "speaker": rec.speaker,
                             "face": float(np.mean(mask)) if mask is not None and len(mask) else 0.0,
                             "heads": {h: [p[lab] for lab in labels] for h, p in pred.heads.items()},
                             "weights": pred.weights}
        if cache is not None and (i % 10 == 9 or i == len(records) - 1):
            atomic_write_json(cache, {"model": loaded.description, "labels": labels, "clips": done})
    if cache is not None:
        atomic_write_json(cache, {"model": loaded.description, "labels": labels, "clips": done})
    return [{"clip": k, **v} for k, v in done.items() if k in {r.clip_id for r in records}], labels


def class_matcher(model_labels: list[str]) -> Callable[[str], int | None]:
    """Corpus label -> index of the model's class of the same name or synonym (``sadness`` -> ``sad``), or None
    for a class the model lacks."""
    index = {CANONICAL.get(lab.lower(), lab.lower()): i for i, lab in enumerate(model_labels)}
    return lambda label: index.get(CANONICAL.get(label.lower(), label.lower()))


def speaker_bootstrap(y: np.ndarray, a: np.ndarray, b: np.ndarray, spk: np.ndarray, n: int = 2000,
                      seed: int = 0) -> tuple[float, float]:
    """95 % interval of UA(a) - UA(b) over resampled speakers (all clips of a drawn speaker, with repeats)."""
    rng = np.random.default_rng(seed)
    speakers = np.unique(spk)
    idx_of = {s: np.flatnonzero(spk == s) for s in speakers}
    diffs = []
    for _ in range(n):
        idx = np.concatenate([idx_of[s] for s in rng.choice(speakers, len(speakers))])
        diffs.append(unweighted_accuracy(y[idx], a[idx]) - unweighted_accuracy(y[idx], b[idx]))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(lo), float(hi)


def paired(y: np.ndarray, pred: np.ndarray, ref: np.ndarray, spk: np.ndarray) -> tuple[float, float, float, float]:
    """UA of ``pred``, its difference from ``ref``'s UA and the speaker-bootstrap interval of that difference
    (zeros when ``pred`` is ``ref`` itself)."""
    u = unweighted_accuracy(y, pred)
    if pred is ref:
        return u, 0.0, 0.0, 0.0
    return (u, u - unweighted_accuracy(y, ref), *speaker_bootstrap(y, pred, ref, spk))


def mcnemar(right_a: np.ndarray, right_b: np.ndarray) -> tuple[int, int, float]:
    """Clips only a gets right, only b gets right, and the exact two-sided binomial p-value."""
    n01, n10 = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    n = n01 + n10
    if n == 0:
        return n01, n10, 1.0
    k = min(n01, n10)
    p = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return n01, n10, min(1.0, 2 * p)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="folder", help="corpus loader (folder, ravdess, cremad, ...)")
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--model", default="default", help="run folder or bundled model name")
    ap.add_argument("--cache", type=Path, help="JSON file keeping each clip's head answers between runs")
    ap.add_argument("--json", type=Path, help="write the table as JSON here")
    args = ap.parse_args(argv)

    clips, labels = answers(args.corpus, args.root, args.model, args.cache)
    model_class = class_matcher(labels)
    unmapped = sorted({c["label"] for c in clips if model_class(c["label"]) is None})
    mapped = [c for c in clips if c["label"] not in unmapped]
    if unmapped:
        print(f"left out: {len(clips) - len(mapped)} clips of classes the model lacks: {', '.join(unmapped)}")
    y_lab = [model_class(c["label"]) for c in mapped]
    y = np.asarray(y_lab)
    classes = sorted(set(y_lab))
    keep = np.asarray(classes)
    n_labels = len(labels)
    pa = np.asarray([c["heads"].get("audio", [np.nan] * n_labels) for c in mapped], float)
    pv = np.asarray([c["heads"].get("video", [np.nan] * n_labels) for c in mapped], float)
    has_v = ~np.isnan(pv).any(1)
    if np.isnan(pa).any():
        sys.exit("every clip needs the audio head (audio-video or audio files)")
    pv = np.where(has_v[:, None], pv, 1.0 / n_labels)
    face = np.asarray([c["face"] for c in mapped])
    spk = np.asarray([str(c["speaker"]) for c in mapped])
    loaded = load_model(args.model)
    mcfg = loaded.predictor.config.model
    beta, chi = mcfg.beta, mcfg.chi

    preds = {}
    for name, rule in RULES.items():
        p = rule(pa, pv, has_v, face, beta, chi)[:, keep]
        preds[name] = keep[p.argmax(1)]
    ref = preds["linear"]
    print(f"{len(mapped)} clips, {len(np.unique(spk))} speakers, classes {', '.join(labels[c] for c in classes)}; "
          f"a face in {np.mean(has_v):.0%} of the clips (mean share of frames {face.mean():.2f}); "
          f"model {loaded.description}, beta {beta}, chi {chi}")
    print("\n| rule | UA | minus linear | 95 % CI (speakers) | McNemar only rule / only linear, p |")
    print("|---|---:|---:|---|---|")
    table = {}
    for name, pred in preds.items():
        u, d, lo, hi = paired(y, pred, ref, spk)
        a, b, pval = mcnemar(pred == y, ref == y)
        table[name] = {"ua": u, "minus_linear": d, "ci": [lo, hi], "mcnemar": [a, b, pval]}
        print(f"| {name} | {u:.3f} | {d:+.3f} | [{lo:+.3f}, {hi:+.3f}] | {a} / {b}, p = {pval:.3f} |")
    if args.json:
        atomic_write_json(args.json, {"clips": len(mapped), "rules": table})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
