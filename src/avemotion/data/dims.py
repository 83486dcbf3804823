"""The model-input contract's widths: how many audio-sequence, clip-vector and video columns a model takes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FeatureDims:
    """Input widths after selection; 0 means the model has no such input."""

    audio_seq: int = 0
    audio_vec: int = 0
    video: int = 0
    #: widths of the clip vector's feature groups in column order (sum = audio_vec); empty: not known
    audio_vec_groups: tuple[int, ...] = ()

    @property
    def has_audio(self) -> bool:
        return self.audio_seq > 0 or self.audio_vec > 0

    @property
    def has_video(self) -> bool:
        return self.video > 0

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"audio_seq": self.audio_seq, "audio_vec": self.audio_vec,
                                  "video": self.video}
        if self.audio_vec_groups:
            out["audio_vec_groups"] = list(self.audio_vec_groups)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> FeatureDims:
        return cls(int(d["audio_seq"]), int(d["audio_vec"]), int(d["video"]),
                   tuple(int(x) for x in d.get("audio_vec_groups", ())))
