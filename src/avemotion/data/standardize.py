"""Per-column standardisation of the model inputs, fitted on training clips only.

:class:`Standardizer` holds per-column mean and std of each input; it is applied per batch in
:func:`avemotion.data.batch.collate`, so the (possibly 12k-dim) raw clip vectors are held once, never copied
per fold.
Saved models keep it as ``std.<input>.mean`` / ``std.<input>.std`` tensors (:meth:`Standardizer.tensors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from avemotion.data.dims import FeatureDims
from avemotion.features.record import ClipFeatures


class _Moments:
    def __init__(self) -> None:
        self.n = 0
        self.s: np.ndarray | None = None
        self.ss: np.ndarray | None = None

    def add(self, rows: np.ndarray) -> None:
        if rows.size == 0:
            return
        r = rows.astype(np.float64, copy=False)
        s, ss = r.sum(0), np.einsum("ij,ij->j", r, r)
        self.s = s if self.s is None else self.s + s
        self.ss = ss if self.ss is None else self.ss + ss
        self.n += rows.shape[0]

    def result(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        if self.n == 0 or self.s is None or self.ss is None:
            return np.zeros(width, np.float32), np.ones(width, np.float32)
        mean = self.s / self.n
        var = np.maximum(self.ss / self.n - mean**2, 0.0)
        std = np.sqrt(var)
        std[std < 1e-6 * np.maximum(1.0, np.abs(mean))] = 1.0  # constant columns pass through centred
        return mean.astype(np.float32), std.astype(np.float32)


@dataclass
class Standardizer:
    """Per-column z-scoring of each input, fitted on training clips only; values are clipped to +-max_abs."""

    mean: dict[str, np.ndarray]
    std: dict[str, np.ndarray]
    max_abs: float = 10.0

    @classmethod
    def fit(cls, clips: Sequence[ClipFeatures], dims: FeatureDims, max_abs: float = 10.0) -> Standardizer:
        seq, vec, vid = _Moments(), _Moments(), _Moments()
        vec_rows = [c.audio_vec for c in clips if c.audio_vec is not None]
        if vec_rows:
            vec.add(np.stack(vec_rows))
        for c in clips:
            if c.audio_seq is not None:
                seq.add(c.audio_seq)
            if c.video_seq is not None and c.video_mask is not None:
                vid.add(c.video_seq[c.video_mask])  # frames without a face carry no information
        mean, std = {}, {}
        for name, mom, width in (("audio_seq", seq, dims.audio_seq), ("audio_vec", vec, dims.audio_vec),
                                 ("video", vid, dims.video)):
            if width:
                mean[name], std[name] = mom.result(width)
        return cls(mean, std, max_abs)

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {}
        for name in self.mean:
            out[f"std.{name}.mean"] = torch.from_numpy(self.mean[name].copy())
            out[f"std.{name}.std"] = torch.from_numpy(self.std[name].copy())
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], max_abs: float) -> Standardizer:
        mean, std = {}, {}
        for key, t in tensors.items():
            if key.startswith("std.") and key.endswith(".mean"):
                name = key[4:-5]
                mean[name] = t.numpy().astype(np.float32)
                std[name] = tensors[f"std.{name}.std"].numpy().astype(np.float32)
        return cls(mean, std, max_abs)

    def transform(self, name: str, x: np.ndarray) -> np.ndarray:
        if name not in self.mean:
            return x
        z = (x - self.mean[name]) / self.std[name]
        np.clip(z, -self.max_abs, self.max_abs, out=z)
        return z.astype(np.float32, copy=False)
