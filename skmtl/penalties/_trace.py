"""Low-rank task coupling: the trace (nuclear) norm of W, with optional ridge."""

import numpy as np
import scipy.linalg

from .base import BasePenalty, RidgeSmoothPart


def _svd(A, compute_uv=True):
    """Thin SVD of A (m, n) or of a stack (k, m, n), in float64.

    ``full_matrices=False`` costs O(m n min(m, n)): LAPACK works on the smaller
    side. The divide-and-conquer driver (gesdd) may fail to converge on rare
    ill-conditioned inputs; the slower QR driver (gesvd) then takes over.
    """
    A = np.asarray(A, dtype=np.float64)
    try:
        return np.linalg.svd(A, full_matrices=False, compute_uv=compute_uv)
    except np.linalg.LinAlgError:  # pragma: no cover - rare LAPACK failure
        if A.ndim == 2:
            return scipy.linalg.svd(
                A, full_matrices=False, compute_uv=compute_uv, lapack_driver="gesvd"
            )
        parts = [_svd(a, compute_uv) for a in A]
        if not compute_uv:
            return np.stack(parts)
        return tuple(np.stack(p) for p in zip(*parts))


def _slices(W):
    """``W`` as a stack of (n_features, n_tasks) matrices: one per class."""
    return W[None] if W.ndim == 2 else np.moveaxis(W, 2, 0)


def _unslice(S, ndim):
    return S[0] if ndim == 2 else np.moveaxis(S, 0, 2)


def _numerical_rank(s, shape):
    """Singular values above ``max(shape) * eps * s_max`` (numpy's ``matrix_rank``)."""
    if s.size == 0:
        return 0
    return int(np.sum(s > max(shape) * np.finfo(np.float64).eps * s.max()))


def nuclear_distance(W, G, lam):
    """Frobenius distance of ``G`` to ``lam * d||W||_*``, for matrices (m, n).

    With ``W = U_r S V_r^T`` (thin SVD, ``r`` its numerical rank), the
    subdifferential of ``||W||_*`` is ``{U_r V_r^T + Z : U_r^T Z = 0,
    Z V_r = 0, ||Z||_2 <= 1}`` (Watson 1992). In orthonormal bases extending
    ``U_r`` and ``V_r``, ``G`` splits into blocks ``[[A, B], [C, D]]`` and the
    squared distance is ``||A - lam I||^2 + ||B||^2 + ||C||^2 + sum_i
    (sigma_i(D) - lam)_+^2``. ``lam <= 0`` gives ``||G||_F``.
    """
    if lam <= 0:
        return float(np.sqrt(np.sum(G * G)))
    U, s, Vt = _svd(W)
    r = _numerical_rank(s, G.shape)
    Ur, Vr = U[:, :r], Vt[:r].T
    GV = G @ Vr  # (m, r): columns in range(V_r)
    UG = Ur.T @ G  # (r, n): rows in range(U_r)
    A = Ur.T @ GV
    B = UG - A @ Vr.T  # range(U_r) x complement of range(V_r)
    C = GV - Ur @ A  # complement of range(U_r) x range(V_r)
    D = G - Ur @ UG - C @ Vr.T  # both complements
    sq = np.sum((A - lam * np.eye(r)) ** 2) + np.sum(B * B) + np.sum(C * C)
    excess = np.maximum(_svd(D, compute_uv=False) - lam, 0.0)
    sq += np.sum(excess * excess)
    return float(np.sqrt(sq))


class _BoundTraceNorm(RidgeSmoothPart):
    is_smooth = False
    # the nuclear norm couples every entry of W: no block structure to exploit
    separable_by_task = False
    separable_by_feature = False

    def __init__(self, alpha, l1_ratio):
        self.lam = alpha * l1_ratio  # weight of the nuclear norm
        self.mu = alpha * (1.0 - l1_ratio)  # weight of the ridge part

    def nuclear_norm(self, W):
        """Sum over class slices of the nuclear norms."""
        return float(_svd(_slices(W), compute_uv=False).sum())

    def value(self, W):
        value = self.smooth_value(W)
        if self.lam > 0:
            value += self.lam * self.nuclear_norm(W)
        return value

    def prox(self, W, step):
        # Singular value soft-thresholding of each class slice (Cai, Candes &
        # Shen 2010): the prox of a unitarily invariant norm acts on the
        # singular values alone.
        thresh = step * self.lam
        if thresh <= 0:
            return W.copy()
        U, s, Vt = _svd(_slices(W))
        s = np.maximum(s - thresh, 0.0)
        # keep only the surviving components: the result is exactly low rank
        r = int(np.max(np.sum(s > 0, axis=1), initial=0))
        out = (U[:, :, :r] * s[:, None, :r]) @ Vt[:, :r]
        return _unslice(out, W.ndim)

    def kkt_violation(self, W, grad):
        """Distance of ``-grad`` to ``lam * d||W||_*`` (Frobenius, max over classes).

        With ``W = U_r S V_r^T`` (thin SVD, ``r`` its numerical rank), the
        subdifferential of ``||W||_*`` is ``{U_r V_r^T + Z : U_r^T Z = 0,
        Z V_r = 0, ||Z||_2 <= 1}`` (Watson 1992). In orthonormal bases
        extending ``U_r`` and ``V_r``, ``-grad`` splits into blocks
        ``[[A, B], [C, D]]`` and the squared Frobenius distance is
        ``||A - lam I||^2 + ||B||^2 + ||C||^2 + sum_i (sigma_i(D) - lam)_+^2``.
        Each class slice is one block of the subdifferential, as a feature row
        is one group for :class:`L21`: the largest of the class distances is
        reported. It bounds the max-norm distance over coefficients from
        above, so stopping on it is safe.
        """
        G = _slices(-np.asarray(grad, dtype=np.float64))
        Ws = _slices(np.asarray(W, dtype=np.float64))
        return max(
            (nuclear_distance(Ws[k], G[k], self.lam) for k in range(G.shape[0])),
            default=0.0,
        )

    def fitted_attributes(self, W, b):
        """``rank_``: numerical rank of ``W`` (of each class slice if multinomial).

        Singular values above ``max(n_features, n_tasks) * eps * s_max``
        (float64 ``eps``, numpy's ``matrix_rank`` rule) count: the prox makes
        the discarded ones exactly zero, so only rounding is left below it.
        """
        s = _svd(_slices(W), compute_uv=False)
        ranks = [_numerical_rank(sk, W.shape[:2]) for sk in s]
        return {"rank_": ranks[0] if W.ndim == 2 else np.array(ranks)}


class TraceNorm(BasePenalty):
    """Low-rank coupling of the tasks: trace (nuclear) norm of the weights, + ridge.

    ::

        alpha * ( l1_ratio * ||W||_* + (1 - l1_ratio) / 2 * ||W||_F^2 )

    where ``W`` is the (n_features, n_tasks) matrix whose columns are the
    tasks' weight vectors and ``||W||_*`` the sum of its singular values. The
    nuclear norm is the convex envelope of the rank: it pulls the tasks'
    weights into a common low-dimensional subspace of the features (shared
    structure learning, Argyriou et al. 2008), without choosing the dimension
    in advance. For multinomial classifiers, ``W`` has shape (n_features,
    n_tasks, n_classes) and ``||W||_*`` is the sum over classes ``k`` of the
    nuclear norms of ``W[:, :, k]`` (each class has its own task subspace).

    ``l1_ratio`` mixes the two parts as in :class:`L21` (and scikit-learn's
    ``ElasticNet``): ``l1_ratio=0`` is the independent ridge
    ``alpha / 2 * ||W||_F^2``.

    Solved by FISTA (the penalty is not smooth): each proximal step
    soft-thresholds the singular values of ``W``, one thin SVD of a
    (n_features, n_tasks) matrix per step (per class), the cost to expect
    when both dimensions are large (Ji & Ye 2009). The stopping rule is the
    Frobenius distance of minus the gradient to the subdifferential (per
    class slice, the largest one), which bounds the max-norm distance used
    by the other penalties from above.

    Parameters
    ----------
    l1_ratio : float, default=1.0
        Mix between the trace norm (1.0) and ridge (0.0), in [0, 1].

    Raises
    ------
    ValueError
        At fit (``bind``), when ``l1_ratio`` is negative, NaN or infinite
        (the message names ``l1_ratio``), or larger than 1.

    Notes
    -----
    Fitted models get ``rank_``: the numerical rank of ``W`` (an int), or of
    each class slice (an array of shape (n_classes,)) for multinomial models;
    singular values above ``max(n_features, n_tasks) * eps * s_max`` count
    (float64 ``eps``).

    References
    ----------
    T. K. Pong, P. Tseng, S. Ji and J. Ye, "Trace norm regularization:
    reformulations, algorithms, and multi-task learning", SIAM Journal on
    Optimization 20(6), 2010.

    S. Ji and J. Ye, "An accelerated gradient method for trace norm
    minimization", ICML 2009.

    A. Argyriou, T. Evgeniou and M. Pontil, "Convex multi-task feature
    learning", Machine Learning 73(3), 2008.

    J. Zhou, J. Chen and J. Ye, "MALSAR: Multi-tAsk Learning via StructurAl
    Regularization", Arizona State University, 2011 (``Least_Trace``,
    ``Logistic_Trace``).

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl import MultiTaskRegressor
    >>> from skmtl.penalties import TraceNorm
    >>> rng = np.random.default_rng(0)
    >>> W = rng.normal(size=(8, 1)) @ rng.normal(size=(1, 5))  # rank one
    >>> X = rng.normal(size=(200, 8))
    >>> tasks = np.repeat(np.arange(5), 40)
    >>> y = np.einsum("ij,ji->i", X, W[:, tasks]) + 0.1 * rng.normal(size=200)
    >>> model = MultiTaskRegressor(penalty=TraceNorm(), alpha=0.1)
    >>> int(model.fit(X, y, tasks=tasks).rank_)
    1
    """

    def __init__(self, l1_ratio=1.0):
        self.l1_ratio = l1_ratio

    def bind(self, task_labels, alpha):
        l1_ratio = self._check_strength("l1_ratio")
        if l1_ratio > 1:
            raise ValueError(f"TraceNorm.l1_ratio must be in [0, 1], got {l1_ratio}.")
        return _BoundTraceNorm(float(alpha), l1_ratio)
