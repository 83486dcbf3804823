"""Independent references for the expression-CNN port check (tests only): the Keras graph evaluated in plain
numpy from the HDF5 file, and the wheel's quantised TFLite model run by MediaPipe's bundled TFLite runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avemotion.errors import ModelFileMissing
from avemotion.features.nets.expression_cnn import (
    BN_EPS,
    FER_CLASSES,
    INPUT_SIZE,
    _same_pad,
    default_weights_path,
    fer_data_dir,
    read_keras_layers,
    read_keras_weights,
)


def reference_tflite_path() -> Path:
    return fer_data_dir() / "emotion_model_quantized.tflite"


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
