"""Statistics of the comparison: the paper's random groups (Figs. 7-8) and paired significance tests."""

from __future__ import annotations

import warnings

import numpy as np

from avemotion.training.results import ModelResult


def mean_std(values: list) -> tuple[float | None, float | None]:
    vals = [float(x) for x in values if x is not None]
    if not vals:
        return None, None
    return float(np.mean(vals)), float(np.std(vals))


def random_groups(n: int, k: int, seed: int) -> list[np.ndarray]:
    """The paper's Figs. 7-8: the test samples shuffled (seeded) into ``k`` groups of near-equal size."""
    perm = np.random.default_rng(seed).permutation(n)
    return [g for g in np.array_split(perm, min(k, n)) if g.size]


def paired_tests(ref: ModelResult, other: ModelResult, y: np.ndarray) -> dict:
    """Wilcoxon signed-rank and paired t-test over folds (UA and WA), McNemar's exact test on pooled clips."""
    from scipy.stats import binomtest, ttest_rel, wilcoxon

    out: dict = {"reference": ref.name, "model": other.name}
    for metric in ("ua", "wa"):
        a = np.asarray([f[metric] for f in ref.per_fold], np.float64)
        b = np.asarray([f[metric] for f in other.per_fold], np.float64)
        d = a - b
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if np.allclose(d, 0):
                w_p, t_p = 1.0, 1.0
            else:
                w_p = float(wilcoxon(a, b).pvalue)
                t = ttest_rel(a, b).pvalue
                t_p = None if not np.isfinite(t) else float(t)
        out[metric] = {"ref_mean": float(a.mean()), "model_mean": float(b.mean()), "mean_diff": float(d.mean()),
                       "wilcoxon_p": w_p if np.isfinite(w_p) else None, "ttest_p": t_p, "n_folds": int(d.size)}
    ok_ref = ref.probs.argmax(1) == y
    ok_oth = other.probs.argmax(1) == y
    n10 = int((ok_ref & ~ok_oth).sum())  # reference right, model wrong
    n01 = int((~ok_ref & ok_oth).sum())
    p = float(binomtest(n10, n10 + n01, 0.5).pvalue) if n10 + n01 else 1.0
    out["mcnemar"] = {"ref_only_correct": n10, "model_only_correct": n01, "p": p, "n_clips": int(y.size)}
    return out
