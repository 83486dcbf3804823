"""Opening containers and turning FFmpeg failures into errors a user can act on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import av

from avemotion.errors import CorruptMedia, EmptyMediaFile, MediaFileNotFound, NotAMediaFile

# Leading bytes of containers FFmpeg reads: a file that starts like one but will not open is corrupt or
# truncated; a file that starts like none of them is not a media file at all.
_MAGIC: tuple[tuple[int, bytes], ...] = (
    (4, b"ftyp"),  # mp4, mov, m4a, 3gp
    (4, b"moov"),
    (4, b"mdat"),
    (4, b"wide"),
    (4, b"free"),
    (0, b"RIFF"),  # wav, avi
    (0, b"RF64"),
    (0, b"OggS"),  # ogg, opus
    (0, b"fLaC"),
    (0, b"ID3"),  # mp3 with tag
    (0, b"FLV"),
    (0, b"\x1a\x45\xdf\xa3"),  # matroska, webm
    (0, b"FORM"),  # aiff
    (0, b"\x30\x26\xb2\x75"),  # asf / wmv
    (0, b"\x00\x00\x01\xba"),  # mpeg-ps
    (0, b"\x47"),  # mpeg-ts sync byte
)


def looks_like_media(head: bytes) -> bool:
    for offset, magic in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return True
    # MPEG audio frame sync (mp3 without ID3 tag), ADTS AAC
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0


def check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise MediaFileNotFound(path=path)
    if path.is_dir():
        raise NotAMediaFile.detailed("it is a directory", path)
    if path.stat().st_size == 0:
        raise EmptyMediaFile(path=path)
    return path


@contextlib.contextmanager
def open_media(path: str | Path,
               formats: Sequence[str] | None = None) -> Iterator[av.container.InputContainer]:
    """``av.open`` for reading, raising avemotion errors instead of FFmpeg's. ``formats``: the FFmpeg demuxers
    allowed (others, e.g. playlists that name other files, are refused as not media), and local files only."""
    path = check_file(path)
    options = None
    if formats is not None:
        options = {"format_whitelist": ",".join(formats), "protocol_whitelist": "file"}
    try:
        container = av.open(str(path), mode="r", options=options)
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        with open(path, "rb") as fh:
            head = fh.read(16)
        if looks_like_media(head):
            raise CorruptMedia.detailed(_short(exc), path) from None
        raise NotAMediaFile.detailed(_short(exc), path) from None
    try:
        yield container
    finally:
        container.close()


def decode_error(path: str | Path, exc: Exception) -> CorruptMedia:
    return CorruptMedia.detailed(_short(exc), path)


def _short(exc: Exception) -> str:
    text = str(exc).strip()
    return text[:200] if text else type(exc).__name__
