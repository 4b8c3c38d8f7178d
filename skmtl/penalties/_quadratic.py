"""Quadratic task couplings: independent ridge, mean-regularized, graph Laplacian.

All three are ``alpha / 2 * sum_j w_j M w_j^T`` for a positive semi-definite
(n_tasks, n_tasks) matrix ``M``, where ``w_j`` is the row of ``W`` for feature
``j`` (and class, for multinomial models). Only ``M`` differs.
"""

import numbers
from functools import cached_property

import numpy as np

from .._design import public_coef
from .._tasks import TaskIndex, _short_list
from .base import BasePenalty, BoundPenalty


def _apply_coupling(W, M):
    """``W @ M`` along the task axis (axis 1), for W of 2 or 3 dimensions."""
    if M is None:
        return W
    if W.ndim == 2:
        return W @ M
    return np.einsum("ptk,ts->psk", W, M)


class _BoundQuadratic(BoundPenalty):
    def __init__(self, M, alpha):
        # M=None stands for the identity (independent ridge): no T x T product.
        self.M = M
        self.alpha = alpha
        self.quadratic_form = (alpha, M)
        # without coupling the problem splits into one problem per task
        self.separable_by_task = M is None

    def value(self, W):
        return 0.5 * self.alpha * float(np.sum(W * _apply_coupling(W, self.M)))

    def gradient(self, W):
        return self.alpha * _apply_coupling(W, self.M)

    def hvp(self, V):
        return self.alpha * _apply_coupling(V, self.M)

    def lipschitz(self):
        if self.M is None:
            return self.alpha
        return self.alpha * float(np.linalg.eigvalsh(self.M)[-1])


class Independent(BasePenalty):
    """Ridge on each task separately: ``alpha / 2 * sum_t ||w_t||^2``.

    No coupling: the tasks are fitted as independent ridge models (the
    baseline every coupling should beat). With the per-task mean loss of
    :class:`~skmtl.MultiTaskRegressor` this equals scikit-learn's ``Ridge``
    with ``alpha_ridge = alpha * n_t`` on each task.

    Examples
    --------
    >>> from skmtl.penalties import Independent
    >>> Independent()
    Independent()
    """

    def bind(self, task_labels, alpha):
        return _BoundQuadratic(None, alpha)


class MeanRegularized(BasePenalty):
    """Shared plus task-specific weights (Evgeniou & Pontil, 2004).

    Each task's weights are ``w_t = w_0 + v_t`` and the penalty is::

        alpha / 2 * min_{w_0} ( shared * ||w_0||^2 + specific * sum_t ||w_t - w_0||^2 )

    Minimising over ``w_0`` in closed form, ``w_0 = specific * sum_t w_t /
    (shared + n_tasks * specific)``, gives a quadratic coupling of the ``w_t``.

    - ``specific -> inf`` forces ``w_t = w_0`` for all tasks: one pooled model
      with ridge strength ``alpha * shared``.
    - ``specific -> 0`` leaves the ``w_t`` free: unregularised independent
      models.
    - ``shared = mu, specific = 1`` equals ridge on Daume's augmented features
      ``[x / sqrt(mu), 0, .., x, .., 0]``.

    Parameters
    ----------
    shared : float, default=1.0
        Strength on the shared part ``w_0``.
    specific : float, default=1.0
        Strength on the task-specific deviations ``v_t = w_t - w_0``.

    References
    ----------
    T. Evgeniou and M. Pontil, "Regularized multi-task learning", KDD 2004.
    """

    def __init__(self, shared=1.0, specific=1.0):
        self.shared = shared
        self.specific = specific

    def _shared_factor(self, n_tasks):
        shared = self._check_strength("shared")
        specific = self._check_strength("specific")
        denom = shared + n_tasks * specific
        if denom == 0:
            return 1.0 / n_tasks  # no penalty at all: w_0 is the plain mean
        if np.isinf(specific):
            return 1.0 / n_tasks
        return specific / denom

    def bind(self, task_labels, alpha):
        n_tasks = len(task_labels)
        specific = self._check_strength("specific")
        c = self._shared_factor(n_tasks)
        # M = specific * (I - c 11^T), never formed unless a direct solver asks
        return _BoundMean(n_tasks, specific, alpha, c)


class _BoundMean(_BoundQuadratic):
    """The mean-regularized coupling, with its shared part ``w_0 = c sum_t w_t``.

    ``M = specific * (I - c 11^T)`` is identity plus rank one: every product
    costs O(n_features * n_tasks) and nothing of size n_tasks^2 is stored
    (20,000 tasks would take 3.2 GB as a dense matrix). The dense ``M`` is
    built only when ``quadratic_form`` is read (the direct solvers, which
    refuse more than a few thousand tasks before reading it).
    """

    shared_component = True

    def __init__(self, n_tasks, specific, alpha, shared_factor):
        self.n_tasks, self.specific = n_tasks, specific
        self.alpha = alpha
        self.shared_factor = shared_factor
        self.separable_by_task = False

    @cached_property
    def M(self):
        # formed once, on first use (the direct solvers read it several times
        # per solve: applicability, factorisation key, products)
        c, T = self.shared_factor, self.n_tasks
        return self.specific * (np.eye(T) - c * np.ones((T, T)))

    @property
    def quadratic_form(self):
        return self.alpha, self.M

    def _apply(self, W):
        # W @ M along the task axis: specific * (w_t - c sum_s w_s)
        return self.specific * (W - self.shared_factor * W.sum(axis=1, keepdims=True))

    def value(self, W):
        return 0.5 * self.alpha * float(np.sum(W * self._apply(W)))

    def gradient(self, W):
        return self.alpha * self._apply(W)

    def hvp(self, V):
        return self.alpha * self._apply(V)

    def lipschitz(self):
        # eigenvalues of M: specific (n_tasks - 1 times) and specific (1 - c T)
        top = 1.0 - self.shared_factor * self.n_tasks
        if self.n_tasks > 1:
            top = max(top, 1.0)
        return self.alpha * self.specific * max(top, 0.0)

    def fitted_attributes(self, W, b):
        """``shared_coef_``, ``specific_coef_`` and ``shared_intercept_``.

        ``shared_coef_`` is ``w_0`` (n_features,) or (n_classes, n_features),
        ``specific_coef_`` the ``v_t = w_t - w_0`` in the layout of ``coef_``,
        ``shared_intercept_`` the mean of the task intercepts (the intercept of
        a task not seen in fit).
        """
        w0 = self.shared_factor * W.sum(axis=1)
        return {
            "shared_coef_": public_coef(w0[:, None])[0],
            "specific_coef_": public_coef(W - w0[:, None]),
            "shared_intercept_": np.asarray(b).mean(axis=0),
        }


class GraphLaplacian(BasePenalty):
    """Graph coupling of tasks plus ridge.

    ::

        alpha / 2 * ( ridge * sum_t ||w_t||^2
                      + coupling * sum_{s, t} A_st ||w_s - w_t||^2 )

    The sum runs over all ordered pairs (s, t); an asymmetric ``A`` acts as its
    symmetric part ``(A + A^T) / 2``, and the diagonal is ignored.

    Parameters
    ----------
    adjacency : None, array-like of shape (n_tasks, n_tasks), dict or list, default=None
        Task similarities ``A``. None links every pair of tasks with weight 1.
        A matrix is read in the order of the fitted ``tasks_`` (sorted task
        labels). A dict ``{(task_s, task_t): weight}`` or a list of label pairs
        ``[(task_s, task_t), ...]`` (weight 1) names linked tasks by label.
    coupling : float, default=1.0
        Strength of the Laplacian term.
    ridge : float, default=1.0
        Strength of the ridge term; with ``ridge=0`` the mean of the tasks in a
        connected component is not penalised.
    """

    def __init__(self, adjacency=None, coupling=1.0, ridge=1.0):
        self.adjacency = adjacency
        self.coupling = coupling
        self.ridge = ridge

    def adjacency_matrix(self, task_labels):
        """The validated (n_tasks, n_tasks) symmetric adjacency matrix."""
        n_tasks = len(task_labels)
        A = self.adjacency
        if A is None:
            return np.ones((n_tasks, n_tasks)) - np.eye(n_tasks)
        if isinstance(A, dict) or (
            isinstance(A, list) and len(A) and isinstance(A[0], tuple)
        ):
            items = A.items() if isinstance(A, dict) else [(pair, 1.0) for pair in A]
            index = TaskIndex(task_labels)
            mat = np.zeros((n_tasks, n_tasks))
            for pair, weight in items:
                if not isinstance(pair, tuple) or len(pair) != 2:
                    raise ValueError(
                        f"adjacency keys must be pairs of task labels, got {pair!r}."
                    )
                codes = index.transform(
                    np.array(pair, dtype=object), 2, allow_unseen=True
                )
                if np.any(codes < 0):
                    raise ValueError(
                        f"adjacency names task pair {pair!r} with a task not in the "
                        f"training data; known tasks: {_short_list(task_labels)}."
                    )
                if not isinstance(weight, numbers.Real):
                    raise ValueError(f"adjacency weight of {pair!r} must be a number.")
                mat[codes[0], codes[1]] += float(weight)
            A = mat
        else:
            A = np.array(A, dtype=float)
            if A.shape != (n_tasks, n_tasks):
                raise ValueError(
                    f"adjacency must have shape (n_tasks, n_tasks) = "
                    f"({n_tasks}, {n_tasks}) in the order of the sorted task labels, "
                    f"got shape {A.shape}."
                )
        if not np.all(np.isfinite(A)):
            raise ValueError("adjacency contains NaN or infinite weights.")
        if np.any(A < 0):
            raise ValueError(f"adjacency weights must be non-negative, got {A.min()}.")
        A = 0.5 * (A + A.T)
        np.fill_diagonal(A, 0.0)
        return A

    def bind(self, task_labels, alpha):
        A = self.adjacency_matrix(task_labels)
        laplacian = np.diag(A.sum(axis=1)) - A
        ridge = self._check_strength("ridge")
        coupling = self._check_strength("coupling")
        # sum over ordered pairs of A_st ||w_s - w_t||^2 = 2 tr(W L W^T)
        M = ridge * np.eye(len(task_labels)) + 2.0 * coupling * laplacian
        return _BoundQuadratic(M, alpha)
