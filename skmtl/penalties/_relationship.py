"""Learned task relationships: multi-task relationship learning (MTRL)."""

from numbers import Integral

import numpy as np
import scipy.linalg

from ._quadratic import _BoundQuadratic
from .base import BasePenalty


def _task_singular(W):
    """Singular values (n_tasks,) and right singular vectors of ``W`` by tasks.

    The classes of a multinomial ``W`` (p, T, K) are stacked as rows, a
    (p * K, T) matrix, so that ``V diag(s^2) V^T = sum_k W_k^T W_k``. Its SVD
    rather than the eigendecomposition of that Gram matrix keeps the small
    singular values accurate (squaring halves the digits). ``s`` is padded
    with zeros and ``V`` is a full basis when there are fewer rows than tasks.
    """
    n_tasks = W.shape[1]
    A = np.asarray(W, dtype=np.float64)
    if A.ndim == 3:
        A = np.moveaxis(A, 2, 1).reshape(-1, n_tasks)
    full = A.shape[0] < n_tasks
    try:
        _, s, Vt = np.linalg.svd(A, full_matrices=full)
    except np.linalg.LinAlgError:  # pragma: no cover - rare LAPACK failure
        _, s, Vt = scipy.linalg.svd(A, full_matrices=full, lapack_driver="gesvd")
    return np.pad(s, (0, n_tasks - len(s))), Vt.T


def _floored_weights(s, eps):
    """``lam`` minimising ``sum_i s_i^2 / lam_i`` on ``{sum lam = 1, lam >= eps}``.

    ``s`` sorted in decreasing order, ``0 < eps <= 1 / len(s)``. The KKT
    conditions give ``lam_i = max(s_i / nu, eps)`` (water filling): the ``m``
    largest values are free, the others sit on the floor, with the largest
    ``m`` for which the free ones stay above it. All ``s`` zero: ``1 / T``.
    """
    n = len(s)
    if not s[0] > 0:
        return np.full(n, 1.0 / n)
    for m in range(n, 0, -1):
        free = s[:m] * ((1.0 - (n - m) * eps) / s[:m].sum())
        if free[-1] >= eps:
            return np.concatenate([free, np.full(n - m, eps)])
    return np.full(n, 1.0 / n)  # pragma: no cover - m = 1 always fits


class _BoundRelationship(_BoundQuadratic):
    """The W-step coupling ``M = ridge I + coupling Omega^-1`` of the current Omega.

    Declares ``alternating``: :func:`skmtl.solvers.solve_problem` alternates
    W-steps (the quadratic coupling, any smooth or direct solver) with
    :meth:`update`, the closed-form Omega for the current W.
    """

    alternating = True

    def __init__(self, alpha, ridge, coupling, eps, max_alternations, rtol, n_tasks):
        self.ridge, self.coupling, self.eps = ridge, coupling, eps
        self.max_alternations, self.rtol = max_alternations, rtol
        # the start before any W: the uniform task covariance I / T
        self._set_omega(np.eye(n_tasks), np.full(n_tasks, 1.0 / n_tasks), alpha)

    def _set_omega(self, V, lam, alpha):
        self.omega = (V * lam) @ V.T
        self.omega = 0.5 * (self.omega + self.omega.T)
        inv = (V / lam) @ V.T
        M = self.ridge * np.eye(len(lam)) + self.coupling * 0.5 * (inv + inv.T)
        # the largest eigenvalue of M is known: no eigvalsh in lipschitz()
        self._lam_max = self.ridge + self.coupling / float(lam.min())
        super().__init__(M, alpha)

    def lipschitz(self):
        return self.alpha * self._lam_max

    def update(self, W):
        """Set Omega to its minimiser for this ``W``; the relative change of Omega.

        ``Omega = V diag(lam) V^T`` with ``W = U diag(s) V^T`` and ``lam``
        the water filling of :func:`_floored_weights`: ``s / sum(s)`` (the
        MTRL closed form ``(W^T W)^1/2 / tr (W^T W)^1/2``) whenever no value
        falls below ``eps``.
        """
        s, V = _task_singular(W)
        old = self.omega
        self._set_omega(V, _floored_weights(s, self.eps), self.alpha)
        return float(np.linalg.norm(self.omega - old) / np.linalg.norm(old))

    def fitted_attributes(self, W, b):
        """``task_relationship_`` (Omega) and ``task_correlation_`` (unit diagonal).

        Both (n_tasks, n_tasks), in the order of ``tasks_``: the Omega the
        fitted ``W`` goes with (its minimiser once the alternation converged).
        """
        d = np.sqrt(np.diag(self.omega))
        return {
            "task_relationship_": self.omega.copy(),
            "task_correlation_": self.omega / np.outer(d, d),
        }


class TaskRelationship(BasePenalty):
    """Learned task covariance: multi-task relationship learning (MTRL).

    ::

        alpha / 2 * min_Omega ( ridge * ||W||_F^2 + coupling * tr(W Omega^-1 W^T) )

        over the (n_tasks, n_tasks) task covariances Omega: positive definite,
        trace 1, eigenvalues at least eps

    ``W`` is the (n_features, n_tasks) matrix of the tasks' weights. Omega is
    the column covariance of a matrix-normal prior on ``W`` (Zhang & Yeung
    2010), learned with the weights: positive ``Omega[s, t]`` for tasks whose
    weights point the same way, negative for opposite tasks, near zero for
    unrelated ones; the penalty then couples the tasks through
    ``Omega^-1``. The model is convex in ``(W, Omega)`` jointly. Minimising
    over Omega in closed form, ``Omega = (W^T W)^1/2 / tr (W^T W)^1/2``, the
    coupling term is ``coupling * ||W||_*^2``, the squared trace norm (sum of
    singular values) of ``W``: a smooth-at-full-rank relative of
    :class:`TraceNorm`. For multinomial classifiers, ``W`` of shape
    (n_features, n_tasks, n_classes), one Omega is shared by the classes: the
    class slices are stacked as rows of one (n_features * n_classes,
    n_tasks) matrix, whose squared trace norm is the coupling term.

    Solved by alternation, as in the paper: a W-step with Omega fixed is the
    quadratic coupling ``M = ridge * I + coupling * Omega^-1`` (every smooth
    solver applies, and the direct ``"gram"`` and ``"kernel"`` solvers), an
    Omega-step is the closed form. Each step lowers the joint objective;
    the alternation stops when the KKT violation of the objective minimised
    over Omega is below the tolerance (the same rule as every solver) or the
    objective decreased by at most ``rtol`` (relative) in one alternation,
    else after ``max_alternations`` Omega-steps with a
    ``ConvergenceWarning``.
    Omega starts at its minimiser for the starting weights: ``I / n_tasks``
    for a fit from zero, the previous point's Omega along a path
    (:class:`~skmtl.model_selection.MultiTaskRegressorCV`) or with
    ``warm_start``.

    Parameters
    ----------
    ridge : float, default=1.0
        Strength of the ridge term ``||W||_F^2``.
    coupling : float, default=1.0
        Strength of the task-relationship term ``tr(W Omega^-1 W^T)``.
    max_alternations : int, default=100
        Most Omega-steps after the first W-step. ``0`` keeps Omega at its
        start: from zero weights the uniform ``I / n_tasks``, that is the
        independent ridge of strength ``alpha * (ridge + n_tasks *
        coupling)``.
    rtol : float, default=1e-6
        The alternation also stops when one alternation lowers the objective
        by at most ``rtol`` times its value. Near a full-rank solution it
        converges linearly, so the objective is then within a few ``rtol`` of
        its minimum; near a low-rank one the KKT rule is out of reach (see
        Notes), this rule stops it, and the objective may remain further
        from its minimum (1e-5 to 1e-4 relative in the tests' examples).
    eps : float, default=1e-8
        Floor of Omega's eigenvalues, relative to its trace (1), in
        ``(0, 1 / n_tasks]``: Omega^-1 must exist, and ``W`` of rank below
        ``n_tasks`` (always when ``n_tasks > n_features * n_classes``) makes
        the closed form singular. ``eps = 1 / n_tasks`` fixes Omega at
        ``I / n_tasks``.

    Raises
    ------
    ValueError
        At fit (``bind``), when a parameter is negative or NaN (the message
        names it), or ``eps`` is 0 or above ``1 / n_tasks``.

    Notes
    -----
    The floor makes the Omega-step the exact minimiser over ``{Omega >= eps
    I, tr Omega = 1}`` (eigenvalues ``max(s_i / nu, eps)``, ``s`` the
    singular values of ``W``; the paper's implementation adds ``eps * I``
    instead, which minimises nothing), so the alternation is block coordinate
    descent on one convex objective and never increases it. Its consequence:
    the coupling term is ``coupling * ||W||_*^2`` exactly when no ``s_i /
    ||W||_*`` is below about ``eps``, and at most ``||W||_*^2 / (1 - n_tasks *
    eps)`` otherwise (a relative excess of ``n_tasks * eps``). Directions of
    the task space that ``W`` does not use get ``Omega^-1`` eigenvalues up to
    ``1 / eps``: the alternation keeps ``W`` out of them, and the problem is
    ill-conditioned there. When the solution is of low rank (the squared
    trace norm makes it so for large ``alpha * coupling``, as the trace
    norm), the alternation converges more slowly and the KKT violation in
    those directions can stay above ``tol`` on a flat objective
    (``kkt_violation_ > kkt_tol_``): ``rtol`` then stops it.

    Fitted models get ``task_relationship_``, the learned Omega, and
    ``task_correlation_``, Omega scaled to a unit diagonal, both of shape
    (n_tasks, n_tasks) in the order of ``tasks_``.

    References
    ----------
    Y. Zhang and D.-Y. Yeung, "A convex formulation for learning task
    relationships in multi-task learning", UAI 2010.

    A. Argyriou, T. Evgeniou and M. Pontil, "Convex multi-task feature
    learning", Machine Learning 73(3), 2008 (the same alternation for the
    feature covariance).

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl import MultiTaskRegressor
    >>> from skmtl.penalties import TaskRelationship
    >>> rng = np.random.default_rng(0)
    >>> u, v = rng.normal(size=(2, 6))
    >>> W = np.column_stack([u, 1.1 * u, -v, -0.9 * v])  # two pairs of tasks
    >>> X = rng.normal(size=(160, 6))
    >>> tasks = np.repeat(np.arange(4), 40)
    >>> y = np.einsum("ij,ji->i", X, W[:, tasks]) + 0.1 * rng.normal(size=160)
    >>> model = MultiTaskRegressor(penalty=TaskRelationship(), alpha=0.1)
    >>> corr = model.fit(X, y, tasks=tasks).task_correlation_
    >>> bool(min(corr[0, 1], corr[2, 3]) > 0.95)  # related pairs
    True
    >>> bool(abs(corr[:2, 2:]).max() < 0.2)  # unrelated pairs
    True
    """

    def __init__(
        self, ridge=1.0, coupling=1.0, *, max_alternations=100, rtol=1e-6, eps=1e-8
    ):
        self.ridge = ridge
        self.coupling = coupling
        self.max_alternations = max_alternations
        self.rtol = rtol
        self.eps = eps

    def bind(self, task_labels, alpha):
        n_tasks = len(task_labels)
        ridge = self._check_strength("ridge")
        coupling = self._check_strength("coupling")
        rtol = self._check_strength("rtol")
        eps = self._check_strength("eps")
        if not 0 < eps <= 1.0 / n_tasks:
            raise ValueError(
                f"TaskRelationship.eps must be in (0, 1 / n_tasks] = (0, "
                f"{1.0 / n_tasks:.3g}] for {n_tasks} tasks, got {eps!r}."
            )
        n_alt = self.max_alternations
        if not isinstance(n_alt, Integral) or isinstance(n_alt, bool) or n_alt < 0:
            raise ValueError(
                "TaskRelationship.max_alternations must be a non-negative integer, "
                f"got {n_alt!r}."
            )
        return _BoundRelationship(
            float(alpha), ridge, coupling, eps, int(n_alt), rtol, n_tasks
        )
