"""Bundled models (resolve_model, `avemotion models`, predict without --model), relabelling, the Python API.

The bundled root is pointed at a tmp folder holding a tiny untrained basic7 model (audio only, light
features) with a card written here; nothing under src/avemotion/pretrained is used.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from model_helpers import quiet_torch, tiny_config
from pipeline_helpers import speechlike

from avemotion.cli.main import main
from avemotion.errors import AvemotionError, CheckpointError, ConfigError
from avemotion.inference.bundled import bundled_models, describe_model, resolve_model
from avemotion.inference.predict import Prediction
from avemotion.inference.relabel import available_mappings, model_label_set, relabeller
from avemotion.labels import BASIC7, PAPER9
from avemotion.media.write import write_media

quiet_torch()

FAST = {"audio.opensmile.sets": ["IS09"], "audio.soundnet.enabled": False, "audio.extractors": ["mfcc", "opensmile"],
        "video.face.expression_cnn": False, "train.modality": "audio", "label_set": "basic7"}
CARD = {"name": "default", "summary": "tiny test model", "label_set": "basic7", "labels": list(BASIC7.labels),
        "modalities": "audio", "training_data": ["RAVDESS speech", "CREMA-D"], "protocol": "speaker-grouped 5-fold",
        "metrics": {"ravdess": {"wa": 0.71, "ua": 0.69}, "cremad": {"audio": {"wa": 0.5, "ua": 0.48}}},
        "licence": "CC BY-NC-SA 4.0", "card": "docs/models/default.md"}


def _wav(path: Path, seconds: float = 1.0, seed: int = 0, f0: float = 140.0) -> Path:
    return write_media(path, None, audio=speechlike(seconds, seed=seed, f0=f0), sample_rate=16000)


def _tiny_model(folder: Path, config_label_set: str = "basic7") -> Path:
    """An untrained audio-only bimodal model over basic7 with its standardiser fitted on two generated voices."""
    import torch

    from avemotion.data.extract import extract_clip
    from avemotion.data.selection import FeatureSelection
    from avemotion.data.standardize import Standardizer
    from avemotion.models.bundle import ModelBundle
    from avemotion.models.registry import build_model

    cfg = tiny_config(**{**FAST, "label_set": config_label_set})
    folder.mkdir(parents=True, exist_ok=True)
    clips = [extract_clip(_wav(folder / f"v{i}.wav", seed=i, f0=120 + 60 * i), cfg, "audio") for i in range(2)]
    selection = FeatureSelection.fit(clips, "audio", cfg.audio.extractors)
    std = Standardizer.fit([selection.apply(c) for c in clips], selection.dims)
    torch.manual_seed(0)
    model = build_model("bimodal", selection.dims, len(BASIC7), cfg.model).eval()
    bundle = ModelBundle("bimodal", model, cfg, list(BASIC7.labels), None, selection, std, {"fold": "all"})
    bundle.save(folder / "model")
    for wav in folder.glob("v*.wav"):
        wav.unlink()
    return folder


@pytest.fixture(scope="module")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pretrained")
    default = _tiny_model(root / "default")
    (default / "card.json").write_text(json.dumps(CARD))
    other = root / "other"
    other.mkdir()
    for f in ("model.json", "model.safetensors"):
        (other / f).write_bytes((default / f).read_bytes())
    (other / "card.json").write_text(json.dumps({**CARD, "name": "other", "metrics": {}}))
    (root / "incomplete").mkdir()  # no card / weights: not a bundled model
    (root / "incomplete" / "model.json").write_text("{}")
    return root


@pytest.fixture()
def bundled(model_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from avemotion.inference import api

    monkeypatch.setattr("avemotion.inference.bundled.bundled_root", lambda: model_root)
    api.clear_cache()
    return model_root


@pytest.fixture()
def none_bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("avemotion.inference.bundled.bundled_root", lambda: tmp_path / "absent")


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _wav(tmp_path_factory.mktemp("voice") / "voice.wav", seconds=1.5, seed=7)


# --- resolve_model -----------------------------------------------------------------------------------------
def test_resolve_model(bundled: Path, tmp_path: Path) -> None:
    assert [m.name for m in bundled_models()] == ["default", "other"]
    assert resolve_model(None) == bundled / "default"
    assert resolve_model("other") == bundled / "other"
    assert resolve_model(tmp_path) == tmp_path  # an existing path is itself
    assert describe_model(bundled / "default") == "default (bundled)" and describe_model(tmp_path) == str(tmp_path)
    with pytest.raises(CheckpointError) as err:
        resolve_model("nosuch")
    assert "nosuch" in str(err.value) and "default, other" in str(err.value)


def test_resolve_model_without_bundled_models(none_bundled: None) -> None:
    assert bundled_models() == []
    with pytest.raises(CheckpointError, match="--model RUNDIR"):
        resolve_model(None)
    with pytest.raises(CheckpointError, match="no bundled models are installed"):
        resolve_model("default")


def test_broken_card_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    for f in ("model.json", "model.safetensors"):
        (folder / f).write_text("x")
    (folder / "card.json").write_text("{not json")
    monkeypatch.setattr("avemotion.inference.bundled.bundled_root", lambda: tmp_path)
    with pytest.raises(CheckpointError, match="card.json"):
        bundled_models()


# --- avemotion models --------------------------------------------------------------------------------------
def test_models_command(bundled: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # rich would wrap the cells at 80
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for text in ("default (default)", "other", "basic7", "RAVDESS speech", "speaker-grouped", "CC BY-NC-SA",
                 "ravdess: wa 0.710, ua 0.690", "cremad / audio: wa 0.500", "docs/models/default.md"):
        assert text in out, text
    assert main(["models", "--json"]) == 0
    cards = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in cards] == ["default", "other"]
    assert cards[0]["metrics"] == CARD["metrics"] and cards[0]["folder"] == str(bundled / "default")


def test_models_command_without_models(none_bundled: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    assert "no bundled models" in capsys.readouterr().out
    assert main(["models", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


# --- relabelling -------------------------------------------------------------------------------------------
def _pred(probs: dict[str, float]) -> Prediction:
    labels = list(probs)
    k = max(labels, key=probs.get)
    audio = {lab: 1 / len(labels) for lab in labels}
    fused = {lab: 2 * probs[lab] - audio[lab] for lab in labels}  # 0.5 fused + 0.5 audio = probs
    return Prediction("c", k, probs[k], probs, {"fused": fused, "audio": audio},
                      {"fused": 0.5, "audio": 0.5, "video": 0.0}, "av",
                      weights={"fused": 0.5, "audio": 0.5, "video": 0.0})


def test_relabel_basic7_to_paper9_sums_and_argmax() -> None:
    r = relabeller(list(BASIC7.labels), "basic7", "paper9")
    assert r is not None and r.target_labels == PAPER9.labels
    # surprised is the top basic7 class, but neutral... -> trust; a many-to-one mapping sums
    probs = dict(zip(BASIC7.labels, [0.25, 0.1, 0.05, 0.1, 0.1, 0.1, 0.3], strict=True))
    out = r.prediction(_pred(probs))
    assert out.probabilities["trust"] == pytest.approx(0.25) and out.probabilities["surprise"] == pytest.approx(0.3)
    assert out.probabilities["anxiety"] == 0.0 and out.probabilities["anticipation"] == 0.0
    assert sum(out.probabilities.values()) == pytest.approx(1.0)
    assert out.emotion == "surprise" and out.confidence == pytest.approx(0.3)
    assert set(out.heads) == {"fused", "audio"} and set(out.heads["audio"]) == set(PAPER9.labels)
    assert sum(out.heads["fused"].values()) == pytest.approx(1.0)
    # contributions for the new class: w_h P_h[K] / sum; audio is uniform (1/7), fused = 2 * 0.3 - 1/7
    fused, audio = 0.5 * (0.6 - 1 / 7), 0.5 / 7
    assert out.contributions["fused"] == pytest.approx(fused / (fused + audio))
    assert out.extra == {"label_set": "paper9", "mapped_from": "basic7"} and out.to_dict()["label_set"] == "paper9"


def test_relabel_many_to_one_changes_the_argmax(tmp_path: Path) -> None:
    """ravdess8 -> paper9 maps neutral and calm both onto trust: their sum beats the single top class."""
    labels = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
    r = relabeller(labels, model_label_set(labels, None), "paper9")  # found as ravdess_to_paper9
    assert r is not None and r.source == "ravdess8"
    probs = dict(zip(labels, [0.2, 0.2, 0.3, 0.1, 0.05, 0.05, 0.05, 0.05], strict=True))
    out = r.prediction(_pred(probs))
    assert out.emotion == "trust" and out.confidence == pytest.approx(0.4)
    assert out.probabilities["joy"] == pytest.approx(0.3)


def test_relabel_identity_unknown_and_incomplete(tmp_path: Path) -> None:
    assert relabeller(list(BASIC7.labels), "basic7", "basic7") is None
    with pytest.raises(ConfigError) as err:
        relabeller(list(BASIC7.labels), "basic7", "iemocap4")
    assert "basic7_to_iemocap4" in str(err.value) and "paper9" in str(err.value)
    assert available_mappings("basic7") == ["basic7_to_paper9"]
    # a mapping YAML of one's own that leaves a label out
    own = tmp_path / "mine.yaml"
    own.write_text("target: iemocap4\nmap: {neutral: neutral, happy: happy, sad: sad, angry: angry}\n")
    with pytest.raises(ConfigError, match="fearful"):
        relabeller(list(BASIC7.labels), "basic7", str(own))


def test_model_label_set() -> None:
    assert model_label_set(list(BASIC7.labels), None, "paper9") == "basic7"  # the run config's stale default
    assert model_label_set(list(BASIC7.labels), "basic7") == "basic7"
    assert model_label_set(["a", "b"], None, "paper9") is None
    assert model_label_set(["a", "b"], "mine") == "mine"  # a card's own set is trusted


# --- avemotion predict with the bundled model --------------------------------------------------------------
def test_predict_without_model_uses_the_bundled_default(bundled: Path, voice: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["--quiet", "predict", str(voice)]) == 0
    out = capsys.readouterr().out
    assert "model: default (bundled)" in out and "voice.wav" in out
    assert main(["--quiet", "predict", "--model", "other", "--labels", "paper9", "--json", str(voice)]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["model"] == "other (bundled)" and set(row["probabilities"]) == set(PAPER9.labels)
    assert row["emotion"] == max(row["probabilities"], key=row["probabilities"].get)
    assert row["probabilities"]["anxiety"] == 0.0 and row["label_set"] == "paper9"


def test_predict_unknown_mapping_and_no_model(bundled: Path, voice: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert main(["predict", "--labels", "cremad6", str(voice)]) == 1
    err = capsys.readouterr().err
    assert "basic7_to_cremad6" in err and "paper9" in err
    monkeypatch.setattr("avemotion.inference.bundled.bundled_root", lambda: tmp_path / "absent")
    assert main(["predict", str(voice)]) == 1
    assert "--model RUNDIR" in capsys.readouterr().err


def test_predict_timeline_with_mapped_labels(bundled: Path, voice: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quiet", "predict", "--labels", "paper9", "--window", "1.0", "--hop", "0.5",
                 "--timeline-dir", str(tmp_path), str(voice)]) == 0
    assert "model: default (bundled); labels: paper9 (mapped from basic7)" in capsys.readouterr().out
    with open(tmp_path / "voice.timeline.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    for row in rows:
        probs = [float(row[f"p_{lab}"]) for lab in PAPER9.labels]
        assert row["emotion"] == PAPER9.labels[int(np.argmax(probs))] and row["p_anxiety"] == "0.0000"
    assert (tmp_path / "voice.timeline.png").stat().st_size > 1000


# --- the Python API ----------------------------------------------------------------------------------------
def test_api_predict(bundled: Path, voice: Path, tmp_path: Path) -> None:
    import avemotion
    from avemotion.inference import api

    r = avemotion.predict(voice)
    assert isinstance(r, avemotion.Prediction) and r.emotion in BASIC7.labels
    assert r.probabilities[r.emotion] == pytest.approx(r.confidence) and r.to_dict()["source"] == str(voice)
    assert api.load_model() is api.load_model(bundled / "default")  # one Predictor per model folder
    mapped = avemotion.predict(voice, labels="paper9")
    assert set(mapped.probabilities) == set(PAPER9.labels)
    assert mapped.probabilities["trust"] == pytest.approx(r.probabilities["neutral"])
    (tmp_path / "empty.wav").write_bytes(b"")
    results = avemotion.predict([voice, tmp_path / "empty.wav"], model="other")
    assert isinstance(results[0], Prediction) and isinstance(results[1], AvemotionError)
    assert "empty.wav" in str(results[1])
    with pytest.raises(AvemotionError, match="empty.wav"):
        avemotion.predict(tmp_path / "empty.wav")
    with pytest.raises(AvemotionError, match="empty.wav"):
        avemotion.predict([voice, tmp_path / "empty.wav"], errors="raise")
    with pytest.raises(ConfigError, match="basic7_to_nosuch"):
        avemotion.predict(voice, labels="nosuch")


def test_api_timeline(bundled: Path, tmp_path: Path) -> None:
    import pandas as pd

    import avemotion

    audio = np.concatenate([speechlike(1.0, seed=1), np.zeros(16000, np.float32), speechlike(1.0, seed=2)])
    wav = write_media(tmp_path / "gap.wav", None, audio=audio, sample_rate=16000)
    df = avemotion.timeline(wav, window=1.0)
    assert list(df.columns) == ["start", "end", "emotion", "confidence", *(f"p_{lab}" for lab in BASIC7.labels),
                                "contribution_fused", "contribution_audio", "contribution_video",
                                "modalities_used", "note", "error"]
    assert len(df) == 5 and df["start"].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]  # hop: half the window
    silent = df[df["start"] == 1.0].iloc[0]
    assert pd.isna(silent["emotion"]) and np.isnan(silent["p_happy"]) and "silent" in silent["error"]
    ok = df[df["emotion"].notna()]
    assert len(ok) >= 2 and np.allclose(ok[[f"p_{lab}" for lab in BASIC7.labels]].sum(axis=1), 1.0, atol=1e-6)
    assert (ok["modalities_used"] == "audio").all()
    mapped = avemotion.timeline(wav, window=1.0, hop=1.0, labels="paper9")
    assert len(mapped) == 3 and "p_trust" in mapped.columns and "p_neutral" not in mapped.columns
    assert (mapped.dropna(subset=["p_anxiety"])["p_anxiety"] == 0.0).all()


def test_import_avemotion_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, avemotion; assert 'predict' in dir(avemotion); "
            "print([m for m in ('torch', 'pandas', 'numpy') if m in sys.modules])")
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"}).stdout
    assert out.strip() == "[]"
