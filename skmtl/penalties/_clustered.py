"""Clustered multi-task learning: the convex relaxation of Zhou, Chen & Ye (2011)."""

from numbers import Integral

import numpy as np
import scipy.linalg

from ._relationship import _stacked, _unstacked
from ._trace import _svd
from .base import BasePenalty, RidgeSmoothPart


def capped_simplex_weights(s, eta, k):
    """``argmin_m sum_i s_i^2 / (eta + m_i)`` over ``0 <= m_i <= 1``, ``sum m = k``.

    The eigenvalues of the optimal M (Zhou, Chen & Ye 2011, Theorem 3.1). The
    optimality conditions give ``m_i = clip(theta s_i - eta, 0, 1)`` for one
    ``theta > 0``; ``sum_i m_i`` is piecewise linear and non-decreasing in
    ``theta``, with kinks at ``eta / s_i`` and ``(eta + 1) / s_i``, so
    ``theta`` is found exactly (no bisection) on the segment where the sum
    crosses ``k``. With at most ``k`` positive ``s_i``, those get 1 and the
    rest of the budget is spread evenly over the others (their ``m_i`` does
    not change the value: ``W = 0`` gives ``M = k / n I``).

    Parameters
    ----------
    s : ndarray of shape (n,)
        Non-negative values (singular values of W, padded with zeros).
    eta : float
        Positive offset.
    k : int
        Budget, ``1 <= k <= n``.
    """
    s = np.asarray(s, dtype=np.float64)
    n = s.size
    pos = s > 0
    r = int(pos.sum())
    if r <= k:
        return np.where(pos, 1.0, (k - r) / (n - r) if n > r else 0.0)
    sp = s[pos]
    kinks = np.sort(np.concatenate([eta / sp, (eta + 1.0) / sp]))
    sums = np.clip(np.outer(kinks, sp) - eta, 0.0, 1.0).sum(axis=1)
    j = int(np.searchsorted(sums, k))  # first kink with sum >= k (sums[0] = 0)
    lo, hi = kinks[j - 1], kinks[j]
    theta = lo + (k - sums[j - 1]) * (hi - lo) / (sums[j] - sums[j - 1])
    return np.clip(theta * s - eta, 0.0, 1.0)


def _padded(s, n):
    return np.concatenate([s, np.zeros(n - s.size)])


def _kmeans(V, k, n_starts=10):
    """Lloyd's k-means on the rows of ``V``, deterministic: labels and inertia.

    Starts from farthest-point seeds, the first seed being each of the
    ``n_starts`` rows of largest norm in turn; the best inertia wins. The rows
    are few (one per task): scikit-learn's ``KMeans`` costs ~30 ms per start
    in thread set-up alone, which every point of a CV path would pay.
    """
    best, best_inertia = None, np.inf
    for first in np.argsort(-np.einsum("ij,ij->i", V, V), kind="stable")[:n_starts]:
        centres = [V[first]]
        d2 = np.sum((V - V[first]) ** 2, axis=1)
        for _ in range(1, k):
            centres.append(V[int(np.argmax(d2))])
            d2 = np.minimum(d2, np.sum((V - centres[-1]) ** 2, axis=1))
        C = np.array(centres)
        labels = None
        for _ in range(100):
            D = np.sum((V[:, None, :] - C[None]) ** 2, axis=2)
            new = np.argmin(D, axis=1)
            if labels is not None and np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):  # an emptied cluster keeps its centre
                if np.any(labels == j):
                    C[j] = V[labels == j].mean(axis=0)
        inertia = float(np.sum((V - C[labels]) ** 2))
        if inertia < best_inertia - 1e-12:
            best, best_inertia = labels, inertia
    return best


def _cluster_rows(V, k):
    """Partition of the rows of ``V`` (n, k) into at most ``k`` groups.

    k-means (:func:`_kmeans`, deterministic) on the rows; labels are numbered
    in order of first appearance (the first row is in group 0).
    """
    n = V.shape[0]
    if k >= n:
        return np.arange(n)
    labels = np.zeros(n, dtype=np.intp) if k == 1 else _kmeans(V, k)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse.ravel()].astype(np.intp)


class _BoundClustered(RidgeSmoothPart):
    """``alpha / 2 * c * min_M tr(W (eta I + M)^-1 W^T)``, M minimised out.

    A spectral function of the stacked W: with singular values ``s_i`` (padded
    with zeros to n_tasks) and ``m`` the capped-simplex minimiser, the value is
    ``alpha / 2 * c * sum_i s_i^2 / (eta + m_i)``. It is handled whole by its
    prox (the smooth part is zero).
    """

    is_smooth = False

    def __init__(self, alpha, n_clusters, ridge, coupling, n_tasks):
        self.mu = 0.0  # no smooth part: the whole coupling goes through the prox
        self.k = n_clusters
        self.eta = ridge / coupling
        self.scale = alpha * ridge * (ridge + coupling) / coupling  # alpha * c
        self.n_tasks = n_tasks

    def _spectrum(self, W):
        U, s, Vt = _svd(_stacked(W))
        m = capped_simplex_weights(_padded(s, self.n_tasks), self.eta, self.k)
        return U, s, Vt, m

    def value(self, W):
        _, s, _, m = self._spectrum(W)
        return 0.5 * self.scale * float(np.sum(s**2 / (self.eta + m[: s.size])))

    def coupling_gradient(self, W):
        """Gradient of the (differentiable) coupling: ``alpha c W (eta I + M)^-1``."""
        U, s, Vt, m = self._spectrum(W)
        G = (U * (self.scale * s / (self.eta + m[: s.size]))) @ Vt
        return _unstacked(G, np.shape(W))

    def prox(self, W, step):
        """Prox of ``step`` times the coupling, in closed form.

        Per singular value, ``min_x 1/2 (x - s)^2 + t / 2 * x^2 / (eta + m)``
        (``t = step * alpha * c``) gives ``x = s (eta + m) / (eta + t + m)``
        with the value ``t / 2 * s^2 / (eta + t + m)``: the optimal ``m`` is
        the capped-simplex minimiser for the offset ``eta + t``.
        """
        t = step * self.scale
        if t <= 0:
            return W.copy()
        U, s, Vt = _svd(_stacked(W))
        m = capped_simplex_weights(_padded(s, self.n_tasks), self.eta + t, self.k)
        m = m[: s.size]
        x = s * (self.eta + m) / (self.eta + t + m)
        return _unstacked((U * x) @ Vt, np.shape(W))

    def kkt_violation(self, W, grad):
        """Max-norm of ``grad`` plus the coupling's gradient.

        The coupling is differentiable (it is a Moreau envelope, see
        :class:`Clustered`): its subdifferential is its gradient.
        """
        G = np.asarray(grad, dtype=np.float64) + self.coupling_gradient(W)
        return float(np.max(np.abs(G), initial=0.0))

    def task_cluster_matrix(self, W):
        """The minimising M (n_tasks, n_tasks) and its eigenvectors, by eigenvalue."""
        A = _stacked(W)
        _, s, Vt = _svd(A)
        m = capped_simplex_weights(_padded(s, self.n_tasks), self.eta, self.k)
        if Vt.shape[0] < self.n_tasks:  # complete the basis of R^n_tasks
            Vt = np.vstack([Vt, scipy.linalg.null_space(Vt).T])
        return (Vt.T * m) @ Vt, Vt.T

    def fitted_attributes(self, W, b):
        """``task_cluster_matrix_`` (M) and ``task_clusters_``.

        The clusters: k-means on the rows of the top ``n_clusters``
        eigenvectors of M (those of ``W^T W``), the spectral relaxation of the
        k-means problem on the task weights that the penalty relaxes.
        """
        M, V = self.task_cluster_matrix(W)
        return {
            "task_cluster_matrix_": 0.5 * (M + M.T),
            "task_clusters_": _cluster_rows(V[:, : self.k], self.k),
        }


class Clustered(BasePenalty):
    """Clustered multi-task learning, convex relaxation (Zhou, Chen & Ye 2011).

    ::

        alpha / 2 * c * min_M tr(W (eta I + M)^-1 W^T),

        eta = ridge / coupling,  c = coupling * eta * (1 + eta),
        over the (n_tasks, n_tasks) symmetric M with eigenvalues in [0, 1]
        and trace n_clusters

    ``W`` is the (n_features, n_tasks) matrix of the tasks' weights. It is the
    convex relaxation of clustering the tasks into ``k = n_clusters`` groups
    while fitting them: for ``M = F F^T`` with ``F`` the normalised indicator
    of a partition (a projector), the penalty is ``alpha / 2 * (ridge
    ||W||_F^2 + coupling * sum_t ||w_t - mean of its cluster||^2)``, the
    within-cluster spread of the task weights (k-means on the tasks) plus a
    ridge. Relaxing the projectors to their convex hull gives a problem convex
    in ``(W, M)`` jointly. In Zhou et al.'s (and MALSAR's ``Least_CMTL``)
    notation, ``rho1 = alpha * coupling / 2`` and ``rho2 = alpha * ridge / 2``.
    For multinomial classifiers, one M is shared by the classes (their slices
    of ``W`` are stacked as rows).

    Each direction of the task space is shrunk with a strength between
    ``alpha * ridge`` (directions M keeps, eigenvalue 1: the cluster means)
    and ``alpha * (ridge + coupling)`` (eigenvalue 0). Limits:
    ``n_clusters = n_tasks`` forces ``M = I``, the independent ridge of
    strength ``alpha * ridge``; ``coupling -> 0`` tends to the same ridge;
    ``coupling -> inf`` tends to ``alpha / 2 * ridge`` times the squared
    spectral k-support norm of W (Mcdonald, Pontil & Stamos 2014), which for
    ``n_clusters = 1`` is the squared trace norm (``TaskRelationship`` with
    ``ridge=0``).

    How it is solved. M is minimised out in closed form: it shares the
    eigenvectors of ``W^T W`` and its eigenvalues solve a small problem on the
    capped simplex (Zhou et al., Theorem 3.1). The resulting penalty of W
    alone is convex and differentiable, with a closed-form prox (the same
    eigenvalue problem with a larger offset), so the accelerated proximal
    gradient (FISTA) solves it and stops on the usual KKT rule, the max-norm
    of the whole gradient. MALSAR's projected gradient on ``(W, M)`` jointly
    is not needed.

    Parameters
    ----------
    n_clusters : int, default=2
        Number of task clusters ``k`` (the trace of M). With fewer tasks than
        ``n_clusters``, each task is its own cluster (``k = n_tasks``).
    ridge : float, default=1.0
        Strength of the ridge on the weights (``rho2`` up to ``alpha / 2``);
        must be positive.
    coupling : float, default=1.0
        Strength of the within-cluster spread (``rho1`` up to ``alpha / 2``);
        must be positive.

    Attributes
    ----------
    (of the fitted estimator)

    task_cluster_matrix_ : ndarray of shape (n_tasks, n_tasks)
        The minimising M (eigenvalues in [0, 1], trace ``k``), the relaxed
        ``F F^T``: large entries for tasks of one cluster.
    task_clusters_ : ndarray of shape (n_tasks,)
        The cluster of each task (in the order of ``tasks_``), from 0: k-means
        (deterministic) on the rows of the ``k`` top eigenvectors of M, the
        spectral relaxation of k-means on the task weights. Numbered in order
        of first appearance (the first task is in cluster 0). With no clear
        structure (e.g. all weights zero, where M is ``k / n_tasks I``) the
        partition is arbitrary.

    Raises
    ------
    ValueError
        At fit (``bind``), when ``ridge`` or ``coupling`` is not a positive
        finite number or ``n_clusters`` is not a positive integer.

    See Also
    --------
    TaskRelationship : a learned task covariance (MTRL).
    TraceNorm : low-rank W.
    GraphLaplacian : a task coupling given by the user.

    References
    ----------
    J. Zhou, J. Chen and J. Ye, "Clustered multi-task learning via
    alternating structure optimization", NIPS 2011.

    L. Jacob, F. Bach and J.-P. Vert, "Clustered multi-task learning: a
    convex formulation", NIPS 2008.

    A. M. McDonald, M. Pontil and D. Stamos, "Spectral k-support norm
    regularization", NIPS 2014.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl import MultiTaskRegressor
    >>> from skmtl.penalties import Clustered
    >>> rng = np.random.default_rng(0)
    >>> X, tasks = rng.normal(size=(240, 4)), np.repeat(np.arange(6), 40)
    >>> means = rng.normal(size=(4, 2)) * 2
    >>> W = means[:, [0, 1, 0, 1, 0, 1]] + 0.1 * rng.normal(size=(4, 6))
    >>> y = np.einsum("ip,pi->i", X, W[:, tasks]) + 0.1 * rng.normal(size=240)
    >>> model = MultiTaskRegressor(alpha=0.1, penalty=Clustered(n_clusters=2))
    >>> model.fit(X, y, tasks=tasks).task_clusters_
    array([0, 1, 0, 1, 0, 1])
    """

    def __init__(self, n_clusters=2, ridge=1.0, coupling=1.0):
        self.n_clusters = n_clusters
        self.ridge = ridge
        self.coupling = coupling

    def bind(self, task_labels, alpha):
        ridge = self._check_strength("ridge")
        coupling = self._check_strength("coupling")
        for name, value in (("ridge", ridge), ("coupling", coupling)):
            if value <= 0:
                raise ValueError(
                    f"Clustered.{name} must be positive (the relaxation needs "
                    f"eta = ridge / coupling in (0, inf)), got {value!r}; use "
                    "penalty='independent' for a plain ridge."
                )
        k = self.n_clusters
        if not isinstance(k, Integral) or isinstance(k, bool) or k < 1:
            raise ValueError(
                f"Clustered.n_clusters must be a positive integer, got {k!r}."
            )
        n_tasks = len(task_labels)
        return _BoundClustered(alpha, min(int(k), n_tasks), ridge, coupling, n_tasks)
