from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

from avemotion.labels import PAPER9
from avemotion.training.metrics import compute_metrics


@pytest.mark.filterwarnings("ignore:y_pred contains classes")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_classes = 9
    y = rng.integers(0, n_classes, 200)
    y[:3] = 8
    y[y == 5] = 4  # class 5 absent from the truth
    pred = np.where(rng.random(200) < 0.6, y, rng.integers(0, n_classes, 200))
    probs = rng.dirichlet(np.ones(n_classes), size=200)
    labels = list(PAPER9.labels)
    m = compute_metrics(y, pred, probs, labels, PAPER9.grade_values())
    assert m["wa"] == pytest.approx(accuracy_score(y, pred))
    assert m["ua"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))
    cm = confusion_matrix(y, pred, labels=range(n_classes), normalize="true")
    np.testing.assert_allclose(np.asarray(m["confusion"]), np.nan_to_num(cm), atol=1e-12)
    g = PAPER9.grade_values()
    assert m["cc"] == pytest.approx(pearsonr(g[pred], g[y]).statistic)
    for c, lab in enumerate(labels):
        ind = (y == c).astype(float)
        if ind.std() == 0:
            assert m["cc_per_class"][lab] is None
        else:
            assert m["cc_per_class"][lab] == pytest.approx(pearsonr(ind, probs[:, c]).statistic)


def test_perfect_and_degenerate_cases() -> None:
    labels = ["a", "b", "c"]
    grades = np.array([0.1, 0.5, 0.9])
    y = np.array([0, 1, 2, 2, 1, 0])
    m = compute_metrics(y, y, np.eye(3)[y], labels, grades)
    assert m["wa"] == m["ua"] == m["f1_macro"] == 1.0 and m["cc"] == pytest.approx(1.0)
    assert np.allclose(m["confusion"], np.eye(3))
    const = compute_metrics(y, np.zeros_like(y), None, labels, grades)
    assert const["cc"] is None  # a constant prediction has no correlation
    assert const["cc_undefined"] == "the true or the predicted grades are constant"
    ungraded = compute_metrics(y, y, None, labels, None)  # a label set without grades: CC absent, with the reason
    assert ungraded["cc"] is None and "no emotion grades" in ungraded["cc_undefined"] and ungraded["ua"] == 1.0
    assert "cc_undefined" not in m
    assert const["ua"] == pytest.approx(1 / 3) and "cc_per_class" not in const
