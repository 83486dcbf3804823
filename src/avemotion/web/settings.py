"""Settings of the web app (``avemotion serve``): limits, workers and timeline defaults."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def available_cores(cap: int) -> int:
    """CPU cores this process may run on (its affinity), at most ``cap``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cap, cores))


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_upload_mb: float = Field(200.0, gt=0,
                                 description="largest accepted upload in MiB; larger: HTTP 413 (ours)")
    queue_size: int = Field(32, ge=1, description="jobs waiting or running (predict and timeline) before new "
                            "requests get HTTP 503 (ours)")
    workers: int = Field(default_factory=lambda: available_cores(8), ge=1, le=8,
                         description="worker threads, each with its own model copy and feature extractors; "
                         "default: the cores available, at most 8 (ours)")
    retained_jobs: int = Field(1000, ge=1, description="at most this many finished timeline jobs are kept "
                               "in memory (the oldest dropped first), whatever their age (ours)")
    job_ttl_s: float = Field(3600.0, gt=0, description="a finished timeline job and its downloads stay "
                             "available this many seconds, then GET /api/jobs/ID answers 404 (ours)")
    max_uploads: int = Field(32, ge=1, description="uploads streaming in at once (each also holds a queue "
                             "place); more get HTTP 503. Temporary disk is at most this times max_upload_mb "
                             "(ours)")
    upload_idle_s: float = Field(30.0, gt=0, description="an upload that sends nothing for this many seconds "
                                 "is dropped with HTTP 408 (ours)")
    upload_total_s: float = Field(600.0, gt=0, description="an upload must arrive within this many seconds, "
                                  "else HTTP 408 (ours)")
    allowed_hosts: list[str] = Field(default_factory=list, description="Host header names accepted besides "
                                     "the loopback names and the bound address; '*' accepts any (ours)")
    bind_host: str = Field("127.0.0.1", description="the address the server listens on (set by `serve`)")
    token: str | None = Field(None, description="access token required on every request (as ?token=, a "
                              "cookie or 'Authorization: Bearer'); `serve` makes one when bound off loopback "
                              "(ours)")
    window: float = Field(3.0, gt=0, description="default timeline window in seconds (ours, as the CLI's "
                          "--window examples)")
    hop: float = Field(1.5, gt=0, description="default step between timeline windows in seconds (ours: half "
                       "the window)")
    max_predict_seconds: float = Field(600.0, gt=0, description="longest recording POST /api/predict takes "
                                       "as one clip; longer: 422, use the timeline (ours)")
    max_session_seconds: float = Field(3600.0, gt=0, description="longest recording POST /api/session analyses "
                                       "as a session; longer: 422, use `avemotion session` (ours: the length the "
                                       "session pipeline's speed and memory targets are set for)")
    max_sessions: int = Field(1, ge=1, description="session jobs analysed at once; more wait their turn (on a "
                              "worker, cancellable). Each needs about 27 MiB of memory per minute of recording "
                              "on top of the model (docs/web.md) (ours)")
    max_windows: int = Field(5000, ge=1, description="most windows one timeline may have; more: 422 (ours)")
    min_window: float = Field(0.25, gt=0, description="shortest window / hop a client may ask for (ours)")
    max_window: float = Field(60.0, gt=0, description="longest window / hop a client may ask for (ours)")
    tmp_root: Path | None = Field(None, description="parent of the private upload folder (None: the system's "
                                  "temporary folder) (ours)")

    @model_validator(mode="after")
    def _check(self) -> WebSettings:
        for name in ("window", "hop"):
            value = getattr(self, name)
            if not self.min_window <= value <= self.max_window:
                raise ValueError(f"{name}={value} is outside [{self.min_window}, {self.max_window}]")
        return self

    @property
    def loopback(self) -> bool:
        return self.bind_host in LOOPBACK_HOSTS

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
