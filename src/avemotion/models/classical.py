"""Classical baselines on clip functionals: the sanity floor of every comparison (``svm``, ``logreg``).

A clip's functionals are its audio clip vector (MFCC statistics, openSMILE functionals, pooled SoundNet and
speech-encoder features: whatever the selection keeps) and, for video, the mean and standard deviation of its
face frames' x_t. A modality a clip lacks is imputed with the training mean. Features are standardised on the
training clips, classes are balanced, and the regularisation strength is chosen on the fold's validation clips
from a small grid (the deep models use the same clips for early stopping), then the model is refitted on
training + validation clips.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from avemotion.models.accuracy import unweighted_accuracy
from avemotion.registry import Registry


@dataclass(frozen=True)
class ClassicalSpec:
    name: str
    description: str
    grid: tuple[float, ...]  # values of C tried on the validation clips
    make: Callable[[float, int], object]  # (C, seed) -> an unfitted scikit-learn classifier

    @property
    def default_c(self) -> float:
        """C used when there are no validation clips to choose it: the middle of the grid."""
        return self.grid[len(self.grid) // 2]


#: classical models by name
CLASSICAL: Registry[ClassicalSpec] = Registry("classical model")


def _logreg(c: float, seed: int) -> object:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=seed)


def _svm(c: float, seed: int) -> object:
    from sklearn.svm import SVC

    return SVC(C=c, kernel="rbf", gamma="scale", class_weight="balanced", random_state=seed)


for _spec in (
    ClassicalSpec("logreg", "logistic regression on clip functionals", (0.001, 0.01, 0.1, 1.0), _logreg),
    ClassicalSpec("svm", "RBF SVM on clip functionals", (0.3, 1.0, 3.0, 10.0), _svm),
):
    CLASSICAL.register(_spec.name)(_spec)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="sklearn")
        yield


class ClassicalModel:
    """Imputation -> standardisation -> classifier, with C chosen on validation clips."""

    def __init__(self, spec: ClassicalSpec, n_classes: int, seed: int = 0) -> None:
        self.spec = spec
        self.n_classes = n_classes
        self.seed = seed
        self.pipeline: object | None = None
        self.c: float | None = None
        self.val_ua: float = -1.0

    def _pipeline(self, c: float) -> object:
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(SimpleImputer(strategy="mean", keep_empty_features=True), StandardScaler(),
                             self.spec.make(c, self.seed))

    def fit(self, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None) -> ClassicalModel:
        grid = self.spec.grid
        if x_val is not None and y_val is not None and len(grid) > 1 and len(y_val):
            scores = []
            for c in grid:
                with _quiet():
                    pipe = self._pipeline(c).fit(x_train, y_train)
                scores.append(unweighted_accuracy(y_val, pipe.predict(x_val)))
            best = int(np.argmax(scores))
            self.c, self.val_ua = grid[best], float(scores[best])
            x_train = np.concatenate([x_train, x_val])
            y_train = np.concatenate([y_train, y_val])
        else:
            self.c = self.spec.default_c
        with _quiet():
            self.pipeline = self._pipeline(self.c).fit(x_train, y_train)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """(N, n_classes) probabilities; classes absent from training get 0.

        The SVM's are the softmax of its one-vs-rest decision values, so their argmax is the SVM's own decision.
        (Platt scaling, scikit-learn's ``probability=True``, fits sigmoids on an internal 5-fold split: with a
        dozen clips per class and a weakly regularised C its probabilities came out nearly flat and their argmax
        contradicted the decisions (docs/experiments/2026-12-01-linear-readouts.md); it is also deprecated from
        scikit-learn 1.9.)
        """
        assert self.pipeline is not None, "fit first"
        with _quiet():
            clf = self.pipeline[-1]
            if hasattr(clf, "decision_function") and hasattr(clf, "support_vectors_"):
                d = self.pipeline.decision_function(x)
                d = d[:, None] if d.ndim == 1 else d
                if d.shape[1] == 1:
                    d = np.concatenate([-d, d], 1)
                e = np.exp(d - d.max(1, keepdims=True))
                p = e / e.sum(1, keepdims=True)
            else:
                p = self.pipeline.predict_proba(x)
        out = np.zeros((x.shape[0], self.n_classes))
        out[:, self.pipeline.classes_] = p
        return out

    @property
    def n_parameters(self) -> int:
        assert self.pipeline is not None
        clf = self.pipeline[-1]
        if hasattr(clf, "coef_"):
            return int(clf.coef_.size + clf.intercept_.size)
        return int(clf.support_vectors_.size + clf.dual_coef_.size)
