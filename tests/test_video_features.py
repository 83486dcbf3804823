"""Video branch: face finding, tracking, masking, geometry normalisation, real clips, determinism."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from video_helpers import (
    astronaut,
    leaving_face_frames,
    moving_face_frames,
    noise_frames,
    two_face_frames,
    write_clip,
)

from avemotion.config import Config, FaceConfig, VideoConfig
from avemotion.errors import NoFaceFound
from avemotion.features import VIDEO_EXTRACTORS
from avemotion.features.record import ClipFeatures
from avemotion.features.video import geometry as geo
from avemotion.features.video.branch import VideoBranch, VideoFeatures
from avemotion.features.video.face import Detection, FaceFinder, choose_main, landmark_array, square_crop
from avemotion.media import VideoFrame, iter_frames

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def branch() -> Iterator[VideoBranch]:
    with VideoBranch(VideoConfig()) as b:
        yield b


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("faces")
    return {
        "moving": write_clip(d / "moving.mp4", moving_face_frames()),
        "leaving": write_clip(d / "leaving.mp4", leaving_face_frames()),
        "two": write_clip(d / "two_faces.mp4", two_face_frames()),
        "noise": write_clip(d / "noise.mp4", noise_frames()),
    }


def _check_contract(f: VideoFeatures, branch: VideoBranch) -> None:
    assert f.seq.dtype == np.float32 and f.seq.shape == (f.n_frames, branch.dim)
    assert f.mask.dtype == bool and f.mask.shape == (f.n_frames,)
    assert f.times.shape == (f.n_frames,) and np.all(np.diff(f.times) > 0)
    assert np.isfinite(f.seq).all()
    assert not f.seq[~f.mask].any(), "rows without a face must be all zeros"
    assert f.face_rate == pytest.approx(f.mask.mean() if f.n_frames else 0.0)
    # groups tile the columns without gaps or overlaps
    spans = sorted(f.groups.values())
    assert spans[0][0] == 0 and spans[-1][1] == f.dim
    assert all(a[1] == b[0] for a, b in pairwise(spans))
    assert len(f.feature_names) == f.dim


# --- configuration and registry --------------------------------------------------------------------------
def test_registry_and_config_defaults(branch: VideoBranch) -> None:
    assert "face" in VIDEO_EXTRACTORS
    cfg = Config().video
    assert cfg.extractors == ["face"] and cfg.fps == 15.0 and cfg.face.crop_scale == 2.0
    assert set(branch.groups) == {"geometry", "pose", "expression", "cnn_probs", "cnn_embedding", "motion"}
    assert branch.groups["cnn_probs"][1] - branch.groups["cnn_probs"][0] == 7
    assert branch.groups["cnn_embedding"][1] - branch.groups["cnn_embedding"][0] == 128
    no_cnn = VideoBranch(VideoConfig(face=FaceConfig(expression_cnn=False)))
    assert "cnn_probs" not in no_cnn.groups and no_cnn.dim < branch.dim


def test_choose_main_prefers_large_central_and_is_sticky() -> None:
    big = Detection((100, 100, 300, 300), 0.9)
    small = Detection((500, 100, 600, 200), 0.95)
    assert choose_main([small, big], 640, 480) is big
    # a track on the small face is kept unless the other scores much higher
    similar = Detection((300, 100, 440, 240), 0.9)
    track = (500, 100, 600, 200)
    assert choose_main([small, Detection((100, 150, 210, 260), 0.9)], 640, 480, track) is small
    assert choose_main([small, big], 640, 480, track) is big
    assert choose_main([], 640, 480) is None
    assert choose_main([similar], 640, 480, track) is similar


def test_square_crop_pads_outside_the_frame() -> None:
    img = np.full((100, 100, 3), 200, np.uint8)
    crop, (x0, y0, side) = square_crop(img, (80, 80, 100, 100), 2.0)
    assert crop.shape == (40, 40, 3) and (x0, y0, side) == (70, 70, 40)
    assert crop[:30, :30].min() == 200 and crop[35:, 35:].max() == 0


# --- the astronaut photo ------------------------------------------------------------------------------------
def test_astronaut_landmarks_and_normalised_geometry() -> None:
    img = astronaut()
    with FaceFinder() as finder:
        dets = finder.detect(img)
        assert len(dets) == 1 and dets[0].score > 0.8
        obs = finder.process(img)
        assert obs is not None and obs.landmarks.shape == (478, 3)
        x0, y0, x1, y1 = dets[0].box
        cx, cy = obs.landmarks[:, 0].mean(), obs.landmarks[:, 1].mean()
        assert x0 < cx < x1 and y0 < cy < y1
        g0, p0, e0, place0 = geo.face_geometry(obs.landmarks)

        # rotate by 15 degrees, shrink to 70% and shift: geometry must stay, roll must follow
        m = cv2.getRotationMatrix2D((256, 256), 15, 0.7)
        m[:, 2] += (40, -30)
        moved = cv2.warpAffine(img, m, (512, 512), borderMode=cv2.BORDER_REFLECT)
        finder.reset()
        obs2 = finder.process(moved)
        assert obs2 is not None
        g1, p1, e1, place1 = geo.face_geometry(obs2.landmarks)
    assert np.abs(g1 - g0).mean() < 0.03  # IOD units
    assert np.abs(e1 - e0).max() < 0.08
    assert np.degrees(place0["roll"] - place1["roll"]) == pytest.approx(15, abs=2.5)
    assert np.degrees(p1[2] - p0[2]) == pytest.approx(15, abs=3)  # pose roll: counter-clockwise positive
    assert place1["iod"] / place0["iod"] == pytest.approx(0.7, abs=0.05)
    # she smiles with the mouth closed: corners above the lip midline, eyes open
    names = list(geo.EXPRESSION_NAMES)
    assert e0[names.index("lip_corner_raise")] > 0
    assert e0[names.index("eye_open_right")] > 0.15 and e0[names.index("eye_open_left")] > 0.15


def test_landmark_array_reads_the_message_bytes_exactly() -> None:
    """The fast read of FaceMesh's landmark message gives the numbers of the point-by-point read, also for a
    message whose bytes are laid out otherwise (a zero coordinate is left out, visibility is present)."""
    from avemotion.utils.quiet_mediapipe import import_mediapipe

    import_mediapipe()
    from mediapipe.framework.formats import landmark_pb2

    img = astronaut()
    with FaceFinder() as finder:
        obs = finder.process(img)
        assert obs is not None
        _, mesh = finder._graphs()
        crop, _ = square_crop(img, obs.box, finder.crop_scale, finder.mesh_input_side)
        message = mesh.process(crop).multi_face_landmarks[0]

    def slow(msg: landmark_pb2.NormalizedLandmarkList) -> np.ndarray:
        return np.array([(p.x, p.y, p.z) for p in msg.landmark], dtype=np.float64)

    fast = landmark_array(message)
    assert fast.shape == (478, 3) and fast.dtype == np.float64
    assert np.array_equal(fast, slow(message))
    odd = landmark_pb2.NormalizedLandmarkList()
    odd.CopyFrom(message)
    odd.landmark[3].x = 0.0  # proto3 leaves a zero out of the bytes
    odd.landmark[7].visibility = 0.5
    assert np.array_equal(landmark_array(odd), slow(odd)) and landmark_array(odd)[3, 0] == 0.0
    assert landmark_array(landmark_pb2.NormalizedLandmarkList()).shape == (0, 3)


def test_track_survives_a_detector_miss() -> None:
    """When the periodic re-detection sees nothing, the mesh keeps following the tracked face."""
    img = astronaut()
    with FaceFinder(redetect_every=1) as finder:
        first = finder.process(img)
        assert first is not None and first.detected
        finder.detect = lambda image: []  # type: ignore[method-assign]
        again = finder.process(img)
        assert again is not None and not again.detected
        assert np.abs(again.landmarks[:, :2] - first.landmarks[:, :2]).mean() < 2.0
        finder.reset()
        assert finder.process(img) is None  # no track and no detection: nothing is invented


def test_head_pose_follows_a_turned_face() -> None:
    """A synthetic yaw: compress one side of the 3-D landmarks' depth profile via a real rotation."""
    with FaceFinder() as finder:
        obs = finder.process(astronaut())
    assert obs is not None
    lm = obs.landmarks.astype(np.float64)
    centre = lm.mean(axis=0)
    yaw0 = geo.head_pose(lm)[0]
    a = np.radians(20)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    turned = (lm - centre) @ rot.T + centre
    assert abs(abs(geo.head_pose(turned)[0] - yaw0) - a) < np.radians(2)
    tilt = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    tilted = (lm - centre) @ tilt.T + centre
    assert abs(abs(geo.head_pose(tilted)[1] - geo.head_pose(lm)[1]) - a) < np.radians(2)


# --- synthetic clips ----------------------------------------------------------------------------------------
def test_moving_face_is_tracked(branch: VideoBranch, clips: dict[str, Path]) -> None:
    f = branch.extract_file(clips["moving"])
    _check_contract(f, branch)
    assert f.mask.all()
    centres = (f.boxes[:, 0] + f.boxes[:, 2]) / 2
    sizes = f.boxes[:, 2] - f.boxes[:, 0]
    assert centres[-1] - centres[0] > 150 and np.all(np.diff(centres) > 0)
    assert sizes[-1] / sizes[0] == pytest.approx(230 / 150, rel=0.15)
    # normalised geometry does not move with the head; the head-motion features do
    geometry = f.group("geometry")
    assert np.abs(geometry - geometry.mean(axis=0)).mean() < 0.05
    motion = f.group("motion")
    names = f.feature_names[f.groups["motion"][0] : f.groups["motion"][1]]
    dx = motion[1:, names.index("head_dx")]
    valid = motion[:, names.index("motion_valid")]
    assert valid[0] == 0 and valid[1:].all()
    assert np.all(dx > 0)
    # few detections: the track carries the face between re-detections (once per second)
    assert f.timings["detection"] > 0


def test_face_leaving_the_frame_is_masked(branch: VideoBranch, clips: dict[str, Path]) -> None:
    f = branch.extract_file(clips["leaving"])
    _check_contract(f, branch)
    assert f.mask[:6].all() and not f.mask[-8:].any()
    # once gone it stays gone (no ghost faces in the empty background)
    first_gap = int(np.argmin(f.mask))
    assert not f.mask[first_gap:].any()
    assert 0.25 < f.face_rate < 0.6


def test_two_faces_main_speaker_is_stable(branch: VideoBranch, clips: dict[str, Path]) -> None:
    f = branch.extract_file(clips["two"])
    _check_contract(f, branch)
    assert f.mask.all()
    centres = (f.boxes[:, 0] + f.boxes[:, 2]) / 2
    assert np.all(centres < 320), "the large face on the left is the main speaker in every frame"
    assert np.ptp(centres) < 40


def test_noise_clip_has_no_face(branch: VideoBranch, clips: dict[str, Path]) -> None:
    f = branch.extract_file(clips["noise"])
    _check_contract(f, branch)
    assert f.n_frames == 20 and not f.mask.any() and f.face_rate == 0.0 and not f.seq.any()
    with pytest.raises(NoFaceFound) as err:
        branch.extract_file(clips["noise"], require_face=True)
    assert "noise.mp4" in str(err.value) and "audio-only" in str(err.value)
    assert err.value.reason == "no_face"
    strict_config = VideoConfig(require_face=True, face=FaceConfig(expression_cnn=False))
    with VideoBranch(strict_config) as strict, pytest.raises(NoFaceFound):
        strict.extract_file(clips["noise"])
    # a faceless clip stays usable audio-only: no video in its ClipFeatures
    clip = ClipFeatures.from_branches("noise", video=f)
    assert not clip.has_video and clip.video_seq is None and not clip.video_groups


def test_clip_features_from_video_round_trip(branch: VideoBranch, clips: dict[str, Path], tmp_path: Path) -> None:
    f = branch.extract_file(clips["leaving"])
    clip = ClipFeatures.from_branches("leaving", video=f)
    clip.validate()
    back = ClipFeatures.load(clip.save(tmp_path / "leaving.npz"))
    assert back.has_video and np.array_equal(back.video_mask, f.mask)
    assert np.array_equal(back.video_seq, f.seq) and back.video_groups == f.groups


def test_frames_are_streamed_not_kept(branch: VideoBranch, clips: dict[str, Path]) -> None:
    alive: list[weakref.ref] = []
    most_alive = 0

    def frames() -> Iterator[VideoFrame]:
        nonlocal most_alive
        for frame in iter_frames(clips["moving"], 15.0):
            alive.append(weakref.ref(frame.image))
            most_alive = max(most_alive, sum(r() is not None for r in alive))
            yield frame

    f = branch.extract_frames(frames())
    assert f.n_frames == 24 and f.mask.all()
    assert most_alive <= 2


def test_window_is_a_slice_with_fresh_motion(branch: VideoBranch, clips: dict[str, Path]) -> None:
    f = branch.extract_file(clips["moving"])
    w = f.window(0.5, 1.0)
    keep = (f.times >= 0.5 - 1e-6) & (f.times <= 1.0 + 1e-6)
    assert w.n_frames == keep.sum() == 8 and np.array_equal(w.times, f.times[keep])
    m0, m1 = f.groups["motion"]
    assert f.seq[keep][0, m0:m1].any() and not w.seq[0, m0:m1].any()  # no previous frame inside the window
    assert np.array_equal(w.seq[1:], f.seq[keep][1:]) and np.array_equal(w.seq[0, :m0], f.seq[keep][0, :m0])
    assert w.window(0.5, 1.0, max_frames=3).n_frames == 3 and w.face_rate == 1.0
    # the streamed rows are the clip's rows
    rows = list(branch.iter_rows(iter_frames(clips["moving"], 15.0)))
    assert np.array_equal(np.stack([r[1] for r in rows]), f.seq)


def test_max_frames_and_fps(clips: dict[str, Path]) -> None:
    with VideoBranch(VideoConfig(fps=5.0, max_frames=4)) as b:
        f = b.extract_file(clips["moving"])
    assert f.n_frames == 4 and np.allclose(np.diff(f.times), 0.2)


# --- real clips ---------------------------------------------------------------------------------------------
@pytest.mark.shared
@pytest.mark.parametrize(
    "rel",
    ["cremad_sample/1001_DFA_HAP_XX.flv", "cremad_sample/1001_DFA_ANG_XX.flv",
     "ravdess_sample/01-01-01-01-01-01-01.mp4"],
)
def test_real_clips_have_landmarks(shared_data: Path, rel: str) -> None:
    with VideoBranch(VideoConfig(max_frames=30)) as b:
        f = b.extract_file(shared_data / rel, require_face=True)
    assert 25 <= f.n_frames <= 30  # the HAP clip is under 2 s
    assert f.face_rate >= 0.95
    assert np.isfinite(f.seq).all()
    sizes = (f.boxes[f.mask, 2] - f.boxes[f.mask, 0])
    if rel.startswith("ravdess"):
        assert sizes.mean() < 0.3 * 1280  # a small face in a wide frame, found by the two-stage finder
    probs = f.group("cnn_probs")[f.mask]
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)


@pytest.mark.shared
def test_determinism(shared_data: Path) -> None:
    path = shared_data / "cremad_sample/1001_DFA_SAD_XX.flv"
    with VideoBranch(VideoConfig(max_frames=12)) as b:
        a = b.extract_file(path)
        c = b.extract_file(path)  # same branch, second clip: state must be reset
    with VideoBranch(VideoConfig(max_frames=12)) as fresh:
        d = fresh.extract_file(path)
    for other in (c, d):
        assert np.array_equal(a.mask, other.mask)
        assert np.array_equal(a.seq, other.seq)


def test_square_crop_resampled_matches_plain_crop() -> None:
    img = np.zeros((400, 400, 3), np.uint8)
    img[150:250, 150:250] = 255
    small, (x0, y0, side) = square_crop(img, (150, 150, 250, 250), 3.0, max_side=100)
    assert small.shape == (100, 100, 3) and (x0, y0, side) == (50, 50, 300)
    # the white square maps to the middle third of the resampled crop
    assert small[40:60, 40:60].min() == 255 and small[:30, :30].max() == 0
    assert abs(int((small[:, :, 0] > 127).sum()) - 33 * 33) < 80


def test_small_face_needs_the_two_stage_finder() -> None:
    """A ~70 px face in a 1280x720 frame: FaceMesh's own short-range detector misses it, two stages don't."""
    import warnings

    from video_helpers import canvas, face_patch, paste

    frame = paste(canvas(720, 1280), face_patch(160), 900, 250)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mediapipe as mp

        with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True) as alone:
            assert alone.process(frame).multi_face_landmarks is None
    with FaceFinder() as finder:
        obs = finder.process(frame)
    assert obs is not None
    cx = (obs.box[0] + obs.box[2]) / 2
    assert abs(cx - 900) < 30 and 50 < obs.box[2] - obs.box[0] < 110
