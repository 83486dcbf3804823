"""Voice activity detection with silero-vad (MIT; its weights ship inside the ``silero-vad`` wheel).

:func:`speech_regions` returns the stretches of a 16 kHz signal where someone speaks. The model is loaded
from the package (TorchScript), offline; a missing ``[session]`` extra raises :class:`~avemotion.errors.MissingExtra`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from avemotion.errors import MissingExtra
from avemotion.features.windows import Span
from avemotion.media.audio import AudioSignal

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


#: silero's window at 16 kHz, and the samples read at a time (a minute)
WINDOW = 512
BLOCK = WINDOW * 1875


def speech_regions(audio: np.ndarray | AudioSignal, *, threshold: float = 0.5, min_speech: float = 0.25,
                   min_silence: float = 0.3, pad: float = 0.05) -> list[Span]:
    """Speech stretches ``(start, end)`` in seconds of a mono 16 kHz signal (an array, or an
    :class:`~avemotion.media.audio.AudioSignal` on disk), sorted and not overlapping.

    ``threshold``: silero's speech probability; stretches shorter than ``min_speech`` are dropped, pauses
    shorter than ``min_silence`` do not split a stretch; each stretch is padded by ``pad`` seconds. The signal
    is read a minute at a time and the model steps through it window by window, its state carried on, as
    ``silero_vad.get_speech_timestamps`` does over a whole array (the same probabilities, then its own rules).
    """
    model = _model()  # first: raises MissingExtra without the package
    import silero_vad
    import torch

    model.reset_states()
    n = len(audio)
    probs: list[float] = []
    with torch.inference_mode():
        for a in range(0, n, BLOCK):
            block = torch.from_numpy(np.ascontiguousarray(audio[a:a + BLOCK], dtype=np.float32))
            for s in range(0, len(block), WINDOW):
                chunk = block[s:s + WINDOW]
                if len(chunk) < WINDOW:
                    chunk = torch.nn.functional.pad(chunk, (0, WINDOW - len(chunk)))
                probs.append(model(chunk, SAMPLE_RATE).item())
        stamps = silero_vad.get_speech_timestamps_from_probs(
            probs, sampling_rate=SAMPLE_RATE, threshold=threshold, min_speech_duration_ms=int(min_speech * 1000),
            min_silence_duration_ms=int(min_silence * 1000), speech_pad_ms=int(pad * 1000),
            max_speech_duration_s=float("inf"), return_seconds=False, time_resolution=1, visualize_probs=False,
            neg_threshold=None, min_silence_at_max_speech=98, use_max_poss_sil_at_max_speech=True,
            audio_length_samples=n, step=1)
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]
