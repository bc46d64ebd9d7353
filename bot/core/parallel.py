"""One fan-out for every batch of independent runs: serially, on local Ray, or on a Ray cluster.

Backtests (`bot backtest --compare`, several symbols), evaluations, sweeps and the dataset's
strategy backtests all go through `FanOut`. Each item runs as one Ray task in a worker process
of its own, never in this one: nautilus engines are not reusable and leak memory, and a process
that has run torch must not fork (its children hang). Results come back in item order and equal
the serial run's, which a test checks.

- `workers=1` runs in this process, one item after another: no Ray needed.
- `workers=0` (one per CPU) or `workers=N` start a local Ray for the batch and stop it after;
  start-up costs a few seconds, so a batch of one item, or any batch on a one-CPU machine, runs
  serially. A plain `bot backtest` (one symbol, one policy) never starts Ray.
- `ray_address="auto"` (or the head's "host:6379") joins a running cluster from one of its
  machines; its nodes must have this project installed at the same version and the caller's
  directory at the same path (tasks run from it), and the cluster's own CPUs bound the
  parallelism.

Ray is the optional `scale` extra (`pip install -e '.[scale]'`, in `make setup`); without it a
parallel request runs serially and says so.
"""

import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from tqdm import tqdm

from bot.core.errors import BotError, ConfigError

log = structlog.get_logger(__name__)

# A worker process runs at most this many tasks, then Ray starts a fresh one: each nautilus
# engine leaks about 27 MB, so this bounds a worker's growth to a few hundred MB.
TASKS_PER_WORKER = 8
# Seconds to wait for a cluster's address to answer before saying it does not.
JOIN_PROBE_S = 3.0


@dataclass(frozen=True)
class Parallel:
    """Where a batch runs.

    Parameters
    ----------
    workers : int
        1 runs serially in this process; 0 means one Ray worker per CPU; N > 1, N workers.
    ray_address : str | None
        A Ray cluster to join ("auto" or the head's "host:6379") instead of a local Ray.
    """

    workers: int = 0
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ConfigError(f"workers={self.workers}: use 1 (serial), 0 (one per CPU) or N.")
        if self.ray_address is not None and self.workers == 1:
            raise ConfigError(
                "--ray-address and --workers 1 contradict each other: a cluster runs tasks in "
                "parallel. Drop one of them."
            )

    def width(self, items: int) -> int:
        """How many items run at once on this machine (a cluster decides its own)."""
        return min(items, self.workers or os.cpu_count() or 1)


class Batch:
    """Items submitted to a `FanOut`; `results()` waits for them, in item order, and `each()`
    hands them over one by one."""

    def __init__(self, fn: Callable, items: Sequence, refs: list | None) -> None:
        self._fn, self._items, self._refs = fn, list(items), refs

    def results(self, desc: str = "", progress: bool = False) -> list:
        """Every item's result, in item order; the first failure is raised as itself."""
        bar = tqdm(total=len(self._items), desc=desc, disable=not progress)
        with bar:
            if self._refs is None:
                return [_tick(bar, self._fn(item)) for item in self._items]
            return _gather(self._refs, bar)

    def each(self, desc: str = "", progress: bool = False) -> Iterator:
        """Every item's result, in item order, each as soon as it and those before it are done,
        so that the caller can let go of one before the next arrives (results that finish early
        wait in Ray's object store, not here); a failure is raised when its turn comes."""
        with tqdm(total=len(self._items), desc=desc, disable=not progress) as bar:
            if self._refs is None:
                for item in self._items:
                    yield _tick(bar, self._fn(item))
                return
            import ray

            for ref in self._refs:
                with _task_errors():
                    yield _tick(bar, ray.get(ref))


class FanOut:
    """A context that owns the Ray session (if any) for the batches submitted inside it."""

    def __init__(self, parallel: Parallel, items: int) -> None:
        self.parallel = parallel
        # One item, or one CPU: Ray would only add its start-up (seconds) to a serial run.
        local_width = parallel.width(items)
        self.serial = parallel.workers == 1 or (local_width <= 1 and parallel.ray_address is None)
        self._started = False
        if not self.serial and not _has_ray():
            if parallel.ray_address:
                raise ConfigError(
                    f"--ray-address {parallel.ray_address} needs Ray, which is not installed: "
                    "pip install -e '.[scale]'."
                )
            log.warning("ray is not installed; running serially", install="pip install ray")
            self.serial = True
        self._width = local_width

    def __enter__(self) -> "FanOut":
        if not self.serial:
            self._started = _start_ray(self.parallel, self._width)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            import ray

            ray.shutdown()

    def submit(self, fn: Callable, items: Sequence) -> Batch:
        """Start `fn(item)` for every item (in Ray workers at once, or serially on `results`)."""
        if self.serial:
            return Batch(fn, items, None)
        import ray

        task = ray.remote(num_cpus=1, max_calls=TASKS_PER_WORKER)(_in_directory)
        here = os.getcwd()
        return Batch(fn, items, [task.remote(here, fn, item) for item in items])


def fan_out(
    fn: Callable, items: Sequence, parallel: Parallel, desc: str = "", progress: bool = False
) -> list:
    """`[fn(item) for item in items]`, run as `parallel` says; results in item order."""
    with FanOut(parallel, len(items)) as pool:
        return pool.submit(fn, items).results(desc, progress)


def _in_directory(directory: str, fn: Callable, item: Any) -> Any:
    """`fn(item)` in a Ray worker, run from the caller's directory: a cluster's workers start
    wherever `ray start` ran, where relative paths (model:DIR, the catalog) read elsewhere."""
    if os.getcwd() != directory:
        if not os.path.isdir(directory):
            raise ConfigError(
                f"Ray node {socket.gethostname()} has no directory {directory}, where the command "
                "runs: relative paths (model:DIR, the data catalog, the journal) would not be "
                "found. Run the command from a directory every node has at the same path."
            )
        os.chdir(directory)
    return fn(item)


def _tick(bar: tqdm, result: Any) -> Any:
    bar.update()
    return result


def _gather(refs: list, bar: tqdm) -> list:
    import ray

    pending = list(refs)
    with _task_errors():
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            ray.get(done)  # raises the first failure now, not after the whole batch
            bar.update(len(done))
        return ray.get(refs)


@contextmanager
def _task_errors():
    """A task's BotError raised as itself (the CLI boundary maps it to its exit code)."""
    import ray

    try:
        yield
    except ray.exceptions.RayTaskError as error:
        if isinstance(error.cause, BotError):
            raise error.cause from None
        raise


def _has_ray() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _start_ray(parallel: Parallel, width: int) -> bool:
    """Start or join Ray unless this process is already connected; True when we started it."""
    import ray

    if ray.is_initialized():
        return False
    # The project is importable in workers (an installed package); the working directory is not
    # shipped. Worker output stays out of the terminal: errors come back through results().
    if parallel.ray_address:
        _join_ray(parallel.ray_address)
        return True
    # A local Ray is an implementation detail of a run: its start-up notes (the session token,
    # "Started a local Ray instance") are not the user's business; its errors still show.
    # address="local": a fresh Ray even when a cluster runs on this machine (ray.init() would
    # join it, and refuse num_cpus); --ray-address is the way to use a cluster.
    ray.init(
        address="local",
        num_cpus=width,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    log.debug("ray started", workers=width)
    return True


def answers(host: str, port: int, timeout: float = JOIN_PROBE_S) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def _join_ray(address: str) -> None:
    """Join a running cluster, or say clearly why not: Ray itself waits minutes on an address
    where nothing listens."""
    host, port = _bootstrap_host_port(address)
    if not answers(host, port):
        raise ConfigError(
            f"--ray-address {address}: nothing answers at {host}:{port}. Start the head with "
            "`ray start --head`, or fix the address."
        )
    import ray

    try:
        ray.init(address=address, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as error:
        raise ConfigError(
            f"--ray-address {address}: could not join the Ray cluster ({error}). Run bot on a "
            "machine of the cluster (the head, or one joined with `ray start --address "
            "HEAD:6379`) with the same Ray version."
        ) from None
    log.info("ray joined", address=address)


def _bootstrap_host_port(address: str) -> tuple[str, int]:
    if address.startswith("ray://"):
        # Ray Client is meant for interactive sessions; its head-side proxy failed to start or
        # hung under load in this project's cluster test, so batches join as a cluster driver.
        raise ConfigError(
            f"--ray-address {address}: Ray Client (ray://) addresses are not supported. Run bot "
            "on a machine of the cluster (the head, or one joined with `ray start --address "
            "HEAD:6379`) and pass auto or the head's host:port."
        )
    from ray._private.services import canonicalize_bootstrap_address

    where = canonicalize_bootstrap_address(address)
    if where is None:
        raise ConfigError(
            f"--ray-address {address}: no running Ray cluster was found on this machine. "
            "Start one with `ray start --head`, or pass the head's host:port."
        )
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address}: expected auto or host:port.")
    return host, int(port)
