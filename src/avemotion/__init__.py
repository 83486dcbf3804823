"""avemotion: audio-video (bimodal) emotion recognition.

Pipeline stages live in sub-packages named after them:
``media`` (decoding) -> ``features.audio`` / ``features.video`` -> ``data`` (corpora, splits, feature store)
-> ``models`` (the bimodal method and baselines) -> ``training`` (training and evaluation)
-> ``inference`` (prediction on new files) ; ``cli`` ties them to the ``avemotion`` command.

The Python API (:mod:`avemotion.inference.api`) is exported here lazily, so ``import avemotion`` stays light::

    import avemotion
    r = avemotion.predict("clip.mp4")          # .emotion, .confidence, .probabilities, .to_dict()
    df = avemotion.timeline("session.mp4")      # pandas DataFrame, one row per window
    s = avemotion.session("session.mp4")        # .speakers, .segments, .to_html() (the [session] extra)
    avemotion.bundled_models()                  # the models shipped with the package
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it (imported on first use)
_LAZY = {
    "predict": "avemotion.inference.api",
    "timeline": "avemotion.inference.api",
    "session": "avemotion.inference.api",
    "load_model": "avemotion.inference.api",
    "Prediction": "avemotion.inference.predict",
    "bundled_models": "avemotion.inference.bundled",
    "resolve_model": "avemotion.inference.bundled",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'avemotion' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
