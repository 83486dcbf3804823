"""Shared helpers for the model / training / checkpoint tests: tiny configs and toy feature stores."""

from __future__ import annotations

import numpy as np
import torch

from avemotion.config import Config
from avemotion.data.dims import FeatureDims
from avemotion.features.record import ClipFeatures
from avemotion.training.toy import toy_clip

TINY = {
    "model.rnn_hidden": 12, "model.lstm_hidden": 16, "model.proj_dim": 16, "model.attn_dim": 8,
    "model.attn_heads": 2, "train.batch_size": 16, "train.lr": 0.005, "train.patience": 6, "train.threads": 1,
    # the toy stores hold the paper's feature groups (MFCC, openSMILE, SoundNet), not Whisper's
    "audio.extractors": ["mfcc", "opensmile", "soundnet"],
}
TINY_ARGS = [arg for k, v in TINY.items()
             for arg in ("--set", f"{k}=[{','.join(v)}]" if isinstance(v, list) else f"{k}={v}")]
DIMS = FeatureDims(12, 40, 10)


def tiny_config(**extra: object) -> Config:
    return Config().with_overrides({**TINY, **extra})


def toy_clips(n: int, seed: int = 0, signal: float = 1.5) -> tuple[list[ClipFeatures], list[int]]:
    rng = np.random.default_rng(seed)
    offset = np.zeros(64)
    clips, labels = [], []
    for i in range(n):
        video = "none" if i % 5 == 4 else "ok"
        clips.append(toy_clip(f"c{i}", i % 4, offset, rng, signal, video))
        labels.append(i % 4)
    return clips, labels


def quiet_torch() -> None:
    torch.set_num_threads(1)
