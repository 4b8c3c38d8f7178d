"""Quadratic task couplings: independent ridge, mean-regularized, graph Laplacian.

All three are ``alpha / 2 * sum_j w_j M w_j^T`` for a positive semi-definite
(n_tasks, n_tasks) matrix ``M``, where ``w_j`` is the row of ``W`` for feature
``j`` (and class, for multinomial models). Only ``M`` differs.

Products with ``M`` use its structure and cost O(n_features * n_tasks) (mean
coupling, the all-pairs graph: identity plus rank one) or O(n_features *
n_edges) (other graphs: a sparse Laplacian); the dense ``M`` is formed only
when a direct solver reads ``quadratic_form`` (they refuse more than a few
thousand tasks before reading it). ``coupling_hessian`` tells the Newton
preconditioner the structure (see :mod:`skmtl.penalties.base`).
"""

import numbers
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from .._design import public_coef
from .._tasks import TaskIndex, short_list
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
        if M is None:
            self.coupling_hessian = ("identity_minus_ones", alpha, 0.0)
        else:
            self.coupling_hessian = ("dense", alpha * np.asarray(M))

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
        # alpha M = alpha specific I - alpha specific c 11^T
        a = alpha * specific
        self.coupling_hessian = ("identity_minus_ones", a, a * shared_factor)

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
        # W @ M along the task axis: specific * (w_t - c sum_s w_s). The sum as
        # a product with ones: numpy's strided sum over a short task axis took
        # 1.2 ms against 0.1-0.2 ms (20NG CV row, 4 tasks; cvspeed notes)
        ones = np.ones(W.shape[1], dtype=W.dtype)
        total = np.einsum("pt...,t->p...", W, ones)[:, None]
        return self.specific * (W - self.shared_factor * total)

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


def _frame_by_labels(frame, task_labels):
    """A DataFrame adjacency as a float array in the order of ``task_labels``.

    Read by label when its index and columns both hold exactly the task labels
    (so a frame in another order means the same graph, issue [6/9] kind 3), by
    position when both are the default range, and refused otherwise: numpy
    would silently read a frame labelled by tasks in the wrong order.
    """
    labels = list(task_labels.tolist())
    index, columns = list(frame.index), list(frame.columns)
    wanted = set(labels)
    if len(index) == len(labels) and set(index) == wanted and set(columns) == wanted:
        frame = frame.loc[labels, labels]
    elif not (
        index == list(range(len(index))) and columns == list(range(len(columns)))
    ):
        unknown = [v for v in index + columns if v not in wanted][:5]
        raise ValueError(
            "adjacency is a DataFrame whose index and columns are not the task "
            f"labels {short_list(task_labels)} (unknown labels: {unknown}); "
            "label both by task, or pass a numpy array in the order of the "
            "sorted task labels."
        )
    return frame.to_numpy(dtype=float, na_value=np.nan)


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
        labels); a scipy sparse matrix keeps the Laplacian sparse. A pandas
        DataFrame whose index and columns are the task labels is read by
        label, in any order (one with the default ``0..n_tasks-1`` index and
        columns, by position). A dict ``{(task_s, task_t): weight}`` or a list
        of label pairs ``[(task_s, task_t), ...]`` (weight 1) names linked
        tasks by label.
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
        """The validated (n_tasks, n_tasks) symmetric adjacency matrix (dense)."""
        A = self._sparse_adjacency(task_labels)
        if A is None:
            n_tasks = len(task_labels)
            return np.ones((n_tasks, n_tasks)) - np.eye(n_tasks)
        return A.toarray()

    def _sparse_adjacency(self, task_labels):
        """The validated symmetric adjacency as CSR, or None for all pairs."""
        n_tasks = len(task_labels)
        A = self.adjacency
        if A is None:
            return None
        if isinstance(A, dict) or (
            isinstance(A, list) and len(A) and isinstance(A[0], tuple)
        ):
            items = A.items() if isinstance(A, dict) else [(pair, 1.0) for pair in A]
            index = TaskIndex(task_labels)
            rows, cols, vals = [], [], []
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
                        f"training data; known tasks: {short_list(task_labels)}."
                    )
                if not isinstance(weight, numbers.Real):
                    raise ValueError(f"adjacency weight of {pair!r} must be a number.")
                rows.append(codes[0])
                cols.append(codes[1])
                vals.append(float(weight))
            # duplicates are summed, as the dense form did
            A = sp.coo_matrix(
                (np.asarray(vals, dtype=float), (rows, cols)), shape=(n_tasks, n_tasks)
            ).tocsr()
        elif sp.issparse(A):
            A = sp.csr_matrix(A, dtype=float)
        elif hasattr(A, "columns") and hasattr(A, "index"):
            A = _frame_by_labels(A, task_labels)
        else:
            A = self._float_array("adjacency")
        if A.shape != (n_tasks, n_tasks):
            raise ValueError(
                f"adjacency must have shape (n_tasks, n_tasks) = "
                f"({n_tasks}, {n_tasks}) in the order of the sorted task labels, "
                f"got shape {A.shape}."
            )
        # a dense matrix is validated, then stored sparse (products in O(edges))
        A = sp.csr_matrix(A)
        if not np.all(np.isfinite(A.data)):
            raise ValueError("adjacency contains NaN or infinite weights.")
        if np.any(A.data < 0):
            raise ValueError(
                f"adjacency weights must be non-negative, got {A.data.min()}."
            )
        A = (0.5 * (A + A.T)).tocsr()
        A.setdiag(0.0)
        A.eliminate_zeros()
        return A

    def bind(self, task_labels, alpha):
        A = self._sparse_adjacency(task_labels)
        ridge = self._check_strength("ridge")
        coupling = self._check_strength("coupling")
        return _BoundGraph(len(task_labels), A, ridge, coupling, alpha)


class _BoundGraph(_BoundQuadratic):
    """``M = ridge I + 2 coupling L``, ``L`` the graph Laplacian, never dense.

    The sum over ordered pairs of ``A_st ||w_s - w_t||^2`` is ``2 tr(W L W^T)``.
    All pairs linked with weight 1 (``adjacency=None``) gives ``L = T I -
    11^T``, identity plus rank one (products in O(n_features n_tasks));
    otherwise ``L`` is a sparse matrix and a product costs O(n_features
    n_edges). The dense ``M`` is built only when ``quadratic_form`` is read
    (the direct solvers).
    """

    def __init__(self, n_tasks, A, ridge, coupling, alpha):
        self.n_tasks, self.A = n_tasks, A
        self.ridge, self.coupling = ridge, coupling
        self.alpha = alpha
        self.separable_by_task = False
        if A is None:
            # alpha M = alpha (ridge + 2 coupling T) I - 2 alpha coupling 11^T
            self.coupling_hessian = (
                "identity_minus_ones",
                alpha * (ridge + 2.0 * coupling * n_tasks),
                2.0 * alpha * coupling,
            )
        else:
            self.laplacian = (sp.diags(np.asarray(A.sum(axis=1)).ravel()) - A).tocsr()
            Mh = alpha * (
                ridge * sp.identity(n_tasks) + 2.0 * coupling * self.laplacian
            )
            self.coupling_hessian = ("sparse", Mh.tocsr())

    @cached_property
    def M(self):
        T = self.n_tasks
        if self.A is None:
            L = T * np.eye(T) - np.ones((T, T))
        else:
            L = self.laplacian.toarray()
        return self.ridge * np.eye(T) + 2.0 * self.coupling * L

    @property
    def quadratic_form(self):
        return self.alpha, self.M

    def _apply(self, W):
        # W @ M along the task axis (axis 1)
        if self.A is None:
            LW = self.n_tasks * W - W.sum(axis=1, keepdims=True)
        else:
            # (L W_k^T)^T for each trailing slice, with L symmetric
            Wt = np.moveaxis(W, 1, 0)
            LW = np.moveaxis(
                (self.laplacian @ Wt.reshape(self.n_tasks, -1)).reshape(Wt.shape), 0, 1
            )
        return self.ridge * W + 2.0 * self.coupling * LW

    def value(self, W):
        return 0.5 * self.alpha * float(np.sum(W * self._apply(W)))

    def gradient(self, W):
        return self.alpha * self._apply(W)

    def hvp(self, V):
        return self.alpha * self._apply(V)

    def lipschitz(self):
        T = self.n_tasks
        if self.A is None:
            top = T if T > 1 else 0.0
        elif T <= 2000:
            top = float(np.linalg.eigvalsh(self.laplacian.toarray())[-1])
        else:
            # Gershgorin: lambda_max(L) <= 2 max degree (an upper bound)
            top = 2.0 * float(np.max(self.laplacian.diagonal(), initial=0.0))
        return self.alpha * (self.ridge + 2.0 * self.coupling * top)
