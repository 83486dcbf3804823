from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from model_helpers import quiet_torch, tiny_config, toy_clips
from safetensors.torch import save as st_save

from avemotion.data.selection import FeatureSelection
from avemotion.data.standardize import Standardizer
from avemotion.errors import CheckpointError
from avemotion.models.bundle import ModelBundle, load_checkpoint, save_checkpoint
from avemotion.models.predict import predict_clips
from avemotion.models.registry import build_model

quiet_torch()


@pytest.fixture()
def bundle() -> ModelBundle:
    clips, _ = toy_clips(12)
    cfg = tiny_config()
    selection = FeatureSelection.fit(clips, "av", cfg.audio.extractors)
    dims = selection.dims
    torch.manual_seed(3)
    model = build_model("bimodal", dims, 4, cfg.model).eval()
    std = Standardizer.fit(clips, dims)
    return ModelBundle("bimodal", model, cfg, ["anger", "joy", "sadness", "trust"],
                       np.array([0.125, 0.375, 0.625, 0.875]), selection, std, {"fold": 0})


class _Evil:
    def __reduce__(self):  # executed by any unpickler
        import os

        return (os.system, (f"touch {Path(__file__).parent / '.pwned'}",))


def test_round_trip_identical_predictions(bundle: ModelBundle, tmp_path: Path) -> None:
    clips, _ = toy_clips(9, seed=5)
    bundle.save(tmp_path / "model")
    loaded = ModelBundle.load(tmp_path / "model")
    assert loaded.labels == bundle.labels and loaded.dims == bundle.dims
    a = predict_clips(bundle.model, [bundle.selection.apply(c) for c in clips], bundle.dims, bundle.standardizer)
    b = predict_clips(loaded.model, [loaded.selection.apply(c) for c in clips], loaded.dims, loaded.standardizer)
    np.testing.assert_array_equal(a.probs, b.probs)
    np.testing.assert_array_equal(a.contributions, b.contributions)


def test_pickle_renamed_is_refused_and_never_executed(bundle: ModelBundle, tmp_path: Path) -> None:
    bundle.save(tmp_path / "model")
    marker = Path(__file__).parent / ".pwned"
    marker.unlink(missing_ok=True)
    (tmp_path / "model.safetensors").write_bytes(pickle.dumps({"x": _Evil()}))
    with pytest.raises(CheckpointError, match="model.safetensors.*pickle"):
        ModelBundle.load(tmp_path / "model")
    torch.save({"w": torch.zeros(2)}, tmp_path / "model.safetensors")  # a torch zip
    with pytest.raises(CheckpointError, match="model.safetensors"):
        ModelBundle.load(tmp_path / "model")
    assert not marker.exists()


def test_wrong_shapes_and_tampering_are_refused(bundle: ModelBundle, tmp_path: Path) -> None:
    stem = tmp_path / "model"
    bundle.save(stem)
    tensors, meta = load_checkpoint(stem)
    key = next(k for k in tensors if k.startswith("model.") and tensors[k].ndim == 2)
    tensors[key] = torch.zeros(tensors[key].shape[0] + 1, tensors[key].shape[1])
    save_checkpoint(stem, tensors, meta)  # consistent hash, wrong shape
    with pytest.raises(CheckpointError, match=r"model\.safetensors.*shape"):
        ModelBundle.load(stem)
    bundle.save(stem)
    data = bytearray((tmp_path / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        ModelBundle.load(stem)
    # a header that lies about sizes (hash updated to match)
    bad = b"\xff" * 8 + b"{}"
    (tmp_path / "model.safetensors").write_bytes(bad)
    head = json.loads((tmp_path / "model.json").read_text())
    import hashlib

    head["sha256"] = hashlib.sha256(bad).hexdigest()
    (tmp_path / "model.json").write_text(json.dumps(head))
    with pytest.raises(CheckpointError, match="safetensors"):
        ModelBundle.load(stem)


def test_bad_descriptions_are_refused(bundle: ModelBundle, tmp_path: Path) -> None:
    stem = tmp_path / "model"
    with pytest.raises(CheckpointError, match="model.json"):
        ModelBundle.load(stem)
    bundle.save(stem)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="model.json"):
        ModelBundle.load(stem)
    data = st_save({"model.x": torch.zeros(1)})
    (tmp_path / "model.safetensors").write_bytes(data)
    import hashlib

    (tmp_path / "model.json").write_text(json.dumps({"format": "avemotion-checkpoint", "version": 1,
                                                     "sha256": hashlib.sha256(data).hexdigest(),
                                                     "meta": {"kind": "model", "model": "nope"}}))
    with pytest.raises(CheckpointError, match="malformed"):
        ModelBundle.load(stem)


def test_safetensors_whose_header_length_starts_with_0x80_loads(tmp_path: Path) -> None:
    """A safetensors header of 128 + 256k bytes makes the file start with 0x80, pickle's first byte: still
    loaded (found on a real 8-class run whose checkpoint header was 2176 bytes long)."""
    for n in range(1, 400):
        tensors = {f"t{i}": torch.zeros(1) for i in range(n)}
        save_checkpoint(tmp_path / "ck", tensors, {"kind": "test"})
        if (tmp_path / "ck.safetensors").read_bytes()[:1] == b"\x80":
            break
    else:
        pytest.fail("no header length with low byte 0x80 found")
    loaded, meta = load_checkpoint(tmp_path / "ck")
    assert set(loaded) == set(tensors) and meta == {"kind": "test"}
