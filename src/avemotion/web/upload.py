"""Uploads: a multipart body streamed into the app's private folder under a random name, with limits.

Nothing the client sends is used as a path: the stored file is ``<random token><extension>`` where the
extension comes from the container FFmpeg finds when it opens the file (so the extraction code, which tells
video files by their extension, sees what the file really is). The client's file name is kept only as a
label for messages and downloads.

Limits: the whole request body (file, fields and framing) is counted against the size limit; only the fields
``file``, ``window`` and ``hop`` are accepted, each text field short; an upload that stalls (``idle_s``
without a byte) or takes too long (``total_s``) is dropped with 408. FFmpeg may open the stored file only
with the demuxers of :data:`ACCEPTED_FORMATS` and local files only: playlists (HLS, ffconcat), images and
anything else get 415 with the list of accepted formats.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from avemotion.errors import AvemotionError, CorruptMedia
from avemotion.media.container import open_media
from avemotion.media.probe import MediaInfo, probe
from avemotion.web.messages import web_message

log = logging.getLogger("avemotion.web")

FIELD_LIMIT = 256  # bytes of a non-file form field (window, hop)
MULTIPART_SLACK = 64 * 1024  # bytes of multipart framing and text fields allowed above the file-size limit
FIELDS = ("file", "window", "hop")  # the form fields the API knows
MAX_PARTS = 8

#: FFmpeg demuxer name -> extension the rest of avemotion understands (video containers must map into
#: avemotion.media.probe.VIDEO_EXTENSIONS)
VIDEO_FORMATS = {"mp4": ".mp4", "mov": ".mov", "matroska": ".mkv", "webm": ".webm", "avi": ".avi",
                 "flv": ".flv", "mpeg": ".mpg", "mpegts": ".mpg", "asf": ".wmv"}
AUDIO_FORMATS = {"wav": ".wav", "mp3": ".mp3", "ogg": ".ogg", "flac": ".flac", "aiff": ".aiff", "aac": ".aac",
                 "m4a": ".m4a", "mp4": ".m4a", "matroska": ".mka", "webm": ".webm", "asf": ".wma",
                 "w64": ".wav"}
#: the FFmpeg demuxers an upload may be opened with (what the tables above name)
ACCEPTED_FORMATS = ("mov", "mp4", "m4a", "3gp", "3g2", "mj2",
                    *sorted({*VIDEO_FORMATS, *AUDIO_FORMATS} - {"mp4", "m4a"}))
ACCEPTED_TEXT = ("video: MP4, MOV, MKV, WebM, AVI, FLV, MPEG, WMV; "
                 "audio: WAV, MP3, M4A, AAC, OGG, FLAC, AIFF, WMA")


class UploadError(Exception):
    """A request the server refuses before any processing (HTTP ``status``, a plain ``message`` and a short
    machine-readable ``reason``)."""

    def __init__(self, status: int, message: str, reason: str = "upload") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


@dataclass
class Upload:
    path: Path  # the stored file, in the private folder
    name: str  # the client's file name, for display only
    size: int
    fields: dict[str, str] = field(default_factory=dict)
    info: MediaInfo | None = None

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


def display_name(raw: str | None) -> str:
    """The last component of a client file name, printable, at most 120 characters (never used on disk)."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    return name[:120] or "upload"


async def receive_upload(request: Request, folder: Path, max_bytes: int, idle_s: float = 30.0,
                         total_s: float = 600.0) -> Upload:
    """Stream the multipart body of ``request`` (field ``file``, small text fields) into ``folder``."""
    ctype = request.headers.get("content-type", "")
    mime, params = parse_options_header(ctype)
    if mime != b"multipart/form-data" or b"boundary" not in params:
        raise UploadError(422, "send the recording as multipart/form-data in the field 'file'")
    body_limit = max_bytes + MULTIPART_SLACK
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > body_limit:
        raise UploadError(413, _too_large(max_bytes))
    token = secrets.token_hex(12)
    part_path = folder / f"{token}.part"
    state = _PartState()
    fh = None
    try:
        fd = os.open(part_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        fh = os.fdopen(fd, "wb")
        state.sink = fh
        parser = MultipartParser(params[b"boundary"], state.callbacks())
        received = 0
        async for chunk in _timed(request, idle_s, total_s):
            received += len(chunk)
            if received > body_limit:
                raise UploadError(413, _too_large(max_bytes))
            parser.write(chunk)
            if state.error:
                raise state.error
            if state.file_bytes > max_bytes:
                raise UploadError(413, _too_large(max_bytes))
        parser.finalize()
        if state.error:
            raise state.error
        fh.close()
        if not state.has_file:
            raise UploadError(422, "no file: send the recording in the multipart field 'file'")
        return Upload(part_path, display_name(state.filename), state.file_bytes, dict(state.fields))
    except UploadError:
        _discard(fh, part_path)
        raise
    except ClientDisconnect:
        _discard(fh, part_path)
        raise UploadError(400, "the upload was interrupted before it was complete; send it again") from None
    except Exception as exc:  # malformed multipart, a broken connection: the details go to the log only
        _discard(fh, part_path)
        log.info("upload refused: %s: %s", type(exc).__name__, exc)
        raise UploadError(400, "the upload could not be read: send the recording as a complete "
                               "multipart/form-data request with the file in the field 'file'") from None


async def _timed(request: Request, idle_s: float, total_s: float):  # an AsyncIterator[bytes]
    """The request body's chunks; :class:`UploadError` 408 when one is slower than ``idle_s`` or all of them
    together slower than ``total_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + total_s
    chunks = request.stream().__aiter__()
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise UploadError(408, f"the upload took longer than {total_s:g} s; try a smaller file or a "
                                   "faster connection")
        try:
            chunk = await asyncio.wait_for(chunks.__anext__(), min(idle_s, left))
        except StopAsyncIteration:
            return
        except TimeoutError:
            if loop.time() >= deadline:
                continue  # reported above
            raise UploadError(408, f"the upload stalled (nothing arrived for {idle_s:g} s); "
                                   "send it again") from None
        if chunk:
            yield chunk


def _discard(fh, path: Path) -> None:  # fh: a binary file object or None
    if fh is not None and not fh.closed:
        fh.close()
    path.unlink(missing_ok=True)


def _too_large(max_bytes: int) -> str:
    return f"the upload is larger than the limit of {max_bytes / 1024 / 1024:.3g} MiB"


class _PartState:
    """Callbacks of python-multipart's streaming parser: file data to ``sink``, text fields to ``fields``."""

    def __init__(self) -> None:
        self.sink = None
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.has_file = False
        self.file_bytes = 0
        self.parts = 0
        self.error: UploadError | None = None
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._name = ""
        self._is_file = False
        self._buffer = bytearray()

    def callbacks(self) -> dict:
        return {"on_part_begin": self._part_begin, "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_header_field": self._header_field, "on_header_value": self._header_val,
                "on_header_end": self._header_end, "on_headers_finished": self._headers_finished}

    def _part_begin(self) -> None:
        self._disposition, self._name, self._is_file = b"", "", False
        self._buffer.clear()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_val(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        self.parts += 1
        if self._name not in FIELDS:
            shown = display_name(self._name)[:40]
            self.error = self.error or UploadError(
                422, f"unexpected form field {shown!r}: send the recording in the field 'file' (optional "
                     "fields: window, hop)")
        elif self.parts > MAX_PARTS:
            self.error = self.error or UploadError(422, "too many form fields")
        if self._name == "file":
            if self.has_file:
                self.error = self.error or UploadError(422, "send one file per request")
            self._is_file = True
            self.has_file = True
            self.filename = options.get(b"filename", b"").decode("utf-8", "replace")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error:
            return
        if self._is_file:
            self.file_bytes += end - start
            self.sink.write(data[start:end])  # type: ignore[union-attr]
        else:
            self._buffer += data[start:end]
            if len(self._buffer) > FIELD_LIMIT:
                self.error = UploadError(422, f"form field {self._name!r} is too long (at most {FIELD_LIMIT} "
                                              "characters)")

    def _part_end(self) -> None:
        if not self._is_file and self._name and not self.error:
            self.fields[self._name] = self._buffer.decode("utf-8", "replace")


def identify(upload: Upload) -> Upload:
    """Open the stored file with FFmpeg (accepted demuxers only): what it holds decides its extension.

    Anything else (not media, an image, a playlist or concat script, an unusual container) is refused with
    415 naming the accepted formats; a file that starts like a recording but does not open gets 422."""
    try:
        with open_media(upload.path, formats=ACCEPTED_FORMATS) as container:
            formats = container.format.name.split(",")
        info = probe(upload.path)
    except CorruptMedia:
        raise UploadError(422, f"{upload.name}: this looks like a recording but it could not be read "
                               "(damaged or incomplete?); export it again and retry", "corrupt") from None
    except AvemotionError as exc:
        log.info("upload %s refused: %s", upload.name, exc)
        raise UploadError(415, f"{upload.name}: not an audio or video recording in a format this server "
                               f"accepts ({ACCEPTED_TEXT})", "unsupported_media") from None
    if not info.has_audio and not info.has_video:
        raise UploadError(415, f"{upload.name}: no audio or video stream in this file; upload a recording "
                               f"({ACCEPTED_TEXT})", "unsupported_media")
    table = VIDEO_FORMATS if info.has_video else AUDIO_FORMATS
    ext = next((table[f] for f in formats if f in table), ".mkv" if info.has_video else ".mka")
    target = upload.path.with_suffix(ext)
    upload.path.rename(target)
    upload.path = target
    upload.info = info
    return upload


def client_error(exc: AvemotionError, upload: Upload, modality: str = "av") -> AvemotionError:
    """The same kind of error, naming the client's file, with a sentence a web user can act on
    (:func:`avemotion.web.messages.web_message`)."""
    out = type(exc).__new__(type(exc))
    AvemotionError.__init__(out, _client_text(web_message(exc, "", modality)[2:], upload), upload.name)
    return out


def _client_text(text: str, upload: Upload) -> str:
    stem = upload.path.name.split(".", 1)[0]
    return text.replace(str(upload.path), upload.name).replace(stem, Path(upload.name).stem)
