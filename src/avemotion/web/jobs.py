"""A bounded job queue: a small thread pool runs jobs; too many waiting or running -> :class:`QueueFull`.

Timeline jobs are kept after they finish (status and result, for GET /api/jobs/{id}) up to ``retained``
of them, the oldest finished dropped first. A job that raises reports why (``failed``); the worker and the
server go on. ``version`` grows at each change so that event streams know when to send an update.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from avemotion.errors import AvemotionError

log = logging.getLogger("avemotion.web")

Status = Literal["queued", "running", "done", "failed"]


class QueueFull(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the server is busy ({limit} jobs waiting or running); try again in a moment")
        self.limit = limit


@dataclass
class Job:
    id: str
    kind: str
    filename: str
    status: Status = "queued"
    done: int = 0
    total: int = 0
    error: str = ""
    reason: str = ""
    result: Any = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    version: int = 0

    @property
    def terminal(self) -> bool:
        return self.status in ("done", "failed")

    def public(self, with_result: bool = True) -> dict[str, object]:
        out: dict[str, object] = {"job": self.id, "kind": self.kind, "filename": self.filename,
                                  "status": self.status, "progress": {"done": self.done, "total": self.total}}
        if self.status == "failed":
            out.update(error=self.error, reason=self.reason)
        if with_result and self.status == "done" and self.result is not None:
            out["result"] = getattr(self.result, "data", self.result)
        return out


class JobManager:
    def __init__(self, workers: int, queue_size: int, retained: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="avemotion-job")
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._active = 0
        self.queue_size = queue_size
        self.retained = retained

    @property
    def active(self) -> int:
        return self._active

    def submit(self, kind: str, filename: str, fn: Callable[[Job], Any], cleanup: Callable[[], None],
               keep: bool = True, total: int = 0) -> tuple[Job, Future]:
        """Run ``fn(job)`` on a worker, then ``cleanup()`` whatever happens. ``keep``: list the job for GET;
        ``total``: steps announced for the progress."""
        with self._lock:
            if self._active >= self.queue_size:
                raise QueueFull(self.queue_size)
            self._active += 1
            job = Job(secrets.token_urlsafe(12), kind, filename, total=total)
            if keep:
                self._jobs[job.id] = job
        try:
            future = self._pool.submit(self._run, job, fn, cleanup)
        except RuntimeError:  # shutting down
            with self._lock:
                self._active -= 1
                self._jobs.pop(job.id, None)
            cleanup()
            raise QueueFull(self.queue_size) from None
        return job, future

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def progress(self, job: Job, done: int, total: int) -> None:
        with self._lock:
            job.done, job.total = done, total
            job.version += 1

    def _run(self, job: Job, fn: Callable[[Job], Any], cleanup: Callable[[], None]) -> Job:
        self._set(job, status="running")
        outcome: dict[str, object]
        try:
            outcome = {"status": "done", "result": fn(job)}
        except AvemotionError as exc:
            outcome = {"status": "failed", "error": str(exc), "reason": exc.reason}
        except Exception as exc:  # a bug or an unforeseen file: report it, keep serving
            log.error("job %s (%s) failed:\n%s", job.id, job.filename, traceback.format_exc())
            outcome = {"status": "failed", "error": f"internal error: {type(exc).__name__}: {exc}",
                       "reason": "internal"}
        try:
            cleanup()  # before the job is seen as finished: its files are gone by then
        except Exception:
            log.error("job %s: cleanup failed:\n%s", job.id, traceback.format_exc())
        with self._lock:
            for k, v in outcome.items():
                setattr(job, k, v)
            job.version += 1
            job.finished = time.time()
            self._active -= 1
            self._evict()
        return job

    def _set(self, job: Job, **changes: object) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(job, k, v)
            job.version += 1

    def _evict(self) -> None:
        finished = [j for j in self._jobs.values() if j.terminal]
        for j in finished[: max(0, len(finished) - self.retained)]:
            del self._jobs[j.id]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
