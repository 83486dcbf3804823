"""The ``soundnet`` audio extractor: time-resolved activations of a SoundNet-8 layer (paper eq. 6).

The network, its weights and its geometry are in :mod:`avemotion.features.nets.soundnet`; this module turns
a clip into the layer's rows (wrap-padded so that edge rows are not artefacts) and their clip mean.
"""

from __future__ import annotations

import numpy as np
import torch

from avemotion.config import SoundNetConfig
from avemotion.features import AUDIO_EXTRACTORS
from avemotion.features.audio.common import AudioExtractor, ExtractorOutput, Stream, finite
from avemotion.features.nets.soundnet import (
    LAYERS,
    SAMPLE_RATE,
    SoundNet8,
    frame_geometry,
    receptive_field,
    shared_model,
    to_tensor,
    wrap_pad,
)


def layer_stream(
    audio: np.ndarray, layer: str = "conv7", model: SoundNet8 | None = None, sample_rate: int = SAMPLE_RATE
) -> Stream:
    """Time-resolved ``layer`` activations of a [-1, 1] signal at 22.05 kHz.

    Rows near the ends of a zero-padded input are artefacts (a conv7 row that sees mostly padding has
    activations ten times the usual size), so the clip is wrap-padded by half the layer's receptive field
    on both sides and only rows centred inside the clip are kept (at least the one nearest its middle).
    """
    model = model or shared_model()
    n = len(audio)
    offset, hop = frame_geometry(layer)
    margin = receptive_field(layer) // 2 + 1
    with torch.inference_mode():
        act = model.fast_features(to_tensor(wrap_pad(audio, margin, margin)), layer)[0].T.numpy()  # (T, C)
    centres = offset + hop * np.arange(act.shape[0]) - margin  # in clip samples
    keep = (centres >= 0) & (centres < n)
    if not keep.any():
        keep[int(np.argmin(np.abs(centres - n / 2.0)))] = True
    return Stream(act[keep], centres[keep] / sample_rate, f"soundnet:{layer}")


@AUDIO_EXTRACTORS.register("soundnet")
class SoundNetExtractor(AudioExtractor):
    """Sequence: the activations of the section's ``layer``. Vector: their mean over the clip."""

    name = "soundnet"
    config_type = SoundNetConfig

    def __init__(self, config: SoundNetConfig | None = None, sample_rate: int | None = None) -> None:
        super().__init__(config, sample_rate)
        self.sample_rate = self.config.sample_rate
        self.layer = self.config.layer

    @property
    def seq_dim(self) -> int:
        return next(s.out_ch for s in LAYERS if s.name == self.layer)

    @property
    def vec_dim(self) -> int:
        return self.seq_dim

    def analyse(self, audio: np.ndarray) -> ExtractorOutput:
        stream = layer_stream(audio, self.layer, sample_rate=self.sample_rate)
        stream.values = finite(stream.values)
        return ExtractorOutput([stream], finite(stream.values.mean(axis=0)), {"rows": len(stream.times)})
