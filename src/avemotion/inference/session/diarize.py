"""Speaker diarization: who speaks when, with the number of speakers found from the recording.

1. Embeddings: resemblyzer's GE2E voice encoder (Apache-2.0; the weights ship inside the wheel) on windows of
   1.6 s every ``1 / rate`` seconds inside each speech region (a region shorter than a window gets one,
   zero-padded), each region's loudness normalised first.
2. Emotion nuisance removal and per-session normalisation: the 20 directions along which one speaker's
   embedding moves most with acted emotion (the top eigenvectors of the within-speaker scatter of RAVDESS
   actors 01-06, all emotions; :func:`fit_nuisance`, shipped as ``data/emotion_nuisance.npy``) are projected
   out, then the session's mean voice is subtracted and the rows re-normalised, so the clustering sees what
   differs between the voices of this recording rather than how one voice changes with emotion or what all
   voices share.
3. Clustering of the speech regions (each the mean of its windows): spectral clustering of their cosine
   affinity. The count: two speakers, or one when the two clusters' mean voices are closer than
   ``one_speaker_distance`` (cosine distance of the raw embeddings); a third, fourth, ... speaker only while
   every pair of clusters stays at least ``new_speaker_distance`` apart. Acted emotion moves one voice's
   embedding almost as far as a change of speaker does, so splitting further on weaker evidence split
   expressive speakers in two (the measurements: docs/experiments/2026-12-06-session-diarization.md).
   ``speakers`` given: that many clusters. A recording with more than ``max_cluster_regions`` regions (about
   an hour of conversation with short turns) has that many of them, evenly spaced in time, clustered, and
   every region assigned to the nearest cluster's mean voice: the affinity matrix and its eigen-decomposition
   stay bounded (O(cap^2) memory, O(cap^3) time) however long the recording; below the cap nothing changes.
4. Resegmentation: each window is re-assigned to the nearest speaker centroid, with a Viterbi pass along each
   region (``switch_penalty`` per change of speaker), so a region changes speaker only on sustained evidence
   (two people talking without a pause).
The thresholds were chosen on sessions of RAVDESS actors 01-06 and are reported on actors 07-12
(evaluations/session_diarization.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from avemotion.errors import ModelFileMissing
from avemotion.features.windows import Span
from avemotion.inference.session.records import Turn
from avemotion.inference.session.vad import SAMPLE_RATE, missing_extra
from avemotion.media.audio import AudioSignal

WINDOW = 1.6  # seconds: resemblyzer's partial utterance (160 mel frames of 10 ms)
#: the emotion directions of the embedding space (256 x 20), fitted by :func:`fit_nuisance`
NUISANCE_FILE = Path(__file__).parent / "data" / "emotion_nuisance.npy"
NUISANCE_DIRECTIONS = 20


@dataclass(frozen=True)
class DiarizeSettings:
    """The diarization's tunable values (defaults chosen on actors 01-06, see the module doc)."""

    rate: float = 2.5  # embedding windows per second
    max_speakers: int = 6
    one_speaker_distance: float = 0.09  # speakers whose mean voices are closer (cosine distance) are one
    new_speaker_distance: float = 0.35  # a third (fourth, ...) speaker's voice at least this far from the others
    switch_penalty: float = 3.0  # Viterbi cost of a change of speaker, in cosine-similarity units x 10
    remove_nuisance: bool = True  # project out the emotion directions (see the module doc)
    refine_iterations: int = 3
    max_cluster_regions: int = 800  # more regions: spectral clustering of this many evenly spaced ones (see doc)


@dataclass
class WindowEmbeddings:
    """Embedding windows: ``spans`` (N, 2) in seconds, ``region`` (N,) index of their speech region,
    ``raw`` (N, 256) the encoder's unit vectors."""

    spans: np.ndarray
    region: np.ndarray
    raw: np.ndarray

    def __len__(self) -> int:
        return len(self.spans)


@lru_cache(maxsize=1)
def _encoder():  # resemblyzer's VoiceEncoder on the CPU
    try:
        from resemblyzer import VoiceEncoder
    except ImportError as exc:
        raise missing_extra("resemblyzer", exc) from None
    return VoiceEncoder("cpu", verbose=False)


def embed_windows(audio: np.ndarray | AudioSignal, regions: list[Span], rate: float = 2.5) -> WindowEmbeddings:
    """The voice embedding of each window of each speech region of a mono 16 kHz signal."""
    from resemblyzer.audio import normalize_volume

    enc = _encoder()
    spans: list[tuple[float, float]] = []
    idx: list[int] = []
    embs: list[np.ndarray] = []
    for i, (s, e) in enumerate(regions):
        wav = audio[int(s * SAMPLE_RATE): int(e * SAMPLE_RATE)]
        if len(wav) < SAMPLE_RATE // 10:
            continue
        wav = normalize_volume(wav.astype(np.float32), -30.0, increase_only=False)
        _, partials, slices = enc.embed_utterance(wav, return_partials=True, rate=rate, min_coverage=0.5)
        for p, sl in zip(partials, slices, strict=True):
            a = s + sl.start / SAMPLE_RATE
            b = min(e, s + sl.stop / SAMPLE_RATE)
            if b - a < 0.2:
                continue
            spans.append((a, b))
            idx.append(i)
            embs.append(p)
    if not embs:
        return WindowEmbeddings(np.zeros((0, 2)), np.zeros(0, int), np.zeros((0, 256), np.float32))
    return WindowEmbeddings(np.asarray(spans), np.asarray(idx), np.asarray(embs, np.float32))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


def fit_nuisance(raw: np.ndarray, speaker: np.ndarray, k: int = NUISANCE_DIRECTIONS) -> np.ndarray:
    """The ``k`` directions (256 x k, orthonormal) in which embeddings of one speaker vary most: the top
    eigenvectors of the pooled within-speaker scatter of unit embeddings ``raw`` labelled by ``speaker``."""
    x = _unit(np.asarray(raw, np.float64))
    scatter = np.zeros((x.shape[1], x.shape[1]))
    for s in np.unique(speaker):
        d = x[speaker == s] - x[speaker == s].mean(0)
        scatter += d.T @ d
    return np.linalg.eigh(scatter)[1][:, -k:].astype(np.float32)


@lru_cache(maxsize=1)
def nuisance_directions() -> np.ndarray:
    """The shipped emotion directions (:data:`NUISANCE_FILE`)."""
    if not NUISANCE_FILE.is_file():
        raise ModelFileMissing("the emotion directions of session diarization are missing; reinstall avemotion",
                               NUISANCE_FILE)
    return np.load(NUISANCE_FILE)


def remove_nuisance(raw: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Unit embeddings with ``directions`` projected out."""
    return _unit(raw - (raw @ directions) @ directions.T)


def _spectral(x: np.ndarray, k: int) -> np.ndarray:
    """Spectral clustering of unit rows ``x`` into ``k`` clusters (cosine affinity, normalised Laplacian)."""
    from scipy.linalg import eigh
    from sklearn.cluster import KMeans

    n = len(x)
    aff = np.clip(x @ x.T, 0.0, None) + 1e-3
    np.fill_diagonal(aff, 0.0)
    dinv = 1.0 / np.sqrt(aff.sum(1))
    vecs = eigh(np.eye(n) - dinv[:, None] * aff * dinv[None, :])[1]
    return KMeans(k, n_init=10, random_state=0).fit_predict(_unit(vecs[:, :k]))


def _cluster_regions(x: np.ndarray, k: int, cap: int) -> np.ndarray:
    """:func:`_spectral` of unit rows ``x``; beyond ``cap`` rows, of ``cap`` evenly spaced rows, every row then
    taking the cluster whose (unit) mean row is nearest (cosine)."""
    if len(x) <= cap:
        return _spectral(x, k)
    pick = np.unique(np.linspace(0, len(x) - 1, cap).round().astype(int))
    lab = _spectral(x[pick], k)
    cent = _unit(np.stack([x[pick][lab == j].mean(0) for j in range(k)]))
    return np.unique(np.argmax(x @ cent.T, axis=1), return_inverse=True)[1]  # clusters left empty dropped


def _closest(rows: np.ndarray, labels: np.ndarray) -> float:
    """The smallest cosine distance between the mean (raw) voices of two clusters (0 for one cluster)."""
    k = int(labels.max()) + 1
    if k < 2:
        return 0.0
    c = _unit(np.stack([rows[labels == j].mean(0) for j in range(k)]))
    return float((1.0 - c @ c.T)[np.triu_indices(k, 1)].min())


def _viterbi(sim: np.ndarray, penalty: float) -> np.ndarray:
    """The label path through ``sim`` (T, K) maximising similarity minus ``penalty`` per change."""
    t, k = sim.shape
    score = sim[0].copy()
    back = np.zeros((t, k), int)
    for i in range(1, t):
        stay = score
        best = int(np.argmax(score))
        move = score[best] - penalty
        back[i] = np.where(stay >= move, np.arange(k), best)
        score = np.maximum(stay, move) + sim[i]
    path = np.zeros(t, int)
    path[-1] = int(np.argmax(score))
    for i in range(t - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def cluster_windows(emb: WindowEmbeddings, speakers: int | None = None,
                    settings: DiarizeSettings | None = None) -> np.ndarray:
    """A speaker index per window (0-based, numbered by first appearance); see the module doc."""
    st = settings or DiarizeSettings()
    n = len(emb)
    regions = np.unique(emb.region)
    if n == 0 or speakers == 1 or len(regions) < 3:
        return np.zeros(n, int)
    raw = _unit(emb.raw)
    if st.remove_nuisance:
        raw = remove_nuisance(raw, nuisance_directions())
    per_region = _unit(np.stack([raw[emb.region == r].mean(0) for r in regions]))
    mean = per_region.mean(0)
    x_r = _unit(per_region - mean)
    k_max = min(st.max_speakers, len(regions) - 1)
    if speakers is not None:
        lab_r = _cluster_regions(x_r, min(speakers, len(regions)), st.max_cluster_regions)
    else:  # two voices unless they are closer than one_speaker_distance; more while each is far enough apart
        lab_r = _cluster_regions(x_r, 2, st.max_cluster_regions)
        if _closest(per_region, lab_r) < st.one_speaker_distance:
            return np.zeros(n, int)
        for k in range(3, k_max + 1):
            more = _cluster_regions(x_r, k, st.max_cluster_regions)
            if _closest(per_region, more) < st.new_speaker_distance:
                break
            lab_r = more
    k = int(lab_r.max()) + 1
    x = _unit(raw - mean)
    labels = lab_r[np.searchsorted(regions, emb.region)]
    for _ in range(st.refine_iterations):  # nearest centroid, then smoothing along each region
        cent = np.stack([_unit(x[labels == j].mean(0)) if (labels == j).any() else np.zeros(x.shape[1])
                         for j in range(k)])
        sim = 10.0 * (x @ cent.T)
        new = labels.copy()
        for r in regions:
            rows = np.flatnonzero(emb.region == r)
            new[rows] = _viterbi(sim[rows], st.switch_penalty)
        if np.array_equal(new, labels):
            break
        labels = new
    _, first = np.unique(labels, return_index=True)
    order = {int(labels[i]): j for j, i in enumerate(sorted(first))}
    return np.array([order[int(v)] for v in labels])


def turns_from_windows(regions: list[Span], emb: WindowEmbeddings, labels: np.ndarray) -> list[Turn]:
    """Speaker turns: each region cut where the speaker of its windows changes (half-way between the
    centres of the two windows); a region without a window takes the speaker of the nearest window."""
    centres = emb.spans.mean(1) if len(emb) else np.zeros(0)
    turns: list[Turn] = []
    for i, (s, e) in enumerate(regions):
        rows = np.flatnonzero(emb.region == i)
        if len(rows) == 0:
            if len(centres) == 0:
                turns.append(Turn(s, e, "S1"))
                continue
            j = int(np.argmin(np.abs(centres - (s + e) / 2)))
            turns.append(Turn(s, e, f"S{labels[j] + 1}"))
            continue
        start = s
        for a, b in zip(rows[:-1], rows[1:], strict=True):
            if labels[a] != labels[b]:
                cut = float(np.clip((centres[a] + centres[b]) / 2, start, e))
                turns.append(Turn(start, cut, f"S{labels[a] + 1}"))
                start = cut
        turns.append(Turn(start, e, f"S{labels[rows[-1]] + 1}"))
    return [t for t in turns if t.end - t.start > 1e-6]


def diarize(audio: np.ndarray | AudioSignal, regions: list[Span], speakers: int | None = None,
            settings: DiarizeSettings | None = None) -> list[Turn]:
    """Speaker turns of a mono 16 kHz signal's speech ``regions`` (``speakers``: the count when known)."""
    st = settings or DiarizeSettings()
    emb = embed_windows(audio, regions, st.rate)
    return turns_from_windows(regions, emb, cluster_windows(emb, speakers, st))
