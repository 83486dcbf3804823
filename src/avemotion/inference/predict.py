"""Prediction from a trained run folder: emotion, class probabilities, per-head probabilities, contributions.

``Predictor.load(RUNDIR)`` loads ``RUNDIR/model.*`` (the model retrained on all clips after cross-validation,
or the best fold's, see ``train.final_model``); ``predict(features)`` takes one :class:`ClipFeatures`.

A clip with one modality only (a wav; a video without any face) is predicted from the branch that exists
(the fused head needs both): ``modalities_used`` and ``note`` say so. The contribution of each head is its
share of the final probability of the predicted class: ``w_h p_h[k] / sum_h' w_h' p_h'[k]``. A model trained
with ``audio.speed_views`` extracts those versions of the clip's audio too and averages all of these over them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from avemotion.data.normalize import MIN_CLIPS, normalize_group
from avemotion.errors import CheckpointError, NothingToPredict
from avemotion.features.record import ClipFeatures
from avemotion.modality import Modality, modality_of
from avemotion.models.base import HEADS
from avemotion.models.bundle import ModelBundle, checkpoint_exists
from avemotion.models.calibration import apply_temperature
from avemotion.models.device import inference_device, place
from avemotion.models.predict import predict_clips


@dataclass
class Prediction:
    """The answer for one clip: the emotion, its confidence and the class probabilities, per head too.

    ``contributions``: each head's share of the predicted class's probability; ``modalities_used`` and
    ``note`` say what the answer rests on; ``extra`` holds fields callers add (written by :meth:`to_dict`).
    """

    clip_id: str
    emotion: str
    confidence: float
    probabilities: dict[str, float]
    heads: dict[str, dict[str, float]]  # available heads only
    contributions: dict[str, float]  # fused / audio / video, sum 1
    modalities_used: Modality
    note: str = ""
    source: str = ""
    extra: dict[str, object] = field(default_factory=dict)
    #: normalised weight of each head (fused / audio / video) in ``probabilities`` (0 for a missing head)
    weights: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready dict of the answer (``weights`` left out), ``extra`` merged in."""
        return {"clip_id": self.clip_id, "source": self.source, "emotion": self.emotion,
                "confidence": self.confidence, "probabilities": self.probabilities, "heads": self.heads,
                "contributions": self.contributions, "modalities_used": self.modalities_used, "note": self.note,
                **self.extra}


class Predictor:
    """A trained model with its feature selection and standardisation, predicting on clip features."""

    def __init__(self, bundle: ModelBundle, rundir: Path | None = None) -> None:
        """``bundle`` loaded from ``rundir`` (None when it came from elsewhere)."""
        self.bundle = bundle
        self.rundir = rundir

    @classmethod
    def load(cls, rundir: str | Path) -> Predictor:
        """The model of a run folder (``RUNDIR/model.*``) or of a checkpoint stem, on this process's device."""
        rundir = Path(rundir)
        stem = rundir / "model" if rundir.is_dir() else rundir
        if rundir.is_dir() and not checkpoint_exists(stem):
            raise CheckpointError("no trained model here (model.json + model.safetensors); train with "
                                  "`avemotion train --out RUNDIR` first, or let the run finish", rundir)
        bundle = ModelBundle.load(stem)  # on the CPU, then on this process's device (--device)
        place(bundle.model, inference_device())
        return cls(bundle, rundir)

    @property
    def config(self):  # the run's Config
        """The run's configuration: features are extracted with it, the same way as in training."""
        return self.bundle.config

    @property
    def temperature(self) -> float:
        """The final model's calibration temperature (models/calibration.py); 1 for models saved without one."""
        return float(self.bundle.info.get("temperature", 1.0))

    @property
    def normalize(self) -> str:
        """The run's ``train.normalize``: global, speaker or recording."""
        return self.bundle.config.train.normalize

    def predict(self, features: ClipFeatures, source: str = "") -> Prediction:
        """One clip on its own.

        A model trained with speaker or recording normalisation has no group statistics here: the clip gets the
        training standardisation only, and the note says so (use :meth:`predict_group` for several clips of one
        speaker or the windows of one recording).
        """
        sel = self.bundle.selection.apply(features)
        note = ""
        if self.normalize != "global":
            note = (f"UNRELIABLE: model trained with {self.normalize} normalisation, and a single clip has no "
                    f"{self.normalize} statistics; on unseen speakers such answers were close to chance "
                    f"(docs/usage.md). Predict at least {MIN_CLIPS} clips of the {self.normalize} together "
                    "(avemotion predict --together, Predictor.predict_group)")
        return self._predict_selected(features, sel, source, note)

    def predict_group(self, clips: list[ClipFeatures], sources: list[str] | None = None) -> list[Prediction]:
        """Clips of one speaker or one recording (the windows of a session).

        With ``train.normalize`` speaker or recording they are normalised with their own statistics first, as in
        training (at least :data:`~avemotion.data.normalize.MIN_CLIPS` clips; fewer fall back to :meth:`predict`).
        """
        sources = sources or [""] * len(clips)
        selected = [self.bundle.selection.apply(f) for f in clips]
        if self.normalize == "global" or len(clips) < MIN_CLIPS:
            return [self.predict(f, s) for f, s in zip(clips, sources, strict=True)]
        normed = normalize_group(selected, self.bundle.dims)
        note = f"{self.normalize} normalisation over the {len(clips)} clips predicted together"
        return [self._predict_selected(f, n, s, note) for f, n, s in zip(clips, normed, sources, strict=True)]

    @torch.inference_mode()
    def _predict_selected(self, features: ClipFeatures, sel: ClipFeatures, source: str, note: str) -> Prediction:
        b = self.bundle
        has_a = sel.audio_seq is not None or sel.audio_vec is not None
        has_v = sel.video_seq is not None
        trained = b.selection.modality
        if not has_a and not has_v:
            need = {"av": "audio or a visible face", "audio": "audio", "video": "a visible face"}[trained]
            raise NothingToPredict(f"{features.clip_id}: nothing this model can use: it needs {need} "
                                 f"(model trained on {trained!r})", source or None)
        out = predict_clips(b.model, [sel], b.dims, b.standardizer)  # averaged over the clip's audio speed views
        probs = apply_temperature(out.probs[0], self.temperature)  # calibrated; the argmax is unchanged
        k = int(probs.argmax())
        heads = {h: _as_dict(p[0], b.labels) for h, p in out.head_probs.items() if not np.isnan(p[0]).any()}
        contrib = out.contributions[0]
        weights = out.weights[0]
        used = modality_of(has_a, has_v)
        assert used is not None
        notes = [note] if note else []
        if trained == "av" and used != "av":
            missing = "video (no video stream or no face found)" if used == "audio" else "audio"
            notes.insert(0, f"{missing} missing: predicted from the {used} branch only")
        elif trained != "av":
            other = features.has_audio and trained == "video" or features.has_video and trained == "audio"
            notes.insert(0, f"{trained}-only model" + ("; the other modality of the file is not used" if other else ""))
        return Prediction(features.clip_id, b.labels[k], float(probs[k]), _as_dict(probs, b.labels), heads,
                          {h: float(contrib[j]) for j, h in enumerate(HEADS)}, used, "; ".join(notes), source,
                          weights={h: float(weights[j]) for j, h in enumerate(HEADS)})


def _as_dict(p: np.ndarray, labels: list[str]) -> dict[str, float]:
    return {lab: float(p[i]) for i, lab in enumerate(labels)}
