"""A synthetic *feature-level* problem for tests, benchmarks and loss comparisons (no media involved).

Four classes are the combinations of two binary factors: the audio features carry the first factor
(``c // 2``), the video features the second (``c % 2``), so each modality alone reaches at most about 50 %
and only fusion reaches 100 %. Every speaker adds its own offset to all features (so speaker-grouped folds
matter), sequence lengths vary, a share of clips is audio-only (``video None``) or faceless (mask all False),
and frames without a face carry large garbage values that a model must ignore.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avemotion.data.manifest import ClipRecord
from avemotion.data.store import FeatureStore
from avemotion.features.record import ClipFeatures

TOY_LABELS = ["anger", "joy", "sadness", "trust"]
AUDIO_SEQ_GROUPS = {"mfcc": (0, 6), "soundnet_conv7": (6, 12)}
AUDIO_VEC_GROUPS = {"mfcc_stats": (0, 8), "IS09": (8, 20), "IS13": (20, 32), "soundnet": (32, 40)}


def toy_clip(clip_id: str, label: int, speaker_offset: np.ndarray, rng: np.random.Generator, signal: float,
             video: str = "ok", seq_dim: int = 12, vec_dim: int = 40, video_dim: int = 10) -> ClipFeatures:
    a_bit = 1.0 if label // 2 else -1.0
    v_bit = 1.0 if label % 2 else -1.0
    ta = int(rng.integers(5, 16))
    seq = rng.normal(size=(ta, seq_dim)) + speaker_offset[:seq_dim]
    seq[:, 0:3] += 0.5 * signal * a_bit  # weak frame-level cue in the mfcc group
    vec = rng.normal(size=vec_dim) + speaker_offset[:vec_dim]
    vec[8:20] += signal * a_bit  # the clip-level cue in the openSMILE columns
    vid = mask = None
    if video != "none":
        tv = int(rng.integers(8, 26))
        vid = rng.normal(size=(tv, video_dim)) + speaker_offset[:video_dim]
        phase = np.linspace(0, np.pi, tv)
        vid[:, 0:4] += signal * v_bit * np.sin(phase)[:, None]  # a rise-and-fall of an expression
        mask = rng.random(tv) > 0.2
        if video == "faceless":
            mask[:] = False
        elif not mask.any():
            mask[tv // 2] = True
        vid[~mask] = rng.normal(scale=20.0, size=(int((~mask).sum()), video_dim))  # garbage where no face
    return ClipFeatures(
        clip_id=clip_id,
        audio_seq=seq.astype(np.float32),
        audio_vec=vec.astype(np.float32),
        video_seq=None if vid is None else vid.astype(np.float32),
        video_mask=mask,
        audio_groups=dict(AUDIO_SEQ_GROUPS),
        audio_vec_groups=dict(AUDIO_VEC_GROUPS),
        video_groups={"face": (0, video_dim)},
        meta={"toy": True},
    )


def make_toy_store(root: str | Path, n_clips: int = 96, n_speakers: int = 8, signal: float = 1.5, seed: int = 0,
                   audio_only_share: float = 0.1, faceless_share: float = 0.05) -> FeatureStore:
    rng = np.random.default_rng(seed)
    offsets = [rng.normal(scale=0.5, size=64) for _ in range(n_speakers)]
    records, keys, feats = [], [], []
    for i in range(n_clips):
        label = i % len(TOY_LABELS)
        spk = (i // len(TOY_LABELS)) % n_speakers
        u = rng.random()
        video = "none" if u < audio_only_share else "faceless" if u < audio_only_share + faceless_share else "ok"
        clip_id = f"toy{i:04d}"
        path = f"/toy/{clip_id}.{'wav' if video == 'none' else 'mp4'}"
        records.append(ClipRecord(clip_id, TOY_LABELS[label], f"spk{spk}", None if video == "none" else path, path))
        keys.append(f"k{i:04d}")
        feats.append(toy_clip(clip_id, label, offsets[spk], rng, signal, video))
    meta = {"corpus": "toy", "labels": TOY_LABELS, "label_set": "toy", "config_hash": f"toy-{seed}-{signal}"}
    store = FeatureStore.create(root, meta, records, keys)
    for key, f in zip(keys, feats, strict=True):
        store.put(key, f)
    return store
