"""A user's folder: ``ROOT/metadata.csv`` with ``path,label[,speaker]`` (paths relative to ROOT), or
``ROOT/<label>/<file>``. Files may be audio-video, audio-only or video-only; the modality follows the
file extension (a video file without an audio track is used video-only at extraction).
"""

from __future__ import annotations

import csv
from pathlib import Path

from avemotion.data.corpora.base import CORPORA, Corpus, CorpusError, walk_files
from avemotion.data.manifest import ClipRecord
from avemotion.utils.media_types import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS


@CORPORA.register("folder")
class Folder(Corpus):
    name = "folder"
    native_labels = None
    options = {"metadata": "CSV file name inside ROOT (default metadata.csv)"}

    def load(self, root: Path, metadata: str = "metadata.csv") -> list[ClipRecord]:
        table = root / metadata
        if table.is_file():
            return _from_table(root, table)
        return _from_subfolders(root)


def _record(root: Path, path: Path, label: str, speaker: str | None, extra: dict[str, object]) -> ClipRecord:
    rel = path.relative_to(root).with_suffix("") if path.is_relative_to(root) else Path(path.stem)
    ext = path.suffix.lower()
    is_video = ext in VIDEO_EXTENSIONS
    return ClipRecord(
        clip_id=rel.as_posix(),
        label=label.strip().lower(),
        speaker=speaker or None,
        video_path=str(path) if is_video else None,
        audio_path=str(path),
        extra=extra,
    )


def _from_table(root: Path, table: Path) -> list[ClipRecord]:
    with open(table, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in (reader.fieldnames or [])]
        if "path" not in fields or "label" not in fields:
            raise CorpusError("metadata CSV needs the columns path,label[,speaker]", table)
        records = []
        for line, row in enumerate(reader, start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            if not row.get("path") or not row.get("label"):
                raise CorpusError(f"line {line}: empty path or label", table)
            path = (root / row["path"]).resolve()
            ext = path.suffix.lower()
            if ext not in VIDEO_EXTENSIONS | AUDIO_EXTENSIONS:
                raise CorpusError(f"line {line}: {row['path']} is not an audio or video file type", table)
            extra = {k: v for k, v in row.items() if k not in ("path", "label", "speaker") and v}
            records.append(_record(root.resolve(), path, row["label"], row.get("speaker"), extra))
    return records


def _from_subfolders(root: Path) -> list[ClipRecord]:
    records = []
    for label_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in walk_files(label_dir):
            if path.suffix.lower() in VIDEO_EXTENSIONS | AUDIO_EXTENSIONS:
                records.append(_record(root, path, label_dir.name, None, {}))
    if not records:
        raise CorpusError("no metadata.csv and no <label>/<file> sub-folders with media files", root)
    return records
