"""The FastAPI app: the page at ``/``, the JSON API under ``/api``, its documentation at ``/docs``.

``create_app(predictor_or_model_dir, settings)`` builds it. Besides predictions and timelines it analyses an
upload as a session (who speaks when; :mod:`avemotion.web.session`). Uploads are streamed into a private temporary
folder (mode 0700, created when the app starts, removed with everything in it when it stops) under random
names, identified by opening them with FFmpeg, processed by a bounded pool of workers and deleted as soon as
their job ends. The page plays the recording from the browser's own copy (an object URL), so the server never
keeps or serves uploaded media back. Swagger UI at ``/docs`` is served from the ``fastapi-offline`` package:
nothing is fetched from the internet.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from avemotion import __version__
from avemotion.errors import AvemotionError
from avemotion.features.windows import windows
from avemotion.inference.predict import Predictor
from avemotion.web.engine import Engine
from avemotion.web.jobs import Job, JobManager, QueueFull
from avemotion.web.messages import web_message
from avemotion.web.security import Guard
from avemotion.web.session import (
    FORMATS,
    SessionJobResult,
    SessionTurns,
    check_upload,
    render,
    session_data,
    unavailable,
)
from avemotion.web.settings import WebSettings
from avemotion.web.upload import ACCEPTED_TEXT, Upload, UploadError, client_error, identify, receive_upload

SESSION_MAX_SEGMENT = 4.0  # seconds: speech turns are analysed in pieces of at most this (as the CLI's default)
STATIC = Path(str(resources.files("avemotion.web").joinpath("static")))
EVENT_POLL_S = 0.2

_FILE_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "an audio or video recording"}}}}}}}
_TIMELINE_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "an audio or video recording"},
        "window": {"type": "number", "description": "window length in seconds (default: the server's)"},
        "hop": {"type": "number", "description": "step between windows in seconds (default: the server's)"},
    }}}}}}
_ERRORS = {400: {"description": "the upload could not be read, or the Host header is not accepted"},
           401: {"description": "the server's access token is missing or wrong"},
           408: {"description": "the upload stalled or took too long"},
           413: {"description": "larger than the upload limit"},
           415: {"description": f"not a recording in an accepted format ({ACCEPTED_TEXT})"},
           422: {"description": "nothing usable in the recording, or a wrong form field (see the reason)"},
           503: {"description": "job queue or upload slots full; retry later"}}
_SESSION_ERRORS = {**_ERRORS, 503: {"description": "job queue or upload slots full (retry later), or this server "
                                                   "cannot analyse sessions (the reason says what to install)"}}


def create_app(predictor_or_model_dir: Predictor | str | Path,
               settings: WebSettings | None = None) -> FastAPI:
    settings = settings or WebSettings()
    engine = Engine(predictor_or_model_dir, settings.workers)
    jobs = JobManager(settings.workers, settings.queue_size, settings.retained_jobs, settings.job_ttl_s)
    state: dict[str, Path] = {}
    uploads = {"active": 0}  # uploads streaming in (the event loop's thread only)
    session_turns = SessionTurns(settings.max_sessions)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        root = settings.tmp_root
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="avemotion-web-", dir=root))  # mode 0700
        state["tmp"] = app.state.tmp_dir = folder
        try:
            yield
        finally:
            jobs.shutdown()
            shutil.rmtree(state["tmp"], ignore_errors=True)

    info = engine.model_info
    # why this server cannot analyse sessions, or None: fixed while it runs (installing the extra needs a restart)
    session_off = unavailable(str(info["modality"]))
    description = (f"Emotion recognition from audio and video recordings. Model: {info['model']} "
                   f"({info['modality']}), classes {', '.join(engine.labels)}.")
    app = FastAPIOffline(title="avemotion", version=__version__, lifespan=lifespan, redoc_url=None,
                         description=description)
    app.state.settings, app.state.engine, app.state.jobs = settings, engine, jobs
    app.state.session_turns = session_turns
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Guard, settings=settings)

    @app.exception_handler(UploadError)
    async def _upload_error(request: Request, exc: UploadError) -> JSONResponse:
        return JSONResponse({"detail": exc.message, "reason": exc.reason}, status_code=exc.status)

    @app.exception_handler(AvemotionError)
    async def _avemotion_error(request: Request, exc: AvemotionError) -> JSONResponse:
        name = exc.path.name if exc.path is not None else "the recording"
        return JSONResponse({"detail": web_message(exc, name, engine.model_info["modality"]),
                             "reason": exc.reason}, status_code=422)

    @app.exception_handler(QueueFull)
    async def _queue_full(request: Request, exc: QueueFull) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "reason": "busy"}, status_code=503,
                            headers={"Retry-After": "5"})

    async def stored_upload(request: Request) -> Upload:
        """The request's upload, stored and identified, holding a queue slot (given to its job by
        :func:`submit`; released here if anything fails)."""
        if uploads["active"] >= settings.max_uploads:
            raise UploadError(503, f"the server is busy receiving {settings.max_uploads} other uploads; try "
                                   "again in a moment", "busy")
        jobs.reserve()
        uploads["active"] += 1
        try:
            upload = await receive_upload(request, state["tmp"], settings.max_upload_bytes,
                                          settings.upload_idle_s, settings.upload_total_s)
        except BaseException:
            jobs.release()
            raise
        finally:
            uploads["active"] -= 1
        try:
            return await asyncio.to_thread(identify, upload)
        except BaseException:
            jobs.release()
            upload.delete()
            raise

    def submit(kind: str, upload: Upload, work, **kwargs):
        try:
            return jobs.submit(kind, upload.name, work, upload.delete, reserved=True, **kwargs)
        except QueueFull:
            upload.delete()
            raise

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/health", summary="Server and model status")
    async def health() -> dict[str, object]:
        off = session_off
        return {"status": "ok", "version": __version__, "model": engine.model_info,
                "queue": {"active": jobs.active, "uploads": uploads["active"], "limit": settings.queue_size},
                "limits": {"max_upload_mb": settings.max_upload_mb, "window": settings.window,
                           "hop": settings.hop, "max_uploads": settings.max_uploads,
                           "upload_idle_s": settings.upload_idle_s, "upload_total_s": settings.upload_total_s,
                           "job_ttl_s": settings.job_ttl_s, "accepted_formats": ACCEPTED_TEXT,
                           "max_session_seconds": settings.max_session_seconds,
                           "max_sessions": settings.max_sessions},
                "session": {"available": off is None, "reason": off}}

    @app.post("/api/predict", summary="Whole-file prediction", openapi_extra=_FILE_BODY, responses=_ERRORS)
    async def predict(request: Request) -> JSONResponse:
        """Emotion, class probabilities, per-head probabilities and fused/audio/video contributions of the
        whole file (as `avemotion predict FILE --json`)."""
        upload = await stored_upload(request)
        duration = upload.info.duration if upload.info else 0.0
        if duration > settings.max_predict_seconds:
            jobs.release()
            upload.delete()
            raise UploadError(422, f"{upload.name}: {duration:.0f} s is longer than the "
                                   f"{settings.max_predict_seconds:g} s this endpoint takes as one clip; "
                                   "use POST /api/timeline")

        def work(job: Job) -> dict[str, object]:
            try:
                pred = engine.predict(upload.path, upload.name)
            except AvemotionError as exc:
                raise client_error(exc, upload, engine.model_info["modality"]) from None
            return {**pred.to_dict(), "filename": upload.name, "media": _media(upload)}

        _, future = submit("predict", upload, work, keep=False)
        job = await asyncio.wrap_future(future)
        if job.status == "failed":
            status = 500 if job.reason == "internal" else 422
            return JSONResponse({"detail": job.error, "reason": job.reason}, status_code=status)
        return JSONResponse(job.result)

    @app.post("/api/timeline", summary="Start a timeline job", openapi_extra=_TIMELINE_BODY, status_code=202,
              responses=_ERRORS)
    async def timeline(request: Request) -> JSONResponse:
        """Per-window predictions over the recording, run as a job: returns `{"job": ID}` at once; follow it
        with GET /api/jobs/{ID} (or its /events stream)."""
        upload = await stored_upload(request)
        try:
            window, hop = _window_hop(upload, settings)
        except BaseException:
            jobs.release()
            upload.delete()
            raise

        def work(job: Job):  # returns a TimelineResult
            try:
                result = engine.timeline(upload.path, upload.name, window, hop, state["tmp"],
                                         on_window=lambda done, total: jobs.progress(job, done, total))
            except AvemotionError as exc:
                raise client_error(exc, upload, engine.model_info["modality"]) from None
            result.data["media"] = _media(upload)
            return result

        total = len(windows(upload.info.duration, window, hop))  # type: ignore[union-attr]
        job, _ = submit("timeline", upload, work, total=total)
        return JSONResponse({"job": job.id}, status_code=202)

    @app.post("/api/session", summary="Start a session job: who speaks when, each speaker's emotions",
              openapi_extra=_FILE_BODY, status_code=202, responses=_SESSION_ERRORS)
    async def session(request: Request) -> JSONResponse:
        """The whole recording as a session (as `avemotion session FILE`): speakers found from the voice, each
        speech segment's emotion, valence and arousal, pauses without a speaker, the face on camera in a video.
        Run as a job: returns `{"job": ID}` at once; GET /api/jobs/{ID} gives the session JSON as `result`, and
        GET /api/jobs/{ID}/session.html the report (also .json, .rttm, .eaf, .csv)."""
        reason = session_off
        if reason is not None:
            raise UploadError(503, reason, "session_unavailable")
        upload = await stored_upload(request)
        try:
            check_upload(upload, settings)
        except BaseException:
            jobs.release()
            upload.delete()
            raise

        def work(job: Job) -> SessionJobResult:
            try:
                with session_turns.turn(lambda: jobs.progress(job, 0, 1, "waiting")):
                    result = engine.session(upload.path, upload.name, SESSION_MAX_SEGMENT,
                                            on_step=lambda stage, done, total: jobs.progress(job, done, total, stage))
            except AvemotionError as exc:
                raise client_error(exc, upload, "audio") from None
            return SessionJobResult(session_data(result, upload.name, _media(upload)), result)

        job, _ = submit("session", upload, work, total=1)
        return JSONResponse({"job": job.id}, status_code=202)

    def find(job_id: str) -> Job:
        job = jobs.get(job_id)
        if job is None:
            raise _NotFound(job_id)
        return job

    @app.exception_handler(_NotFound)
    async def _not_found(request: Request, exc: _NotFound) -> JSONResponse:
        detail = (f"no job {exc.args[0]!r}: unknown, or finished more than {settings.job_ttl_s / 60:g} "
                  "minutes ago (results are kept that long)")
        return JSONResponse({"detail": detail, "reason": "not_found"}, status_code=404)

    @app.get("/api/jobs/{job_id}", summary="Job status, progress, and the timeline when done")
    async def job_status(job_id: str) -> dict[str, object]:
        return find(job_id).public()

    @app.delete("/api/jobs/{job_id}", summary="Cancel a job")
    async def job_cancel(job_id: str) -> dict[str, object]:
        """A waiting job never starts; a running one stops at its next window. Returns the job (status
        `cancelled` at once for a waiting job; a running one reports it when it has stopped)."""
        job = jobs.cancel(job_id)
        if job is None:
            raise _NotFound(job_id)
        return job.public(with_result=False)

    @app.get("/api/jobs/{job_id}/events", summary="Job progress as server-sent events")
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        """`event: progress` with `{status, progress}` at each change, then `event: done` or `event: failed`
        with the job without its result (fetch it from GET /api/jobs/{ID})."""
        job = find(job_id)

        async def stream():
            seen = -1
            while True:
                if job.version != seen:
                    seen = job.version
                    body = job.public(with_result=False)
                    kind = job.status if job.terminal else "progress"
                    yield f"event: {kind}\ndata: {json.dumps(body)}\n\n"
                    if job.terminal:
                        return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(EVENT_POLL_S)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/api/jobs/{job_id}/session.{fmt}",
             summary="A finished session: report (html), json, rttm, eaf (ELAN) or csv (tiers)")
    async def session_download(job_id: str, fmt: str, download: bool = False) -> Response:
        """`session.html` is the report, shown in the page (`?download=1`: as a file to save); the others are
        files to save: the session JSON, RTTM speaker turns, an ELAN document and the tier table."""
        job = find(job_id)
        if job.kind != "session" or fmt not in FORMATS:
            return JSONResponse({"detail": f"no session.{fmt} here: a session job has session.html, .json, .rttm, "
                                           ".eaf and .csv", "reason": "format"}, status_code=404)
        if job.status != "done":
            return JSONResponse({"detail": f"job is {job.status}", "reason": job.status}, status_code=409)
        media_type, suffix = FORMATS[fmt]
        body = await asyncio.to_thread(render, job.result, fmt, settings.job_ttl_s)
        headers = {"Cache-Control": "no-store"}
        if fmt != "html" or download:
            headers["Content-Disposition"] = f'attachment; filename="{_ascii_stem(job.filename)}{suffix}"'
        return Response(body, media_type=media_type, headers=headers)

    @app.get("/api/jobs/{job_id}/timeline.{fmt}", summary="Download a finished timeline (csv, json or png)")
    async def job_download(job_id: str, fmt: str) -> Response:
        job = find(job_id)
        if job.kind != "timeline":
            return JSONResponse({"detail": f"job {job_id} is a {job.kind}, not a timeline", "reason": "format"},
                                status_code=404)
        if fmt not in ("csv", "json", "png"):
            return JSONResponse({"detail": "format must be csv, json or png", "reason": "format"},
                                status_code=404)
        if job.status != "done":
            return JSONResponse({"detail": f"job is {job.status}", "reason": job.status}, status_code=409)
        result = job.result
        name = _ascii_stem(job.filename) + f".timeline.{fmt}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if fmt == "csv":
            return Response(result.csv, media_type="text/csv; charset=utf-8", headers=headers)
        if fmt == "png":
            return Response(result.png, media_type="image/png", headers=headers)
        return Response(json.dumps(result.data, indent=1), media_type="application/json", headers=headers)

    return app


class _NotFound(Exception):
    pass


def _media(upload: Upload) -> dict[str, object]:
    info = upload.info
    if info is None:
        return {}
    return {"has_audio": info.has_audio, "has_video": info.has_video, "duration": info.duration}


def _window_hop(upload: Upload, settings: WebSettings) -> tuple[float, float]:
    values = []
    for name, default in (("window", settings.window), ("hop", settings.hop)):
        raw = upload.fields.get(name, "").strip()
        try:
            value = float(raw) if raw else default
        except ValueError:
            raise UploadError(422, f"{name} must be a number of seconds, not {raw!r}") from None
        if not settings.min_window <= value <= settings.max_window:
            raise UploadError(422, f"{name} must be between {settings.min_window:g} and "
                                   f"{settings.max_window:g} s")
        values.append(value)
    window, hop = values
    if "hop" not in upload.fields and "window" in upload.fields:
        hop = max(window / 2, settings.min_window)
    n = len(windows(upload.info.duration, window, hop))  # type: ignore[union-attr]
    if n > settings.max_windows:
        raise UploadError(422, f"{n} windows is more than the limit of {settings.max_windows}; "
                               "use a longer hop")
    return window, hop


def _ascii_stem(name: str) -> str:
    stem = Path(name).stem
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in stem)
    return safe.strip("._") or "recording"
