"""Settings of the web app (``avemotion serve``): limits, workers and timeline defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_upload_mb: float = Field(200.0, gt=0,
                                 description="largest accepted upload in MiB; larger: HTTP 413 (ours)")
    queue_size: int = Field(32, ge=1, description="jobs waiting or running (predict and timeline) before new "
                            "requests get HTTP 503 (ours)")
    workers: int = Field(1, ge=1, le=8, description="worker threads, each with its own model copy (ours)")
    retained_jobs: int = Field(32, ge=1, description="finished timeline jobs kept for GET /api/jobs; the "
                               "oldest is dropped first (ours)")
    window: float = Field(3.0, gt=0, description="default timeline window in seconds (ours, as the CLI's "
                          "--window examples)")
    hop: float = Field(1.5, gt=0, description="default step between timeline windows in seconds (ours: half "
                       "the window)")
    max_predict_seconds: float = Field(600.0, gt=0, description="longest recording POST /api/predict takes "
                                       "as one clip; longer: 422, use the timeline (ours)")
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
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
