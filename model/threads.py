"""Thread limiting: how many threads OpenMP and BLAS may run, in one place.

On a machine of two cores, OpenMP and BLAS pools that each start a thread per core slow the
model down instead of speeding it up (library-notes: 40x slow-downs, a 13 ms against a 1.7 ms
single-row predict). Scale with processes, not threads.
"""

from __future__ import annotations

import functools
import os
from contextlib import AbstractContextManager
from typing import Any

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_threads(threads: int = 1, environment: bool = True) -> None:
    """Cap the OpenMP and BLAS thread pools at `threads` threads from now on.

    OpenMP keeps its thread count per thread, so a cap set at start-up does not reach the
    workers of a thread pool: call this again in the thread that runs the model.

    Parameters
    ----------
    threads : int, default=1
        Threads each pool may run.
    environment : bool, default=True
        Also set OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS (where not set
        already), for libraries loaded later and for child processes.
    """
    if environment:
        for var in THREAD_VARIABLES:
            os.environ.setdefault(var, str(threads))
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)


@functools.cache
def _controller() -> Any:
    """One ThreadpoolController: `threadpool_limits()` rescans the loaded libraries (~10 ms) on
    every call, more than explaining one pupil takes.
    """
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def limited_threads(threads: int) -> AbstractContextManager:
    """Cap the OpenMP and BLAS thread pools at `threads` threads within a ``with`` block.

    Parameters
    ----------
    threads : int
        Threads each pool may run inside the block.

    Returns
    -------
    contextlib.AbstractContextManager
        The limit; the pools get their former sizes back on leaving the block.
    """
    return _controller().limit(limits=threads)
