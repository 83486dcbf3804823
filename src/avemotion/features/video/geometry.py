"""Per-frame face geometry from FaceMesh landmarks: normalised shape, head pose, expression measures.

All measures are computed from the 478 landmarks in frame pixels (x right, y down; z in the same pixel
scale, smaller = nearer the camera).

* **Normalisation** (``normalise``): origin at the midpoint of the two eye centres, in-plane rotation
  removed (the eye line made horizontal), lengths divided by the inter-ocular distance (IOD, between the
  eye centres). y is flipped so that "up" is positive. The result does not depend on where the head is in
  the frame, how large it is, or its roll.
* **Geometry group**: the normalised (x, y) of :data:`GEOMETRY_POINTS` (brows, eyes, nose, lips, jaw
  line: a 68-point-style subset of the 478 points).
* **Pose group**: yaw, pitch, roll in radians from a face frame built on the 3-D landmarks (x axis: right
  eye outer corner -> left eye outer corner; y axis: chin -> forehead, orthogonalised; z = x cross y).
  Angles are relative to the face as MediaPipe's mesh lays it out, i.e. about 0 for a frontal face.
* **Expression group**: interpretable measures in IOD units (see :data:`EXPRESSION_NAMES`).
"""

from __future__ import annotations

import numpy as np

# --- MediaPipe FaceMesh indices (subject's right = image left) ---------------------------------------------
R_EYE_OUTER, R_EYE_INNER, L_EYE_INNER, L_EYE_OUTER = 33, 133, 362, 263
R_EYE_LIDS = ((159, 145), (158, 153), (160, 144))  # (upper, lower) pairs
L_EYE_LIDS = ((386, 374), (385, 380), (387, 373))
R_BROW = (70, 63, 105, 66, 107)  # outer -> inner (upper edge)
L_BROW = (300, 293, 334, 296, 336)
R_BROW_INNER, L_BROW_INNER = 107, 336
NOSE_TIP, NOSE_BRIDGE, SUBNASALE = 1, 168, 2
R_ALA, L_ALA = 98, 327
MOUTH_R, MOUTH_L = 61, 291
UPPER_LIP_TOP, LOWER_LIP_BOTTOM = 0, 17
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14
CHIN, FOREHEAD = 152, 10
R_IRIS, L_IRIS = 468, 473  # refine_landmarks only

#: landmarks whose normalised (x, y) form the geometry group (brows 10, eyes 12, nose 7, lips 14, jaw 9)
GEOMETRY_POINTS: tuple[int, ...] = (
    # brows
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    # eyes: corners and lids
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    # nose
    168, 6, 1, 98, 327, 2, 4,
    # lips: outer and inner contour
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91, 13, 14,
    # jaw line
    234, 132, 172, 150, 152, 379, 397, 361, 454,
)
GEOMETRY_DIM = 2 * len(GEOMETRY_POINTS)
POSE_NAMES: tuple[str, ...] = ("yaw", "pitch", "roll")

EXPRESSION_NAMES: tuple[str, ...] = (
    "brow_raise_right",  # mean height of the right brow above the right eye centre
    "brow_raise_left",
    "brow_inner_raise",  # inner brow ends above the eye line (AU1)
    "brow_furrow",  # distance between the inner brow ends (small: AU4 frown)
    "eye_open_right",  # mean lid gap / eye width
    "eye_open_left",
    "mouth_open",  # inner lip gap
    "mouth_width",  # corner to corner
    "mouth_aspect",  # inner gap / width
    "lip_corner_raise",  # corners above the lip midpoint (smile +, frown -)
    "lip_corner_asymmetry",  # left minus right corner height
    "upper_lip_to_nose",  # subnasale to upper lip (short: upper lip raiser / nose wrinkle, AU9/10)
    "nostril_width",  # alar width (flares with AU9/AU38)
    "brow_to_nose",  # inner brows to the nose bridge (short: nose wrinkle / frown)
    "lip_height",  # outer lip top to bottom
    "jaw_drop",  # nose tip to chin
    "gaze_x",  # iris position between the eye corners (0.5 = centre), both eyes averaged
    "gaze_y",  # iris height relative to the eye line, in eye widths
)
EXPRESSION_DIM = len(EXPRESSION_NAMES)


def eye_centres(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    right = (lm[R_EYE_OUTER, :2] + lm[R_EYE_INNER, :2]) / 2
    left = (lm[L_EYE_INNER, :2] + lm[L_EYE_OUTER, :2]) / 2
    return right, left


def normalise(lm: np.ndarray) -> tuple[np.ndarray, float, float, np.ndarray]:
    """2-D landmarks in the face frame (x right, y up, IOD = 1).

    Returns (points (N, 2), iod, roll, origin)."""
    right, left = eye_centres(lm)
    d = left - right
    iod = float(np.hypot(d[0], d[1]))
    if iod < 1e-6:
        raise ValueError("degenerate landmarks (eyes coincide)")
    roll = float(np.arctan2(d[1], d[0]))
    origin = (right + left) / 2
    c, s = np.cos(-roll), np.sin(-roll)
    rot = np.array([[c, -s], [s, c]])
    pts = (lm[:, :2] - origin) @ rot.T / iod
    pts[:, 1] = -pts[:, 1]
    return pts, iod, roll, origin


def head_pose(lm: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) in radians from the 3-D landmarks."""
    p = lm.astype(np.float64)
    x = p[L_EYE_OUTER] - p[R_EYE_OUTER]
    x /= np.linalg.norm(x) + 1e-12
    up = p[FOREHEAD] - p[CHIN]
    y = up - (up @ x) * x
    y /= np.linalg.norm(y) + 1e-12
    z = np.cross(x, y)
    r = np.stack([x, y, z], axis=1)  # columns: face axes in camera coordinates
    # camera coordinates: x right, y down, z away.
    # A frontal upright face has x=(1,0,0), y=(0,-1,0), z=(0,0,-1).
    base = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])
    rel = base.T @ r  # rotation from the frontal pose
    yaw = float(np.arcsin(np.clip(-rel[2, 0], -1, 1)))
    pitch = float(np.arctan2(rel[2, 1], rel[2, 2]))
    roll = float(np.arctan2(rel[1, 0], rel[0, 0]))
    return np.array([yaw, pitch, roll], dtype=np.float32)


def expression_measures(pts: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """The :data:`EXPRESSION_NAMES` measures from normalised points ``pts`` (IOD units, y up)."""

    def dist(a: int, b: int) -> float:
        return float(np.hypot(*(pts[a] - pts[b])))

    r_eye = (pts[R_EYE_OUTER] + pts[R_EYE_INNER]) / 2
    l_eye = (pts[L_EYE_INNER] + pts[L_EYE_OUTER]) / 2
    r_width = dist(R_EYE_OUTER, R_EYE_INNER)
    l_width = dist(L_EYE_INNER, L_EYE_OUTER)
    brow_r = float(np.mean(pts[list(R_BROW), 1]) - r_eye[1])
    brow_l = float(np.mean(pts[list(L_BROW), 1]) - l_eye[1])
    brow_inner = float((pts[R_BROW_INNER, 1] + pts[L_BROW_INNER, 1]) / 2)  # eye line is y = 0
    furrow = dist(R_BROW_INNER, L_BROW_INNER)
    eye_r = float(np.mean([dist(u, lo) for u, lo in R_EYE_LIDS])) / max(r_width, 1e-6)
    eye_l = float(np.mean([dist(u, lo) for u, lo in L_EYE_LIDS])) / max(l_width, 1e-6)
    mouth_open = dist(UPPER_LIP_INNER, LOWER_LIP_INNER)
    mouth_width = dist(MOUTH_R, MOUTH_L)
    mid_y = (pts[UPPER_LIP_INNER, 1] + pts[LOWER_LIP_INNER, 1]) / 2
    corner_raise = float((pts[MOUTH_R, 1] + pts[MOUTH_L, 1]) / 2 - mid_y)
    corner_asym = float(pts[MOUTH_L, 1] - pts[MOUTH_R, 1])
    lip_to_nose = dist(SUBNASALE, UPPER_LIP_TOP)
    nostril = dist(R_ALA, L_ALA)
    brow_nose = float(np.hypot(*((pts[R_BROW_INNER] + pts[L_BROW_INNER]) / 2 - pts[NOSE_BRIDGE])))
    lip_height = dist(UPPER_LIP_TOP, LOWER_LIP_BOTTOM)
    jaw = dist(NOSE_TIP, CHIN)
    if lm.shape[0] > L_IRIS:
        gx_r = (pts[R_IRIS, 0] - pts[R_EYE_OUTER, 0]) / max(pts[R_EYE_INNER, 0] - pts[R_EYE_OUTER, 0], 1e-6)
        gx_l = (pts[L_IRIS, 0] - pts[L_EYE_INNER, 0]) / max(pts[L_EYE_OUTER, 0] - pts[L_EYE_INNER, 0], 1e-6)
        gaze_x = float(np.clip((gx_r + gx_l) / 2, -1.0, 2.0))
        gy = (pts[R_IRIS, 1] - r_eye[1]) / max(r_width, 1e-6)
        gy += (pts[L_IRIS, 1] - l_eye[1]) / max(l_width, 1e-6)
        gaze_y = float(np.clip(gy / 2, -1.0, 1.0))
    else:
        gaze_x, gaze_y = 0.5, 0.0
    return np.array(
        [brow_r, brow_l, brow_inner, furrow, eye_r, eye_l, mouth_open, mouth_width,
         mouth_open / max(mouth_width, 1e-6), corner_raise, corner_asym, lip_to_nose, nostril, brow_nose,
         lip_height, jaw, gaze_x, gaze_y],
        dtype=np.float32,
    )


def face_geometry(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, float]]:
    """(geometry (GEOMETRY_DIM,), pose (3,), expression (EXPRESSION_DIM,), frame placement) for one face.

    The placement dict (``cx``, ``cy``, ``iod`` in pixels, ``roll``) is what the motion group needs.
    """
    pts, iod, roll, origin = normalise(lm)
    geometry = pts[list(GEOMETRY_POINTS)].reshape(-1).astype(np.float32)
    pose = head_pose(lm)
    expr = expression_measures(pts, lm)
    return geometry, pose, expr, {"cx": float(origin[0]), "cy": float(origin[1]), "iod": iod, "roll": roll}


def alignment_matrix(
    lm: np.ndarray, size: int = 64, eye_y: float = 0.38, eye_mouth: float = 0.36
) -> np.ndarray:
    """2x3 affine that maps the frame to an upright ``size`` x ``size`` face crop in FER2013 framing.

    The eye-centre midpoint goes to (size/2, eye_y * size), the eye line becomes horizontal and the
    distance from the eyes to the mouth centre becomes ``eye_mouth * size`` (FER2013 faces: eyes at about
    38% of the height, mouth at about 74%). Scaling by the eye-mouth distance rather than the IOD keeps the
    framing stable under yaw.
    """
    right, left = eye_centres(lm)
    eyes = (right + left) / 2
    mouth = (lm[MOUTH_R, :2] + lm[MOUTH_L, :2] + lm[UPPER_LIP_INNER, :2] + lm[LOWER_LIP_INNER, :2]) / 4
    d = left - right
    roll = np.arctan2(d[1], d[0])
    scale = eye_mouth * size / max(float(np.hypot(*(mouth - eyes))), 1e-6)
    c, s = np.cos(-roll) * scale, np.sin(-roll) * scale
    m = np.array([[c, -s, 0.0], [s, c, 0.0]])
    m[:, 2] = np.array([size / 2, eye_y * size]) - m[:, :2] @ eyes
    return m
