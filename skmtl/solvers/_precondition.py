"""Preconditioners of the Newton systems of coupled problems.

The Hessian of ``f(W, b) + penalty(W)`` for a datafit with a diagonal
Hessian in score space is ``blockdiag_t(X_t^T H_t X_t) + I_p (x) C`` on the
weights, where ``C`` (n_tasks, n_tasks) is the penalty's Hessian along the
task axis (``coupling_hessian``, the same for every feature). The
preconditioner keeps the diagonal of each task's data curvature, ``d_jt =
sum_{i in t} h_i (x_ij - m_tj)^2``, and all of the coupling::

    P = diag(d) + I_p (x) C,

one (n_tasks, n_tasks) system per feature, solved exactly:

- ``C = a I - beta 11^T`` (mean coupling, all-pairs graph, independent
  ridge): Sherman-Morrison per feature, O(n_features n_tasks) per
  application;
- ``C`` sparse (a graph Laplacian plus ridge): the tasks are reordered by
  reverse Cuthill-McKee so that ``C`` is banded (bandwidth ``k``: 1 for a
  chain), then one banded Cholesky factorisation per feature, all features at
  once (vectorised over features, O(n_features n_tasks k^2) per Newton step
  and O(n_features n_tasks k) per application); beyond a memory budget the
  diagonal of ``P`` (Jacobi). scipy's sparse LU on the block-diagonal ``P``
  gives the same operator but took 2.3-2.9 s to factorise and 0.23 s per
  solve on 20 tasks x 67,310 features (a chain), where this took 0.05-0.4 s
  and 0.03-0.18 s on the same busy 2-core machine;
- ``C`` dense (other couplings): the diagonal of ``P`` (Jacobi).

The coupling carries what grows with the number of tasks (the shared
direction of the mean coupling is penalised by about ``alpha shared /
n_tasks``, while its curvature is the sum of the tasks'), so with ``P`` the
number of conjugate-gradient steps no longer grows with the number of tasks
(measured by ``benchmarks/bench_newton.py``). The intercepts take the
diagonal ``sum_{i in t} h_i``; their coupling with the weights vanishes on the
centred design at the squared loss and is small otherwise.
"""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee

__all__ = ["coupled_preconditioner"]


def _positive(v):
    """``v`` with zeros (a feature absent from a task, no ridge) replaced by 1."""
    return np.where(v > 0, v, 1.0)


def coupled_preconditioner(coupling_hessian, dW, db):
    """``(RW, rb) -> P^-1 (RW, rb)`` for ``P = diag(dW, db) + I (x) C``.

    With a class axis (multinomial: ``dW`` of shape (n_features, n_tasks,
    n_classes), the diagonal of each task's softmax Hessian) the penalty
    couples the tasks of each class alone (its Hessian is ``C`` along the
    task axis for every feature and class), so every (feature, class) pair is
    one system ``diag(d_{j.k}) + C``, solved as a feature row of the
    two-dimensional case.

    Parameters
    ----------
    coupling_hessian : tuple
        The penalty's ``coupling_hessian`` (see :mod:`skmtl.penalties.base`).
    dW : ndarray of shape (n_features, n_tasks)
        Diagonal of the data curvature of each task (non-negative).
    db : ndarray of shape (n_tasks,)
        The intercepts' curvature (zero without intercept).

    Returns
    -------
    apply : callable
        ``apply(RW, rb) -> (ZW, zb)``, arrays of the shapes of ``dW`` and
        ``db``; a symmetric positive definite operator (as conjugate gradients
        need).
    """
    if dW.ndim == 3:
        return _per_class(coupling_hessian, dW, db)
    kind = coupling_hessian[0]
    inv_db = 1.0 / _positive(db)
    if kind == "identity_minus_ones":
        _, a, beta = coupling_hessian
        inv_e = 1.0 / _positive(dW + a)
        if beta == 0:

            def apply(RW, rb):
                return RW * inv_e, rb * inv_db

            return apply
        # Sherman-Morrison per feature row: (E - beta 11^T)^-1 r =
        #   E^-1 r + beta E^-1 1 (1^T E^-1 r) / (1 - beta 1^T E^-1 1);
        # the denominator is >= 0 since P is semi-definite, and 0 only for a
        # feature that no task sees and nothing penalises along the shared
        # direction: floor it so that P stays definite
        # sums along the task axis as products with a vector of ones: a
        # reduction over a short trailing axis runs element by element (1.2
        # ms against 0.1 ms for 38,000 features x 4 tasks)
        ones = np.ones(dW.shape[1])
        denom = np.maximum(1.0 - beta * (inv_e @ ones), 1e-10)
        coef = beta / denom

        def apply(RW, rb):
            z = RW * inv_e
            s = z @ ones
            s *= coef
            z += inv_e * s[:, None]
            return z, rb * inv_db

        return apply
    if kind not in ("sparse", "dense"):
        raise ValueError(f"unknown coupling_hessian kind {kind!r}.")
    C = coupling_hessian[1]
    if kind == "sparse":
        solve = _banded_solver(sp.csr_matrix(C), dW)
        if solve is not None:

            def apply(RW, rb):
                return solve(RW), rb * inv_db

            return apply
    # Jacobi: the diagonal of P
    inv_e = 1.0 / _positive(dW + (C.diagonal() if kind == "sparse" else np.diag(C)))

    def apply(RW, rb):
        return RW * inv_e, rb * inv_db

    return apply


def _per_class(coupling_hessian, dW, db):
    """The preconditioner with a class axis: (feature, class) pairs as rows."""
    p, T, K = dW.shape
    rows = np.ascontiguousarray(dW.transpose(0, 2, 1)).reshape(p * K, T)
    flat = coupled_preconditioner(coupling_hessian, rows, np.zeros(T))
    inv_db = 1.0 / _positive(db)

    def apply(RW, rb):
        R = np.ascontiguousarray(RW.transpose(0, 2, 1)).reshape(p * K, T)
        Z, _ = flat(R, np.zeros(T))
        return np.ascontiguousarray(Z.reshape(p, K, T).transpose(0, 2, 1)), (
            rb * inv_db
        )

    return apply


#: the banded factor holds n_features * n_tasks * (bandwidth + 1) floats
_MAX_BAND_ENTRIES = 50_000_000


def _banded_solver(C, dW):
    """``R -> (diag(dW_j) + C)^-1 r_j`` for every feature row, or None.

    Cholesky factors of every feature's banded system, computed together
    (numpy operations over the features); None when the band is too wide for
    :data:`_MAX_BAND_ENTRIES`.
    """
    p, T = dW.shape
    order = reverse_cuthill_mckee(C, symmetric_mode=True)
    Cp = C[order][:, order].tocoo()
    k = int(np.max(np.abs(Cp.row - Cp.col), initial=0))
    if p * T * (k + 1) > _MAX_BAND_ENTRIES:
        return None
    # band storage, features last: L[i, o] is row i, column i - o
    A = np.zeros((T, k + 1, p))
    lower = Cp.row >= Cp.col
    A[Cp.row[lower], (Cp.row - Cp.col)[lower]] = Cp.data[lower][:, None]
    A[:, 0] += dW[:, order].T
    # a Laplacian without ridge is singular along each connected component's
    # mean: a relative shift keeps the factorisation defined
    A[:, 0] += 1e-10 * float(np.max(A[:, 0], initial=1.0))
    L = np.zeros_like(A)
    for i in range(T):
        lo = max(0, i - k)
        for c in range(lo, i):
            # L[i, c] = (A[i, c] - sum_{m < c} L[i, m] L[c, m]) / L[c, c]
            m_lo = max(lo, c - k)
            acc = A[i, i - c] - np.einsum(
                "op,op->p", L[i, i - c + 1 : i - m_lo + 1], L[c, 1 : c - m_lo + 1]
            )
            L[i, i - c] = acc / L[c, 0]
        d = A[i, 0] - np.einsum("op,op->p", L[i, 1 : i - lo + 1], L[i, 1 : i - lo + 1])
        L[i, 0] = np.sqrt(np.maximum(d, 1e-300))

    def solve(RW):
        # tasks first, features contiguous: every step below is a vector
        # operation over the features
        r = np.asarray(RW, dtype=np.float64).T[order]
        y = np.empty_like(r)
        for i in range(T):  # L y = r
            lo = max(0, i - k)
            acc = r[i] - np.einsum("op,op->p", L[i, 1 : i - lo + 1], y[lo:i][::-1])
            y[i] = acc / L[i, 0]
        x = np.empty_like(y)
        for i in range(T - 1, -1, -1):  # L^T x = y
            hi = min(T, i + k + 1)
            rows = np.arange(i + 1, hi)
            acc = y[i] - np.einsum("op,op->p", L[rows, rows - i], x[i + 1 : hi])
            x[i] = acc / L[i, 0]
        out = np.empty((T, p))
        out[order] = x
        return out.T

    return solve
