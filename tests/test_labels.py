from __future__ import annotations

import numpy as np
import pytest

from avemotion.errors import UnknownLabel
from avemotion.labels import CREMAD6, PAPER9, RAVDESS8, custom_label_set, get_label_set


def test_paper_order_and_grades() -> None:
    assert PAPER9.labels == ("trust", "joy", "anxiety", "fear", "surprise", "sadness", "anticipation", "anger",
                             "disgust")
    assert PAPER9.grades[0] == (0.0, 0.1) and PAPER9.grades[-1] == (0.8, 1.0)
    values = PAPER9.grade_values()
    assert values[0] == pytest.approx(0.05) and values[-1] == pytest.approx(0.9)
    assert np.all(np.diff(values) > 0)


def test_native_sets_and_aliases() -> None:
    assert len(RAVDESS8) == 8 and len(CREMAD6) == 6
    assert CREMAD6.normalise("ANG") == "anger"
    assert PAPER9.normalise("Expectation") == "anticipation"
    assert get_label_set("ravdess8") is RAVDESS8
    with pytest.raises(KeyError, match="known"):
        get_label_set("nope")


def test_unknown_label_names_the_file() -> None:
    with pytest.raises(UnknownLabel, match="clip7.mp4.*'boredom'"):
        PAPER9.normalise("boredom", source="clip7.mp4")
    assert PAPER9.normalise("boredom", strict=False) is None


def test_custom_label_set() -> None:
    s = custom_label_set(["Happy", "sad", "happy"])
    assert s.labels == ("happy", "sad")
    assert s.grade_values() is None and "no emotion grades" in s.cc_undefined_reason
    assert PAPER9.cc_undefined_reason is None
