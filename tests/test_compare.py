"""``avemotion compare`` on tiny toy feature stores: every output file, consistent numbers, identical folds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from model_helpers import TINY, TINY_ARGS, quiet_torch, tiny_config

from avemotion.cli.main import main
from avemotion.errors import AvemotionError
from avemotion.training.compare import random_groups, run_compare
from avemotion.training.metrics import compute_metrics
from avemotion.training.toy import make_toy_store
from avemotion.utils.progress import set_quiet

quiet_torch()
set_quiet(True)

MODELS = ["bimodal", "lstm", "dean", "bimodal-video", "logreg", "svm"]
ARGS = ["--cv", "3", "--epochs", "3", "--groups", "5", "--latency-clips", "5,60", *TINY_ARGS]
OUTPUTS = ["results.csv", "results.json", "folds.csv", "groups.csv", "cc_per_class.csv", "latency.csv",
           "significance.csv", "predictions.csv", "splits.json", "report.md", "wa_groups.png", "ua_groups.png",
           "cc_per_class.png", "latency.png", "summary.png"]


def _csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cmp")
    make_toy_store(root / "features", n_clips=48, n_speakers=6, signal=2.0, faceless_share=0.1)
    rc = main(["--quiet", "compare", "--features", str(root / "features"), "--out", str(root / "out"),
               "--models", ",".join(MODELS), *ARGS])
    assert rc == 0
    return root / "features", root / "out"


def test_every_output_file(compared: tuple[Path, Path]) -> None:
    _, out = compared
    for name in OUTPUTS:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for m in MODELS:
        assert (out / "confusion" / f"{m}.png").is_file()
    report = (out / "report.md").read_text()
    for m in MODELS:
        assert f"| {m} |" in report
    assert "McNemar" in report and "Table 3" in report


def test_numbers_are_consistent(compared: tuple[Path, Path]) -> None:
    _, out = compared
    res = json.loads((out / "results.json").read_text())
    labels = res["labels"]
    assert list(res["models"]) == MODELS and res["reference"] == "bimodal" and res["n_clips"] == 48
    rows = {r["model"]: r for r in _csv(out / "results.csv")}
    folds = _csv(out / "folds.csv")
    preds = _csv(out / "predictions.csv")
    y = np.asarray([labels.index(p["true"]) for p in preds])
    grades = None if res["grades"] is None else np.asarray(res["grades"])
    for m in MODELS:
        per = [f for f in folds if f["model"] == m]
        assert [int(f["fold"]) for f in per] == [0, 1, 2]
        assert sum(int(f["n"]) for f in per) == 48
        for k in ("wa", "ua", "f1_macro"):
            vals = [float(f[k]) for f in per]
            assert float(rows[m][f"{k}_mean"]) == pytest.approx(np.mean(vals), abs=1e-5)
            assert float(rows[m][f"{k}_std"]) == pytest.approx(np.std(vals), abs=1e-5)
        # pooled metrics and confusion recomputed from predictions.csv
        pred = np.asarray([labels.index(p[m]) for p in preds])
        again = compute_metrics(y, pred, None, labels, grades)
        assert float(rows[m]["wa_pooled"]) == pytest.approx(again["wa"], abs=1e-5)
        assert float(rows[m]["ua_pooled"]) == pytest.approx(again["ua"], abs=1e-5)
        cm = np.asarray(res["models"][m]["confusion"])
        np.testing.assert_allclose(cm, again["confusion"])
        np.testing.assert_allclose(cm.sum(1), 1.0)
        # the 15 (here 5) groups: the seeded partition of the pooled predictions
        groups = [g for g in _csv(out / "groups.csv") if g["model"] == m]
        parts = random_groups(48, 5, res["seed"])
        assert [int(g["n"]) for g in groups] == [len(p) for p in parts]
        for g, idx in zip(groups, parts, strict=True):
            assert float(g["wa"]) == pytest.approx(float((pred[idx] == y[idx]).mean()), abs=1e-5)
        cc = {r["class"]: r["cc"] for r in _csv(out / "cc_per_class.csv") if r["model"] == m}
        assert set(cc) == set(labels)
        lat = [r for r in _csv(out / "latency.csv") if r["model"] == m]
        assert [int(r["clips"]) for r in lat] == [5, 60]
        assert [r["sampled_with_replacement"] for r in lat] == ["False", "True"]  # 60 > the 48 clips
        assert float(lat[1]["total_ms"]) == pytest.approx(60 * float(lat[1]["ms_per_clip"]), rel=1e-4)
    # the video-only ablation cannot see audio-only clips; it is still scored on all 48
    covered = sum(int(p["bimodal-video_covered"]) for p in preds)
    assert float(rows["bimodal-video"]["coverage"]) == pytest.approx(covered / 48, abs=1e-5)
    assert covered < 48 and all(int(p["bimodal_covered"]) for p in preds)
    # McNemar counts from the per-clip predictions
    ok_ref = np.asarray([p["bimodal"] == p["true"] for p in preds])
    for t in res["significance"]:
        ok = np.asarray([p[t["model"]] == p["true"] for p in preds])
        assert t["mcnemar"]["ref_only_correct"] == int((ok_ref & ~ok).sum())
        assert t["mcnemar"]["model_only_correct"] == int((~ok_ref & ok).sum())
        assert 0 <= t["mcnemar"]["p"] <= 1 and (t["ua"]["wilcoxon_p"] is None or 0 < t["ua"]["wilcoxon_p"] <= 1)
    assert {t["model"] for t in res["significance"]} == set(MODELS[1:])


def test_identical_folds_for_every_model(compared: tuple[Path, Path]) -> None:
    _, out = compared
    splits = json.loads((out / "splits.json").read_text())["folds"]
    for m in MODELS:
        for f in splits:
            r = json.loads((out / "runs" / m / "folds" / str(f["fold"]) / "result.json").read_text())
            if m == "bimodal-video":  # its test set: the fold's clips that have a face
                assert set(r["test"]) <= set(f["test"]) and r["test"] == [c for c in f["test"] if c in r["test"]]
            else:
                assert r["test"] == f["test"]


def test_rerun_resumes_and_refuses_another_setup(compared: tuple[Path, Path]) -> None:
    features, out = compared
    before = (out / "results.json").read_text()
    epochs: list[tuple[str, int]] = []
    cfg = tiny_config(**{"train.scheme": "kfold", "train.folds": 3, "train.epochs": 3})
    run_compare(features, out, cfg, MODELS, groups=5, latency_clips=(5, 60),
                on_epoch_end=lambda s, e: epochs.append((s, e)))
    assert epochs == []  # every fold of every model was finished
    after = json.loads((out / "results.json").read_text())
    old = json.loads(before)
    for m in MODELS:
        for k in ("wa_mean", "ua_mean", "f1_macro_mean", "confusion"):
            assert after["models"][m][k] == old["models"][m][k]
    with pytest.raises(AvemotionError, match="another feature store, clip set or training setup"):
        run_compare(features, out, tiny_config(**{"train.folds": 2}), MODELS, latency_clips=())


def test_audio_only_store(tmp_path: Path) -> None:
    make_toy_store(tmp_path / "features", n_clips=24, n_speakers=4, signal=2.0, audio_only_share=1.0)
    rc = main(["--quiet", "compare", "--features", str(tmp_path / "features"), "--out", str(tmp_path / "out"),
               "--models", "bimodal,lstm,dean", "--cv", "2", "--epochs", "2", "--latency-clips", "",
               *[a for k, v in TINY.items() for a in ("--set", f"{k}={v}")]])
    assert rc == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["modality"] == "audio"
    assert all(s["modality"] == "audio" and s["coverage"] == 1.0 for s in res["models"].values())
    assert not (tmp_path / "out" / "latency.png").exists()
    rc = main(["--quiet", "compare", "--features", str(tmp_path / "features"), "--out", str(tmp_path / "out2"),
               "--models", "bimodal,bimodal-video", "--cv", "2", "--epochs", "1", *TINY_ARGS])
    assert rc == 1  # a variant the store cannot serve fails before any training
    assert not (tmp_path / "out2" / "runs").exists()
