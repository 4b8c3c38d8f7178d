"""Linear scores of a multi-task model and the smooth loss built on them.

Internal layout (fixed once for the whole package): ``W`` has shape
(n_features, n_tasks) for scalar outputs and (n_features, n_tasks, n_classes)
for multinomial models; the intercept ``b`` has shape (n_tasks,) or
(n_tasks, n_classes).

Rows are stored grouped by task (a stable sort of the task codes), so the
scores of task ``t`` are ``X_t @ W[:, t] + b[t]`` on a contiguous slice. In the
shared-design form (one X for every task, as in MultiTaskLasso) the product is
a single ``X @ W`` instead of one product per task.

With an intercept, the design is centred implicitly: the solvers work with
``(X_t - m_t) @ w_t + b'_t`` where ``m_t`` is task t's weighted feature mean,
computed as ``X_t @ w_t - m_t . w_t`` so that sparse X stays sparse. This is an
exact change of variables (``b_t = b'_t - m_t . w_t``) that removes the
coupling between intercept and weights, which otherwise slows first-order
solvers badly on uncentred features.
"""

import numpy as np
import scipy.sparse as sp

__all__ = ["TaskDesign", "SmoothLoss", "task_scores"]


def _as_dtype(A, dtype):
    return A if A.dtype == dtype else A.astype(dtype)


class TaskDesign:
    """Rows of X grouped by task.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    codes : ndarray of int of shape (n_samples,) or None
        Task index of each row. None with ``n_tasks`` means the shared design:
        every task sees all rows of X.
    n_tasks : int
    """

    def __init__(self, X, codes, n_tasks):
        self.n_tasks = n_tasks
        self.n_features = X.shape[1]
        self.dtype = X.dtype
        self.shared = codes is None
        self.means = None
        if self.shared:
            self.X = X
            n = X.shape[0]
            self.order = None
            self.bounds = np.arange(n_tasks + 1) * n
            self.blocks = None
            return
        if sp.issparse(X) and X.format != "csr":
            # Row slicing needs CSR; this is a format change, not densification.
            X = X.tocsr()
        order = np.argsort(codes, kind="stable")
        counts = np.bincount(codes, minlength=n_tasks)
        self.bounds = np.concatenate([[0], np.cumsum(counts)])
        if np.all(order == np.arange(len(order))):
            order = None  # already grouped: slices are views (dense) or cheap
            Xs = X
        else:
            Xs = X[order]
        self.order = order
        self.blocks = [Xs[self.bounds[t] : self.bounds[t + 1]] for t in range(n_tasks)]

    def center(self, row_weights):
        """Use each task's ``row_weights``-weighted feature mean as offset."""
        means = np.zeros((self.n_tasks, self.n_features))
        for t in range(self.n_tasks):
            lo, hi = self.bounds[t], self.bounds[t + 1]
            w = row_weights[lo:hi]
            if hi > lo and w.sum() > 0:
                Xt = self.X if self.shared else self.blocks[t]
                means[t] = np.asarray(Xt.T @ _as_dtype(w, self.dtype), float) / w.sum()
        self.means = means
        return self

    def _offsets(self, W):
        """``m_t . w_t`` for every task, shape (n_tasks, ...)."""
        return np.einsum("tp,pt...->t...", self.means, W)

    def intercept_from_centered(self, W, b):
        """Intercept of the uncentred model, ``b_t = b'_t - m_t . w_t``."""
        return b if self.means is None else b - self._offsets(W)

    def intercept_to_centered(self, W, b):
        return b if self.means is None else b + self._offsets(W)

    @property
    def n_rows(self):
        return int(self.bounds[-1])

    def sort_rows(self, a):
        """Put a per-row array in the task-grouped order of the design."""
        if self.shared:
            # one copy of the per-sample values for each task
            return np.concatenate([a] * self.n_tasks, axis=0)
        return a if self.order is None else a[self.order]

    def unsort_rows(self, a):
        """Inverse of :meth:`sort_rows` (not defined for the shared design)."""
        if self.order is None:
            return a
        out = np.empty_like(a)
        out[self.order] = a
        return out

    def forward(self, W, b=None):
        """Scores of every row, in task-grouped order, shape (n_rows, ...)."""
        Wd = _as_dtype(W, self.dtype)
        out_shape = W.shape[2:]
        if self.means is not None:
            off = self._offsets(W)
            b = -off if b is None else b - off
        if self.shared:
            n = self.X.shape[0]
            S = self.X @ Wd.reshape(self.n_features, -1)
            S = np.asarray(S, dtype=np.float64).reshape((n, self.n_tasks) + out_shape)
            if b is not None:
                S = S + b
            return np.moveaxis(S, 1, 0).reshape((-1,) + out_shape)
        scores = np.empty((self.n_rows,) + out_shape)
        for t, Xt in enumerate(self.blocks):
            lo, hi = self.bounds[t], self.bounds[t + 1]
            if hi > lo:
                scores[lo:hi] = Xt @ Wd[:, t]
                if b is not None:
                    scores[lo:hi] += b[t]
        return scores

    def backward(self, G):
        """Adjoint of :meth:`forward`: gradients of W and b given d loss / d scores."""
        out_shape = G.shape[1:]
        if self.shared:
            n = self.X.shape[0]
            Gt = np.moveaxis(G.reshape((self.n_tasks, n) + out_shape), 0, 1)
            gb = Gt.sum(axis=0)
            Gd = _as_dtype(np.ascontiguousarray(Gt.reshape(n, -1)), self.dtype)
            gW = np.asarray(self.X.T @ Gd, dtype=np.float64)
            gW = gW.reshape((self.n_features, self.n_tasks) + out_shape)
            return self._center_grad(gW, gb), gb
        gW = np.zeros((self.n_features, self.n_tasks) + out_shape)
        gb = np.zeros((self.n_tasks,) + out_shape)
        for t, Xt in enumerate(self.blocks):
            lo, hi = self.bounds[t], self.bounds[t + 1]
            if hi > lo:
                Gslice = _as_dtype(G[lo:hi], self.dtype)
                gW[:, t] = Xt.T @ Gslice
                gb[t] = G[lo:hi].sum(axis=0)
        return self._center_grad(gW, gb), gb

    def _center_grad(self, gW, gb):
        if self.means is None:
            return gW
        # d/dW of -sum_t (m_t . w_t) * sum_i G_ti
        return gW - np.einsum("tp,t...->pt...", self.means, gb)

    def block_lipschitz(self, row_curvature, fit_intercept, n_power_iter=20):
        """Upper estimate of the largest eigenvalue of the loss Hessian.

        The Hessian is block-diagonal across tasks; each block is bounded by
        ``[X_t, 1]^T diag(c_t) [X_t, 1]``, whose top eigenvalue is found by a
        few power iterations (the solvers' backtracking corrects an estimate
        that is a little low).
        """
        rng = np.random.default_rng(0)
        zero = np.zeros(self.n_features)
        if self.shared:
            blocks = [self.X]
            c_max = max(
                row_curvature[self.bounds[t] : self.bounds[t + 1]].max(initial=0.0)
                for t in range(self.n_tasks)
            )
            weights = [None]
            means = [zero if self.means is None else self.means[0]]
        else:
            blocks = self.blocks
            weights = [
                row_curvature[self.bounds[t] : self.bounds[t + 1]]
                for t in range(self.n_tasks)
            ]
            means = [zero if self.means is None else m for m in self.means]
        best = 0.0
        for Xt, ct, mt in zip(blocks, weights, means):
            if Xt.shape[0] == 0:
                continue
            v = rng.standard_normal(self.n_features + int(fit_intercept))
            lam = 0.0
            for _ in range(n_power_iter):
                v /= np.linalg.norm(v) or 1.0
                vw = v[: self.n_features]
                u = np.asarray(Xt @ _as_dtype(vw, self.dtype), float) - mt @ vw
                if fit_intercept:
                    u = u + v[-1]
                if ct is not None:
                    u = ct * u
                w = np.asarray(Xt.T @ _as_dtype(u, self.dtype), dtype=float)
                w = w - mt * u.sum()
                if fit_intercept:
                    w = np.append(w, u.sum())
                lam = float(np.dot(v, w))
                v = w
            if ct is None:
                lam *= c_max
            best = max(best, lam)
        return 1.05 * best


class SmoothLoss:
    """A datafit composed with a task design: ``f(W, b) = datafit(scores(W, b))``.

    Solvers use only this object and the penalty; they never see X.
    """

    def __init__(self, design, datafit, fit_intercept):
        self.design = design
        self.datafit = datafit
        self.fit_intercept = fit_intercept

    def scores(self, W, b):
        return self.design.forward(W, b if self.fit_intercept else None)

    def value_from_scores(self, S):
        return self.datafit.value(S)

    def grad_from_scores(self, S):
        gW, gb = self.design.backward(self.datafit.gradient(S))
        if not self.fit_intercept:
            gb = np.zeros_like(gb)
        return gW, gb

    def value_grad(self, W, b):
        S = self.scores(W, b)
        gW, gb = self.grad_from_scores(S)
        return self.value_from_scores(S), gW, gb

    def lipschitz(self):
        return self.design.block_lipschitz(self.datafit.curvature(), self.fit_intercept)


def task_scores(X, codes, W, b):
    """Scores of new rows for their tasks, in the caller's row order.

    ``codes`` index the task axis of ``W`` and ``b``.
    """
    n_tasks = W.shape[1]
    design = TaskDesign(X, codes, n_tasks)
    return design.unsort_rows(design.forward(W, b))
