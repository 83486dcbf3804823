"""A corpus manifest: one :class:`ClipRecord` per clip, saved as CSV."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from avemotion.modality import Modality, modality_of
from avemotion.utils.atomic import atomic_open


@dataclass
class ClipRecord:
    clip_id: str
    label: str
    speaker: str | None = None
    video_path: str | None = None  # file with the video stream (may also hold the audio)
    audio_path: str | None = None  # file with the audio stream (same as video_path for AV files)
    extra: dict[str, object] = field(default_factory=dict)  # gender, intensity, sentence, session, ...

    @property
    def modality(self) -> Modality | None:
        """What the clip's files hold: "av", "audio" or "video" (None for a record without files)."""
        return modality_of(bool(self.audio_path), bool(self.video_path))

    @property
    def group(self) -> str | None:
        """The unit that must not straddle train and test: the speaker (or IEMOCAP session when set)."""
        return self.speaker

    def to_row(self) -> dict[str, str]:
        return {
            "clip_id": self.clip_id,
            "label": self.label,
            "speaker": self.speaker or "",
            "video_path": self.video_path or "",
            "audio_path": self.audio_path or "",
            "extra": json.dumps(self.extra, sort_keys=True) if self.extra else "",
        }

    @classmethod
    def from_row(cls, row: dict[str, str]) -> ClipRecord:
        return cls(
            clip_id=row["clip_id"],
            label=row["label"],
            speaker=row.get("speaker") or None,
            video_path=row.get("video_path") or None,
            audio_path=row.get("audio_path") or None,
            extra=json.loads(row["extra"]) if row.get("extra") else {},
        )


FIELDS = ["clip_id", "label", "speaker", "video_path", "audio_path", "extra"]


def write_manifest(path: str | Path, records: list[ClipRecord],
                   extra_fields: dict[str, list[str]] | None = None) -> Path:
    """Write records as CSV (atomically). ``extra_fields`` adds columns, one value per record."""
    extra_fields = extra_fields or {}
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS + list(extra_fields))
        writer.writeheader()
        for i, rec in enumerate(records):
            row = rec.to_row()
            for name, values in extra_fields.items():
                row[name] = values[i]
            writer.writerow(row)
    return Path(path)


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
