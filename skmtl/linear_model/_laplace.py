"""``MultiTaskClassifier.partial_fit``: an online Laplace (assumed-density) rule.

The logistic and multinomial losses have no finite sufficient statistics:
each task's earlier rows are summarised by a quadratic (the Laplace
approximation), see :class:`LaplaceMoments`.
"""

import warnings
from functools import partial

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.sparse.linalg import LinearOperator, cg
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets

from .._design import TaskDesign
from .._tasks import TaskIndex, check_task_weights
from .._validation import check_class_labels, check_sample_weight, drop_absent_rows
from ..datafits import Logistic, Multinomial, Quadratic
from ._incremental import batch_digest, check_named_batch, union_labels

__all__ = [
    "LaplaceMoments",
    "LAPLACE_MAX_FULL",
    "classifier_partial_fit",
    "regressor_partial_fit",
]

# ---------------------------------------------------------------------------
# Streaming rule for losses without finite sufficient statistics (logistic,
# multinomial): an online Laplace approximation (assumed-density filtering).
# ---------------------------------------------------------------------------

#: per-task parameter count (weights and intercept of every output) up to which
#: the Laplace precision is a full matrix; above, its diagonal
LAPLACE_MAX_FULL = 2048


def _with_ones(X):
    """``[X, 1]`` in float64 (CSR stays sparse)."""
    ones = np.ones((X.shape[0], 1))
    if sp.issparse(X):
        return sp.hstack([X.astype(np.float64), sp.csr_matrix(ones)], format="csr")
    return np.hstack([np.asarray(X, dtype=np.float64), ones])


def _pack(W, b):
    """``Theta`` (n_tasks, (p + 1) * k): each task's weights, then its intercept."""
    p, T = W.shape[:2]
    k = int(np.prod(W.shape[2:], dtype=int))
    Wt = np.moveaxis(W.reshape(p, T, k), 1, 0)
    return np.concatenate([Wt, b.reshape(T, 1, k)], axis=1).reshape(T, -1)


def _unpack(Theta, w_shape):
    """Inverse of :func:`_pack`: ``(W, b)`` of the internal shapes."""
    p, T = w_shape[:2]
    k = int(np.prod(w_shape[2:], dtype=int))
    blocks = Theta.reshape(T, p + 1, k)
    W = np.moveaxis(blocks[:, :p], 0, 1).reshape(w_shape)
    b = blocks[:, p].reshape((T,) + tuple(w_shape[2:]))
    return W, b


class LaplaceMoments:
    """A quadratic summary of each task's loss on the rows seen so far.

    For task ``t`` and its parameters ``theta_t`` (weights then intercept, of
    every output: ``d = (n_features + 1) * n_outputs`` numbers), the summed
    weighted loss of the rows already seen is replaced by the quadratic::

        Q_t(theta) = 1/2 theta.H_t.theta - r_t.theta + c_t

    the sum of the second-order Taylor expansions of each batch's loss at the
    solution of the call that brought it (the Laplace approximation: ``H_t``
    is the precision and ``H_t^{-1} r_t`` the mean of a Gaussian over
    ``theta_t``). ``S_t`` is the weight sum of the task's rows.

    ``H_t`` is kept whole, (d, d), when ``d <= LAPLACE_MAX_FULL``. Above, per
    output ``a`` (the softmax's cross-output terms dropped), as the curvature
    weighted moments of the rows, ``h_i`` the loss' second derivative in the
    score: the sum ``Hs = sum h_i``, the mean ``m = sum h_i x_i / Hs`` and the
    diagonal ``D`` of ``sum h_i (x_i - m)(x_i - m)^T``, so that::

        theta.H.theta = w.(D * w) + Hs (b + m.w)^2

    exact but for the off-diagonal part of the centred curvature: the offset
    of features far from zero mean (counts, tf-idf) is kept, and ``H`` stays
    positive semi-definite. Batches merge by Chan, Golub & LeVeque's update,
    as :class:`TaskMoments`.

    That merged ``H`` is not the sum of the batches' own (it drops the
    off-diagonal part of the scatter between the batches' means), so the
    linear term is built to match it: with ``G`` the sum of the batches'
    gradients at their expansion points ``theta_j`` and ``theta_c`` their
    average weighted by each coordinate's curvature (``P = sum diag(H_j)
    theta_j``, ``Hd = sum diag(H_j)``, ``theta_c = P / Hd``), the summary's
    gradient is ``G + H (theta - theta_c)``. When every ``theta_j`` equals
    one point it is the exact gradient there, whatever the approximation of
    ``H``: repeated passes (``batch_id``) then converge to ``fit``'s solution.
    ``G``, ``P`` and ``Hd`` are sums, so a batch is taken out exactly.
    Immutable in use.
    """

    def __init__(self, task_labels, n_features, curvature, r, c, S, anchors=None):
        self.task_labels, self.n_features = task_labels, n_features
        # full: {"H": (T, d, d)}; diagonal: {"D", "m": (T, p, k), "Hs": (T, k)}
        self.curvature = curvature
        self.full = "H" in curvature
        self.c, self.S = c, S
        # diagonal: {"G", "P", "Hd": (T, d)}, and r follows from them
        self.anchors = anchors
        if anchors is not None:
            Hd = anchors["Hd"]
            center = anchors["P"] / np.where(Hd > 0, Hd, 1.0)
            r = self.product(center) - anchors["G"]
        self.r = r

    @classmethod
    def empty(cls, task_labels, n_features, n_outputs):
        T, p, k = len(task_labels), n_features, n_outputs
        d = (p + 1) * k
        anchors = None
        if d <= LAPLACE_MAX_FULL:
            curv = {"H": np.zeros((T, d, d))}
        else:
            curv = {"D": np.zeros((T, p, k)), "m": np.zeros((T, p, k))}
            curv["Hs"] = np.zeros((T, k))
            anchors = {name: np.zeros((T, d)) for name in ("G", "P", "Hd")}
        zeros = np.zeros((T, d))
        return cls(task_labels, p, curv, zeros, np.zeros(T), np.zeros(T), anchors)

    def _like(self, curvature, r, c, S, anchors):
        return LaplaceMoments(
            self.task_labels, self.n_features, curvature, r, c, S, anchors
        )

    def reindexed(self, labels):
        """The same summary on the (larger, sorted) task list ``labels``."""
        k = self.r.shape[1] // (self.n_features + 1)
        out = LaplaceMoments.empty(labels, self.n_features, k)
        pos = TaskIndex(labels).transform(self.task_labels, len(self.task_labels))
        for name, value in self.curvature.items():
            out.curvature[name][pos] = value
        for name, value in (self.anchors or {}).items():
            out.anchors[name][pos] = value
        for name in ("r", "c", "S"):
            getattr(out, name)[pos] = getattr(self, name)
        return out._like(out.curvature, out.r, out.c, out.S, out.anchors)

    def used_features(self):
        """Bool (n_features,): the features some earlier row of a task used."""
        if self.full:
            return np.ones(self.n_features, dtype=bool)
        T, k = self.r.shape[0], self.curvature["Hs"].shape[1]
        r = self.r.reshape(T, self.n_features + 1, k)[:, :-1]
        used = np.zeros(self.n_features, dtype=bool)
        for a in (self.curvature["D"], self.curvature["m"], r):
            used |= np.any(a != 0, axis=(0, 2))
        return used

    def restricted(self, features):
        """The summary of the features ``features`` (indices) alone."""
        T, p = self.r.shape[0], self.n_features
        k = self.r.shape[1] // (p + 1)
        rows = np.append(features, p)  # and the intercept
        curv = {
            "D": self.curvature["D"][:, features],
            "m": self.curvature["m"][:, features],
            "Hs": self.curvature["Hs"],
        }
        anchors = {
            name: value.reshape(T, p + 1, k)[:, rows].reshape(T, -1)
            for name, value in self.anchors.items()
        }
        return LaplaceMoments(
            self.task_labels, len(features), curv, None, self.c, self.S, anchors
        )

    def product(self, Theta):
        """``H_t theta_t`` for every task, shape of ``Theta``."""
        return _curvature_product(self.curvature, Theta, self.n_features)

    def contribution(self, design, datafit, Theta, S_batch):
        """The batch's summary alone: its Taylor expansions at ``Theta``.

        ``design`` holds the batch's rows grouped by task (no centring) and
        ``datafit`` their loss with the raw sample weights; the result is a
        summary on the same tasks, to be :meth:`combined` with this one.
        """
        T, d = Theta.shape
        p = self.n_features
        k = d // (p + 1)
        curv = {n: np.zeros_like(v) for n, v in self.curvature.items()}
        anchors = None
        if self.anchors is not None:
            anchors = {n: np.zeros_like(v) for n, v in self.anchors.items()}
        r = np.zeros_like(Theta)
        c = np.zeros(T)
        W, b = _unpack(Theta, (p, T) + ((k,) if k > 1 else ()))
        scores = design.forward(W, b)
        for t in range(T):
            lo, hi = design.bounds[t], design.bounds[t + 1]
            if hi == lo:
                continue
            A = _with_ones(design.X_sorted[lo:hi])
            sub = datafit.restrict_rows(lo, hi)
            S = scores[lo:hi]
            g = np.asarray(A.T @ sub.gradient(S)).reshape(-1)
            batch = _batch_curvature(A, sub, S, k, self.full)
            theta = Theta[t]
            Ht = _curvature_product(batch, theta[None], p)[0]
            for name, value in batch.items():
                curv[name][t] = value[0]
            r[t] = Ht - g
            c[t] = sub.value(S) - g @ theta + 0.5 * theta @ Ht
            if anchors is not None:
                hd = _curvature_diagonal(batch, p)[0]
                anchors["G"][t], anchors["Hd"][t] = g, hd
                anchors["P"][t] = hd * theta
        S = np.asarray(S_batch, dtype=np.float64).copy()
        return self._like(curv, r, c, S, anchors)

    def combined(self, other, sign=1.0):
        """A new summary: ``other``'s rows added (``sign=1``) or taken out (-1).

        The full curvature, ``r``, ``c`` and ``S`` are sums. The diagonal
        form's curvature-weighted moments merge by Chan, Golub & LeVeque's
        update, and are taken out by its inverse (a task whose curvature is
        all taken out is left empty; rounding below 0 is clipped).
        """
        curv = {name: value.copy() for name, value in self.curvature.items()}
        if self.full:
            curv["H"] += sign * other.curvature["H"]
        else:
            Hs, m, D = curv["Hs"], curv["m"], curv["D"]
            Hb, mb, Db = (other.curvature[n] for n in ("Hs", "m", "D"))
            if sign > 0:
                Ha, ma, Da = Hs, m, D
                Hn = Ha + Hb
                safe = np.where(Hn > 0, Hn, 1.0)
                dm = mb - ma
                mn = ma + (Hb / safe)[:, None] * dm
                Dn = Da + Db + (Ha * Hb / safe)[:, None] * dm * dm
            else:
                Hn = Hs - Hb
                empty = Hn <= 1e-12 * np.maximum(Hs, 1e-300)
                Hn = np.where(empty, 0.0, Hn)
                safe = np.where(empty, 1.0, Hn)
                mn = (Hs[:, None] * m - Hb[:, None] * mb) / safe[:, None]
                dm = mb - mn
                Dn = D - Db - (Hn * Hb / np.where(Hs > 0, Hs, 1.0))[:, None] * dm * dm
                mn = np.where(empty[:, None], 0.0, mn)
                Dn = np.where(empty[:, None], 0.0, np.maximum(Dn, 0.0))
            curv = {"D": Dn, "m": mn, "Hs": Hn}
        anchors = None
        if self.anchors is not None:
            anchors = {
                name: value + sign * other.anchors[name]
                for name, value in self.anchors.items()
            }
            # a coordinate whose curvature is all taken out is empty
            anchors["Hd"] = np.maximum(anchors["Hd"], 0.0)
        return self._like(
            curv,
            self.r + sign * other.r,
            self.c + sign * other.c,
            self.S + sign * other.S,
            anchors,
        )

    def added(self, design, datafit, Theta, S_batch):
        """A new summary with the batch's Taylor expansions at ``Theta`` added."""
        return self.combined(self.contribution(design, datafit, Theta, S_batch))


def _curvature_product(curv, Theta, p):
    """``H_t theta_t`` for a curvature of :class:`LaplaceMoments`' layout."""
    if "H" in curv:
        return np.einsum("tde,te->td", curv["H"], Theta)
    T = Theta.shape[0]
    D, m, Hs = curv["D"], curv["m"], curv["Hs"]
    k = D.shape[2]
    blocks = Theta.reshape(T, p + 1, k)
    w, b = blocks[:, :p], blocks[:, p]
    u = Hs * (b + np.einsum("tpk,tpk->tk", m, w))
    out = np.concatenate([D * w + m * u[:, None], u[:, None]], axis=1)
    return out.reshape(T, -1)


def _curvature_diagonal(curv, p):
    """The diagonal of a diagonal-form curvature, (T, d) in ``_pack``'s order."""
    D, m, Hs = curv["D"], curv["m"], curv["Hs"]
    T, _, k = D.shape
    diag = np.concatenate([D + Hs[:, None] * m * m, Hs[:, None]], axis=1)
    return diag.reshape(T, -1)


def _batch_curvature(A, datafit, S, k, full):
    """Curvature of ``datafit`` in ``theta`` (rows ``A = [X, 1]``), one task."""
    if k == 1:
        H = datafit.hessian_diag(S.reshape(-1))[:, None]
    else:
        # softmax: per row w (diag(pi) - pi pi^T); column l of the per-row k x k
        # blocks from one product with the l-th unit vector of every row
        hess = datafit.hessian_operator(S)
        H = np.empty((S.shape[0], k, k))
        for col in range(k):
            E = np.zeros_like(S)
            E[:, col] = 1.0
            H[:, :, col] = hess(E)
    q = A.shape[1]
    if full:
        Hb = np.empty((q, k, q, k))
        for a in range(k):
            for e in range(k):
                v = H[:, a, e] if k > 1 else H[:, 0]
                Av = A.multiply(v[:, None]) if sp.issparse(A) else A * v[:, None]
                M = A.T @ Av
                Hb[:, a, :, e] = M.toarray() if sp.issparse(M) else M
        return {"H": Hb.reshape(1, q * k, q * k)}
    h = H if k == 1 else np.einsum("ikk->ik", H)  # (n, k)
    X = A[:, : q - 1]
    X2 = X.multiply(X) if sp.issparse(X) else X * X
    Hs = h.sum(axis=0)
    safe = np.where(Hs > 0, Hs, 1.0)
    m = np.asarray(X.T @ h) / safe
    # raw second moments minus the mean's (sparse X stays sparse): digits are
    # lost only for a feature whose offset dwarfs its spread, in a diagonal
    # that is an approximation anyway; clipped at 0
    D = np.maximum(np.asarray(X2.T @ h) - Hs * m * m, 0.0)
    return {"D": D[None], "m": m[None], "Hs": Hs[None]}


def solve_laplace(design, datafit, moments, weights, bound, W0, b0, fit_intercept,
                  tol, max_iter):  # fmt: skip
    """Minimise the batch loss plus the summarised past loss plus the penalty.

    The objective, with ``weights`` the per-task factors ``lambda_t / S_t``
    (0 for a task left out), already applied to the rows of ``datafit``::

        datafit(scores(W, b)) + sum_t weights_t Q_t(theta_t) + penalty(W)

    It is smooth and convex: solved by scipy's trust-region Newton-CG on
    Hessian-vector products, stopped when the gradient's 2-norm (hence its
    max-norm, the KKT violation) is below ``tol`` times the max-norm of the
    gradient at zero weights. Returns ``(W, b, n_iter, kkt, kkt_tol, objective)``.
    """
    w_shape = W0.shape
    nW = W0.size

    def split(z):
        W = z[:nW].reshape(w_shape)
        b = z[nW:].reshape(b0.shape) if fit_intercept else np.zeros_like(b0)
        return W, b

    def join(gW, gb):
        return np.concatenate([gW.ravel(), gb.ravel()]) if fit_intercept else gW.ravel()

    def prior_grad(W, b):
        Theta = _pack(W, b)
        HT = moments.product(Theta)
        value = np.sum(
            weights
            * (
                0.5 * np.sum(Theta * HT, axis=1)
                - np.sum(moments.r * Theta, axis=1)
                + moments.c
            )
        )
        return value, _unpack(weights[:, None] * (HT - moments.r), w_shape)

    def fun(z):
        W, b = split(z)
        S = design.forward(W, b)
        gW, gb = design.backward(datafit.gradient(S))
        pv, (pW, pb) = prior_grad(W, b)
        f = datafit.value(S) + pv + bound.value(W)
        return f, join(gW + pW + bound.gradient(W), gb + pb)

    cache = {"z": None}

    def hessp(z, v):
        # scipy passes the same point object for every product of an
        # iteration: the datafit's curvature is computed once per point
        if cache["z"] is not z:
            W, b = split(z)
            cache["z"], cache["h"] = z, datafit.hessian_operator(design.forward(W, b))
        VW, vb = split(v)
        if not fit_intercept:
            vb = np.zeros_like(b0)
        gW, gb = design.backward(cache["h"](design.forward(VW, vb)))
        pW, pb = _unpack(weights[:, None] * moments.product(_pack(VW, vb)), w_shape)
        return join(gW + pW + bound.hvp(VW), gb + pb)

    _, g_zero = fun(join(np.zeros(w_shape), b0))
    kkt_tol = tol * max(float(np.max(np.abs(g_zero), initial=0.0)), 1e-12)
    z0 = join(W0, b0)
    f0, g0 = fun(z0)
    n_iter = 0
    if np.linalg.norm(g0) > kkt_tol:
        res = minimize(fun, z0, jac=True, hessp=hessp, method="trust-ncg",
                       options={"gtol": kkt_tol, "maxiter": max_iter})  # fmt: skip
        z0, n_iter = res.x, int(res.nit)
        f0, g0 = fun(z0)
    kkt = float(np.max(np.abs(g0), initial=0.0))
    # near the optimum the trust region stalls once the decrease of f is
    # below its rounding (f ~ 1, gradient ~ 1e-9): finish with full Newton
    # steps, kept while they reduce the gradient (quadratic convergence)
    for _ in range(min(20, max_iter - n_iter) if kkt > kkt_tol else 0):
        H = LinearOperator((z0.size,) * 2, matvec=partial(hessp, z0))
        step, _ = cg(H, -g0, rtol=1e-6, maxiter=10 * z0.size)
        f1, g1 = fun(z0 + step)
        kkt1 = float(np.max(np.abs(g1), initial=0.0))
        if not kkt1 < kkt:
            break
        z0, f0, g0, kkt, n_iter = z0 + step, f1, g1, kkt1, n_iter + 1
        if kkt <= kkt_tol:
            break
    if not kkt <= kkt_tol:
        warnings.warn(
            f"partial_fit: the Newton solve stopped at a KKT violation of {kkt:.3g} "
            f"above the tolerance {kkt_tol:.3g} after {n_iter} iterations; "
            "increase max_iter or tol.",
            ConvergenceWarning,
            stacklevel=6,
        )
    W, b = split(z0)
    return W, b, n_iter, kkt, kkt_tol, float(f0)


def _check_classes(est, classes, first):
    """``classes_`` of a stream: given on the first call, unchanged afterwards."""
    # a missing class (None, NaN) is refused as fit refuses a missing label
    check_class_labels(classes, name="classes")
    if first:
        if classes is None and hasattr(est, "classes_"):
            # a model fitted by fit keeps its classes (scikit-learn's rule)
            return est.classes_
        if classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit: all the "
                "classes of every task (as scikit-learn's SGDClassifier)."
            )
        classes_ = np.unique(np.asarray(classes))
        if classes_.ndim != 1 or len(classes_) < 2:
            raise ValueError(
                f"classes must list at least 2 classes, got {classes_.tolist()}."
            )
        return classes_
    if classes is not None and not np.array_equal(
        np.unique(np.asarray(classes)), est.classes_
    ):
        given = np.asarray(classes).tolist()  # plain labels, not numpy reprs
        raise ValueError(
            f"classes={given} differs from the classes of the first "
            f"partial_fit call: {est.classes_.tolist()}."
        )
    return est.classes_


def _stream_tasks(est, stream, tasks, n):
    """``(labels, codes, old)``: the stream's tasks with the batch's new ones.

    ``old`` holds the positions of the earlier tasks in ``labels`` (None on
    the first call).
    """
    batch_labels, batch_codes = est._encode_fit_tasks(tasks, n)
    if stream is None:
        return batch_labels, batch_codes, None
    labels = union_labels(stream.task_labels, batch_labels)
    index = TaskIndex(labels)
    codes = index.transform(batch_labels, len(batch_labels))[batch_codes]
    return labels, codes, index.transform(est.tasks_, len(est.tasks_))


def _laplace_step(est, X, codes, labels, old, stream, sw, datafits, k, active,
                  previous=None):  # fmt: skip
    """One call of the Laplace rule: solve, then add the batch to the summary.

    ``datafits(design, row_weights, mask=None)`` returns the batch's datafit
    on the task-grouped rows (``mask``: the task-class mask to use instead of
    the stream's); ``active`` (n_tasks,) is False for the tasks left out of
    the loss. ``previous`` is the :class:`NamedBatch` record of the same rows
    given earlier under the same ``batch_id``: their expansion is taken out
    of the summary first. Returns ``(W, b, update, info)``: ``update(W, b)``
    gives the summary with the batch added at the (final) solution.
    """
    T, p = len(labels), X.shape[1]
    moments = (
        LaplaceMoments.empty(labels, p, k)
        if stream is None
        else stream.reindexed(labels)
    )
    S_batch = np.bincount(codes, weights=sw, minlength=T)
    design = TaskDesign(X, codes, T)
    sw_rows = design.sort_rows(sw)
    if previous is not None:
        # the incremental Newton step: this batch's old expansion leaves
        Theta_old, mask_old = previous.anchor(labels, p, k)
        raw_old = datafits(design, sw_rows, mask_old)
        moments = moments.combined(
            moments.contribution(design, raw_old, Theta_old, S_batch), sign=-1.0
        )
    task_w = est.task_weights
    if isinstance(task_w, dict):
        # tasks that have not arrived yet keep their weight for later
        known = set(labels.tolist())
        task_w = {t: v for t, v in task_w.items() if t in known}
    weights = check_task_weights(task_w, labels) / (moments.S + S_batch) * active
    fitted = datafits(design, sw_rows * weights[design.row_codes])
    penalty = est._resolve_fit_penalty(est.penalty, labels)
    bound = penalty.bind(labels, est.alpha)
    w_shape = (p, T) + ((k,) if k > 1 else ())
    W0, b0 = np.zeros(w_shape), np.zeros((T,) + w_shape[2:])
    if old is not None:
        W0[:, old], b0[old] = est._W, est._b
    # a feature that no row has used yet (most hashed text features) has no
    # loss, no summary and zero weights: the coupling keeps it at 0 exactly,
    # so the solve runs on the used features alone
    used = moments.used_features()
    if not used.all():
        nnz = X.getnnz(axis=0) if sp.issparse(X) else np.count_nonzero(X, axis=0)
        used |= nnz > 0
        used |= np.any(W0 != 0, axis=tuple(range(1, W0.ndim)))
    features = np.flatnonzero(used)
    if len(features) < p:
        sub_design = design.restrict_features(features)
        sub_moments = moments.restricted(features)
    else:
        sub_design, sub_moments = design, moments
    W_sub, b, n_iter, kkt, kkt_tol, objective = solve_laplace(
        sub_design, fitted, sub_moments, weights, bound, W0[features], b0,
        est.fit_intercept, est.tol, est.max_iter,
    )  # fmt: skip
    W = np.zeros(w_shape)
    W[features] = W_sub
    info = dict(
        penalty=penalty, bound=bound, n_iter=n_iter, kkt_violation=kkt,
        kkt_tol=kkt_tol, objective=objective,
    )  # fmt: skip

    def update(W, b):
        raw = datafits(design, sw_rows)
        return moments.added(design, raw, _pack(W, b), S_batch)

    return W, b, update, info


def _store(est, attributes, W, b, moments, dtype, info, batches):
    penalty, bound = info.pop("penalty"), info.pop("bound")
    state = est._make_state(attributes, penalty, bound, W, b, dtype, **info)
    moments.batches = batches
    state["_stream"] = moments
    est._set_state(state)


class NamedBatch:
    """What the stream keeps of a batch given with a ``batch_id``.

    The digest of its rows, and the point of its Taylor expansion: the
    coefficients of its tasks (by label) on the features its rows use (the
    expansion depends on no other), with the task-class mask of that time.
    """

    def __init__(self, digest, labels, features, theta, mask):
        self.digest, self.labels, self.features = digest, labels, features
        self.theta, self.mask = theta, mask

    @classmethod
    def record(cls, digest, X, codes, labels, W, b, mask):
        p = X.shape[1]
        k = 1 if W.ndim == 2 else W.shape[2]
        present = np.unique(codes)
        nnz = X.getnnz(axis=0) if sp.issparse(X) else np.count_nonzero(X, axis=0)
        features = np.flatnonzero(nnz > 0)
        Theta = _pack(W, b).reshape(len(labels), p + 1, k)[present]
        theta = Theta[:, np.append(features, p)]
        return cls(digest, labels[present], features, theta, mask[present].copy())

    def anchor(self, labels, p, k):
        """``(Theta, mask)`` of the expansion on the stream's tasks ``labels``."""
        pos = TaskIndex(labels).transform(self.labels, len(self.labels))
        Theta = np.zeros((len(labels), p + 1, k))
        Theta[np.ix_(pos, np.append(self.features, p))] = self.theta
        mask = np.ones((len(labels), self.mask.shape[1]), dtype=bool)
        mask[pos] = self.mask
        return Theta.reshape(len(labels), -1), mask


def classifier_partial_fit(est, X, y, tasks, sample_weight, classes, batch_id=None):
    """``MultiTaskClassifier.partial_fit`` (see its docstring); sets ``est``."""
    stream = getattr(est, "_stream", None)
    first = stream is None
    X, y = est._validate_X_y(X, y, multi_output=False, reset=first)
    check_classification_targets(y)
    classes_ = _check_classes(est, classes, first)
    known = set(classes_.tolist())
    unknown = [v for v in np.unique(y).tolist() if v not in known]
    if unknown:
        raise ValueError(
            f"y contains labels not in classes: {unknown[:5]} (classes: "
            f"{classes_.tolist()})."
        )
    sw = check_sample_weight(sample_weight, X.shape[0])
    if not first and not np.any(sw > 0):
        return  # only absent rows: nothing to add
    X, y, tasks, sw = drop_absent_rows(X, y, tasks, sw)
    labels, codes, old = _stream_tasks(est, stream, tasks, X.shape[0])
    T, C = len(labels), len(classes_)
    k = 1 if C == 2 else C
    # classes seen by each task over the stream (fit's task_class_mask_)
    y_enc = np.searchsorted(classes_, y)
    mask = np.zeros((T, C), dtype=bool)
    if old is not None:
        mask[old] = est.task_class_mask_
    mask[codes, y_enc] = True
    # a task with one class so far leaves the loss, as in fit (its optimum is
    # at an infinite intercept); its rows still enter its summary
    active = mask.sum(axis=1) >= 2
    batches = dict(getattr(stream, "batches", {}))
    previous, digest = None, None
    if batch_id is not None:
        digest = batch_digest(X, y_enc, labels[codes], sw)
        previous = check_named_batch(batches, batch_id, digest)

    def datafits(design, row_weights, task_mask=None):
        task_mask = mask if task_mask is None else task_mask
        y_sorted = design.sort_rows(y_enc)
        if k == 1:
            return Logistic().initialize(
                np.where(y_sorted == 1, 1.0, -1.0), row_weights
            )
        Y = np.zeros((len(y_sorted), C))
        Y[np.arange(len(y_sorted)), y_sorted] = 1.0
        return Multinomial(C).initialize(
            Y, row_weights, class_mask=task_mask[design.row_codes]
        )

    W, b, update, info = _laplace_step(
        est, X, codes, labels, old, stream, sw, datafits, k, active, previous
    )
    if k > 1 and est.fit_intercept:
        # the softmax ignores a constant added to a task's intercepts: report
        # those that sum to 0 over the task's classes, as fit does
        b = b - (b * mask).sum(axis=1, keepdims=True) / np.maximum(
            mask.sum(axis=1, keepdims=True), 1
        )
    attributes = {"tasks_": labels, "classes_": classes_, "task_class_mask_": mask}
    if batch_id is not None:
        batches[batch_id] = NamedBatch.record(digest, X, codes, labels, W, b, mask)
    _store(est, attributes, W, b, update(W, b), X.dtype, info, batches)


def regressor_partial_fit(est, X, y, tasks, sw, batch_id, shared):
    """``MultiTaskRegressor.partial_fit`` above ``PARTIAL_FIT_MAX_FEATURES``.

    The squared loss through the diagonal Laplace summary (the classifier's
    route for hashed features): one pass is approximate, passes over named
    batches converge to ``fit``. ``X``, ``y`` and ``sw`` are validated;
    2-D ``y`` (the shared design) stacks the batch once per column.
    """
    stream = getattr(est, "_stream", None)
    if stream is not None and not np.any(sw > 0):
        return  # only absent rows: nothing to add
    X, y, tasks, sw = drop_absent_rows(X, y, tasks, sw)
    y = np.asarray(y, dtype=np.float64)
    if shared:
        # one block of rows per column (task): a copy of this batch only
        n, n_cols = y.shape
        if sp.issparse(X):
            X = sp.vstack([X] * n_cols, format="csr")
        else:
            X = np.tile(X, (n_cols, 1))
        tasks, y = np.repeat(np.arange(n_cols), n), y.T.ravel()
        sw = np.tile(sw, n_cols)
    labels, codes, old = _stream_tasks(est, stream, tasks, X.shape[0])
    T = len(labels)
    batches = dict(getattr(stream, "batches", {}))
    previous, digest = None, None
    if batch_id is not None:
        digest = batch_digest(X, y, labels[codes], sw)
        previous = check_named_batch(batches, batch_id, digest)

    def datafits(design, row_weights, task_mask=None):
        return Quadratic().initialize(design.sort_rows(y), row_weights)

    active = np.ones(T, dtype=bool)
    W, b, update, info = _laplace_step(
        est, X, codes, labels, old, stream, sw, datafits, 1, active, previous
    )
    if batch_id is not None:
        mask = np.ones((T, 1), dtype=bool)
        batches[batch_id] = NamedBatch.record(digest, X, codes, labels, W, b, mask)
    attributes = {"tasks_": labels, "_shared_design": shared}
    _store(est, attributes, W, b, update(W, b), X.dtype, info, batches)
