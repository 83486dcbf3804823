"""The model shipped in the package (avemotion/pretrained/default), used when no --model is given.

It is built by `make pretrained` (training/recipes.py) and committed; these tests check what a user gets from
it on generated media: audio-only files, silent face videos (the expression CNN zero-shot) and audio-video.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pipeline_helpers import face_frames, make_face_clip, speechlike

from avemotion.cli.main import main
from avemotion.inference.bundled import bundled_models
from avemotion.labels import get_label_set
from avemotion.media.write import write_media

BASIC7 = list(get_label_set("basic7").labels)
pytestmark = pytest.mark.skipif(not any(m.name == "default" for m in bundled_models()),
                                reason="no bundled default model in this installation (make pretrained)")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("default_model")
    wav = root / "voice.wav"
    sf.write(wav, speechlike(2.5, seed=3), 16000)
    silent = write_media(root / "silent_face.mp4", face_frames(30, seed=1), fps=15)
    av = make_face_clip(root / "face_voice.mp4", seconds=2.0, seed=2)
    return {"audio": wav, "video": silent, "av": av}


def _predict(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["--quiet", "predict", *args, "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert len(lines) == 1
    return lines[0]


def test_card_lists_the_model_and_speaker_independent_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    cards = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    card = cards["default"]
    assert card["label_set"] == "basic7" and card["labels"] == BASIC7
    assert "non-commercial" in card["licence"] and "speaker" in card["protocol"]
    ravdess = card["metrics"]["ravdess / audio"]
    assert ravdess["n"] >= 700 and 1 / 7 < ravdess["ua"] <= 1  # well above chance (1/7) on held-out actors


def test_audio_only_file(media: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    p = _predict(capsys, str(media["audio"]))
    assert p["modalities_used"] == "audio" and set(p["probabilities"]) == set(BASIC7)
    assert abs(sum(p["probabilities"].values()) - 1) < 1e-5 and p["contributions"]["audio"] == pytest.approx(1.0)


def test_silent_face_video_uses_the_expression_cnn(media: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    p = _predict(capsys, str(media["video"]))
    assert p["modalities_used"] == "video" and p["contributions"]["video"] == pytest.approx(1.0)
    assert p["heads"]["video"] == pytest.approx(p["probabilities"], abs=1e-6)


def test_audio_video_fuses_both_heads_and_maps_to_paper9(media: dict[str, Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    p = _predict(capsys, str(media["av"]))
    assert p["modalities_used"] == "av" and set(p["heads"]) == {"audio", "video"}
    # decision rule reliability (no fused head): 0.6 / 0.4 each times its head's 1 - normalised entropy
    def sure(h: str) -> float:
        q = np.clip(np.array(list(p["heads"][h].values())), 1e-12, 1)
        return 1 + float((q * np.log(q)).sum()) / np.log(len(q))

    wa, wv = 0.6 * sure("audio"), 0.4 * sure("video")
    mix = {k: (wa * p["heads"]["audio"][k] + wv * p["heads"]["video"][k]) / (wa + wv) for k in BASIC7}
    assert mix == pytest.approx(p["probabilities"], abs=1e-5)
    q = _predict(capsys, str(media["av"]), "--labels", "paper9")
    assert q["probabilities"]["anxiety"] == 0 and q["probabilities"]["trust"] == pytest.approx(
        p["probabilities"]["neutral"], abs=1e-6)
    assert q["probabilities"]["joy"] == pytest.approx(p["probabilities"]["happy"], abs=1e-6)


def test_real_ravdess_clip_without_model(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = shared_data / "ravdess_sample" / "01-01-01-01-01-01-01.mp4"
    if not clip.is_file():
        pytest.skip("RAVDESS audio-video sample missing")
    p = _predict(capsys, str(clip))
    assert p["modalities_used"] == "av" and p["emotion"] in BASIC7
    assert np.isclose(sum(p["probabilities"].values()), 1.0)


def test_saved_before_speed_views_predicts_without_them() -> None:
    """The shipped model was trained before ``audio.speed_views`` existed: it loads with none, so it extracts and
    predicts exactly as it was measured (its card's figures)."""
    from avemotion.inference.bundled import resolve_model
    from avemotion.inference.predict import Predictor

    predictor = Predictor.load(resolve_model(None))
    assert predictor.config.audio.speed_views == [] and predictor.bundle.selection.speeds == []
