"""The 'uncertain' threshold: where held-out answers stop being right at least half the time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avemotion.inference.bundled import uncertain_below as model_threshold
from avemotion.utils.confidence import uncertain_below, uncertain_below_from_predictions


def test_threshold_where_answers_become_right_half_the_time() -> None:
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.15, 1.0, 2000)
    right = rng.random(2000) < conf  # calibrated: right with probability = confidence
    assert abs(uncertain_below(conf, right) - 0.5) < 0.05
    shifted = rng.random(2000) < conf - 0.2  # over-confident by 0.2: uncertain up to about 0.7
    assert abs(uncertain_below(conf, shifted) - 0.7) < 0.05
    assert uncertain_below(conf, np.ones(2000, bool)) is None  # always right: nothing is uncertain
    assert uncertain_below(conf, np.zeros(2000, bool)) == round(conf.max(), 4)  # never right: all are
    assert uncertain_below(conf[:10], right[:10]) is None  # too few answers to tell


def test_threshold_from_a_run_folder_and_a_card(tmp_path: Path) -> None:
    rows = ["clip_id,true,pred,p_a,p_b"]
    rng = np.random.default_rng(1)
    for i in range(200):
        p = rng.uniform(0.5, 1.0)
        right = rng.random() < (p - 0.5) * 2  # right half the time at p = 0.75
        rows.append(f"c{i},a,{'a' if right else 'b'},{p if right else 1 - p:.4f},{1 - p if right else p:.4f}")
    (tmp_path / "predictions.csv").write_text("\n".join(rows) + "\n")
    t = uncertain_below_from_predictions(tmp_path / "predictions.csv")
    assert t is not None and 0.68 < t < 0.82
    assert model_threshold(tmp_path) == t
    (tmp_path / "card.json").write_text('{"name": "x", "uncertain_below": 0.42}')
    assert model_threshold(tmp_path) == 0.42  # a card states it
    assert model_threshold(None) is None
