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

The compiled shared-design epochs visit the blocks in chunks of
:data:`CHUNK`: inside a chunk, the products of the chunk's own blocks follow
each step through the chunk's part of the Gram (``CHUNK x CHUNK``), and the
rest of ``Q`` (or the residuals) takes the chunk's steps in one BLAS-3
product at its end. The iterates are those of the one-block-at-a-time loop
(cyclic block coordinate descent, up to rounding); the rank-one updates of
``Q`` or of the residuals, which stream the whole array through memory once
per block, become matrix products: measured 2.2x (Gram, k=2000, T=50) and
2.9x (residuals, n=500, k=4774, T=20) faster epochs.
"""

import math
from functools import lru_cache

import numpy as np
from scipy.linalg.blas import dgemm, dger

__all__ = [
    "BLAS_OUTER_MIN",
    "CHUNK",
    "cd_epoch",
    "chunk_grams",
    "residual_epoch",
    "have_numba",
]

#: blocks per chunk of the compiled epochs (see the module docstring);
#: measured on n=500, k=4774, T=20 (residuals) and n=k=2000, T=50 (Gram):
#: 16-64 are within 10% of each other, 128 and more lose the gain
CHUNK = 32


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


def _group_step_source(z, v, thresh, d):  # pragma: no cover
    """``d <- prox(z) - v`` with ``prox`` the group soft-thresholding at ``thresh``.

    The block step shared by the compiled epochs (numba inlines it); returns
    whether the block moved (some ``d[t] != 0``).
    """
    norm2 = 0.0
    for t in range(z.shape[0]):
        norm2 += z[t] * z[t]
    norm = math.sqrt(norm2)
    factor = 0.0 if norm <= thresh else 1.0 - thresh / norm
    moved = False
    for t in range(z.shape[0]):
        d[t] = factor * z[t] - v[t]
        if d[t] != 0.0:
            moved = True
    return moved


#: the compiled :func:`_group_step_source` and :func:`_chunk_shared_source`,
#: set by :func:`_compiled` before the epochs that call them are compiled
_group_step = None
_chunk_shared = None


def _epoch_shared_source(G, scales, C, V, Q, L, lam, r, B):  # pragma: no cover
    k, T = V.shape
    delta = np.empty((B, T))
    for c0 in range(0, k, B):
        # a chunk of B blocks: their Q rows follow the in-chunk steps
        # (_chunk_shared), the other rows get the chunk's steps at once (one
        # BLAS-3 product)
        c1 = min(c0 + B, k)
        d = delta[: c1 - c0]
        if _chunk_shared(G, scales, C, V, Q, L, lam, r, c0, c1, d):
            Q += np.dot(G[c0:c1].T, d)  # G is symmetric
    return Q


def _chunk_shared_source(
    G, scales, C, V, Q, L, lam, r, c0, c1, delta
):  # pragma: no cover
    """The blocks ``c0 .. c1-1`` of :func:`_epoch_shared_source`, without the
    update of ``Q`` by the chunk's steps: those go to ``delta`` (zero rows for
    the blocks that did not move). Returns whether any block moved."""
    T = V.shape[1]
    z = np.empty(T)
    d = np.empty(T)
    P = Q[c0:c1].copy()
    moved_any = False
    for jj in range(c1 - c0):
        j = c0 + jj
        for t in range(T):
            delta[jj, t] = 0.0
        if L[j] <= 0.0:
            continue
        s = 1.0 / L[j]
        for t in range(T):
            z[t] = V[j, t] - s * (P[jj, t] - C[j, t] + r * V[j, t])
        if not _group_step(z, V[j], s * lam, d):
            continue
        moved_any = True
        for t in range(T):
            V[j, t] += d[t]
            d[t] *= scales[t]
            delta[jj, t] = d[t]
        for ll in range(jj + 1, c1 - c0):
            g = G[j, c0 + ll]
            if g != 0.0:
                for t in range(T):
                    P[ll, t] += g * d[t]
    return moved_any


def _epoch_shared_blas(chunk_kernel, G, scales, C, V, Q, L, lam, r, B):
    """:func:`_epoch_shared_source` with each chunk's update of ``Q`` by BLAS
    ``gemm`` accumulating into ``Q`` (``beta = 1``): no temporary ``k x T``
    product and no pass to add it, which numba's ``np.dot`` cannot avoid.
    Same iterates; measured 10% faster epochs at k = 2000, T = 50 (15.7 vs
    17.5 ms) and 1600 (10.2 vs 11.1 ms), slower below about 2 * 10^4 = k T
    (a Python call per chunk): see :data:`BLAS_OUTER_MIN`."""
    k, T = V.shape
    delta = np.empty((B, T))
    Qt = Q.T  # Fortran-ordered (T, k): gemm updates it in place
    for c0 in range(0, k, B):
        c1 = min(c0 + B, k)
        d = delta[: c1 - c0]
        if chunk_kernel(G, scales, C, V, Q, L, lam, r, c0, c1, d):
            # Q^T += delta^T G[c0:c1] (G is symmetric)
            out = dgemm(1.0, d.T, G[c0:c1].T, beta=1.0, c=Qt, trans_b=1, overwrite_c=1)
            if out is not Qt:  # pragma: no cover - f2py copied Qt
                Qt[...] = out
    return Q


#: the size ``k * T`` from which the shared-Gram epochs update ``Q`` by a
#: BLAS call per chunk (:func:`_epoch_shared_blas`); measured equal at
#: k = 300, T = 20, 10% faster at k = 1000, T = 20 and k = 2000, T = 50
BLAS_OUTER_MIN = 20_000


def _epoch_tasks_source(G, scales, C, V, Q, L, lam, r):  # pragma: no cover
    k, T = V.shape
    z = np.empty(T)
    d = np.empty(T)
    for j in range(k):
        if L[j] <= 0.0:
            continue
        s = 1.0 / L[j]
        for t in range(T):
            z[t] = V[j, t] - s * (Q[j, t] - C[j, t] + r * V[j, t])
        if not _group_step(z, V[j], s * lam, d):
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


def _residual_source(DT, GB, scales, V, E, L, lam, r, B):  # pragma: no cover
    k, T = V.shape
    g = np.empty(T)
    d = np.empty(T)
    stale = 0.0
    for c0 in range(0, k, B):
        # a chunk of B blocks: their gradients D_c E by one BLAS-3 product,
        # kept exact through the in-chunk steps by the chunk's Gram GB, and
        # the residuals updated once at the end of the chunk
        c1 = min(c0 + B, k)
        Dc = DT[c0:c1]
        P = np.dot(Dc, E)
        delta = np.zeros((c1 - c0, T))
        moved_any = False
        for jj in range(c1 - c0):
            j = c0 + jj
            if L[j] <= 0.0:
                continue
            norm_v2 = 0.0
            for t in range(T):
                g[t] = -scales[t] * P[jj, t] + r * V[j, t]
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
            for t in range(T):
                g[t] = V[j, t] - s * g[t]
            if not _group_step(g, V[j], s * lam, d):
                continue
            moved_any = True
            for t in range(T):
                V[j, t] += d[t]
                delta[jj, t] = d[t]
            for ll in range(jj + 1, c1 - c0):
                x = GB[j, ll]
                if x != 0.0:
                    for t in range(T):
                        P[ll, t] -= x * d[t]
        if moved_any:
            E -= np.dot(Dc.T, delta)
    return E, stale


def chunk_grams(DT, chunk=None):
    """``GB[j, l] = DT[j] . DT[c + l]`` for the blocks ``c + l`` of ``j``'s chunk.

    The diagonal blocks of ``DT DT^T`` (chunks of ``chunk`` rows), shape
    (k, chunk): what :func:`residual_epoch` needs to keep the gradients of a
    chunk exact through its steps. Costs ``k * chunk * n``.
    """
    chunk = CHUNK if chunk is None else chunk
    k = DT.shape[0]
    GB = np.zeros((k, chunk))
    for c0 in range(0, k, chunk):
        c1 = min(c0 + chunk, k)
        GB[c0:c1, : c1 - c0] = DT[c0:c1] @ DT[c0:c1].T
    return GB


@lru_cache(maxsize=1)
def _compiled():
    """The numba-compiled epochs, or None without numba (imported lazily)."""
    try:
        from numba import njit
    except ImportError:
        return None
    global _group_step, _chunk_shared
    jit = njit(cache=True, nogil=True, fastmath=False)
    inlined = njit(cache=True, nogil=True, fastmath=False, inline="always")
    _group_step = inlined(_group_step_source)
    # one chunk, called by the compiled epoch and, per chunk, from Python by
    # _epoch_shared_blas
    _chunk_shared = inlined(_chunk_shared_source)
    return (
        jit(_epoch_shared_source),
        jit(_epoch_tasks_source),
        jit(_residual_source),
        _chunk_shared,
    )


def have_numba():
    """Whether the compiled epochs are available (imports numba once)."""
    return _compiled() is not None


def cd_epoch(G, scales, C, V, Q, L, lam, r, compiled=True, chunk=None, blas_outer=None):
    """One epoch in place on ``V`` and ``Q``; returns ``Q`` (maybe a new array).

    ``scales`` is None with per-task Grams. ``compiled=False`` forces the
    pure-NumPy loop (tests compare the two); ``chunk`` (default
    :data:`CHUNK`) is the chunk of the compiled shared-Gram epoch;
    ``blas_outer`` whether its chunks update ``Q`` by a BLAS call from
    Python (default: from :data:`BLAS_OUTER_MIN`).
    """
    kernels = _compiled() if compiled else None
    if kernels is None:
        if scales is not None:
            Q = np.asfortranarray(Q)  # BLAS ger updates it in place
        return _epoch_python(G, scales, C, V, Q, L, lam, r)
    shared, tasks, _, chunk_kernel = kernels
    if scales is None:
        return tasks(G, np.ones(V.shape[1]), C, V, Q, L, float(lam), float(r))
    Q = np.ascontiguousarray(Q)
    chunk = CHUNK if chunk is None else chunk
    if blas_outer is None:
        blas_outer = Q.size >= BLAS_OUTER_MIN
    if blas_outer and G.dtype == np.float64 and G.flags.c_contiguous:
        return _epoch_shared_blas(
            chunk_kernel, G, scales, C, V, Q, L, float(lam), float(r), chunk
        )
    return shared(G, scales, C, V, Q, L, float(lam), float(r), chunk)


def residual_epoch(DT, GB, scales, V, E, L, lam, r, compiled=True):
    """One epoch on the residual form of a shared-design model, in place.

    The model is ``1/2 sum_t scales[t] ||E_t||^2`` plus the penalty, with
    residuals ``E = Z - D V`` (n, T) and ``DT = D^T`` (k, n): block ``j``'s
    gradient is ``-scales * (D_j^T E) + r V_j``, ``O(n T)`` per block
    instead of ``O(k T)`` on the Gram (cheaper when the working set has more
    features than rows). ``GB`` is :func:`chunk_grams` of ``DT`` (its width
    is the chunk; the NumPy loop does not use it). Returns ``(E, stale)``:
    ``stale`` is the largest block violation seen before each block's step,
    a hint of when to compute the exact one.
    """
    kernels = _compiled() if compiled else None
    if kernels is None:
        return _residual_python(DT, scales, V, E, L, lam, r)
    return kernels[2](DT, GB, scales, V, E, L, float(lam), float(r), GB.shape[1])
