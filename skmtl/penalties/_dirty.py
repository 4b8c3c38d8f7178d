"""Penalties on a sum of two parts: dirty and robust multi-task models.

The weights are ``W = P + Q``: a part ``P`` that the tasks share a structure
in (a common support of features, a low-dimensional subspace) and a part
``Q`` that lets single entries or whole tasks leave it. The penalty is a sum of
one norm per part,

    alpha * (a * N_P(P) + c * N_Q(Q)),

minimised over every split of ``W``. The bound penalties act on the stacked
parts ``V`` of shape (2, n_features, n_tasks[, n_classes]) (``n_components =
2``, see :mod:`skmtl.penalties.base`); the solver sees the loss through
``V[0] + V[1]`` and the proximal step is one per part.

The norms, on one part ``A`` of shape (n_features, n_tasks[, n_classes]):

- ``l1``: ``sum |A_jt|`` (every entry; every class);
- ``block_linf`` / ``block_l2``: ``sum_j ||A_j||_inf`` or ``sum_j ||A_j||_2``
  over the feature rows ``A_j`` (all tasks, all classes): shared supports;
- ``task_l2``: ``sum_t ||A_t||_2`` over the task columns (all features, all
  classes): outlier tasks;
- ``nuclear``: the trace norm of each class slice (as :class:`TraceNorm`).
"""

import numpy as np

from .._design import public_coef
from ._trace import _numerical_rank, _slices, _svd, _unslice, nuclear_distance
from .base import BasePenalty, BoundPenalty

# ---------------------------------------------------------------------------
# projections and the norms' maths, on row groups (m, n)


def _simplex_threshold(Z, radius):
    """Per row of ``Z`` (m, n), the ``tau`` with ``sum_i max(Z_i - tau, 0) = radius``.

    The projection of a row on the simplex ``{a >= 0, sum a = radius}`` is
    ``max(Z - tau, 0)``. Sort-based (Held, Wolfe & Crowder 1974; Duchi et al.
    2008), vectorised over the rows; ``radius > 0``.
    """
    U = np.sort(Z, axis=1)[:, ::-1]
    css = np.cumsum(U, axis=1)
    css -= radius
    j = np.arange(1, Z.shape[1] + 1)
    # the largest j with U_j > css_j / j (a prefix; j = 1 always qualifies)
    rho = Z.shape[1] - np.argmax((U * j > css)[:, ::-1], axis=1)
    return css[np.arange(Z.shape[0]), rho - 1] / rho


def _l1_ball_threshold(absZ, radius):
    """Per row of ``absZ >= 0`` (m, n), the threshold of the L1-ball projection.

    ``theta >= 0`` with ``sum_i max(absZ_i - theta, 0) = radius`` (Duchi et
    al. 2008), 0 for a row whose sum is at most ``radius`` (the simplex
    threshold is then negative, clipped).
    """
    return np.maximum(_simplex_threshold(absZ, radius), 0.0)


def _rows(A, by):
    """``A`` as row groups: feature rows (``by="feature"``) or task columns."""
    if by == "task":
        A = np.swapaxes(A, 0, 1)
    return A.reshape(A.shape[0], -1)


def _unrows(R, shape, by):
    if by == "task":
        shape = (shape[1], shape[0]) + tuple(shape[2:])
        return np.swapaxes(R.reshape(shape), 0, 1)
    return R.reshape(shape)


class _Norm:
    """A norm on one part: ``value``, ``prox`` and the subdifferential distance."""

    def value(self, A):  # pragma: no cover - interface
        raise NotImplementedError

    def prox(self, A, thresh):  # pragma: no cover - interface
        raise NotImplementedError

    def distance(self, A, G, lam):  # pragma: no cover - interface
        """Distance of ``G`` to ``lam`` times the subdifferential at ``A``."""
        raise NotImplementedError


class _L1(_Norm):
    def value(self, A):
        return float(np.abs(A).sum())

    def prox(self, A, thresh):
        return np.sign(A) * np.maximum(np.abs(A) - thresh, 0.0)

    def distance(self, A, G, lam):
        # max-norm over entries: |G - lam sign(A)| on the support, else the
        # excess of |G| over lam
        viol = np.where(A != 0, np.abs(G - lam * np.sign(A)), np.abs(G) - lam)
        return float(np.maximum(viol, 0.0).max(initial=0.0))


class _GroupL2(_Norm):
    """``sum_g ||A_g||_2`` over feature rows or task columns (group lasso)."""

    def __init__(self, by):
        self.by = by

    def value(self, A):
        return float(np.sqrt(np.sum(_rows(A, self.by) ** 2, axis=1)).sum())

    def prox(self, A, thresh):
        R = _rows(A, self.by)
        norms = np.sqrt(np.einsum("ij,ij->i", R, R))
        # (||R_g|| - thresh)_+ / ||R_g||, without a division by a zero norm
        # (no np.errstate block: a quarter of the prox's time on 50 x 10)
        scale = np.maximum(norms - thresh, 0.0)
        scale /= np.where(norms > 0, norms, 1.0)
        return _unrows(R * scale[:, None], A.shape, self.by)

    def distance(self, A, G, lam):
        # Euclidean distance per group, the largest (as L21.kkt_violation)
        R, H = _rows(A, self.by), _rows(G, self.by)
        norms = np.sqrt(np.sum(R * R, axis=1))
        viol = np.maximum(np.sqrt(np.sum(H * H, axis=1)) - lam, 0.0)
        active = norms > 0
        if np.any(active):
            sub = H[active] - lam * R[active] / norms[active, None]
            viol[active] = np.sqrt(np.sum(sub * sub, axis=1))
        return float(viol.max(initial=0.0))


class _BlockLinf(_Norm):
    """``sum_j ||A_j||_inf`` over feature rows (the L1,inf norm)."""

    def value(self, A):
        return float(np.abs(_rows(A, "feature")).max(axis=1, initial=0.0).sum())

    def prox(self, A, thresh):
        # Moreau: prox of thresh ||.||_inf is the residual of the projection
        # on the dual ball, the L1 ball of radius thresh
        if thresh <= 0:
            return A.copy()
        R = _rows(A, "feature")
        # the residual R - proj(R) is R clipped to [-theta, theta] row-wise
        # (theta the projection's threshold, 0 inside the ball): no masks, no
        # sign products (21 us against 28-40 us on a 50 x 10 block)
        theta = _l1_ball_threshold(np.abs(R), thresh)[:, None]
        return np.minimum(np.maximum(R, -theta), theta).reshape(A.shape)

    def distance(self, A, G, lam):
        """Largest Euclidean distance of a row of ``G`` to ``lam d||A_j||_inf``.

        At ``A_j = 0`` the subdifferential is the unit L1 ball; otherwise it
        is ``{sign(A_ji) a_i on the entries of largest |A_ji|, 0 elsewhere,
        a >= 0, sum a = 1}``: the distance is that of the off-maximum entries
        to 0 and of ``sign(A_ji) G_ji`` on the maximum to the simplex.
        """
        R, H = _rows(A, "feature"), _rows(G, "feature")
        absR = np.abs(R)
        top = absR.max(axis=1, initial=0.0)
        zero = top == 0
        # the prox clips the maximum entries to one value: exact ties, up to
        # the rounding of the sign flips (every entry of a zero row)
        at_max = absR >= top[:, None] * (1.0 - 1e-12)
        # One threshold per row for both cases: the L1 ball of a zero row
        # (on |G|, clipped at 0) and the simplex of the others (on sign(A) G
        # at the maximum). Entries off the maximum are filled below every
        # row's threshold (tau >= min v - lam), so they never enter it: no
        # masks, no split of the rows (half the time of a masked projection
        # per group of rows on 50 x 10).
        v = np.where(zero[:, None], np.abs(H), np.sign(R) * H)
        fill = v.min(initial=0.0) - lam - 1.0
        tau = _simplex_threshold(np.where(at_max, v, fill), lam)
        tau = np.where(zero, np.maximum(tau, 0.0), tau)
        # on the maximum v - max(v - tau, 0) = min(v, tau); elsewhere G itself
        resid = np.where(at_max, np.minimum(v, tau[:, None]), H)
        dist = np.sqrt(np.einsum("ij,ij->i", resid, resid))
        return float(dist.max(initial=0.0))


class _Nuclear(_Norm):
    """Trace norm of each class slice (see :class:`TraceNorm`)."""

    def value(self, A):
        return float(_svd(_slices(A), compute_uv=False).sum())

    def prox(self, A, thresh):
        if thresh <= 0:
            return A.copy()
        U, s, Vt = _svd(_slices(A))
        s = np.maximum(s - thresh, 0.0)
        r = int(np.max(np.sum(s > 0, axis=1), initial=0))
        return _unslice((U[:, :, :r] * s[:, None, :r]) @ Vt[:, :r], A.ndim)

    def distance(self, A, G, lam):
        Gs, As = _slices(G), _slices(A)
        return max(
            (nuclear_distance(As[k], Gs[k], lam) for k in range(Gs.shape[0])),
            default=0.0,
        )


_NORMS = {
    "l1": _L1,
    "block_linf": _BlockLinf,
    "block_l2": lambda: _GroupL2("feature"),
    "task_l2": lambda: _GroupL2("task"),
    "nuclear": _Nuclear,
}

# ---------------------------------------------------------------------------
# the bound penalty on stacked parts


class _BoundTwoParts(BoundPenalty):
    """``lam[0] N_0(V[0]) + lam[1] N_1(V[1])`` on stacked parts ``V``.

    No smooth part: ``gradient`` and ``hvp`` are 0. The optimality conditions
    are separable by part: minus the loss' gradient ``G`` (the same for both
    parts, the loss sees their sum) lies in ``lam[c] dN_c(V[c])`` for each
    ``c``; ``kkt_violation`` is the larger of the two distances.
    """

    is_smooth = False
    n_components = 2
    # the parts' norms group rows and columns differently: no single block
    # structure for the per-task or working-set strategies
    separable_by_task = False
    separable_by_feature = False

    def __init__(self, norms, strengths, names, task_labels):
        # the norms by name: solvers with their own prox of a norm (the
        # compiled Gram-form FISTA, skmtl.solvers._fista_gram) read them
        self.norm_names = tuple(norms)
        self.norms = [_NORMS[n]() for n in norms]
        self.lam = [float(s) for s in strengths]
        self.names = names
        self.task_labels = task_labels

    def value(self, V):
        return sum(
            lam * norm.value(V[c]) if lam > 0 else 0.0
            for c, (norm, lam) in enumerate(zip(self.norms, self.lam))
        )

    def smooth_value(self, V):
        return 0.0

    def gradient(self, V):
        return np.zeros_like(V)

    def hvp(self, V):
        return np.zeros_like(V)

    def lipschitz(self):
        return 0.0

    def prox(self, V, step):
        out = np.empty(V.shape)
        for c, (norm, lam) in enumerate(zip(self.norms, self.lam)):
            out[c] = norm.prox(V[c], step * lam) if lam > 0 else V[c]
        return out

    def kkt_violation(self, V, grad):
        G = -np.asarray(grad, dtype=np.float64)
        V = np.asarray(V, dtype=np.float64)
        out = 0.0
        for c, (norm, lam) in enumerate(zip(self.norms, self.lam)):
            if lam > 0:
                out = max(out, norm.distance(V[c], G[c], lam))
            else:  # an unpenalised part: the gradient itself must vanish
                out = max(out, float(np.abs(G[c]).max(initial=0.0)))
        return out

    def fitted_attributes(self, V, b):
        """The two parts in the layout of ``coef_``, named after their roles."""
        return {name: public_coef(V[c]) for c, name in enumerate(self.names)}


class _BoundOutlierTasks(_BoundTwoParts):
    """A second part of outlier tasks (task columns): also ``outlier_tasks_``."""

    def fitted_attributes(self, V, b):
        out = super().fitted_attributes(V, b)
        norms = np.sqrt(np.sum(_rows(V[1], "task") ** 2, axis=1))
        outliers = self.task_labels[norms > 0]
        if outliers.dtype.kind == "f":
            # the estimator casts float attributes to the data's dtype: float
            # task labels stay exact (and equal to ``tasks_``) as objects
            outliers = outliers.astype(object)
        out["outlier_tasks_"] = outliers
        if isinstance(self.norms[0], _Nuclear):
            s = _svd(_slices(V[0]), compute_uv=False)
            ranks = [_numerical_rank(sk, V.shape[1:3]) for sk in s]
            out["rank_"] = ranks[0] if V.ndim == 3 else np.array(ranks)
        return out


# ---------------------------------------------------------------------------
# user-facing penalties


class Dirty(BasePenalty):
    """Dirty model: a block-sparse part shared by the tasks plus a sparse part.

    ::

        alpha * min_{P + Q = W} ( block * ||P||_{1,q} + sparse * ||Q||_1 )

    ``||P||_{1,q} = sum_j ||P_j||_q`` runs over the feature rows ``P_j`` (all
    tasks, and all classes for multinomial classifiers): ``P`` selects
    features jointly, as :class:`L21`; ``||Q||_1`` is the sum of the absolute
    entries, so ``Q`` adds task-specific features, as a Lasso per task. The
    model is Jalali et al.'s (``q = inf``, the default, as MALSAR's
    ``Least_Dirty``); ``block_norm="l2"`` takes the group-lasso row norm.

    Only strengths between two limits mix the parts (Jalali et al. 2010):
    with ``sparse >= block`` a row costs at least as much in ``Q`` as in
    ``P`` and the model is the L1,q penalty alone (``L21`` for ``q = 2``);
    with ``sparse <= block / m`` (``block / sqrt(m)`` for ``q = 2``), ``m``
    the entries of a row (``n_tasks``, times ``n_classes`` for multinomial
    models), it is the Lasso of each task alone.

    Solved by FISTA on the stacked parts (the loss sees ``P + Q``; one
    proximal step per part: projection on an L1 ball per row for ``q = inf``,
    group soft-thresholding for ``q = 2``, soft-thresholding for ``Q``). The
    stopping rule is the distance of minus the gradient to each part's
    subdifferential (the larger of the two).

    Parameters
    ----------
    block : float, default=1.0
        Strength of the row norm on ``P`` (Jalali et al.'s ``lambda_b``,
        MALSAR's ``rho1``), times ``alpha``.
    sparse : float, default=0.5
        Strength of the L1 norm on ``Q`` (``lambda_s``, MALSAR's ``rho2``),
        times ``alpha``.
    block_norm : {"linf", "l2"}, default="linf"
        The row norm ``q`` on ``P``: the maximum over tasks (L1,inf, as the
        paper and MALSAR) or the Euclidean norm (L1,2).

    Raises
    ------
    ValueError
        At fit (``bind``), when ``block`` or ``sparse`` is negative, NaN or
        infinite, or ``block_norm`` is not one of the two names.

    Notes
    -----
    Fitted models get ``coef_block_`` (``P``) and ``coef_sparse_`` (``Q``) in
    the layout of ``coef_``, with ``coef_ = coef_block_ + coef_sparse_`` (to
    rounding: they are stored in the data's dtype). When several splits of
    ``W`` have the same penalty, the solver returns one of them.

    References
    ----------
    A. Jalali, P. Ravikumar, S. Sanghavi and C. Ruan, "A dirty model for
    multi-task learning", NeurIPS 2010.

    J. Zhou, J. Chen and J. Ye, "MALSAR: Multi-tAsk Learning via StructurAl
    Regularization", Arizona State University, 2011 (``Least_Dirty``).

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl import MultiTaskRegressor
    >>> from skmtl.penalties import Dirty
    >>> rng = np.random.default_rng(0)
    >>> W = np.zeros((10, 4))
    >>> W[:3] = 1.0  # three features shared by every task
    >>> W[5, 2] = 2.0  # and one of task 2 alone
    >>> X = rng.normal(size=(400, 10))
    >>> tasks = np.repeat(np.arange(4), 100)
    >>> y = np.einsum("ij,ji->i", X, W[:, tasks]) + 0.1 * rng.normal(size=400)
    >>> model = MultiTaskRegressor(penalty=Dirty(), alpha=0.01).fit(X, y, tasks=tasks)
    >>> np.flatnonzero(np.abs(model.coef_block_).max(axis=0) > 0.1)
    array([0, 1, 2])
    >>> [int(i) for i in np.argwhere(np.abs(model.coef_sparse_) > 0.5)[0]]
    [2, 5]
    """

    def __init__(self, block=1.0, sparse=0.5, block_norm="linf"):
        self.block = block
        self.sparse = sparse
        self.block_norm = block_norm

    def bind(self, task_labels, alpha):
        block, sparse = self._check_strength("block"), self._check_strength("sparse")
        if self.block_norm not in ("linf", "l2"):
            raise ValueError(
                f"Dirty.block_norm must be 'linf' or 'l2', got {self.block_norm!r}."
            )
        return _BoundTwoParts(
            ("block_" + self.block_norm, "l1"),
            (alpha * block, alpha * sparse),
            ("coef_block_", "coef_sparse_"),
            np.asarray(task_labels),
        )


class RobustLowRank(BasePenalty):
    """Robust multi-task learning: a low-rank part plus outlier tasks (RMTL).

    ::

        alpha * min_{L + S = W} ( low_rank * ||L||_* + outlier * sum_t ||S_t||_2 )

    ``||L||_*`` is the trace norm (the tasks' weights in a common
    low-dimensional subspace, as :class:`TraceNorm`; per class slice for
    multinomial classifiers) and ``S_t`` the column of task ``t`` (all
    features, all classes): the group norm sets whole columns of ``S`` to 0,
    and the tasks with a non-zero column are the outlier tasks, those that
    leave the subspace (Chen, Zhou & Ye 2011; MALSAR's ``Least_RMTL``).

    For regression and binary models the parts only mix for ``low_rank /
    sqrt(n_tasks) < outlier < low_rank`` (multinomial models: the columns
    gather the classes, the bounds move):
    the trace norm is at most the sum of the column norms, so with ``outlier
    >= low_rank`` the outlier part is 0 (the trace norm alone), and at least
    ``1 / sqrt(n_tasks)`` of it, so with ``outlier <= low_rank /
    sqrt(n_tasks)`` the low-rank part is 0 (a group lasso per task).

    Solved by FISTA on the stacked parts (singular value soft-thresholding
    for ``L``, group soft-thresholding of the task columns for ``S``).

    Parameters
    ----------
    low_rank : float, default=1.0
        Strength of the trace norm on ``L`` (MALSAR's ``rho1``), times
        ``alpha``.
    outlier : float, default=0.5
        Strength of the column group norm on ``S`` (``rho2``), times
        ``alpha``.

    Raises
    ------
    ValueError
        At fit (``bind``), when a strength is negative, NaN or infinite.

    Notes
    -----
    Fitted models get ``coef_low_rank_`` (``L``) and ``coef_outlier_``
    (``S``) in the layout of ``coef_``, ``outlier_tasks_`` (the labels of the
    tasks with a non-zero column of ``S``, an array of the ``tasks_``
    labels) and ``rank_`` (the numerical rank
    of ``L``, per class slice for multinomial models, as
    :class:`TraceNorm`).

    References
    ----------
    J. Chen, J. Zhou and J. Ye, "Integrating low-rank and group-sparse
    structures for robust multi-task learning", KDD 2011.

    J. Zhou, J. Chen and J. Ye, "MALSAR: Multi-tAsk Learning via StructurAl
    Regularization", Arizona State University, 2011 (``Least_RMTL``).

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl import MultiTaskRegressor
    >>> from skmtl.penalties import RobustLowRank
    >>> rng = np.random.default_rng(0)
    >>> W = rng.normal(size=(8, 1)) @ np.ones((1, 6))  # one shared direction
    >>> W[:, 4] = 3 * rng.normal(size=8)  # task 4 is an outlier
    >>> X = rng.normal(size=(600, 8))
    >>> tasks = np.repeat(np.arange(6), 100)
    >>> y = np.einsum("ij,ji->i", X, W[:, tasks]) + 0.1 * rng.normal(size=600)
    >>> model = MultiTaskRegressor(penalty=RobustLowRank(outlier=0.7), alpha=0.1)
    >>> model.fit(X, y, tasks=tasks).outlier_tasks_
    array([4])
    >>> int(model.rank_)
    1
    """

    def __init__(self, low_rank=1.0, outlier=0.5):
        self.low_rank = low_rank
        self.outlier = outlier

    def bind(self, task_labels, alpha):
        low_rank = self._check_strength("low_rank")
        outlier = self._check_strength("outlier")
        return _BoundOutlierTasks(
            ("nuclear", "task_l2"),
            (alpha * low_rank, alpha * outlier),
            ("coef_low_rank_", "coef_outlier_"),
            np.asarray(task_labels),
        )


class RobustFeatureLearning(BasePenalty):
    """Robust multi-task feature learning: shared features plus outlier tasks.

    ::

        alpha * min_{P + Q = W} ( block * sum_j ||P_j||_2 + outlier * sum_t ||Q_t||_2 )

    ``P_j`` is feature ``j``'s row (all tasks and classes): ``P`` selects
    features jointly, as :class:`L21`; ``Q_t`` is task ``t``'s column (all
    features and classes): the tasks with a non-zero column of ``Q`` are the
    outlier tasks, free of the shared support (Gong, Ye & Zhang 2012,
    rMTFL; MALSAR's ``Least_rMTFL``).

    Solved by FISTA on the stacked parts (group soft-thresholding of the
    rows of ``P`` and of the columns of ``Q``).

    Parameters
    ----------
    block : float, default=1.0
        Strength of the row group norm on ``P`` (MALSAR's ``lambda1``), times
        ``alpha``.
    outlier : float, default=1.0
        Strength of the column group norm on ``Q`` (``lambda2``), times
        ``alpha``.

    Raises
    ------
    ValueError
        At fit (``bind``), when a strength is negative, NaN or infinite.

    Notes
    -----
    Fitted models get ``coef_block_`` (``P``) and ``coef_outlier_`` (``Q``)
    in the layout of ``coef_``, and ``outlier_tasks_``: the labels of the
    tasks with a non-zero column of ``Q``.

    References
    ----------
    P. Gong, J. Ye and C. Zhang, "Robust multi-task feature learning", KDD
    2012.

    J. Zhou, J. Chen and J. Ye, "MALSAR: Multi-tAsk Learning via StructurAl
    Regularization", Arizona State University, 2011 (``Least_rMTFL``).

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl import MultiTaskRegressor
    >>> from skmtl.penalties import RobustFeatureLearning
    >>> rng = np.random.default_rng(0)
    >>> W = np.zeros((10, 5))
    >>> W[:3] = 1.0  # three shared features
    >>> W[:, 1] = rng.normal(size=10)  # task 1 is an outlier
    >>> X = rng.normal(size=(500, 10))
    >>> tasks = np.repeat(np.arange(5), 100)
    >>> y = np.einsum("ij,ji->i", X, W[:, tasks]) + 0.1 * rng.normal(size=500)
    >>> penalty = RobustFeatureLearning(outlier=1.5)
    >>> model = MultiTaskRegressor(penalty=penalty, alpha=0.05).fit(X, y, tasks=tasks)
    >>> model.outlier_tasks_
    array([1])
    >>> np.flatnonzero(np.abs(model.coef_block_).max(axis=0) > 0)
    array([0, 1, 2])
    """

    def __init__(self, block=1.0, outlier=1.0):
        self.block = block
        self.outlier = outlier

    def bind(self, task_labels, alpha):
        block = self._check_strength("block")
        outlier = self._check_strength("outlier")
        return _BoundOutlierTasks(
            ("block_l2", "task_l2"),
            (alpha * block, alpha * outlier),
            ("coef_block_", "coef_outlier_"),
            np.asarray(task_labels),
        )
