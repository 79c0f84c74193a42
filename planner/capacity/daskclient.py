"""The Dask client of a capacity batch: an embedded ``LocalCluster`` (worker processes, one
thread each, quiet logs) or an existing scheduler at ``tcp://host:port``, and the failures
of the Dask cluster told apart from those of the analysis (:class:`BatchError`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class BatchError(Exception):
    """The Dask cluster failed the batch (no workers, scheduler gone): a message for the
    user, not a bug."""


#: Seconds to wait for the scheduler to answer and for a first worker.
CONNECT_TIMEOUT_S = 10.0
WORKER_TIMEOUT_S = 30.0


@contextmanager
def _quiet_dask() -> Iterator[None]:
    """Silence distributed's loggers while hvplan uses Dask: a lost scheduler, a
    reconnect attempt or the shutdown after an interruption log tracebacks that are not
    the user's concern (the batch reports each failure as one message)."""
    # Not restored afterwards: the client's finaliser still logs at interpreter exit.
    prefixes = ("distributed", "tornado", "asyncio")
    for name in [*prefixes, *logging.root.manager.loggerDict]:
        if name.split(".")[0] in prefixes:
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    yield


@contextmanager
def _sigint_ignored_in_children() -> Iterator[None]:
    """Start worker processes with SIGINT ignored (an ignored signal stays ignored across
    exec): a Ctrl-C in the terminal then reaches only hvplan itself, which shuts the
    workers down, instead of every worker printing its own traceback."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


@contextmanager
def dask_client(
    scheduler: str | None = None,
    workers: int = 2,
    processes: bool = True,
    worker_timeout_s: float = WORKER_TIMEOUT_S,
) -> Iterator[Any]:
    """A ``dask.distributed`` client: to ``scheduler`` when given, else to an embedded
    ``LocalCluster`` of ``workers`` single-threaded workers (quiet logs, no dashboard).

    Raises :class:`BatchError` when the scheduler does not answer within
    :data:`CONNECT_TIMEOUT_S` or has no worker within ``worker_timeout_s``.
    """
    from dask.distributed import Client, LocalCluster

    if scheduler:
        with _quiet_dask():
            try:
                client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
            except (OSError, TimeoutError, ValueError) as e:
                raise BatchError(
                    f"cannot reach the Dask scheduler {scheduler}: "
                    f"{e or type(e).__name__} (waited up to "
                    f"{CONNECT_TIMEOUT_S:g} s)"
                ) from None
            try:
                try:
                    client.wait_for_workers(1, timeout=worker_timeout_s)
                except (TimeoutError, OSError) as e:
                    raise BatchError(
                        f"the Dask scheduler {scheduler} has no worker after "
                        f"{worker_timeout_s:g} s (start workers with 'dask worker "
                        f"{scheduler}', or set --worker-timeout)"
                    ) from e
                yield client
            finally:
                with contextlib.suppress(Exception):
                    client.close(timeout=2)
        return
    kwargs: dict[str, Any] = {}
    if processes:
        # One BLAS thread per worker process: the workers already use the cores.
        kwargs["env"] = {
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
    # This version of distributed starts the dashboard even when asked not to; a random
    # port at least never collides with another cluster on the machine.
    with _quiet_dask():
        with _sigint_ignored_in_children():
            cluster = LocalCluster(
                n_workers=max(1, workers),
                threads_per_worker=1,
                processes=processes,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
                **kwargs,
            )
        client = Client(cluster)
        try:
            yield client
        finally:
            # Shutting down after an interruption may time out; it must not replace the
            # interruption (or the result) with an error of its own.
            with contextlib.suppress(Exception):
                client.close(timeout=2)
            with contextlib.suppress(Exception):
                cluster.close(timeout=2)


def is_connection_error(e: BaseException) -> bool:
    """A failure of the Dask cluster (connection, scheduler, cancelled work), not of the
    analysis."""
    import asyncio
    from concurrent.futures import CancelledError

    from distributed.comm.core import CommClosedError

    return isinstance(
        e, OSError | TimeoutError | CommClosedError | CancelledError | asyncio.CancelledError
    ) or type(e).__name__ in ("FutureCancelledError", "KilledWorker", "CommClosedError")


__all__ = [
    "CONNECT_TIMEOUT_S",
    "WORKER_TIMEOUT_S",
    "BatchError",
    "dask_client",
    "is_connection_error",
]
