"""The thread policy of the whole package: one thread unless an operation is large.

Both wings follow one rule, decided once per fit (or prediction) from the
size of its largest single operation, in multiply-adds:

- the linear wing (BLAS, through threadpoolctl): the dispatch
  (:func:`skmtl.solvers.solve_problem`) measures the largest dense product of
  the problem (:meth:`skmtl._design.TaskDesign.product_work`) or the
  factorisation of a direct solver, and limits BLAS for the whole solve;
  predictions, ``partial_fit`` and TrAdaBoost's rounds do the same with
  their own sizes;
- the torch wing (:func:`skmtl.neural._training.torch_threads`): the work of
  a training step is ``batch_size * n_parameters``.

:func:`n_threads_for` turns that work into a thread count: one thread below
:data:`MANY_THREADS_WORK`, then one more per further ``MANY_THREADS_WORK``,
never more than the caller allows (an outer ``threadpool_limits``,
``OMP_NUM_THREADS`` or ``torch.set_num_threads`` is respected, never raised).

Why one thread by default: measured side by side on the 2-core machine that
runs this package's benchmarks (busy with other work, as a laptop or a CI
runner is), a product ``X @ W`` of 1e7 multiply-adds took 1.2 ms on one
OpenBLAS thread and 12 ms on two; at 5e7 two threads were 1.5x slower, at
2e8 1.25x slower, and only at 5e8 faster (0.55x). Torch's OpenMP threads made
a small network fit about 200 times slower (9.4 s against 0.04 s). Sparse
products (scipy) are single-threaded whatever BLAS does, so a sparse problem
only sees BLAS in vector operations: one thread.
"""

from contextlib import contextmanager
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

__all__ = [
    "MANY_THREADS_WORK",
    "n_threads_for",
    "blas_threads",
    "blas_max_threads",
    "product_work",
]

#: multiply-adds of one operation from which a second thread pays (measured
#: above: two BLAS threads were slower up to 2e8, faster at 5e8)
MANY_THREADS_WORK = 5e8


def n_threads_for(work, max_threads):
    """Threads for an operation of ``work`` multiply-adds, at most ``max_threads``.

    Parameters
    ----------
    work : float
        Multiply-adds of the largest single operation (0 for none).
    max_threads : int
        What the caller allows (the current setting of the library).

    Returns
    -------
    n_threads : int
        1 below :data:`MANY_THREADS_WORK`, else ``1 + work //
        MANY_THREADS_WORK``, capped at ``max_threads`` (and at least 1).
    """
    max_threads = max(int(max_threads), 1)
    if work < MANY_THREADS_WORK:
        return 1
    return int(min(max_threads, 1 + work // MANY_THREADS_WORK))


def product_work(X, n_columns=1):
    """Multiply-adds of ``X @ W`` with ``W`` of ``n_columns`` columns (0 for sparse X).

    Scipy's sparse products do not use BLAS threads, so they count as 0.
    """
    shape = np.shape(X)
    if sp.issparse(X) or len(shape) != 2:
        return 0.0
    return float(shape[0]) * float(shape[1]) * float(n_columns)


@lru_cache(maxsize=1)
def _controller():
    # Inspecting the loaded libraries takes ~1.5 ms: do it once per process
    # (numpy's and scipy's OpenBLAS are both loaded by ``import skmtl``).
    return ThreadpoolController()


def _blas():
    return _controller().select(user_api="blas")


def blas_max_threads():
    """The largest thread count of the loaded BLAS libraries now (1 if none)."""
    return max((lib.num_threads for lib in _blas().lib_controllers), default=1)


@contextmanager
def blas_threads(work):
    """Run the block with the BLAS threads the policy gives ``work``.

    Only ever lowers the current setting (nested blocks and an outer
    ``threadpool_limits`` keep theirs when smaller); the setting is restored
    on exit. Yields the thread count in force.
    """
    current = blas_max_threads()
    n_threads = n_threads_for(work, current)
    if n_threads >= current:
        yield current
        return
    with _blas().limit(limits=n_threads):
        yield n_threads
