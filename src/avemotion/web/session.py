"""The web app's session view: an upload analysed as a whole recording (who speaks when, each speaker's emotions).

The analysis is :func:`avemotion.inference.session.pipeline.analyze_session`, run as a job like a timeline; its
result is kept in memory with the job (the session JSON, and the :class:`SessionResult` for the report and the
exports) and forgotten with it. :func:`unavailable` says why a server cannot analyse sessions (the ``[session]``
extra missing, or a model without audio), so that the page and the API can say so while the app still serves
predictions and timelines.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from avemotion.errors import NoAudioStream
from avemotion.inference.session.result import SessionResult
from avemotion.inference.session.vad import INSTALL_HINT
from avemotion.modality import uses_audio
from avemotion.web.messages import web_message
from avemotion.web.settings import WebSettings
from avemotion.web.upload import Upload, UploadError

#: the modules the [session] extra brings (import names)
SESSION_MODULES = ("silero_vad", "resemblyzer", "webrtcvad", "librosa")
#: formats of GET /api/jobs/{id}/session.{fmt}: media type and the file's suffix
FORMATS = {"json": ("application/json", ".session.json"), "html": ("text/html; charset=utf-8", ".session.html"),
           "rttm": ("text/plain; charset=utf-8", ".rttm"), "eaf": ("application/xml", ".eaf"),
           "csv": ("text/csv; charset=utf-8", ".tiers.csv")}


@dataclass
class SessionJobResult:
    """A finished session job: ``data`` is what GET /api/jobs/{id} returns as ``result`` (the session JSON with
    the upload's ``filename`` and ``media``); ``session`` renders the report and the exports."""

    data: dict[str, object]
    session: SessionResult


class SessionTurns:
    """At most ``n`` sessions analysed at once (a session's memory grows with the recording's length)."""

    def __init__(self, n: int) -> None:
        self._slots = threading.BoundedSemaphore(n)

    @contextmanager
    def turn(self, waiting: Callable[[], None], poll_s: float = 0.5) -> Iterator[None]:
        """Hold a turn for the block; ``waiting()`` is called every ``poll_s`` seconds until one is free (an
        exception it raises, a cancelled job's, gives up waiting)."""
        while not self._slots.acquire(timeout=poll_s):
            waiting()
        try:
            yield
        finally:
            self._slots.release()


def unavailable(modality: str) -> str | None:
    """Why this server cannot analyse sessions (a sentence saying what to do), or None when it can."""
    missing = [name for name in SESSION_MODULES if not _importable(name)]
    if missing:
        return f"the server cannot analyse sessions: {INSTALL_HINT}, then restart it ({', '.join(missing)} missing)"
    if not uses_audio(modality):
        return (f"the server's model reads faces only ({modality!r}); session analysis finds speakers in the voice: "
                "start the server with a model that uses audio (e.g. the bundled default)")
    return None


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError, AttributeError):  # a module set to None in sys.modules: not importable
        return False


def session_data(session: SessionResult, filename: str, media: dict[str, object]) -> dict[str, object]:
    """The session JSON of an upload (its ``recording`` is the client's file name, never the server's path), with
    the upload's ``filename``, ``media`` facts and the model's ``labels``."""
    return {**session.to_dict(), "filename": filename, "labels": list(session.labels), "media": media}


def privacy_note(ttl_s: float) -> str:
    """What the web app's report says about where it was computed and what the server keeps."""
    return (f"Computed by the avemotion server this recording was uploaded to. The server deleted the upload when "
            f"the analysis ended and keeps this result in its memory for {ttl_s / 60:g} minutes (or until it "
            "stops), then forgets it; nothing was sent anywhere else.")


def render(result: SessionJobResult, fmt: str, ttl_s: float) -> str:
    """The finished session as ``fmt`` (a key of :data:`FORMATS`): JSON, the HTML report (no player: embedded in
    the page, its time stamps seek the page's player; its closing note says what the server keeps for
    ``ttl_s`` seconds), RTTM, ELAN EAF or the tier CSV."""
    session = result.session
    if fmt == "json":
        return session.to_json() + "\n"
    if fmt == "html":
        return session.to_html(privacy=privacy_note(ttl_s))
    if fmt == "rttm":
        return session.to_rttm()
    if fmt == "eaf":
        return session.to_eaf(session.recording)
    if fmt == "csv":
        return session.to_tiers_csv()
    raise KeyError(fmt)


def check_upload(upload: Upload, settings: WebSettings) -> None:
    """Refuse what a session cannot analyse before queueing it: timeline fields, no audio track, too long."""
    extra = sorted(set(upload.fields) & {"window", "hop"})
    if extra:
        raise UploadError(422, f"a session takes no {' or '.join(extra)}: it cuts speech into segments itself "
                               "(send only the field 'file')")
    info = upload.info
    if info is None or not info.has_audio:
        raise UploadError(422, web_message(NoAudioStream(), upload.name, "audio"), "no_audio")
    if info.duration > settings.max_session_seconds:
        raise UploadError(422, f"{upload.name}: {_length(info.duration)} is longer than the "
                               f"{_length(settings.max_session_seconds)} this server analyses as a session; "
                               "cut it, or run `avemotion session` on it locally (no length limit)", "too_long")


def _length(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"
