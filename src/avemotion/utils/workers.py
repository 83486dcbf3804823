"""Running work beside this thread or process: the one place for worker processes and shared slots.

- :func:`map_unordered`: a function over many tasks in worker processes (spawned; each set up once by an
  ``initializer``), or in this process when ``workers <= 1``; :func:`ray_map_unordered` is the same on Ray
  actors. Corpus extraction uses them.
- :class:`ProcessStream`: the items a generator function yields in a second (spawned) process, streamed back
  through a queue while this process works on something else. The timeline uses it for its audio features
  and for the second half of a recording. :class:`~avemotion.errors.AvemotionError` s the generator yields
  come back with their class, message and file.
- :class:`Slots`: a fixed set of objects (e.g. one model per server thread) that threads borrow in turn.

Spawned, not forked: forking after torch or MediaPipe started their threads is unsafe. A script that uses
these needs the usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import pickle
import queue
import tempfile
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

from avemotion.errors import AvemotionError, ConfigError

T = TypeVar("T")
R = TypeVar("R")


#: the environment variables that size the OpenMP and BLAS thread pools of a process, read once at its start
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@contextmanager
def single_threaded_children() -> Iterator[None]:
    """Processes started inside get one OpenMP/BLAS thread from their start (the pool is the parallelism).

    A worker cannot do this itself: its first imports (numpy, to unpickle its task) size those pools before
    any of its code runs, and idle pool threads spin on the cores the other workers need (feature extraction:
    0.80 CPU seconds per demo clip with numpy's default threads, 0.54 with one)."""
    saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    os.environ.update({k: "1" for k in THREAD_VARIABLES})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch computes with ``n`` intra-op threads inside the block; the count before is restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def limit_threads() -> None:
    """One thread per worker process for torch, OpenMP/BLAS and OpenCV (the workers share the cores)."""
    for var in THREAD_VARIABLES:
        os.environ[var] = "1"
    import torch

    torch.set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass


# --- a function over many tasks ----------------------------------------------------------------------------
def map_unordered(
    fn: Callable[[T], R],
    tasks: Iterable[T],
    *,
    workers: int,
    initializer: Callable[..., None],
    initargs: tuple = (),
    finalizer: Callable[[], None] | None = None,
) -> Iterator[R]:
    """``fn(task)`` for every task, in the order they finish. ``workers <= 1``: here, after
    ``initializer(*initargs)``, with ``finalizer()`` at the end (a worker process releases its resources by
    ending). Otherwise ``workers`` spawned processes, each set up by ``initializer(*initargs)``; ``fn`` and
    ``initializer`` must be module-level functions."""
    if workers <= 1:
        initializer(*initargs)
        try:
            for task in tasks:
                yield fn(task)
        finally:
            if finalizer is not None:
                finalizer()
        return
    yield from map_with_followups(fn, tasks, workers=workers, initializer=initializer, initargs=initargs)


def ray_map_unordered(
    fn: Callable[[T], R],
    tasks: Iterable[T],
    *,
    workers: int,
    initializer: Callable[..., None],
    initargs: tuple = (),
    address: str | None = None,
) -> Iterator[R]:
    """:func:`map_unordered` on ``workers`` Ray actors (one CPU each), each set up by ``initializer``: a local
    Ray instance, or the cluster at ``address``. A Ray instance started here is shut down at the end."""
    yield from map_with_followups(fn, tasks, workers=workers, initializer=initializer, initargs=initargs,
                                  ray=True, address=address)


def map_with_followups(
    fn: Callable[[T], R],
    tasks: Iterable[T],
    *,
    workers: int,
    initializer: Callable[..., None],
    initargs: tuple = (),
    followups: Callable[[R], Iterable[T]] | None = None,
    ray: bool = False,
    address: str | None = None,
) -> Iterator[R]:
    """``fn(task)`` for every task, and for the tasks ``followups(result)`` names as each result comes in (they
    run before the tasks still waiting: work that waited on others first), in the order they finish. Up to
    twice ``workers`` tasks are out at a time (a worker that finishes finds its next one waiting), on
    ``workers`` spawned processes (``ray`` False) or Ray actors (one CPU each, on a local Ray instance or the
    cluster at ``address``; an instance started here is shut down at the end), each set up once by
    ``initializer(*initargs)``. ``fn`` and ``initializer`` must be module-level."""
    waiting = deque(tasks)
    with (_ray_pool if ray else _process_pool)(workers, initializer, initargs, address) as (submit, next_done):
        out = 0
        while waiting or out:
            while waiting and out < 2 * workers:
                submit(fn, waiting.popleft())
                out += 1
            result = next_done()
            out -= 1
            if followups is not None:
                waiting.extendleft(reversed(list(followups(result))))
            yield result


_Pool = tuple[Callable[[Callable[[Any], Any], Any], None], Callable[[], Any]]


@contextmanager
def _process_pool(workers: int, initializer: Callable[..., None], initargs: tuple,
                  address: str | None) -> Iterator[_Pool]:
    """(submit(fn, task), next result as tasks finish) on ``workers`` spawned processes.

    The workers start with one OpenMP/BLAS thread each (:func:`single_threaded_children`; an initializer may
    give torch more). ``initargs`` reach them through a temporary file, not the pipe each one is started
    through: a process start writes to that pipe until the new process has read everything, and it reads while
    it imports what the objects need (torch: seconds), so large initargs (a training run's clips) made the
    workers start one after the other."""
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="avemotion-workers-") as tmp:
        setup = Path(tmp) / "initargs.pickle"
        with setup.open("wb") as f:
            pickle.dump((initializer, initargs), f, protocol=pickle.HIGHEST_PROTOCOL)
        with single_threaded_children(), ProcessPoolExecutor(
                max_workers=workers, mp_context=ctx, initializer=_init_from_file, initargs=(str(setup),)) as pool:
            yield _pool_calls(pool)


def _init_from_file(path: str) -> None:
    with open(path, "rb") as f:
        initializer, initargs = pickle.load(f)
    initializer(*initargs)


def _pool_calls(pool: ProcessPoolExecutor) -> _Pool:
    running: dict[Future, int] = {}  # -> order of submission
    finished: deque[Future] = deque()
    order = itertools.count()

    def submit(fn: Callable[[Any], Any], task: Any) -> None:
        running[pool.submit(fn, task)] = next(order)

    def next_done() -> Any:
        if not finished:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            finished.extend(sorted(done, key=running.__getitem__))  # those done together: in their order
            for fut in done:
                del running[fut]
        return finished.popleft().result()

    return submit, next_done


@contextmanager
def _ray_pool(workers: int, initializer: Callable[..., None], initargs: tuple,
              address: str | None) -> Iterator[_Pool]:
    """(submit(fn, task), next result as tasks finish) on ``workers`` Ray actors."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise ConfigError("--executor ray needs the ray package (pip install 'avemotion[ray]')") from None

    @ray.remote(num_cpus=1)
    class _Actor:
        def __init__(self, *args: Any) -> None:
            initializer(*args)

        def run(self, fn: Callable[[Any], Any], task: Any) -> Any:
            return fn(task)

    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "logging_level": "ERROR"}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=max(workers, 1), **kwargs)
        started = True
    try:
        pool = ActorPool([_Actor.remote(*initargs) for _ in range(max(workers, 1))])

        def submit(fn: Callable[[Any], Any], task: Any) -> None:
            pool.submit(lambda actor, t: actor.run.remote(fn, t), task)

        yield submit, pool.get_next_unordered
    finally:
        if started:
            ray.shutdown()


# --- a generator in a second process -----------------------------------------------------------------------
class ProcessStream(Iterator[T]):
    """What ``produce(*args)`` yields, computed by a spawned process that starts at construction; items are
    pickled through a queue of at most ``maxsize`` items (0: unbounded), so the process runs that far ahead.

    An :class:`AvemotionError` that ``produce`` *yields* comes back as an item (same class, message and
    file); one it *raises* ends the stream with an :class:`AvemotionError` carrying the traceback, as does the
    process dying. ``what`` names the process in those messages, ``path`` the file they concern.
    :meth:`close` (or the end of the stream) stops the process.
    """

    def __init__(self, produce: Callable[..., Iterable[Any]], args: tuple, *, what: str,
                 path: str | Path | None = None, maxsize: int = 0) -> None:
        ctx = mp.get_context("spawn")
        self.what = what
        self.path = path
        self._results = ctx.Queue(maxsize=maxsize)
        self._proc = ctx.Process(target=_produce_into, args=(produce, args, self._results), daemon=True)
        with single_threaded_children():  # it shares the cores with this process
            self._proc.start()
        self._closed = False

    def __next__(self) -> T:
        if self._closed:
            raise StopIteration
        try:
            while True:
                try:
                    kind, payload = self._results.get(timeout=1.0)
                except queue.Empty:
                    if not self._proc.is_alive():
                        code = self._proc.exitcode
                        raise AvemotionError(f"the {self.what} process stopped (exit code {code})",
                                             self.path) from None
                    continue
                if kind == "done":
                    raise StopIteration
                if kind == "fatal":
                    raise AvemotionError(f"the {self.what} process failed:\n{payload}", self.path)
                return _rebuild_error(payload) if kind == "error" else payload  # type: ignore[return-value]
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._proc.is_alive():
            self._proc.terminate()
        self._proc.join(timeout=5)


def _produce_into(produce: Callable[..., Iterable[Any]], args: tuple, out: Any) -> None:
    """The second process: ``("ok" | "error", item)`` per item, then ``("done", None)`` or
    ``("fatal", traceback)``."""
    try:
        for item in produce(*args):
            out.put(("error", _error_state(item)) if isinstance(item, AvemotionError) else ("ok", item))
        out.put(("done", None))
    except BaseException:  # reported to the parent, which raises it
        out.put(("fatal", traceback.format_exc()))


def _error_state(exc: AvemotionError) -> tuple[str, str, str, str | None]:
    return type(exc).__name__, str(exc), exc.detail, None if exc.path is None else str(exc.path)


def _rebuild_error(state: tuple[str, str, str, str | None]) -> AvemotionError:
    """The error made in the worker: same class, message and file (pickling would lose the file)."""
    name, _, detail, path = state
    classes = [AvemotionError]
    cls: type[AvemotionError] = AvemotionError
    while classes:
        c = classes.pop()
        if c.__name__ == name:
            cls = c
            break
        classes.extend(c.__subclasses__())
    return cls(detail, path)


# --- objects that threads borrow in turn -------------------------------------------------------------------
class Slots(Generic[T]):
    """A fixed set of objects, each used by one thread at a time: :meth:`borrow` waits for a free one."""

    def __init__(self, items: Iterable[T]) -> None:
        self._free: queue.Queue[T] = queue.Queue()
        for item in items:
            self._free.put(item)

    @contextmanager
    def borrow(self) -> Iterator[T]:
        item = self._free.get()
        try:
            yield item
        finally:
            self._free.put(item)
