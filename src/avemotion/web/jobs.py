"""A bounded job queue: a small thread pool runs jobs; too many waiting or running -> :class:`QueueFull`.

Timeline jobs are kept after they finish (status and result, for GET /api/jobs/{id}) for ``ttl`` seconds, and
at most ``retained`` of them (the oldest finished dropped first). A job that raises reports why (``failed``);
the worker and the server go on. A job can be cancelled: a queued one never starts, a running one stops at its
next progress step (``cancelled``). ``version`` grows at each change so that event streams know when to send
an update. Waiting jobs report their place in the queue and an estimate of the wait.
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

Status = Literal["queued", "running", "done", "failed", "cancelled"]
TERMINAL = ("done", "failed", "cancelled")
INTERNAL_ERROR = ("something went wrong on the server while analysing this file (the details are in the "
                  "server's log); try again, or try another file")


class QueueFull(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the server is busy ({limit} jobs waiting or running); try again in a moment")
        self.limit = limit


class JobCancelled(Exception):
    """Raised inside a job's work (at a progress step) once the job was cancelled."""


@dataclass
class Job:
    id: str
    kind: str
    filename: str
    status: Status = "queued"
    done: int = 0
    total: int = 0
    stage: str = ""  # what the job is doing now, when its work names its steps (a session: speakers, ...)
    error: str = ""
    reason: str = ""
    result: Any = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    version: int = 0
    cancel_requested: bool = False
    position: int = 0  # place among the waiting jobs (1: next), 0 when not waiting
    wait_estimate: float | None = None  # seconds until it starts (waiting jobs), when the server can tell

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def public(self, with_result: bool = True) -> dict[str, object]:
        out: dict[str, object] = {"job": self.id, "kind": self.kind, "filename": self.filename,
                                  "status": self.status, "progress": {"done": self.done, "total": self.total}}
        if self.stage:
            out["stage"] = self.stage
        if self.status == "queued":
            out["queue"] = {"position": self.position, "wait_estimate_s": _round(self.wait_estimate)}
        if self.status == "running" and self.started is not None and self.done > 0:
            elapsed = time.time() - self.started
            out["remaining_estimate_s"] = _round(elapsed / self.done * max(self.total - self.done, 0))
        if self.status == "failed":
            out.update(error=self.error, reason=self.reason)
        if with_result and self.status == "done" and self.result is not None:
            out["result"] = getattr(self.result, "data", self.result)
        return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class JobManager:
    def __init__(self, workers: int, queue_size: int, retained: int, ttl: float = 3600.0) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="avemotion-job")
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._waiting: OrderedDict[str, tuple[Job, Future, Callable[[], None]]] = OrderedDict()
        self._active = 0
        self._reserved = 0  # uploads streaming in, counted against the queue
        self._durations: list[float] = []  # seconds of recent finished jobs, for wait estimates
        self.workers = workers
        self.queue_size = queue_size
        self.retained = retained
        self.ttl = ttl

    @property
    def active(self) -> int:
        return self._active

    @property
    def reserved(self) -> int:
        return self._reserved

    def reserve(self) -> None:
        """Count an upload in progress against the queue (:class:`QueueFull` when there is no room)."""
        with self._lock:
            if self._active + self._reserved >= self.queue_size:
                raise QueueFull(self.queue_size)
            self._reserved += 1

    def release(self) -> None:
        with self._lock:
            self._reserved = max(0, self._reserved - 1)

    def submit(self, kind: str, filename: str, fn: Callable[[Job], Any], cleanup: Callable[[], None],
               keep: bool = True, total: int = 0, reserved: bool = False) -> tuple[Job, Future]:
        """Run ``fn(job)`` on a worker, then ``cleanup()`` whatever happens. ``keep``: list the job for GET;
        ``total``: steps announced for the progress; ``reserved``: the caller holds a :meth:`reserve` slot,
        which the job takes over."""
        with self._lock:
            if reserved:
                self._reserved = max(0, self._reserved - 1)
            if self._active + self._reserved >= self.queue_size:
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
        with self._lock:
            if job.status == "queued":
                self._waiting[job.id] = (job, future, cleanup)
                self._update_queue()
        return job, future

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            self._expire()
            return self._jobs.get(job_id)

    def progress(self, job: Job, done: int, total: int, stage: str = "") -> None:
        """Record a job's progress (``stage``: what it is doing, when it says); raises :class:`JobCancelled` in
        the job's work once it was cancelled."""
        with self._lock:
            job.done, job.total = done, total
            if stage:
                job.stage = stage
            job.version += 1
            if job.cancel_requested:
                raise JobCancelled()

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a job: a waiting one at once, a running one at its next progress step. None: no such job."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.terminal:
                return job
            job.cancel_requested = True
            job.version += 1
            waiting = self._waiting.pop(job_id, None)
        if waiting is not None and waiting[1].cancel():
            self._finish(job, {"status": "cancelled"}, waiting[2])
        return job

    def _run(self, job: Job, fn: Callable[[Job], Any], cleanup: Callable[[], None]) -> Job:
        with self._lock:
            self._waiting.pop(job.id, None)
            if job.cancel_requested:
                cancelled = True
            else:
                cancelled = False
                job.status, job.started, job.position, job.wait_estimate = "running", time.time(), 0, None
                job.version += 1
            self._update_queue()
        if cancelled:
            return self._finish(job, {"status": "cancelled"}, cleanup)
        outcome: dict[str, object]
        try:
            outcome = {"status": "done", "result": fn(job)}
        except JobCancelled:
            outcome = {"status": "cancelled"}
        except AvemotionError as exc:
            outcome = {"status": "failed", "error": str(exc), "reason": exc.reason}
        except Exception:  # a bug or an unforeseen file: logged in full, a plain sentence for the client
            log.error("job %s (%s) failed:\n%s", job.id, job.filename, traceback.format_exc())
            outcome = {"status": "failed", "error": f"{job.filename}: {INTERNAL_ERROR}", "reason": "internal"}
        return self._finish(job, outcome, cleanup)

    def _finish(self, job: Job, outcome: dict[str, object], cleanup: Callable[[], None]) -> Job:
        try:
            cleanup()  # before the job is seen as finished: its files are gone by then
        except Exception:
            log.error("job %s: cleanup failed:\n%s", job.id, traceback.format_exc())
        with self._lock:
            for k, v in outcome.items():
                setattr(job, k, v)
            job.version += 1
            job.finished = time.time()
            if job.started is not None and job.status == "done":
                self._durations = (self._durations + [job.finished - job.started])[-20:]
            self._active -= 1
            self._evict()
            self._update_queue()
        return job

    def _update_queue(self) -> None:
        """Positions and wait estimates of the waiting jobs (under the lock)."""
        per_job = sum(self._durations) / len(self._durations) if self._durations else None
        for i, (job, _, _) in enumerate(self._waiting.values()):
            position = i + 1
            estimate = None if per_job is None else per_job * (position + self.workers - 1) / self.workers
            if (job.position, job.wait_estimate) != (position, estimate):
                job.position, job.wait_estimate = position, estimate
                job.version += 1

    def _expire(self) -> None:
        cutoff = time.time() - self.ttl
        for j in [j for j in self._jobs.values() if j.terminal and (j.finished or 0) < cutoff]:
            del self._jobs[j.id]

    def _evict(self) -> None:
        self._expire()
        finished = [j for j in self._jobs.values() if j.terminal]
        for j in finished[: max(0, len(finished) - self.retained)]:
            del self._jobs[j.id]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
