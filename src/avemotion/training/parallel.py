"""Where the fold tasks of ``avemotion train`` and ``compare`` run: one after another in this process (the
default, ``--workers 1``), in ``--workers N`` spawned processes on this machine, or as Ray tasks
(``--executor ray [--address HOST:PORT]``) on a local Ray instance or a cluster.

Every way gives the same numbers: a fold's randomness comes from its seed alone (:func:`~avemotion.training.
fit.fit` seeds the global torch RNG per training run and draws batch orders and mixup from generators seeded
by (seed, epoch)), each worker runs with deterministic algorithms and ``max(1, train.threads // workers)``
torch threads (the default ``train.threads`` 1 gives every worker the one thread the sequential run has), and
the results come back in fold order whatever order they finish in. A fold writes its own folder with atomic
checkpoints, so an interrupted parallel run resumes like a sequential one; finished folds are read back here
without starting a worker. With Ray on several machines the feature store and the run folder must be on a
filesystem every machine sees at the same path.

The epoch hook (``on_epoch_end``) is called for folds trained in this process only.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from avemotion.errors import ConfigError
from avemotion.models.device import resolve_device
from avemotion.training.folds import (
    FoldJob,
    final_ahead,
    finished_fold,
    fit_final,
    fold_choice,
    pending_inner_runs,
    run_fold,
    run_inner,
)
from avemotion.training.results import FoldResult
from avemotion.training.splits import Fold
from avemotion.utils.progress import log
from avemotion.utils.workers import map_with_followups

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Execution:
    """How fold tasks run: ``workers`` processes (1: here, in order) on this machine (``executor`` "local")
    or Ray workers (``executor`` "ray", on the cluster at ``address`` or a local instance), and on which
    ``device`` the models compute ("cpu", "cuda", "auto"; checked here, so that a wrong one fails first)."""

    workers: int = 1
    executor: str = "local"
    address: str | None = None
    device: str = "cpu"  # where the models compute (avemotion.models.device)

    def __post_init__(self) -> None:
        if self.executor != "ray" or not self.address:  # (a cluster's workers may have GPUs the driver lacks)
            resolve_device(self.device)
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1 (got {self.workers})")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"unknown executor {self.executor!r}; known: {', '.join(EXECUTORS)}")
        if self.address and self.executor != "ray":
            raise ConfigError("--address names a Ray cluster: use it with --executor ray")
        if self.executor == "ray" and importlib.util.find_spec("ray") is None:
            raise ConfigError("--executor ray needs the ray package (pip install 'avemotion[ray]')")

    @property
    def sequential(self) -> bool:
        return self.executor == "local" and self.workers <= 1


SEQUENTIAL = Execution()


def worker_threads(train_threads: int, workers: int) -> int:
    """Torch threads of each of ``workers`` processes: ``train.threads`` shared out (0, the library default,
    counts as the machine's cores), at least one."""
    total = train_threads or os.cpu_count() or 1
    return max(1, total // max(workers, 1))


def run_folds(tasks: Sequence[tuple[FoldJob, Fold]], execution: Execution = SEQUENTIAL) -> list[FoldResult]:
    """:func:`~avemotion.training.folds.run_fold` for every (job, fold), the results in the order given.

    In parallel, a fold with inner folds (``train.inner_folds``) is several tasks: each inner run on its own
    (:func:`~avemotion.training.folds.run_inner`), then, once all of them are done, the fold's choice, refit and
    test; so more workers than folds have work, and the last round of folds does not leave workers idle. A job
    with a final model (``FoldJob.final``) also gets it trained as a task as soon as every fold's inner runs
    are done, beside the refits (:func:`~avemotion.training.folds.fit_final`; the caller's
    :func:`~avemotion.training.folds.final_model` reads it back): the same model as after the folds."""
    if execution.sequential:
        return [run_fold(job, fold) for job, fold in tasks]
    results: list[FoldResult | None] = [finished_fold(job, fold) for job, fold in tasks]
    pending = [i for i, r in enumerate(results) if r is None]
    if not pending:
        return results  # type: ignore[return-value]
    # each job once per worker (its clip set can be large), without the hook a worker could not call back
    jobs: list[FoldJob] = []
    job_index: dict[int, int] = {}
    first: list[_Spec] = []
    inner_left: dict[int, set[int]] = {}  # task -> its inner runs not done yet
    for i in pending:
        job, fold = tasks[i]
        if id(job) not in job_index:
            job_index[id(job)] = len(jobs)
            jobs.append(dataclasses.replace(job, setup=dataclasses.replace(job.setup, on_epoch_end=None)))
        inner = pending_inner_runs(job, fold)
        if inner:
            inner_left[i] = set(inner)
            first += [("inner", i, job_index[id(job)], fold, j) for j in inner]
        else:
            first.append(("fold", i, job_index[id(job)], fold, None))
    # the final model of each job whose folds all choose on inner folds: a task once their inner runs are done
    finals: dict[int, list[int]] = {}  # job -> its tasks
    for k, job in enumerate(jobs):
        members = [i for i, (other, _) in enumerate(tasks) if job_index.get(id(other)) == k]
        if final_ahead(job, [tasks[i][1] for i in members]):
            finals[k] = members

    def final_ready(k: int) -> list[_Spec]:
        """The job's final model, when none of its folds waits for an inner run any more (once)."""
        if k not in finals or any(inner_left.get(i) for i in finals[k]):
            return []
        folds = tuple(tasks[i][1] for i in finals.pop(k))
        return [("final", k, k, folds, None)]

    first[:0] = [spec for k in list(finals) for spec in final_ready(k)]

    def followups(done: _Done) -> list[_Spec]:
        kind, i, j, _ = done
        if kind != "inner":
            return []
        inner_left[i].discard(j)
        if inner_left[i]:
            return []
        job, fold = tasks[i]
        k = job_index[id(job)]
        return [*final_ready(k), ("fold", i, k, fold, None)]  # the longer final model first

    workers = min(execution.workers, len(first))
    threads = worker_threads(jobs[0].setup.config.train.threads, workers)
    where = (f"{workers} Ray workers" + (f" at {execution.address}" if execution.address else "")
             if execution.executor == "ray" else f"{workers} worker processes")
    n_inner = sum(len(v) for v in inner_left.values())
    log(f"{len(pending)} folds" + (f" ({n_inner} inner runs first)" if n_inner else "")
        + (" and the final model" if finals else "")
        + f" on {where} ({threads} torch thread{'s' if threads > 1 else ''} each); "
        f"{len(tasks) - len(pending)} read back")
    stream = map_with_followups(_run_task, first, workers=workers, initializer=_init_worker,
                                initargs=(jobs, threads), followups=followups,
                                ray=execution.executor == "ray", address=execution.address)
    folds_done = 0
    for kind, i, _, result in stream:
        if kind == "final":
            log(f"{jobs[i].name or jobs[i].setup.model_name} final model trained")
        if kind != "fold":
            continue
        results[i] = result
        folds_done += 1
        job, fold = tasks[i]
        log(f"{job.name or job.setup.model_name} fold {fold.index + 1}/{job.n_folds} done "
            f"({folds_done}/{len(pending)})")
    return results  # type: ignore[return-value]


# --- in each worker ---------------------------------------------------------------------------------------
_JOBS: list[FoldJob] = []
#: a task: (kind: "inner", "fold" or "final"; position in the task list, or the job for "final"; the job; the
#: fold, or all the job's folds for "final"; the inner run)
_Spec = tuple[str, int, int, Fold | tuple[Fold, ...], int | None]
#: a task done: (kind, position, inner run, the fold's result)
_Done = tuple[str, int, int | None, FoldResult | None]


def _init_worker(jobs: list[FoldJob], threads: int) -> None:
    global _JOBS
    _JOBS = jobs
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def _run_task(spec: _Spec) -> _Done:
    kind, i, k, fold, j = spec
    if kind == "inner":
        assert isinstance(fold, Fold) and j is not None
        run_inner(_JOBS[k], fold, j)  # its outcome is on disk, where the fold's task reads it
        return kind, i, j, None
    if kind == "final":
        assert isinstance(fold, tuple)
        fit_final(_JOBS[k], [fold_choice(_JOBS[k], f) for f in fold])  # in final/, where final_model reads it
        return kind, i, None, None
    assert isinstance(fold, Fold)
    return kind, i, None, run_fold(_JOBS[k], fold)
