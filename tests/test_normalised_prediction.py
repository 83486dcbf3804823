"""A model trained with speaker normalisation predicts a speaker's clips together (`predict --together`,
`Predictor.predict_group`) as it was trained, and says plainly when a lone clip cannot be normalised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from model_helpers import TINY_ARGS, quiet_torch

from avemotion.cli.main import main
from avemotion.data.store import FeatureStore
from avemotion.utils.progress import set_quiet

quiet_torch()
set_quiet(True)


def test_together_normalises_a_speakers_clips(store_dir: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["-q", "train", "--features", str(store_dir), "--out", str(run), "--cv", "2", "--epochs", "2",
                 *TINY_ARGS, "--set", "train.normalize=speaker", "--set", "train.inner_folds=0"]) == 0
    records = [c.record for c in FeatureStore(store_dir).all_clips()]
    speaker = records[0].speaker
    ids = [r.clip_id for r in records if r.speaker == speaker][:6]
    assert len(ids) >= 4
    clips = [a for cid in ids for a in ("--clip", cid)]
    capsys.readouterr()
    assert main(["-q", "predict", "--model", str(run), "--features", str(store_dir), *clips, "--json"]) == 0
    captured = capsys.readouterr()
    alone = [json.loads(line) for line in captured.out.splitlines()]
    assert all("UNRELIABLE" in p["note"] for p in alone)
    assert "--together" in captured.err  # the hint, since several clips were given
    assert main(["-q", "predict", "--model", str(run), "--features", str(store_dir), *clips, "--json",
                 "--together"]) == 0
    together = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["clip_id"] for p in together] == ids
    assert all(f"normalisation over the {len(ids)} clips" in p["note"] for p in together)
    assert [p["probabilities"] for p in together] != [p["probabilities"] for p in alone]
