"""The Python API for notebooks and scripts, exported lazily by the package (``avemotion.predict`` etc.).

::

    import avemotion
    r = avemotion.predict("clip.mp4")                  # the bundled default model
    print(r.emotion, r.confidence, r.probabilities)
    rs = avemotion.predict(["a.mp4", "b.wav"], model="run/", labels="paper9")
    df = avemotion.timeline("session.mp4", window=3.0)  # a pandas DataFrame, one row per window
    s = avemotion.session("session.mp4")               # who speaks when, each speaker's emotions (needs [session])
    s.speakers, s.segments, s.to_html(), s.to_json()

``model`` is a run folder of ``avemotion train``, the name of a bundled model (``avemotion.bundled_models()``)
or None for the bundled ``default``; ``labels`` reports the answer in another label set through a built-in
mapping (:mod:`avemotion.inference.relabel`). Loaded models are cached per model folder (reloaded when its
``model.json`` changes). The CLI uses the same :func:`load_model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

from avemotion.data.extract import extract_clip
from avemotion.errors import AvemotionError
from avemotion.inference.bundled import BundledModel, bundled_model_at, describe_model, resolve_model
from avemotion.inference.predict import Prediction, Predictor
from avemotion.inference.relabel import Relabeller, model_label_set, relabeller
from avemotion.inference.timeline import WindowPrediction, predict_timeline
from avemotion.inference.timeline_report import timeline_frame

if TYPE_CHECKING:
    import pandas as pd

    from avemotion.inference.session.result import SessionResult


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to predict, with where it came from."""

    predictor: Predictor
    folder: Path
    bundled: BundledModel | None

    @property
    def description(self) -> str:
        """``default (bundled)``, or the run folder's path."""
        return describe_model(self.folder, self.bundled) if self.bundled is not None else str(self.folder)

    @property
    def labels(self) -> list[str]:
        """The model's class labels, in its output order."""
        return list(self.predictor.bundle.labels)

    @property
    def label_set(self) -> str | None:
        """The model's label set: its card's, or the registered set with exactly its labels."""
        hints = [self.bundled.label_set if self.bundled is not None else None, self.predictor.config.label_set]
        return model_label_set(self.labels, *hints)

    def relabeller(self, labels: str | None) -> Relabeller | None:
        """None when ``labels`` is None or the model's own label set."""
        return None if labels is None else relabeller(self.labels, self.label_set, labels)

    def output_labels(self, labels: str | None) -> list[str]:
        """The labels answers are reported in: ``labels``' set when given, else the model's own."""
        r = self.relabeller(labels)
        return self.labels if r is None else list(r.target_labels)


_CACHE: dict[tuple[Path, int], LoadedModel] = {}


def load_model(model: str | Path | None = None) -> LoadedModel:
    """The model ``model`` names (see the module doc), loaded once per folder and ``model.json`` version."""
    folder = resolve_model(model)
    js = folder / "model.json" if folder.is_dir() else folder.with_suffix(".json")
    key = (folder.resolve(), js.stat().st_mtime_ns if js.is_file() else 0)
    if key not in _CACHE:
        for old in [k for k in _CACHE if k[0] == key[0]]:
            del _CACHE[old]
        _CACHE[key] = LoadedModel(Predictor.load(folder), folder, bundled_model_at(folder))
    return _CACHE[key]


def clear_cache() -> None:
    """Forget the loaded models (the next call loads them again)."""
    _CACHE.clear()


@overload
def predict(path: str | Path, *, model: str | Path | None = ..., labels: str | None = ...,
            errors: Literal["return", "raise"] = ...) -> Prediction: ...
@overload
def predict(path: Sequence[str | Path], *, model: str | Path | None = ..., labels: str | None = ...,
            errors: Literal["return", "raise"] = ...) -> list[Prediction | AvemotionError]: ...


def predict(path, *, model=None, labels=None, errors="return"):  # typed by the overloads
    """The emotion of one media file (a :class:`Prediction`), or of each file of a list.

    One path: an unreadable file, or one with nothing the model can use, raises the :class:`AvemotionError`
    naming it. A list: one entry per path, in order; a file that failed has its :class:`AvemotionError` in its
    place (``[r for r in results if isinstance(r, Prediction)]`` keeps the answers), unless ``errors="raise"``,
    which raises the first failure. ``labels``: report in another label set (e.g. ``"paper9"``).
    """
    if errors not in ("return", "raise"):
        raise ValueError("errors must be 'return' or 'raise'")
    loaded = load_model(model)
    mapper = loaded.relabeller(labels)
    if isinstance(path, (str, Path)):
        return _predict_one(loaded, Path(path), mapper)
    results: list[Prediction | AvemotionError] = []
    for p in path:
        try:
            results.append(_predict_one(loaded, Path(p), mapper))
        except AvemotionError as exc:
            if errors == "raise":
                raise
            results.append(exc)
    return results


def _predict_one(loaded: LoadedModel, path: Path, mapper: Relabeller | None) -> Prediction:
    predictor = loaded.predictor
    features = extract_clip(path, predictor.config, predictor.bundle.selection.modality)
    pred = predictor.predict(features, source=str(path))
    return pred if mapper is None else mapper.prediction(pred)


def predict_windows(loaded: LoadedModel, path: str | Path, window: float = 3.0, hop: float | None = None, *,
                    labels: str | None = None, workers: int = 1) -> list[WindowPrediction]:
    """The timeline of one recording as :class:`WindowPrediction` s, in ``labels`` when given."""
    mapper = loaded.relabeller(labels)
    result = predict_timeline(loaded.predictor, path, window, hop if hop is not None else window / 2, workers=workers)
    return result if mapper is None else [mapper.window(w) for w in result]


def timeline(path: str | Path, *, window: float = 3.0, hop: float | None = None, model: str | Path | None = None,
             labels: str | None = None, workers: int = 1) -> pd.DataFrame:
    """The emotion per moment of a recording, as a DataFrame.

    One row per window of ``window`` seconds every ``hop`` seconds (default half the window). Columns:
    ``start``, ``end`` (seconds), ``emotion``, ``confidence``, ``p_<label>`` per class, ``contribution_fused`` /
    ``_audio`` / ``_video``, ``modalities_used``, ``note``, ``error``. A window without usable signal (silence and
    no face, say) has no emotion, NaN probabilities and its reason in ``error``.
    ``workers=2`` analyses the second half of a video recording (the audio features of an audio file) in a
    second, spawned process, faster on long recordings; a script doing so needs the
    ``if __name__ == "__main__":`` guard.
    """
    loaded = load_model(model)
    return timeline_frame(predict_windows(loaded, path, window, hop, labels=labels, workers=workers),
                          loaded.output_labels(labels))


def session(path: str | Path, *, model: str | Path | None = None, speakers: int | None = None,
            max_segment: float = 4.0, names: dict[str, str] | None = None, faces: bool = True,
            adapt: str | None = None) -> SessionResult:
    """Who speaks when in a recording, and each speaker's emotions, valence and arousal over time.

    Voice activity (silero-vad), speaker diarization (resemblyzer embeddings; the number of speakers found
    from the recording unless ``speakers`` gives it), then the emotion of each speech segment (turns cut into
    pieces of at most ``max_segment`` seconds) from ``model`` on the voice. In a video the faces are tracked
    too (``faces=False`` skips them): each speech segment's ``face`` says which face was seen, whether it is
    the one speaking, and its expression; voice and face are combined only for a speaking face. Returns a
    ``SessionResult``:
    ``.speakers`` (per-speaker summaries), ``.segments`` (a pandas DataFrame; pauses have speaker None),
    ``.to_json()``, ``.to_html()``, ``.to_rttm()``, ``.save(out_dir)``. ``names`` renames speakers
    (``{"S1": "client"}``; ids given one name are merged), as ``.with_speaker_names`` does. ``adapt``:
    ``"speaker"`` answers each speaker's segments together with the speaker's own statistics when the model was
    trained with speaker normalisation, ``"none"`` one at a time (None: the session default,
    ``avemotion.inference.session.adapt.DEFAULT_ADAPT``); ``.adaptation`` says what was done. Needs the
    ``[session]`` extra (``pip install 'avemotion[session]'``; :class:`~avemotion.errors.MissingExtra`
    otherwise); raises :class:`~avemotion.errors.NoAudioStream` for a file without audio and
    :class:`~avemotion.errors.SilentAudio` when nobody speaks. Nothing is written unless ``save`` is called.
    """
    from avemotion.inference.session.adapt import DEFAULT_ADAPT
    from avemotion.inference.session.pipeline import analyze_session

    result = analyze_session(path, load_model(model), speakers=speakers, max_segment=max_segment, faces=faces,
                             adapt=adapt or DEFAULT_ADAPT)
    return result.with_speaker_names(names) if names else result
