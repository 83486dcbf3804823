"""The ``whisper`` audio extractor: Whisper tiny.en encoder states as audio features (beyond the paper; see
docs/method/audio.md). The encoder port and its weights are in :mod:`avemotion.features.nets.whisper`.
"""

from __future__ import annotations

import numpy as np

from avemotion.config import WhisperConfig
from avemotion.errors import ConfigError
from avemotion.features import AUDIO_EXTRACTORS
from avemotion.features.audio.common import AudioExtractor, ExtractorOutput, Stream, finite
from avemotion.features.nets.whisper import SAMPLE_RATE, encode, shared_encoder


def active_steps(level_db: np.ndarray, active_db: float | None) -> np.ndarray:
    """Mask of the steps within ``active_db`` dB of the loudest one (all steps when None)."""
    if active_db is None:
        return np.ones(level_db.shape, dtype=bool)
    return level_db > -float(active_db)


@AUDIO_EXTRACTORS.register("whisper")
class WhisperExtractor(AudioExtractor):
    """Sequence: the mean of the section's ``layers`` hidden states (one row per 20 ms). Vector: their mean and
    standard deviation over the active steps (within ``active_db`` dB of the loudest step)."""

    name = "whisper"
    config_type = WhisperConfig
    sample_rate = SAMPLE_RATE

    def __init__(self, config: WhisperConfig | None = None, sample_rate: int | None = None) -> None:
        super().__init__(config, sample_rate)
        self.layers = tuple(dict.fromkeys(int(k) for k in self.config.layers))
        self.active_db = self.config.active_db
        self.encoder = shared_encoder()
        bad = [k for k in self.layers if not 0 <= k <= self.encoder.n_layers]
        if bad or not self.layers:
            raise ConfigError(f"audio.whisper.layers must be non-empty, each 0..{self.encoder.n_layers}; "
                              f"got {list(self.config.layers)}")

    @property
    def width(self) -> int:
        return int(self.encoder.positions.shape[1])

    @property
    def seq_dim(self) -> int:
        return self.width

    @property
    def vec_dim(self) -> int:
        return 2 * self.width

    def analyse(self, audio: np.ndarray) -> ExtractorOutput:
        enc = encode(audio, self.layers, self.encoder)
        seq = finite(np.mean(enc.states, axis=0) if len(enc.states) > 1 else enc.states[0])
        active = active_steps(enc.level_db, self.active_db)
        pooled = seq[active]
        vec = np.concatenate([pooled.mean(axis=0), pooled.std(axis=0)])
        info = {"steps": len(enc.times), "active_steps": int(active.sum())}
        return ExtractorOutput([Stream(seq, enc.times, "whisper")], finite(vec), info)
