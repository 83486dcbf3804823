"""Animating a real face photo (``skimage.data.astronaut()``) with smooth, landmark-anchored warps.

The facial regions are located once per process with MediaPipe FaceMesh (static image mode, the model bundled
in mediapipe 0.10.14) and cached. Each facial action (brow raise, furrow, lid raise, cheek raise, smile, ...)
is a *backward* displacement field: the output pixel q shows the source pixel at ``q + S(q)``. Region moves
are Gaussian-weighted translations (``S = -v * g``, accurate for the small, smooth moves used); lip closure,
eyelid closure (blinks, squints) and the jaw drop are "seam" fields whose sign flips across the lip line or
the lower lid, so lips meet and lids close with a crisp edge; the gap a dropped jaw opens is painted as the
dark mouth interior. A frame's field is a weighted sum of per-clip precomputed basis fields (one per action),
head motion is a small rotation/translation/scale weighted by a soft head mask, and one ``cv2.remap`` from the
source photo renders the frame; per-speaker identity (crop, scale, aspect, mirror, colour, gamma, lighting)
lives in the canvas-to-photo transform and in colour maps computed once per clip. The per-frame weights of
those fields (expression timing, blinks, head motion) come from :mod:`avemotion.data.synthetic.motion`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import cv2
import numpy as np

from avemotion.data.synthetic.motion import smoothstep
from avemotion.errors import NoFaceFound

# FaceMesh landmark indices (subject's right = image left)
BROW_R = (70, 63, 105, 66, 107)
BROW_L = (300, 293, 334, 296, 336)
INNER_BROW = (107, 336)
EYE_R = {"upper": 159, "lower": 145, "outer": 33, "inner": 133}
EYE_L = {"upper": 386, "lower": 374, "outer": 263, "inner": 362}
MOUTH_CORNERS = (61, 291)
UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
NOSE_WINGS = (129, 358)
UPPER_LIP_CENTRE = 0
CHEEKS = (50, 280)
CHIN = 152
FOREHEAD = 10
FACE_SIDES = (234, 454)

#: basis fields, in this order: the facial actions of profiles.ACTIONS + lip and lid closure
BASIS_NAMES = ("brow_raise", "inner_brow", "brow_lower", "lid_raise", "cheek", "smile", "depress", "stretch",
               "nose", "jaw", "lip_close", "lid_close")


@functools.lru_cache(maxsize=1)
def source_image() -> np.ndarray:
    """The face photo (512x512 RGB uint8) that scikit-image ships."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@functools.lru_cache(maxsize=1)
def source_landmarks() -> np.ndarray:
    """(478, 2) FaceMesh landmarks of :func:`source_image` in pixel coordinates (computed once per process)."""
    return detect_landmarks(source_image(), refine=True, what="skimage.data.astronaut()")


def detect_landmarks(image: np.ndarray, *, refine: bool = False, what: str = "image") -> np.ndarray:
    """FaceMesh landmarks (N, 2) in pixels of an RGB uint8 image; raises NoFaceFound when there is no face."""
    from avemotion.utils.quiet_mediapipe import import_mediapipe, native_stderr_silenced

    mp = import_mediapipe()
    with native_stderr_silenced(), mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=1, refine_landmarks=refine, min_detection_confidence=0.5
    ) as mesh:
        result = mesh.process(np.ascontiguousarray(image))
    if not result.multi_face_landmarks:
        raise NoFaceFound("FaceMesh found no face", what)
    h, w = image.shape[:2]
    lm = result.multi_face_landmarks[0].landmark
    return np.array([[p.x * w, p.y * h] for p in lm], dtype=np.float64)


@dataclass(frozen=True)
class FaceIdentity:
    """How one synthetic speaker looks: framing, face shape and colour (all relative to the photo)."""

    crop: float = 210.0  # source pixels across the canvas width
    offset: tuple[float, float] = (0.0, 0.0)  # face centre offset in the canvas, fraction of the canvas
    roll: float = 0.0  # degrees
    aspect: float = 1.0  # horizontal stretch of the face (>1 wider)
    mirror: bool = False
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)  # white balance
    saturation: float = 1.0
    gamma: float = 1.0
    light: float = 0.0  # strength of a side-light gradient
    light_angle: float = 0.0  # radians, direction of the light in the canvas
    shape: dict[str, float] = field(default_factory=dict)  # static action offsets (face shape)


def _g(px: np.ndarray, py: np.ndarray, c: np.ndarray, sx: float, sy_up: float, sy_down: float | None = None,
       px_pow: float = 2.0) -> np.ndarray:
    """Gaussian-like weight around ``c``; separate vertical widths above/below; flat-topped for px_pow>2."""
    sy_down = sy_up if sy_down is None else sy_down
    dx = np.abs(px - c[0]) / sx
    dy = py - c[1]
    dy = np.where(dy < 0, -dy / sy_up, dy / sy_down)
    return np.exp(-0.5 * (dx**px_pow + dy**2))


class FaceRig:
    """Per-clip renderer: basis fields on the canvas grid for one identity, then cheap per-frame frames."""

    def __init__(self, identity: FaceIdentity, size: tuple[int, int] = (256, 256),
                 landmarks: np.ndarray | None = None, image: np.ndarray | None = None) -> None:
        self.identity = identity
        self.width, self.height = size
        self.lm = source_landmarks() if landmarks is None else landmarks
        src = source_image() if image is None else image
        self.source = self._colour(src, identity)
        lm = self.lm
        eye_r = lm[[EYE_R["outer"], EYE_R["inner"]]].mean(0)
        eye_l = lm[[EYE_L["outer"], EYE_L["inner"]]].mean(0)
        self.u = float(np.linalg.norm(eye_l - eye_r))  # inter-ocular distance, the unit of all moves
        self.face_centre = 0.5 * (lm[FOREHEAD] + lm[CHIN])
        # canvas -> source affine (2x3): scale, aspect, roll, mirror, offset
        w, h = self.width, self.height
        scale = identity.crop / w
        ang = np.deg2rad(identity.roll)
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        lin = rot @ np.diag([scale / identity.aspect * (-1 if identity.mirror else 1), scale])
        centre_canvas = np.array([w / 2 + identity.offset[0] * w, h / 2 + identity.offset[1] * h])
        self.lin = lin
        self.trans = self.face_centre - lin @ centre_canvas
        qx, qy = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        self.qx, self.qy = qx.astype(np.float32), qy.astype(np.float32)
        px = lin[0, 0] * qx + lin[0, 1] * qy + self.trans[0]
        py = lin[1, 0] * qx + lin[1, 1] * qy + self.trans[1]
        self.px, self.py = px, py
        # smooth fields (brows, lids, cheeks, mouth corners, nose) are evaluated at half resolution and
        # upsampled; the seam fields (lip closure, jaw drop) at full resolution around the mouth only
        self._smooth = [i for i, name in enumerate(BASIS_NAMES) if name not in ("lid_close", "jaw", "lip_close")]
        self._seam = [BASIS_NAMES.index("jaw"), BASIS_NAMES.index("lip_close")]
        hx, hy = np.meshgrid(np.arange(w // 2) * 2 + 0.5, np.arange(h // 2) * 2 + 0.5)
        hpx = lin[0, 0] * hx + lin[0, 1] * hy + self.trans[0]
        hpy = lin[1, 0] * hx + lin[1, 1] * hy + self.trans[1]
        basis = np.stack([self._basis(BASIS_NAMES[i], hpx, hpy) for i in self._smooth])  # (K, 2, h/2, w/2)
        # (K, h/2*w/2*2): one matrix-vector product per frame gives the (h/2, w/2, 2) field
        self.basis_flat = np.ascontiguousarray(basis.transpose(0, 2, 3, 1).reshape(len(self._smooth), -1),
                                               dtype=np.float32)
        self._jaw_setup(px, py)
        r0, r1, c0, c1 = self.mouth_roi
        seam = np.stack([self._basis(BASIS_NAMES[i], px[r0:r1, c0:c1], py[r0:r1, c0:c1]) for i in self._seam])
        self.seam_flat = np.ascontiguousarray(seam.transpose(0, 2, 3, 1).reshape(len(self._seam), -1),
                                              dtype=np.float32)
        self._lid_setup(px, py)
        # head mask and pivot in canvas coordinates
        inv = np.linalg.inv(lin)
        self.to_canvas = lambda p: inv @ (np.asarray(p) - self.trans)
        fc = self.to_canvas(self.face_centre)
        half_w = np.linalg.norm(inv @ (lm[FACE_SIDES[1]] - lm[FACE_SIDES[0]])) / 2
        half_h = np.linalg.norm(inv @ (lm[CHIN] - lm[FOREHEAD])) / 2
        r = np.sqrt(((qx - fc[0]) / (1.45 * half_w)) ** 2 + ((qy - fc[1]) / (1.55 * half_h)) ** 2)
        self.head_w = (1.0 - smoothstep((r - 0.85) / 0.5)).astype(np.float32)
        self.pivot = self.to_canvas(lm[CHIN]) + np.array([0.0, 0.25 * half_h])
        self.u_canvas = float(self.u / scale)
        # side light: multiplicative gradient across the canvas
        d = (np.cos(identity.light_angle) * (qx - w / 2) + np.sin(identity.light_angle) * (qy - h / 2)) / w
        self.light = (1.0 + identity.light * 2 * d).astype(np.float32)[..., None]

    # --- colour --------------------------------------------------------------------------------------
    @staticmethod
    def _colour(src: np.ndarray, ident: FaceIdentity) -> np.ndarray:
        img = src.astype(np.float32) / 255.0
        grey = img.mean(axis=2, keepdims=True)
        img = grey + ident.saturation * (img - grey)
        img = img * np.asarray(ident.gains, np.float32)
        img = np.clip(img, 0, 1) ** ident.gamma
        return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)

    # --- basis fields (backward displacement in source pixels, for activation 1) ----------------------
    def _basis(self, name: str, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        lm, u = self.lm, self.u
        sx = np.zeros_like(px)
        sy = np.zeros_like(py)
        midline = 0.5 * (lm[INNER_BROW[0], 0] + lm[INNER_BROW[1], 0])

        def move(c: np.ndarray, v: tuple[float, float], gx: float, gy_up: float, gy_down: float | None = None,
                 pw: float = 2.0) -> None:
            wgt = _g(px, py, c, gx * u, gy_up * u, None if gy_down is None else gy_down * u, pw)
            sx[...] -= v[0] * u * wgt
            sy[...] -= v[1] * u * wgt

        def toward_mid(c: np.ndarray) -> float:
            return 1.0 if c[0] < midline else -1.0

        if name == "brow_raise":
            for brow in (BROW_R, BROW_L):
                c = lm[list(brow)].mean(0)
                move(c, (0.0, -0.14), 0.42, 0.35, 0.13, pw=4)
        elif name == "inner_brow":
            for i in INNER_BROW:
                c = lm[i]
                move(c, (0.02 * toward_mid(c), -0.12), 0.17, 0.28, 0.11)
        elif name == "brow_lower":
            for brow, i in ((BROW_R, INNER_BROW[0]), (BROW_L, INNER_BROW[1])):
                c = lm[i]
                move(c, (0.07 * toward_mid(c), 0.08), 0.2, 0.25, 0.12)
                move(lm[list(brow)].mean(0), (0.0, 0.035), 0.4, 0.3, 0.12, pw=4)
        elif name == "lid_raise":
            for eye in (EYE_R, EYE_L):
                c = lm[eye["upper"]]
                move(c, (0.0, -0.035), 0.26, 0.12, 0.035, pw=4)
        elif name == "cheek":
            for i, eye in zip(CHEEKS, (EYE_R, EYE_L), strict=True):
                move(lm[i], (0.0, -0.07), 0.3, 0.25)
                move(lm[eye["lower"]] + np.array([0.0, 0.03 * u]), (0.0, -0.035), 0.25, 0.05, 0.12, pw=4)
        elif name in ("smile", "depress", "stretch"):
            v = {"smile": (0.05, -0.07), "depress": (-0.02, 0.13), "stretch": (0.1, 0.02)}[name]
            for i in MOUTH_CORNERS:
                c = lm[i]
                out = -toward_mid(c)
                move(c, (out * v[0], v[1]), 0.22, 0.22)
        elif name == "nose":
            for i in NOSE_WINGS:
                move(lm[i], (0.0, -0.05), 0.13, 0.13)
            move(lm[UPPER_LIP_CENTRE], (0.0, -0.06), 0.32, 0.1, 0.08, pw=4)
        elif name == "jaw":
            lo = self._lip_line(LOWER_INNER_LIP, px)
            env_x = self._mouth_env_x(px, widen=1.15, pw=2.0)
            below = 1.0 / (1.0 + np.exp(-(py - lo) / 0.8))
            chin_y = lm[CHIN, 1]
            fade = np.exp(-0.5 * (np.clip(py - chin_y, 0, None) / (0.35 * u)) ** 2)
            sy[...] = -0.2 * u * below * env_x * fade
        elif name == "lip_close":
            up = self._lip_line(UPPER_INNER_LIP, px)
            lo = self._lip_line(LOWER_INNER_LIP, px)
            mid = 0.5 * (up + lo)
            half_gap = 0.5 * np.clip(lo - up, 0, None) + 0.05 * u
            env = self._mouth_env_x(px, widen=1.05, pw=4.0) * np.exp(-0.5 * ((py - mid) / (0.45 * u)) ** 2)
            sy[...] = half_gap * np.tanh((py - mid) / 0.4) * env
        else:
            raise KeyError(name)
        return np.stack([sx, sy])

    def _lip_line(self, idx: tuple[int, ...], px: np.ndarray) -> np.ndarray:
        pts = self.lm[list(idx)]
        order = np.argsort(pts[:, 0])
        return np.interp(px, pts[order, 0], pts[order, 1])

    def _mouth_env_x(self, px: np.ndarray, widen: float, pw: float) -> np.ndarray:
        x0, x1 = sorted(self.lm[list(MOUTH_CORNERS), 0])
        cx, hw = 0.5 * (x0 + x1), 0.5 * (x1 - x0) * widen
        return np.exp(-0.5 * (np.abs(px - cx) / hw) ** pw)

    def _jaw_setup(self, px: np.ndarray, py: np.ndarray) -> None:
        lo = self._lip_line(LOWER_INNER_LIP, px)
        env_x = self._mouth_env_x(px, widen=1.15, pw=2.0)
        inside = self._mouth_env_x(px, widen=0.92, pw=6.0)
        rows = np.where((np.abs(py - lo) < 0.5 * self.u).any(axis=1))[0]
        cols = np.where((inside > 0.05).any(axis=0))[0]
        if rows.size == 0 or cols.size == 0:
            raise NoFaceFound("mouth region outside the frame; use a smaller crop", "synthetic face")
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        self.jaw_roi = (r0, r1, c0, c1)
        # where the lip-closure and jaw fields are non-zero: around the mouth, down to below the chin
        u, chin_y = self.u, self.lm[CHIN, 1]
        env = self._mouth_env_x(px, widen=1.15, pw=2.0)
        region = (env > 2e-3) & (py > lo - 1.2 * u) & (py < chin_y + 1.3 * u)
        rr, cc = np.where(region.any(axis=1))[0], np.where(region.any(axis=0))[0]
        self.mouth_roi = (rr[0], rr[-1] + 1, cc[0], cc[-1] + 1)
        m = 20
        self.blend_roi = (max(r0 - m, 0), min(r1 + m, self.height), max(c0 - m, 0), min(c1 + m, self.width))
        up = self._lip_line(UPPER_INNER_LIP, px)
        mid = 0.5 * (up + lo)
        # where closed lips meet: a thin dark line (the lip seam)
        self.seam = (np.exp(-0.5 * ((py - mid) / 0.7) ** 2) * self._mouth_env_x(px, widen=0.95, pw=4.0)
                     )[r0:r1, c0:c1].astype(np.float32)
        self.jaw_dy = (py - lo)[r0:r1, c0:c1].astype(np.float32)
        self.jaw_span = (0.2 * self.u * env_x)[r0:r1, c0:c1].astype(np.float32)
        self.jaw_inside = inside[r0:r1, c0:c1].astype(np.float32)

    def _lid_setup(self, px: np.ndarray, py: np.ndarray) -> None:
        """Eyelid closure is not linear in its activation (the lid edge moves), so it is computed per frame
        on a small region around each eye: the output between the lid crease and the moving lid edge shows the
        lid skin above the lashes, stretched; below the edge the eye is unchanged."""
        self.lids = []
        for eye in (EYE_R, EYE_L):
            y_u, y_l = self.lm[eye["upper"], 1], self.lm[eye["lower"], 1]
            hgt = max(y_l - y_u, 2.0) * 1.05
            x0, x1 = sorted((self.lm[eye["outer"], 0], self.lm[eye["inner"], 0]))
            cx, hw = 0.5 * (x0 + x1), 0.5 * (x1 - x0)
            crease = 0.55 * hgt
            wx = np.exp(-0.5 * (np.abs(px - cx) / (1.05 * hw)) ** 4)
            inside = (wx > 0.01) & (py > y_u - crease - 2) & (py < y_l + 2)
            rows, cols = np.where(inside.any(axis=1))[0], np.where(inside.any(axis=0))[0]
            if rows.size == 0 or cols.size == 0:
                continue
            r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            self.lids.append(((r0, r1, c0, c1), py[r0:r1, c0:c1].astype(np.float32),
                              wx[r0:r1, c0:c1].astype(np.float32), float(y_u), float(crease), float(hgt)))

    def _lid_field(self, field_: np.ndarray, closure: float) -> None:
        for (r0, r1, c0, c1), py, wx, y_u, crease, hgt in self.lids:
            drop = closure * hgt * wx  # how far the lid edge has come down (source pixels)
            y0 = y_u - crease
            edge = y_u + drop
            lash = min(1.5, 0.5 * crease)
            # skin between crease and lashes is stretched; the lash line itself keeps its thickness
            skin = y0 + (py - y0) * (crease - lash) / (crease + drop - lash) - py
            sy = np.where((py >= y0) & (py < edge - lash), skin, 0.0)
            sy = np.where((py >= edge - lash) & (py <= edge), -drop, sy)
            # the field is in source coordinates; the canvas may be rotated/mirrored: move along source y
            field_[r0:r1, c0:c1, 1] += sy

    # --- rendering -----------------------------------------------------------------------------------
    def render(self, weights: np.ndarray, head: tuple[float, float, float, float],
               noise: np.ndarray | None = None, gain: float = 1.0) -> np.ndarray:
        """One RGB uint8 frame. ``weights``: activation per BASIS_NAMES; ``head``: (dx, dy) in inter-ocular
        units, roll in degrees, log-scale; ``noise``: optional (H, W, 1 or 3) float32 sensor noise;
        ``gain``: overall brightness."""
        weights = np.asarray(weights, np.float32)
        h, w = self.height, self.width
        half = (weights[self._smooth] @ self.basis_flat).reshape(h // 2, w // 2, 2)
        field_ = cv2.resize(half, (w, h), interpolation=cv2.INTER_LINEAR)
        r0, r1, c0, c1 = self.mouth_roi
        field_[r0:r1, c0:c1] += (weights[self._seam] @ self.seam_flat).reshape(r1 - r0, c1 - c0, 2)
        closure = float(np.clip(weights[BASIS_NAMES.index("lid_close")], 0.0, 1.0))
        if closure > 0.01:
            self._lid_field(field_, closure)
        mask = self._mouth_mask(float(weights[BASIS_NAMES.index("jaw")]),
                                float(weights[BASIS_NAMES.index("lip_close")]))
        # head pose: backward map q' = q + w(q) (T^-1 q - q), T = rotate/scale about the pivot, then shift
        dx, dy, roll, log_s = (float(v) for v in head)
        ang = np.deg2rad(-roll)
        sc = float(np.exp(-log_s))
        cos, sin = float(np.cos(ang)) * sc, float(np.sin(ang)) * sc
        px0, py0 = float(self.pivot[0]), float(self.pivot[1])
        ux = self.qx - (px0 + dx * self.u_canvas)
        uy = self.qy - (py0 + dy * self.u_canvas)
        qx = self.qx + self.head_w * (cos * ux - sin * uy + px0 - self.qx)
        qy = self.qy + self.head_w * (sin * ux + cos * uy + py0 - self.qy)
        field_hm = cv2.remap(field_, qx, qy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        (a, b), (c, d) = self.lin.tolist()
        tx, ty = float(self.trans[0]), float(self.trans[1])
        map_x = a * qx + b * qy + tx + field_hm[..., 0]
        map_y = c * qx + d * qy + ty + field_hm[..., 1]
        img = cv2.remap(self.source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        out = img.astype(np.float32)
        if mask is not None:
            mask_hm = cv2.remap(mask, qx, qy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            r0, r1, c0, c1 = self.blend_roi
            m = mask_hm[r0:r1, c0:c1, None]
            out[r0:r1, c0:c1] = out[r0:r1, c0:c1] * (1 - m) + self.mouth_colour * m
        out *= self.light * np.float32(gain)
        if noise is not None:
            out += noise
        np.clip(out, 0, 255, out=out)
        return (out + 0.5).astype(np.uint8)

    mouth_colour = np.array([62.0, 22.0, 26.0], np.float32)

    def _mouth_mask(self, jaw: float, close: float) -> np.ndarray | None:
        """Dark mouth interior where the jaw opened a gap, and the lip seam of closed lips (canvas coords)."""
        if not (jaw > 0.02 or close > 0.05):
            return None
        r0, r1, c0, c1 = self.jaw_roi
        m = np.zeros((r1 - r0, c1 - c0), np.float32)
        if jaw > 0.02:
            d = self.jaw_dy
            band = jaw * self.jaw_span
            m += 1.0 / (1.0 + np.exp(-(d - 0.3) / 0.6)) / (1.0 + np.exp(-(band - d - 0.3) / 0.6)) * self.jaw_inside
        if close > 0.05:
            m += np.float32(0.55 * min(close, 1.0)) * self.seam
        mask = np.zeros((self.height, self.width), np.float32)
        mask[r0:r1, c0:c1] = np.minimum(m, 1.0)
        return mask
