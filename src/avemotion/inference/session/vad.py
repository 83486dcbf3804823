"""Voice activity detection with silero-vad (MIT; its weights ship inside the ``silero-vad`` wheel).

:func:`speech_regions` returns the stretches of a 16 kHz signal where someone speaks. The model is loaded
from the package (TorchScript), offline; a missing ``[session]`` extra raises :class:`~avemotion.errors.MissingExtra`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from avemotion.errors import MissingExtra
from avemotion.features.windows import Span

SAMPLE_RATE = 16000


#: what to install when the session packages are missing
INSTALL_HINT = ("session analysis needs the [session] extra: pip install 'avemotion[session]' && "
                "pip install --no-deps resemblyzer==0.1.4")


def missing_extra(package: str, exc: ImportError) -> MissingExtra:
    """The error for a session package that cannot be imported."""
    return MissingExtra(f"{INSTALL_HINT} ({package} is not installed: {exc})")


@lru_cache(maxsize=1)
def _model():  # silero's TorchScript model
    try:
        import silero_vad
    except ImportError as exc:
        raise missing_extra("silero-vad", exc) from None
    return silero_vad.load_silero_vad(onnx=False)


def speech_regions(audio: np.ndarray, *, threshold: float = 0.5, min_speech: float = 0.25,
                   min_silence: float = 0.3, pad: float = 0.05) -> list[Span]:
    """Speech stretches ``(start, end)`` in seconds of a mono 16 kHz signal, sorted and not overlapping.

    ``threshold``: silero's speech probability; stretches shorter than ``min_speech`` are dropped, pauses
    shorter than ``min_silence`` do not split a stretch; each stretch is padded by ``pad`` seconds.
    """
    model = _model()  # first: raises MissingExtra without the package
    import silero_vad
    import torch

    model.reset_states()
    with torch.inference_mode():
        stamps = silero_vad.get_speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)), model, threshold=threshold,
            sampling_rate=SAMPLE_RATE, min_speech_duration_ms=int(min_speech * 1000),
            min_silence_duration_ms=int(min_silence * 1000), speech_pad_ms=int(pad * 1000))
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]
