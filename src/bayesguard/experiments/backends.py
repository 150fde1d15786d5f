"""Where a benchmark sweep's tasks run: a local process pool (the default) or Ray tasks.

A sweep is a function and a list of independent tasks (a batch of episodes, a (seed, sampler) pair, a
(world, agent, seed) triple...). :func:`run_tasks` runs ``fn(task)`` for every task and returns the
results **in task order**, whatever order they finish in and wherever they ran, so a sweep gives the
same rows on every backend for the same seeds (each task draws from its own seeds, never from shared
state):

- ``"local"``: a pool of ``workers`` spawned processes on this machine (in this process, one task after
  another, when ``workers == 1``);
- ``"ray"``: one Ray task per task (``num_cpus=1``), on a Ray instance started for the call (``workers``
  CPUs, stopped at the end) or on a running cluster at ``address`` (``"auto"``, ``"host:port"`` or
  ``"ray://host:port"``; the call disconnects at the end and leaves the cluster running). A Ray already
  initialised in this process (``ray.init`` in the caller's code) is used as it is and left running.

Every task runs with one BLAS / OpenMP / PyTorch thread, on both backends: several tasks share a machine
and a task's small matrix products do not gain from more threads (2 workers x 2 BLAS threads ran 2.5x
slower than 2 x 1 on 2 cores). See ``docs/scaling.md``.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import re
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .registry import NeedsExtra

__all__ = [
    "BACKENDS",
    "Backend",
    "TaskError",
    "TaskTypeError",
    "TaskValueError",
    "check_backend",
    "ray_session",
    "run_tasks",
]

T = TypeVar("T")
R = TypeVar("R")
#: Where tasks can run.
Backend = Literal["local", "ray"]
BACKENDS: tuple[str, ...] = ("local", "ray")
#: Thread pools pinned to one thread in every worker (set before NumPy or PyTorch start their pools).
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}
RAY_EXTRA = "pip install 'bayesguard[ray]'"
#: Seconds to wait for a cluster's port to answer before saying the address is wrong.
CONNECT_TIMEOUT_S = 5.0
_HOST_PORT = re.compile(r"^(ray://)?(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$")


class TaskError(RuntimeError):
    """A task of a sweep raised; the message names the task, ``__cause__`` is the task's exception
    (a task's ValueError or TypeError comes as :class:`TaskValueError` or :class:`TaskTypeError`, so
    that it is still one).

    Attributes:
        index: the task's position in the list given to :func:`run_tasks`.
        task: the task itself.
    """

    def __init__(self, fn: Callable[..., Any], index: int, n_tasks: int, task: Any, cause: BaseException):
        self.index, self.task = index, task
        shown = repr(task)
        shown = shown if len(shown) <= 200 else shown[:197] + "..."
        name = getattr(fn, "__qualname__", repr(fn))
        super().__init__(
            f"task {index} of {n_tasks}, {name}({shown}), failed: {type(cause).__name__}: {cause}"
        )


class TaskValueError(TaskError, ValueError):
    """A task raised ValueError (bad input, by this project's convention): still a ValueError."""


class TaskTypeError(TaskError, TypeError):
    """A task raised TypeError: still a TypeError."""


def _task_error(fn: Callable[..., Any], index: int, n: int, task: Any, cause: BaseException) -> TaskError:
    """The TaskError for ``cause``, a ValueError or TypeError where the cause is one."""
    kind = (
        TaskValueError
        if isinstance(cause, ValueError)
        else TaskTypeError
        if isinstance(cause, TypeError)
        else TaskError
    )
    return kind(fn, index, n, task, cause)


def check_backend(backend: str, workers: int | None = None, address: str | None = None) -> None:
    """Raise ValueError naming the field if ``backend``, ``workers`` or ``address`` is malformed."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers: expected a positive integer or None, got {workers!r}")
    if address is None:
        return
    if backend != "ray":
        raise ValueError(f"address: a Ray cluster address needs backend 'ray', got backend {backend!r}")
    if not isinstance(address, str) or (address != "auto" and not _HOST_PORT.match(address)):
        raise ValueError(f"address: expected 'auto', 'host:port' or 'ray://host:port', got {address!r}")


# ------------------------------------------------------------------------------- inside a worker
def _one_thread() -> None:
    """Pin this worker process to one thread per pool (environment for pools not yet started)."""
    os.environ.update(THREAD_ENV)
    threadpool_limits(1)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _call(fn: Callable[[T], R], task: T) -> R:
    """``fn(task)`` with one BLAS thread (also for libraries the task loads)."""
    with threadpool_limits(1):
        return fn(task)


def _ray_call(fn: Callable[[T], R], task: T, version: str) -> R:
    """The body of a Ray task: same bayesguard as the driver, one thread, then ``fn(task)``."""
    import bayesguard

    if bayesguard.__version__ != version:
        raise RuntimeError(
            f"this Ray worker runs bayesguard {bayesguard.__version__}, the driver {version}: "
            "install the same version on every node"
        )
    _one_thread()
    return _call(fn, task)


# ------------------------------------------------------------------------------- the backends
def _run_serial(fn: Callable[[T], R], tasks: Sequence[T], bar: tqdm) -> list[R]:
    out = []
    for i, task in enumerate(tasks):
        try:
            out.append(_call(fn, task))
        except Exception as exc:
            raise _task_error(fn, i, len(tasks), task, exc) from exc
        bar.update()
    return out


def _run_pool(fn: Callable[[T], R], tasks: Sequence[T], workers: int, bar: tqdm) -> list[R]:
    results: list[Any] = [None] * len(tasks)
    ctx = mp.get_context("spawn")  # no fork of a process that may hold threads (Ray, PyTorch)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_one_thread) as pool:
        futures = {pool.submit(_call, fn, task): i for i, task in enumerate(tasks)}
        for fut in as_completed(futures):
            i = futures[fut]
            exc = fut.exception()
            if exc is not None:
                pool.shutdown(wait=False, cancel_futures=True)
                raise _task_error(fn, i, len(tasks), tasks[i], exc) from exc
            results[i] = fut.result()
            bar.update()
    return results


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise NeedsExtra(f"--backend ray needs Ray: {RAY_EXTRA} ({exc})") from exc
    return ray


def _probe(address: str) -> None:
    """Fail fast on a ``host:port`` nothing listens on (Ray itself retries for minutes)."""
    m = _HOST_PORT.match(address)
    if m is None:
        return
    host, port = m["host"].strip("[]"), int(m["port"])
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ValueError(
            f"address: no Ray cluster answers at {address!r} ({exc}); start one with `ray start --head` "
            "or give the head node's address"
        ) from exc


@contextmanager
def ray_session(address: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """The ``ray`` module, connected: to a Ray already initialised in this process (left running), to
    the cluster at ``address`` (disconnected at the end, the cluster left running), or to a local Ray
    with ``workers`` CPUs (None: every CPU) started here and shut down at the end."""
    ray = _import_ray()
    if address is not None:
        _probe(address)
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address is None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report from a local run
        kwargs.update(address="local", num_cpus=workers, include_dashboard=False)
    else:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = "start a local Ray" if address is None else f"connect to Ray at {address!r}"
        root = exc
        while root.__cause__ is not None:  # Ray's own message hides why (authentication, versions...)
            root = root.__cause__
        why = f"{type(exc).__name__}: {exc}"
        if root is not exc:
            last = [line for line in str(root).splitlines() if line.strip()][-1:] or [""]
            why += f" ({type(root).__name__}: {last[0].strip()[:300]})"  # a traceback's last line
        raise ValueError(f"address: could not {where}: {why}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def _run_ray(
    fn: Callable[[T], R], tasks: Sequence[T], workers: int | None, address: str | None, bar: tqdm
) -> list[R]:
    import bayesguard

    with ray_session(address, workers) as ray:
        from ray.exceptions import RayError, RayTaskError

        remote = ray.remote(num_cpus=1, runtime_env={"env_vars": dict(THREAD_ENV)})(_ray_call)
        refs = [remote.remote(fn, task, bayesguard.__version__) for task in tasks]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(tasks)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                i = index[ref]
                try:
                    results[i] = ray.get(ref)
                except RayError as exc:
                    for other in pending:
                        ray.cancel(other)
                    cause = exc.cause if isinstance(exc, RayTaskError) and exc.cause is not None else exc
                    raise _task_error(fn, i, len(tasks), tasks[i], cause) from cause
                bar.update()
        return results


def run_tasks(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    *,
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = False,
    desc: str = "tasks",
    unit: str = "task",
) -> list[R]:
    """``[fn(task) for task in tasks]``, run on ``backend``, in task order.

    Args:
        fn: a module-level function (workers import it by name), one task in, one result out; the
            task and result travel between processes, so both must pickle.
        tasks: the tasks, in the order of the results.
        backend: ``"local"`` (a process pool, default) or ``"ray"`` (module docstring).
        workers: local: processes (1: in this process; None: every CPU); Ray started here: its CPUs
            (None: every CPU); a Ray cluster: ignored (the cluster's CPUs set the pace).
        address: ``"ray"`` only: ``"auto"`` (the running cluster, or ``$RAY_ADDRESS``), ``"host:port"``
            or ``"ray://host:port"``; None starts a local Ray for the call.
        progress: a progress bar over finished tasks; desc, unit: its label and unit.

    Raises:
        ValueError: a bad ``backend``, ``workers`` or ``address`` (named), or no cluster at ``address``.
        NeedsExtra: ``backend="ray"`` without Ray installed (the message says how to install it).
        TaskError: a task raised (the message names it; ``__cause__`` is its exception); a task's
            ValueError or TypeError comes as :class:`TaskValueError` / :class:`TaskTypeError`.
    """
    check_backend(backend, workers, address)
    tasks = list(tasks)
    if backend == "ray":
        _import_ray()
    if not tasks:
        return []
    bar = tqdm(total=len(tasks), desc=desc, unit=unit, disable=not progress)
    try:
        if backend == "ray":
            return _run_ray(fn, tasks, workers, address, bar)
        n = min(workers or os.cpu_count() or 1, len(tasks))
        return _run_serial(fn, tasks, bar) if n == 1 else _run_pool(fn, tasks, n, bar)
    finally:
        bar.close()
