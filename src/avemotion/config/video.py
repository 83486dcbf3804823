"""Settings of the video branch (per-frame x_t): the branch's own (frame sampling, which extractors) and one
section per registered video extractor, named after it (``video.face``). An extractor reads only its own section
(and the branch's frame rate it is given)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from avemotion.config.section import Section


class FaceConfig(Section):
    """The ``face`` extractor: face finding, landmarks, the expression CNN."""

    crop_scale: float = Field(2.0, gt=1.0, description="square crop size relative to the face box")
    min_detection_confidence: float = Field(0.5, ge=0, le=1, description="face detector's threshold")
    expression_cnn: bool = Field(True, description="add the pretrained expression CNN's probabilities and "
                                 "embedding to each frame's row")
    redetect_seconds: float = Field(1.0, gt=0, description="face re-detection period (s)")
    mesh_input_side: int = Field(256, ge=128, description="max crop side fed to FaceMesh")
    cnn_batch: int = Field(16, ge=1, description="aligned faces per expression-CNN batch")


class VideoConfig(Section):
    """The video branch: frame sampling shared by its extractors, then one section per extractor."""

    PAPER_DIFFERS: ClassVar[dict[str, str]] = {
        "fps": "not stated; its cameras record 30 fps (Table 1), we sample 15 fps to halve the cost"}
    fps: float = Field(15.0, gt=0, le=120, description="frames sampled per second")
    max_frames: int | None = Field(None, ge=1, description="cap on frames per clip (None: no cap)")
    extractors: list[str] = Field(default_factory=lambda: ["face"],
                                  description="registered video extractors whose rows are joined, in this order")
    require_face: bool = Field(False, description="raise NoFaceFound for a faceless clip (else all masked)")
    groups: list[str] | None = Field(None, description="the stored per-frame feature groups a model uses "
                                     "(geometry, pose, expression, cnn_probs, cnn_embedding, motion); None: all. "
                                     "A selection, not an extraction setting: stores keep every group")

    @field_validator("groups")
    @classmethod
    def _groups_named(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        names = [g.strip() for g in value]
        if not names or not all(names):
            raise ValueError("video.groups names no group: list at least one (e.g. [expression, cnn_probs]) or "
                             "leave it unset for all")
        if len(set(n.lower() for n in names)) < len(names):
            raise ValueError(f"video.groups names a group twice: {names}")
        return names
    face: FaceConfig = Field(default_factory=FaceConfig)
