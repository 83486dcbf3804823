"""Label sets: the paper's nine emotions with their grade intervals, and corpus-native sets.

The paper (section 4.2) divides [0, 1] into nine grades, one per emotion in its order; the
correlation coefficient compares the grade values of predicted and true emotions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from avemotion.errors import UnknownLabel

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class LabelSet:
    name: str
    labels: tuple[str, ...]
    #: (low, high) value interval per label, used for the grade-based correlation coefficient
    grades: tuple[tuple[float, float], ...] | None = None
    description: str = ""
    aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"label set {self.name}: duplicate labels")
        if self.grades is not None and len(self.grades) != len(self.labels):
            raise ValueError(f"label set {self.name}: one grade interval per label is needed")

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, label: object) -> bool:
        return isinstance(label, str) and self.normalise(label, strict=False) is not None

    def normalise(self, label: str, *, strict: bool = True, source: str | None = None) -> str | None:
        key = label.strip().lower()
        key = self.aliases.get(key, key)
        if key in self.labels:
            return key
        if strict:
            raise UnknownLabel(
                f"label {label!r} is not in label set {self.name!r} ({', '.join(self.labels)}); "
                "map it with a label-mapping file",
                source,
            )
        return None

    def index(self, label: str) -> int:
        return self.labels.index(self.normalise(label))  # type: ignore[arg-type]

    def grade_values(self) -> np.ndarray | None:
        """Centre of each label's grade interval; None for a label set without grades (the grade correlation CC
        is then undefined: an arbitrary order of the labels would give an arbitrary number)."""
        import numpy as np

        if self.grades is None:
            return None
        return np.array([(lo + hi) / 2 for lo, hi in self.grades], dtype=np.float64)

    @property
    def cc_undefined_reason(self) -> str | None:
        """Why CC cannot be computed for this label set (None when it can)."""
        if self.grades is None:
            return (f"label set {self.name!r} has no emotion grades; the grade correlation CC (paper sec. 4.3.3) "
                    "is defined for graded label sets such as paper9")
        return None


PAPER9 = LabelSet(
    name="paper9",
    labels=("trust", "joy", "anxiety", "fear", "surprise", "sadness", "anticipation", "anger", "disgust"),
    # section 4.2: 0-0.1 trust, 0.1-0.2 joy, ..., 0.7-0.8 anger, 0.8-1.0 disgust
    grades=(
        (0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5),
        (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 1.0),
    ),
    description="The nine emotions of Liu, Feng & Li (2026), in the paper's order, with its grade intervals",
    aliases={"expectation": "anticipation", "happiness": "joy", "happy": "joy", "sad": "sadness",
             "angry": "anger", "fearful": "fear", "surprised": "surprise", "disgusted": "disgust"},
)

RAVDESS8 = LabelSet(
    name="ravdess8",
    labels=("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"),
    description="RAVDESS emotions, codes 01-08",
)

CREMAD6 = LabelSet(
    name="cremad6",
    labels=("anger", "disgust", "fear", "happy", "neutral", "sad"),
    description="CREMA-D emotions (ANG, DIS, FEA, HAP, NEU, SAD)",
    aliases={"ang": "anger", "dis": "disgust", "fea": "fear", "hap": "happy", "neu": "neutral", "sad": "sad"},
)

BASIC7 = LabelSet(
    name="basic7",
    labels=("neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised"),
    description="Basic emotions shared by RAVDESS (calm merged into neutral), CREMA-D and FER2013: the bundled "
                "model's label set",
    aliases={"calm": "neutral", "happiness": "happy", "joy": "happy", "sadness": "sad", "anger": "angry",
             "fear": "fearful", "disgusted": "disgust", "surprise": "surprised", "neu": "neutral",
             "hap": "happy", "ang": "angry", "fea": "fearful", "dis": "disgust"},
)

IEMOCAP4 = LabelSet(
    name="iemocap4",
    labels=("neutral", "happy", "angry", "sad"),
    description="IEMOCAP common 4-class setting (happy includes excited)",
    aliases={"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad"},
)

IEMOCAP_FULL = LabelSet(
    name="iemocap_full",
    labels=("neutral", "happy", "excited", "angry", "sad", "frustrated", "fear", "surprise", "disgust", "other"),
    description="IEMOCAP full categorical label set",
    aliases={"neu": "neutral", "hap": "happy", "exc": "excited", "ang": "angry", "sad": "sad",
             "fru": "frustrated", "fea": "fear", "sur": "surprise", "dis": "disgust", "oth": "other",
             "xxx": "other"},
)

_LABEL_SETS: dict[str, LabelSet] = {s.name: s for s in (PAPER9, RAVDESS8, CREMAD6, BASIC7, IEMOCAP4, IEMOCAP_FULL)}


def register_label_set(label_set: LabelSet) -> LabelSet:
    _LABEL_SETS[label_set.name] = label_set
    return label_set


def get_label_set(name: str) -> LabelSet:
    try:
        return _LABEL_SETS[name]
    except KeyError:
        raise KeyError(f"unknown label set {name!r}; known: {', '.join(sorted(_LABEL_SETS))}") from None


def label_set_names() -> list[str]:
    return sorted(_LABEL_SETS)


def custom_label_set(labels: list[str], name: str = "custom") -> LabelSet:
    """A label set for a user's folder corpus, from the labels found there (sorted, lower-case)."""
    return LabelSet(name=name, labels=tuple(sorted({label.strip().lower() for label in labels})))
