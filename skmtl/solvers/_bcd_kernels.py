"""One epoch of block coordinate descent on a Gram-form group-lasso model.

The model, on ``k`` features and ``T`` tasks, is
``1/2 sum_t v_t^T A_t v_t - c_t^T v_t + sum_j (lam ||V_j|| + r/2 ||V_j||^2)``
with either one Gram ``A_t = scales[t] * G`` (G of shape (k, k)) or one per
task (G of shape (k, k, T), ``G[j, l, t] = A_t[j, l]``). An epoch visits the
blocks ``j = 0 .. k-1`` once; block ``j`` takes the proximal gradient step
``V_j <- prox(V_j - (Q_j - C_j + r V_j) / L_j)`` (group soft-thresholding)
and ``Q = A V`` follows with a rank-one update.

:func:`residual_epoch` is the same epoch on residuals instead of Grams
(shared design, working sets with more features than rows).

A block step costs ``O(k T)`` arithmetic; in Python it also costs some 10-20
microseconds of interpreter overhead, which dominates for ``k T`` below about
10^5. With numba installed (``pip install skmtl[fast]``) the same loop is
compiled: measured on ``benchmarks/bench_l21.py`` (see
``benchmarks/results/l21.md``) it makes an epoch 20-50x faster on working
sets of a few hundred features. Without numba the pure-NumPy loop runs
(same iterates up to rounding).
"""

import math
from functools import lru_cache

import numpy as np
from scipy.linalg.blas import dger

__all__ = ["cd_epoch", "residual_epoch", "have_numba"]


def _epoch_python(G, scales, C, V, Q, L, lam, r):
    per_task = G.ndim == 3
    for j in np.flatnonzero(L > 0):
        s = 1.0 / L[j]
        v = V[j]
        z = v - s * (Q[j] - C[j] + r * v)
        norm = math.sqrt(float(z @ z))
        thresh = s * lam
        new = np.zeros_like(z) if norm <= thresh else z * (1.0 - thresh / norm)
        delta = new - v
        if delta.any():
            if per_task:
                Q += G[j] * delta
            else:
                Q = dger(1.0, G[j], scales * delta, a=Q, overwrite_a=1)
            V[j] = new
    return Q


def _epoch_shared_source(G, scales, C, V, Q, L, lam, r):  # pragma: no cover
    k, T = V.shape
    z = np.empty(T)
    d = np.empty(T)
    for j in range(k):
        if L[j] <= 0.0:
            continue
        s = 1.0 / L[j]
        norm2 = 0.0
        for t in range(T):
            z[t] = V[j, t] - s * (Q[j, t] - C[j, t] + r * V[j, t])
            norm2 += z[t] * z[t]
        norm = math.sqrt(norm2)
        thresh = s * lam
        factor = 0.0 if norm <= thresh else 1.0 - thresh / norm
        moved = False
        for t in range(T):
            d[t] = factor * z[t] - V[j, t]
            if d[t] != 0.0:
                moved = True
        if not moved:
            continue
        for t in range(T):
            V[j, t] += d[t]
            d[t] *= scales[t]
        for l in range(k):
            g = G[j, l]
            if g != 0.0:
                for t in range(T):
                    Q[l, t] += g * d[t]
    return Q


def _epoch_tasks_source(G, scales, C, V, Q, L, lam, r):  # pragma: no cover
    k, T = V.shape
    z = np.empty(T)
    d = np.empty(T)
    for j in range(k):
        if L[j] <= 0.0:
            continue
        s = 1.0 / L[j]
        norm2 = 0.0
        for t in range(T):
            z[t] = V[j, t] - s * (Q[j, t] - C[j, t] + r * V[j, t])
            norm2 += z[t] * z[t]
        norm = math.sqrt(norm2)
        thresh = s * lam
        factor = 0.0 if norm <= thresh else 1.0 - thresh / norm
        moved = False
        for t in range(T):
            d[t] = factor * z[t] - V[j, t]
            if d[t] != 0.0:
                moved = True
        if not moved:
            continue
        for t in range(T):
            V[j, t] += d[t]
        for l in range(k):
            for t in range(T):
                Q[l, t] += G[j, l, t] * d[t]
    return Q


def _residual_python(DT, scales, V, E, L, lam, r):
    stale = 0.0
    for j in np.flatnonzero(L > 0):
        v = V[j]
        grad = -scales * (DT[j] @ E) + r * v
        norm_v = math.sqrt(float(v @ v))
        if norm_v > 0:
            stale = max(stale, float(np.linalg.norm(grad + lam * v / norm_v)))
        else:
            stale = max(stale, math.sqrt(float(grad @ grad)) - lam)
        s = 1.0 / L[j]
        z = v - s * grad
        norm = math.sqrt(float(z @ z))
        thresh = s * lam
        new = np.zeros_like(z) if norm <= thresh else z * (1.0 - thresh / norm)
        delta = new - v
        if delta.any():
            E -= np.outer(DT[j], delta)
            V[j] = new
    return E, stale


def _residual_source(DT, scales, V, E, L, lam, r):  # pragma: no cover
    k, T = V.shape
    n = DT.shape[1]
    g = np.empty(T)
    d = np.empty(T)
    stale = 0.0
    for j in range(k):
        if L[j] <= 0.0:
            continue
        for t in range(T):
            g[t] = 0.0
        for i in range(n):
            x = DT[j, i]
            if x != 0.0:
                for t in range(T):
                    g[t] += x * E[i, t]
        norm_v2 = 0.0
        for t in range(T):
            g[t] = -scales[t] * g[t] + r * V[j, t]
            norm_v2 += V[j, t] * V[j, t]
        # the block's violation before its step (stale by the end of the
        # epoch: only a hint of when to compute the exact one)
        viol2 = 0.0
        if norm_v2 > 0.0:
            norm_v = math.sqrt(norm_v2)
            for t in range(T):
                e = g[t] + lam * V[j, t] / norm_v
                viol2 += e * e
            viol = math.sqrt(viol2)
        else:
            for t in range(T):
                viol2 += g[t] * g[t]
            viol = math.sqrt(viol2) - lam
        if viol > stale:
            stale = viol
        s = 1.0 / L[j]
        norm2 = 0.0
        for t in range(T):
            d[t] = V[j, t] - s * g[t]
            norm2 += d[t] * d[t]
        norm = math.sqrt(norm2)
        thresh = s * lam
        factor = 0.0 if norm <= thresh else 1.0 - thresh / norm
        moved = False
        for t in range(T):
            d[t] = factor * d[t] - V[j, t]
            if d[t] != 0.0:
                moved = True
        if not moved:
            continue
        for t in range(T):
            V[j, t] += d[t]
        for i in range(n):
            x = DT[j, i]
            if x != 0.0:
                for t in range(T):
                    E[i, t] -= x * d[t]
    return E, stale


@lru_cache(maxsize=1)
def _compiled():
    """The numba-compiled epochs, or None without numba (imported lazily)."""
    try:
        from numba import njit
    except ImportError:
        return None
    jit = njit(cache=True, nogil=True, fastmath=False)
    return (
        jit(_epoch_shared_source),
        jit(_epoch_tasks_source),
        jit(_residual_source),
    )


def have_numba():
    """Whether the compiled epochs are available (imports numba once)."""
    return _compiled() is not None


def cd_epoch(G, scales, C, V, Q, L, lam, r, compiled=True):
    """One epoch in place on ``V`` and ``Q``; returns ``Q`` (maybe a new array).

    ``scales`` is None with per-task Grams. ``compiled=False`` forces the
    pure-NumPy loop (tests compare the two).
    """
    kernels = _compiled() if compiled else None
    if kernels is None:
        return _epoch_python(G, scales, C, V, Q, L, lam, r)
    shared, tasks, _ = kernels
    if scales is None:
        return tasks(G, np.ones(V.shape[1]), C, V, Q, L, float(lam), float(r))
    Q = np.ascontiguousarray(Q)
    return shared(G, scales, C, V, Q, L, float(lam), float(r))


def residual_epoch(DT, scales, V, E, L, lam, r, compiled=True):
    """One epoch on the residual form of a shared-design model, in place.

    The model is ``1/2 sum_t scales[t] ||E_t||^2`` plus the penalty, with
    residuals ``E = Z - D V`` (n, T) and ``DT = D^T`` (k, n): block ``j``'s
    gradient is ``-scales * (D_j^T E) + r V_j``, ``O(n T)`` per block
    instead of ``O(k T)`` on the Gram (cheaper when the working set has more
    features than rows). Returns ``(E, stale)``: ``stale`` is the largest
    block violation seen before each block's step, a hint of when to compute
    the exact one.
    """
    kernels = _compiled() if compiled else None
    if kernels is None:
        return _residual_python(DT, scales, V, E, L, lam, r)
    return kernels[2](DT, scales, V, E, L, float(lam), float(r))
