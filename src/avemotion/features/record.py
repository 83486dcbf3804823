"""The per-clip feature record that flows from extraction to the models.

Contract between stages:
- ``audio_seq``: (T_a, D_a) float32, the spliced X^a on an even time grid of ``token_rate`` frames/s;
- ``audio_vec``: (D_v,) float32, the clip-level X^a vector (MFCC statistics + openSMILE functionals +
  pooled SoundNet);
- ``video_seq``: (T_v, D_x) float32, the per-frame visual features x_t at ``fps``;
- ``video_mask``: (T_v,) bool, True where a face was found (rows where it is False carry no information);
- ``audio_groups`` / ``audio_vec_groups`` / ``video_groups``: name -> [start, stop) column ranges of each
  feature group in ``audio_seq`` / ``audio_vec`` / ``video_seq``, used by ablations (e.g. "mfcc",
  "opensmile", "soundnet") and for reporting;
- ``audio_views``: speed -> :class:`AudioView`, the same audio features of the clip played that much faster
  (``audio.speed_views``; same groups as the plain ones). Models train on the plain clip and average their
  probabilities over the plain clip and its views (:meth:`ClipFeatures.with_views`).
A modality that is absent (audio-only file, faceless video) is ``None``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from avemotion.utils.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from avemotion.features.audio.branch import AudioFeatures
    from avemotion.features.video.branch import VideoFeatures

Groups = dict[str, tuple[int, int]]


@dataclass(frozen=True)
class AudioView:
    """The audio features of one speed version of a clip (shaped as the plain ``audio_seq`` / ``audio_vec``)."""

    audio_seq: np.ndarray | None
    audio_vec: np.ndarray | None


@dataclass
class ClipFeatures:
    clip_id: str
    audio_seq: np.ndarray | None = None
    audio_vec: np.ndarray | None = None
    video_seq: np.ndarray | None = None
    video_mask: np.ndarray | None = None
    audio_groups: Groups = field(default_factory=dict)
    audio_vec_groups: Groups = field(default_factory=dict)
    video_groups: Groups = field(default_factory=dict)
    meta: dict[str, object] = field(default_factory=dict)
    audio_views: dict[float, AudioView] = field(default_factory=dict)
    #: derived, never stored: the expression CNN's prior over the model's labels (set by FeatureSelection.apply)
    expression_prior: np.ndarray | None = None

    @classmethod
    def from_branches(cls, clip_id: str, audio: AudioFeatures | None = None, video: VideoFeatures | None = None,
                      meta: dict[str, object] | None = None) -> ClipFeatures:
        """The one place a record is built from the branches' outputs. A video without any face frame
        contributes nothing (the clip is then audio-only)."""
        face = video is not None and video.has_face
        return cls(
            clip_id=clip_id,
            audio_seq=audio.seq if audio is not None else None,
            audio_vec=audio.vec if audio is not None else None,
            video_seq=video.seq if face else None,
            video_mask=video.mask if face else None,
            audio_groups=dict(audio.seq_groups) if audio is not None else {},
            audio_vec_groups=dict(audio.vec_groups) if audio is not None else {},
            video_groups=dict(video.groups) if face else {},
            meta=dict(meta or {}),
            audio_views={s: AudioView(v.seq, v.vec) for s, v in audio.views.items()} if audio is not None else {},
        )

    def with_views(self) -> list[ClipFeatures]:
        """The clip followed by one record per audio view: the view's audio with this clip's video (the same
        arrays, not copies) and no views of its own. What a model's probabilities are averaged over."""
        return [self] + [replace(self, audio_seq=v.audio_seq, audio_vec=v.audio_vec, audio_views={})
                         for v in self.audio_views.values()]

    @property
    def has_audio(self) -> bool:
        return self.audio_vec is not None or self.audio_seq is not None

    @property
    def has_video(self) -> bool:
        return self.video_seq is not None and self.video_mask is not None and bool(self.video_mask.any())

    def dims(self) -> dict[str, object]:
        """Widths of each part and of each feature group (None for an absent modality), for summaries."""
        return {
            "audio_seq": int(self.audio_seq.shape[1]) if self.audio_seq is not None else None,
            "audio_vec": int(self.audio_vec.shape[0]) if self.audio_vec is not None else None,
            "video_seq": int(self.video_seq.shape[1]) if self.video_seq is not None else None,
            "audio_groups": {k: v[1] - v[0] for k, v in self.audio_vec_groups.items()},
            "video_groups": {k: v[1] - v[0] for k, v in self.video_groups.items()},
        }

    def validate(self) -> None:
        for name in ("audio_seq", "audio_vec", "video_seq"):
            arr = getattr(self, name)
            if arr is not None and not np.isfinite(arr).all():
                raise ValueError(f"{self.clip_id}: {name} contains NaN or inf")
        if self.audio_seq is not None and self.audio_seq.ndim != 2:
            raise ValueError(f"{self.clip_id}: audio_seq must be 2-D (T, D)")
        for speed, view in self.audio_views.items():
            for name, arr, ref in (("audio_seq", view.audio_seq, self.audio_seq),
                                   ("audio_vec", view.audio_vec, self.audio_vec)):
                # a sequence may differ in length (T), not in width
                if (arr is None) != (ref is None) or arr is not None and ref is not None and (
                        arr.ndim != ref.ndim or arr.shape[-1] != ref.shape[-1] or not np.isfinite(arr).all()):
                    raise ValueError(f"{self.clip_id}: {name} of the {speed}x view does not match the plain "
                                     "one's shape or is not finite")
        if self.video_seq is not None:
            if self.video_seq.ndim != 2:
                raise ValueError(f"{self.clip_id}: video_seq must be 2-D (T, D)")
            if self.video_mask is None or self.video_mask.shape != (self.video_seq.shape[0],):
                raise ValueError(f"{self.clip_id}: video_mask must be (T,) to match video_seq")

    # --- storage: one .npz per clip, written atomically ----------------------------------------------
    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {}
        for name in ("audio_seq", "audio_vec", "video_seq"):
            arr = getattr(self, name)
            if arr is not None:
                arrays[name] = np.asarray(arr, dtype=np.float32)
        if self.video_mask is not None:
            arrays["video_mask"] = np.asarray(self.video_mask, dtype=bool)
        for i, view in enumerate(self.audio_views.values()):
            for name in ("audio_seq", "audio_vec"):
                arr = getattr(view, name)
                if arr is not None:
                    arrays[f"view{i}.{name}"] = np.asarray(arr, dtype=np.float32)
        header = {"clip_id": self.clip_id, "audio_groups": self.audio_groups,
                  "audio_vec_groups": self.audio_vec_groups, "video_groups": self.video_groups,
                  "meta": self.meta, "view_speeds": list(self.audio_views)}
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    def save(self, path: str | Path) -> Path:
        return atomic_write_bytes(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> ClipFeatures:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(bytes(data["header"]).decode())

            def get(k: str) -> np.ndarray | None:
                return data[k] if k in data.files else None

            return cls(
                clip_id=header["clip_id"],
                audio_seq=get("audio_seq"),
                audio_vec=get("audio_vec"),
                video_seq=get("video_seq"),
                video_mask=get("video_mask"),
                audio_groups={k: tuple(v) for k, v in header.get("audio_groups", {}).items()},
                audio_vec_groups={k: tuple(v) for k, v in header.get("audio_vec_groups", {}).items()},
                video_groups={k: tuple(v) for k, v in header.get("video_groups", {}).items()},
                meta=header.get("meta", {}),
                audio_views={float(s): AudioView(get(f"view{i}.audio_seq"), get(f"view{i}.audio_vec"))
                             for i, s in enumerate(header.get("view_speeds", []))},
            )
