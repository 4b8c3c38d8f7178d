"""Per-task sufficient statistics of the squared loss, merged batch by batch.

``MultiTaskRegressor.partial_fit`` keeps, for every task ``t``, the weighted
moments of its rows: the weight sum ``S_t``, the means ``mx_t``, ``my_t`` and
the centred co-moments ``Cxx_t = sum s (x - mx)(x - mx)^T``, ``Cxy_t``,
``Cyy_t``. They determine the per-task weighted mean squared loss, centred or
not, exactly, so a solve from them equals ``fit`` on all the rows seen.

Batches are merged with the pairwise update of Chan, Golub & LeVeque (1979):
``C = C_a + C_b + S_a S_b / S * d d^T`` with ``d`` the difference of the
means. Unlike raw sums (``sum s x x^T - S mx mx^T``) it never subtracts two
large numbers, so features far from zero mean lose no digits.
"""

import hashlib

import numpy as np
import scipy.sparse as sp

from .._tasks import TaskIndex, encode_tasks
from ..penalties import GraphLaplacian, Independent, MeanRegularized, resolve_penalty

__all__ = ["TaskMoments", "PARTIAL_FIT_MAX_FEATURES", "quadratic_coupling"]

#: the statistics hold one p x p matrix per task (32 MiB per task at 2048)
PARTIAL_FIT_MAX_FEATURES = 2048


def _batch_moments(X, y, s):
    """``(S, mx, my, Cxx, Cxy, Cyy)`` of one task's rows (s > 0)."""
    S = float(s.sum())
    my = float(s @ y) / S
    yc = y - my
    if sp.issparse(X):
        # centring would densify X: raw products, then the rank-one correction
        mx = np.asarray(X.T @ s, dtype=np.float64).ravel() / S
        Xs = X.multiply(s[:, None]).tocsr()
        Cxx = np.asarray((X.T @ Xs).toarray(), dtype=np.float64) - S * np.outer(mx, mx)
        Cxy = np.asarray(Xs.T @ yc, dtype=np.float64).ravel()
    else:
        X = np.asarray(X, dtype=np.float64)
        mx = (s @ X) / S
        Xc = X - mx
        Xcs = Xc * s[:, None]
        Cxx = Xcs.T @ Xc
        Cxy = Xcs.T @ yc
    Cxx = 0.5 * (Cxx + Cxx.T)
    return S, mx, my, Cxx, Cxy, float(s @ (yc * yc))


class TaskMoments:
    """Weighted moments of ``(x, y)`` per task, in the order of ``task_labels``.

    Immutable in use: :meth:`merge` returns a new object, so that an estimator
    whose update fails keeps its previous statistics (``restore_on_error``
    restores attributes, not arrays modified in place).
    """

    def __init__(self, task_labels, S, mx, my, Cxx, Cxy, Cyy):
        self.task_labels = task_labels
        self.S, self.mx, self.my = S, mx, my
        self.Cxx, self.Cxy, self.Cyy = Cxx, Cxy, Cyy

    @property
    def n_features(self):
        return self.mx.shape[1]

    @classmethod
    def from_batch(cls, X, y, codes, sample_weight, task_labels):
        """Moments of a batch whose rows (all of positive weight) have ``codes``."""
        T, p = len(task_labels), X.shape[1]
        S, my, Cyy = np.zeros(T), np.zeros(T), np.zeros(T)
        mx, Cxy, Cxx = np.zeros((T, p)), np.zeros((T, p)), np.zeros((T, p, p))
        if sp.issparse(X):
            X = X.tocsr()
        for t in range(T):
            rows = np.flatnonzero(codes == t)
            S[t], mx[t], my[t], Cxx[t], Cxy[t], Cyy[t] = _batch_moments(
                X[rows], y[rows], sample_weight[rows]
            )
        return cls(task_labels, S, mx, my, Cxx, Cxy, Cyy)

    def with_batches(self, batches):
        """The same statistics (arrays shared) with the named batches' record."""
        out = TaskMoments(
            self.task_labels, self.S, self.mx, self.my, self.Cxx, self.Cxy, self.Cyy
        )
        out.batches = batches
        return out

    def _reindexed(self, labels):
        """These moments on the (larger, sorted) task list ``labels``."""
        T, p = len(labels), self.n_features
        pos = TaskIndex(labels).transform(self.task_labels, len(self.task_labels))
        out = TaskMoments(
            labels,
            np.zeros(T),
            np.zeros((T, p)),
            np.zeros(T),
            np.zeros((T, p, p)),
            np.zeros((T, p)),
            np.zeros(T),
        )
        for name in ("S", "mx", "my", "Cxx", "Cxy", "Cyy"):
            getattr(out, name)[pos] = getattr(self, name)
        return out

    def merge(self, other):
        """The moments of both sets of rows (a new object; tasks sorted)."""
        labels = union_labels(self.task_labels, other.task_labels)
        a, b = self._reindexed(labels), other._reindexed(labels)
        S = a.S + b.S
        safe = np.where(S > 0, S, 1.0)
        fb = b.S / safe  # share of b in the merged weight
        cross = a.S * b.S / safe  # S_a S_b / S
        dx, dy = b.mx - a.mx, b.my - a.my
        return TaskMoments(
            labels,
            S,
            a.mx + fb[:, None] * dx,
            a.my + fb * dy,
            a.Cxx + b.Cxx + cross[:, None, None] * dx[:, :, None] * dx[:, None, :],
            a.Cxy + b.Cxy + cross[:, None] * dx * dy[:, None],
            a.Cyy + b.Cyy + cross * dy * dy,
        )

    def system(self, task_weights, fit_intercept):
        """``(A, R, intercept)`` of the per-task weighted mean squared loss.

        ``A`` (n_tasks, p, p) and ``R`` (p, n_tasks) are the Hessian blocks and
        minus the gradient at ``W = 0`` of ``sum_t lambda_t / (2 S_t) sum_{i in
        t} s_i (y_i - x_i.w_t - b_t)^2`` minimised over ``b``;
        ``intercept(W)`` gives those best intercepts, ``value(W)`` the loss.
        """
        scale = task_weights / self.S
        if fit_intercept:
            Cxx, Cxy, Cyy = self.Cxx, self.Cxy, self.Cyy
        else:
            # raw second moments about 0
            S = self.S
            Cxx = self.Cxx + S[:, None, None] * (
                self.mx[:, :, None] * self.mx[:, None, :]
            )
            Cxy = self.Cxy + S[:, None] * self.mx * self.my[:, None]
            Cyy = self.Cyy + S * self.my**2
        A = scale[:, None, None] * Cxx
        R = (scale[:, None] * Cxy).T

        def intercept(W):
            if not fit_intercept:
                return np.zeros(len(self.S))
            return self.my - np.einsum("tp,pt->t", self.mx, W)

        def value(W):
            quad = np.einsum("pt,tpq,qt->t", W, Cxx, W)
            return float(
                np.sum(0.5 * scale * (Cyy - 2.0 * np.einsum("tp,pt->t", Cxy, W) + quad))
            )

        return A, R, intercept, value


def union_labels(a, b):
    """Sorted union of two sorted label arrays, in the dtype ``fit`` would give.

    Numbers with numbers and strings with strings are merged by numpy; any
    other mix goes through object arrays, where labels that cannot be sorted
    together (1 and "1") raise the same ``TypeError`` as ``fit``.
    """
    kinds = {a.dtype.kind, b.dtype.kind}
    if kinds <= set("biuf") or kinds <= set("U") or kinds <= set("S"):
        return np.unique(np.concatenate([a, b]))
    # plain Python labels (tolist: str, not numpy.str_), encoded as fit
    # encodes a list of them: a scalar label's object array and a '<U1'
    # array give '<U1' again, tuples stay whole
    merged = a.tolist() + b.tolist()
    return encode_tasks(merged, len(merged))[0]


def quadratic_coupling(estimator):
    """``partial_fit`` exists only for the quadratic couplings (see its docstring)."""
    penalty = resolve_penalty(estimator.penalty)
    if not isinstance(penalty, (Independent, MeanRegularized, GraphLaplacian)):
        raise AttributeError(
            "partial_fit needs a quadratic task coupling (penalty='independent', "
            f"'mean' or 'graph'); {type(penalty).__name__} is not quadratic, so "
            "its solution is not a function of per-task statistics. Use fit."
        )
    return True


def batch_digest(X, y, row_tasks, sample_weight):
    """A digest of a batch's rows: ``X`` (dense or CSR), ``y``, tasks, weights.

    ``partial_fit(..., batch_id=...)`` compares it across passes: a named
    batch must hold the same rows every time it is given.
    """
    h = hashlib.blake2b(digest_size=16)
    if sp.issparse(X):
        X = X.tocsr()
        if not X.has_sorted_indices:
            X = X.sorted_indices()
        parts = [X.data, X.indices, X.indptr]
    else:
        parts = [np.ascontiguousarray(X)]
    h.update(repr((X.shape, str(X.dtype))).encode())
    for a in parts + [np.asarray(y), np.asarray(sample_weight, dtype=np.float64)]:
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr(np.asarray(row_tasks).tolist()).encode())
    return h.hexdigest()


class NamedDigest:
    """What a regression stream keeps of a named batch: its rows' digest."""

    def __init__(self, digest):
        self.digest = digest


def check_named_batch(batches, batch_id, digest):
    """The earlier record of ``batch_id`` in ``batches`` (None if new).

    Raises a ``ValueError`` when ``batch_id`` is not hashable or names a
    batch that was given with other rows.
    """
    try:
        hash(batch_id)
    except TypeError:
        raise ValueError(
            f"batch_id must be hashable (an int or a str), got "
            f"{type(batch_id).__name__}."
        ) from None
    previous = batches.get(batch_id)
    if previous is not None and previous.digest != digest:
        raise ValueError(
            f"batch_id={batch_id!r} was given earlier with other rows; a named "
            "batch must hold the same rows (X, y, tasks, sample_weight), in the "
            "same order and the same format (dense or sparse, dtype), at every "
            "pass. Use a new batch_id for new rows."
        )
    return previous
