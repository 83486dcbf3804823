"""Generating the built-in synthetic audio-video emotion corpus.

Layout of ``DIR``::

    corpus.json            generation parameters, clip count, timing (written last: the corpus is complete)
    metadata.csv           path,label,speaker  (path relative to DIR)
    clips/LABEL/SPEAKER_LABEL_TAKE.mp4   H.264 video + AAC audio

Every clip is a pure function of (seed, label index, take): its random generator is seeded from
``SeedSequence([seed, label_index, take])`` and each speaker's from ``SeedSequence([seed, SPEAKER_TAG, s])``,
so a corpus is identical whatever the number of workers or the order of generation, and adding clips
(larger ``per_class``) keeps the existing ones. Files are written atomically; an interrupted run resumes.
"""

from __future__ import annotations

import csv
import functools
import io
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from avemotion.data.synthetic import face as face_mod
from avemotion.data.synthetic import motion as tracks
from avemotion.data.synthetic.face import BASIS_NAMES, FaceIdentity, FaceRig
from avemotion.data.synthetic.profiles import ACTIONS, VISUAL, label_names, sample_audio_profile, sample_visual_actions
from avemotion.data.synthetic.voice import VoiceParams, mouth_opening, synthesize
from avemotion.errors import AvemotionError
from avemotion.media.write import write_media
from avemotion.utils.atomic import atomic_write_json, atomic_write_text
from avemotion.utils.progress import progress
from avemotion.utils.workers import single_threaded_children

CORPUS_VERSION = 1
SPEAKER_TAG = 0x5EA4
NEUTRAL_ACTIONS = {"smile": -0.7}  # the photo smiles broadly: the neutral face relaxes the smile
NEUTRAL_APERTURE = 0.0  # lips closed at rest (1 = the photo's open, teeth-showing smile)


@dataclass(frozen=True)
class CorpusParams:
    per_class: int = 20
    speakers: int = 5
    seconds: float = 2.5
    seed: int = 0
    labels: str = "paper9"
    fps: float = 15.0
    sample_rate: int = 16000
    width: int = 256
    height: int = 256
    version: int = CORPUS_VERSION

    def __post_init__(self) -> None:
        if self.per_class < 1 or self.speakers < 1:
            raise ValueError("per_class and speakers must be at least 1")
        if self.seconds < 0.5:
            raise ValueError("clips must be at least 0.5 s long")
        if self.width % 2 or self.height % 2:
            raise ValueError("frame width and height must be even (H.264, yuv420p)")
        label_names(self.labels)

    @property
    def n_frames(self) -> int:
        return max(int(round(self.seconds * self.fps)), 1)

    @property
    def duration(self) -> float:
        """Exact clip duration: a whole number of video frames."""
        return self.n_frames / self.fps


@dataclass(frozen=True)
class Speaker:
    index: int
    id: str
    female: bool
    f0_hz: float
    formant_scale: float
    tempo_factor: float
    level_db: float
    range_factor: float
    breathiness: float
    jitter: float
    effort: float
    expressiveness: float
    head_motion: float
    aperture: float
    face: FaceIdentity = field(default_factory=FaceIdentity)


@dataclass(frozen=True)
class ClipSpec:
    label: str
    label_index: int
    take: int
    speaker: int
    path: str  # relative to the corpus folder


@dataclass
class Clip:
    frames: np.ndarray  # (T, H, W, 3) uint8
    audio: np.ndarray  # (N,) float32
    fps: float
    sample_rate: int
    info: dict[str, float]


def make_speaker(seed: int, index: int) -> Speaker:
    """Speaker ``index``'s voice and look (even indices female, odd male)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, SPEAKER_TAG, index]))
    female = index % 2 == 0
    shape = {"brow_raise": rng.normal(0, 0.2), "lid_raise": rng.normal(0, 0.2), "smile": rng.normal(0, 0.15),
             "stretch": rng.normal(0, 0.2), "cheek": rng.normal(0, 0.1)}
    ident = FaceIdentity(
        crop=float(rng.uniform(160, 210)),
        offset=(float(rng.normal(0, 0.04)), float(rng.normal(0.02, 0.04))),
        roll=float(rng.normal(0, 3.0)),
        aspect=float(rng.uniform(0.92, 1.08)),
        mirror=bool(rng.random() < 0.4),
        gains=tuple(float(g) for g in rng.uniform([0.94, 0.9, 0.86], [1.1, 1.04, 1.06])),  # type: ignore[arg-type]
        saturation=float(rng.uniform(0.75, 1.2)),
        gamma=float(rng.uniform(0.8, 1.25)),
        light=float(rng.uniform(0.0, 0.3)),
        light_angle=float(rng.uniform(0, 2 * np.pi)),
        shape={k: float(v) for k, v in shape.items()},
    )
    return Speaker(
        index=index,
        id=f"spk{index + 1:02d}",
        female=female,
        f0_hz=float(rng.uniform(180, 235) if female else rng.uniform(95, 135)),
        formant_scale=float(rng.uniform(1.1, 1.2) if female else rng.uniform(0.95, 1.04)),
        tempo_factor=float(rng.uniform(0.88, 1.12)),
        level_db=float(rng.normal(0, 1.0)),
        range_factor=float(rng.uniform(0.8, 1.25)),
        breathiness=float(rng.normal(0.03 if female else 0.0, 0.04)),
        jitter=float(rng.uniform(0.0, 0.004)),
        effort=float(rng.normal(0, 0.06)),
        expressiveness=float(rng.uniform(0.8, 1.1)),
        head_motion=float(rng.uniform(0.6, 1.4)),
        aperture=float(rng.normal(0.0, 0.1)),
        face=ident,
    )


def clip_rng(seed: int, label_index: int, take: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, label_index, take]))


def plan(params: CorpusParams) -> list[ClipSpec]:
    """All clips of the corpus: ``per_class`` takes per label, speakers assigned round-robin per label."""
    specs = []
    for li, label in enumerate(label_names(params.labels)):
        for take in range(params.per_class):
            spk = (take + li) % params.speakers
            sid = f"spk{spk + 1:02d}"
            specs.append(ClipSpec(label, li, take, spk, f"clips/{label}/{sid}_{label}_{take:03d}.mp4"))
    return specs


@functools.lru_cache(maxsize=8)
def _rig(seed: int, speaker: int, width: int, height: int) -> FaceRig:
    return FaceRig(make_speaker(seed, speaker).face, size=(width, height))


def render_clip(spec: ClipSpec, params: CorpusParams) -> Clip:
    """The frames and the audio of one clip (before encoding); deterministic for (seed, label, take)."""
    rng = clip_rng(params.seed, spec.label_index, spec.take)
    spk = make_speaker(params.seed, spec.speaker)
    label = spec.label
    intensity = float(rng.uniform(0.55, 1.0)) * spk.expressiveness
    # --- voice ---
    ap = sample_audio_profile(label, intensity, rng)
    vp = VoiceParams(
        f0_hz=spk.f0_hz * 2 ** (ap.pitch_st / 12),
        range_st=max(ap.range_st * spk.range_factor, 0.2),
        slope_st=ap.slope_st,
        tempo=float(np.clip(ap.tempo * spk.tempo_factor, 2.0, 8.0)),
        level_db=spk.level_db + ap.level_db,
        level_var_db=max(ap.level_var_db, 0.2),
        jitter=float(np.clip(ap.jitter + spk.jitter, 0.001, 0.05)),
        shimmer=float(np.clip(ap.shimmer, 0.005, 0.15)),
        breathiness=float(np.clip(ap.breathiness + spk.breathiness, 0.0, 0.8)),
        effort=float(np.clip(ap.effort + spk.effort, 0.0, 1.0)),
        formant_scale=spk.formant_scale * ap.formant,
        tremor_st=max(ap.tremor, 0.0),
        noise_db=float(rng.uniform(-66, -56)),
    )
    n_frames = params.n_frames
    utt = synthesize(vp, params.duration, params.sample_rate, rng)
    opening = mouth_opening(utt, params.fps, n_frames)
    # --- face ---
    vis = VISUAL[label]
    apex = sample_visual_actions(label, intensity, rng)
    env = tracks.expression_envelope(n_frames, params.fps, rng)
    weights = np.zeros((n_frames, len(BASIS_NAMES)), np.float32)
    for name in ACTIONS:
        base = NEUTRAL_ACTIONS.get(name, 0.0) + spk.face.shape.get(name, 0.0)
        drift = 0.05 * tracks.smooth_noise(n_frames, params.fps, rng)
        weights[:, BASIS_NAMES.index(name)] = base + env * apex[name] + drift
    lip_gain = 1.1 * rng.uniform(0.8, 1.2)
    aperture = (NEUTRAL_APERTURE + spk.aperture + env * intensity * (vis.aperture + rng.normal(0, 0.12))
                + lip_gain * opening)
    weights[:, BASIS_NAMES.index("lip_close")] = np.clip(1.0 - aperture, 0.0, 1.0)
    jaw = BASIS_NAMES.index("jaw")
    weights[:, jaw] = np.clip(weights[:, jaw], -0.2, None) + np.clip(aperture - 1.0, 0.0, 1.2)
    blinks = tracks.blink_track(n_frames, params.fps, vis.blink_rate * rng.uniform(0.6, 1.5), rng)
    cheek = np.clip(weights[:, BASIS_NAMES.index("cheek")], 0.0, None)
    weights[:, BASIS_NAMES.index("lid_close")] = np.clip(blinks + 0.3 * cheek, 0.0, 1.0)
    motion = spk.head_motion * vis.head_motion
    roll_sign = 1.0 if rng.random() < 0.5 else -1.0
    head = np.stack([
        0.06 * motion * tracks.smooth_noise(n_frames, params.fps, rng),
        0.04 * motion * tracks.smooth_noise(n_frames, params.fps, rng) + env * intensity * vis.head_pitch
        + 0.02 * opening,
        1.5 * motion * tracks.smooth_noise(n_frames, params.fps, rng) + env * roll_sign * vis.head_roll,
        0.01 * motion * tracks.smooth_noise(n_frames, params.fps, rng) + env * intensity * vis.head_scale,
    ], axis=1)
    rig = _rig(params.seed, spec.speaker, params.width, params.height)
    brightness = float(rng.uniform(0.92, 1.08))
    noise_sd = float(rng.uniform(0.5, 2.0))
    frames = np.empty((n_frames, params.height, params.width, 3), np.uint8)
    for i in range(n_frames):
        noise = rng.standard_normal((params.height, params.width, 1), dtype=np.float32) * np.float32(noise_sd)
        frames[i] = rig.render(weights[i], tuple(head[i]), noise=noise, gain=brightness)
    info = {"intensity": intensity, "f0_hz": vp.f0_hz, "level_db": vp.level_db, "tempo": vp.tempo}
    return Clip(frames, utt.audio, params.fps, params.sample_rate, info)


def write_clip(spec: ClipSpec, params: CorpusParams, out: Path) -> str:
    clip = render_clip(spec, params)
    write_media(out / spec.path, clip.frames, fps=clip.fps, audio=clip.audio, sample_rate=clip.sample_rate)
    return spec.path


# --- process pool ------------------------------------------------------------------------------------
def _init_worker(landmarks: np.ndarray) -> None:
    import cv2

    cv2.setNumThreads(1)
    face_mod.source_landmarks.cache_clear()
    # seed this process's cache with the parent's FaceMesh result (no mediapipe in the workers)
    face_mod.source_landmarks = functools.lru_cache(maxsize=1)(lambda: landmarks)  # type: ignore[assignment]


def _work(spec: ClipSpec, params: CorpusParams, out: str) -> str:
    return write_clip(spec, params, Path(out))


def read_metadata(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _params_dict(params: CorpusParams) -> dict[str, object]:
    return asdict(params)


def is_complete(out: str | Path, params: CorpusParams) -> bool:
    """True when ``out`` holds a finished corpus made with exactly ``params``."""
    import json

    out = Path(out)
    meta = out / "corpus.json"
    if not meta.is_file() or not (out / "metadata.csv").is_file():
        return False
    try:
        saved = json.loads(meta.read_text())
    except (OSError, ValueError):
        return False
    if saved.get("params") != _params_dict(params) or not saved.get("complete"):
        return False
    return all((out / s.path).is_file() for s in plan(params))


def generate_corpus(out: str | Path, params: CorpusParams, workers: int = 2,
                    on_clip: Callable[[str], None] | None = None) -> dict[str, object]:
    """Write the corpus to ``out`` (resuming an interrupted run with the same parameters); returns the
    contents of corpus.json."""
    import json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / "corpus.json"
    if meta_path.is_file():
        try:
            saved = json.loads(meta_path.read_text())
        except ValueError:
            saved = {}
        if saved.get("params") not in (None, _params_dict(params)):
            raise AvemotionError(
                "holds a synthetic corpus made with other parameters "
                f"({saved.get('params')}); choose another --out folder or delete this one", meta_path)
        if is_complete(out, params):
            return saved
    atomic_write_json(meta_path, {"params": _params_dict(params), "complete": False})
    specs = plan(params)
    todo = [s for s in specs if not (out / s.path).is_file()]
    t0 = time.perf_counter()
    bar = progress(total=len(todo), desc="synthetic corpus", unit="clip")
    try:
        if workers <= 1 or len(todo) <= 1:
            for spec in todo:
                write_clip(spec, params, out)
                bar.update(1)
                if on_clip:
                    on_clip(spec.path)
        else:
            landmarks = face_mod.source_landmarks()
            ctx = multiprocessing.get_context("spawn")
            with single_threaded_children(), ProcessPoolExecutor(
                    max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(landmarks,)) as pool:
                futures = [pool.submit(_work, s, params, str(out)) for s in todo]
                for fut in as_completed(futures):
                    path = fut.result()
                    bar.update(1)
                    if on_clip:
                        on_clip(path)
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "label", "speaker"])
    for s in specs:
        writer.writerow([s.path, s.label, f"spk{s.speaker + 1:02d}"])
    atomic_write_text(out / "metadata.csv", buf.getvalue())
    info = {
        "params": _params_dict(params),
        "complete": True,
        "clips": len(specs),
        "generated": len(todo),
        "generation_seconds": round(elapsed, 2),
        "workers": workers,
        "clip_seconds": params.duration,
        "labels": list(label_names(params.labels)),
        "speakers": [asdict(make_speaker(params.seed, i)) for i in range(params.speakers)],
        "cpu_count": os.cpu_count(),
    }
    atomic_write_json(meta_path, info)
    return info
