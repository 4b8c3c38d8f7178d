"""The working-set models of ``_bcd`` (block coordinate descent).

- ``_RowBlocks``: the design's rows in the groups that share a Gram matrix,
  and the working sets' columns (a column buffer for a shared dense X);
- ``_GramSource``: the weighted (centred) Grams of the columns asked for,
  kept from one working set to the next;
- ``_GramModel`` / ``_ResidualModel``: the second-order model of the datafit
  on a working set, on its Grams or on residuals, with the state that the
  epochs keep (``A V``, or the residuals);
- ``_use_residuals``: which of the two a working set takes.

Split from ``_bcd.py`` (the solver's loops) to keep both readable.
"""

import numpy as np
import scipy.sparse as sp

from ._bcd_kernels import cd_epoch, chunk_grams, residual_epoch

#: arithmetic rate of a BLAS Gram product relative to the compiled epochs
_GRAM_SPEEDUP = 4


def _columns(X, features):
    """Columns ``features`` of ``X`` as a float64 array (dense) or CSC matrix."""
    if sp.issparse(X):
        return X[:, features].astype(np.float64)
    if X.flags.f_contiguous:
        Xf = X[:, features]
    else:
        # np.take copies whole rows' runs: 13x faster than X[:, features] on
        # a C-ordered 2000 x 2000 X (measured, numpy 2)
        Xf = np.take(X, features, axis=1)
    return np.asarray(Xf, dtype=np.float64)


def _cross(A, h, B):
    """``A^T diag(h) B`` as a dense float64 array (``h >= 0``)."""
    if sp.issparse(A):
        return np.asarray((A.T @ B.multiply(h[:, None]).tocsc()).todense())
    if A is B:
        # symmetric: S^T S with S = sqrt(h) A runs as BLAS syrk, half the
        # arithmetic of a general product (measured 2x on 2000 x 1600)
        S = A * np.sqrt(h)[:, None]
        return S.T @ S
    return A.T @ (B * h[:, None])


class _RowBlocks:
    """The design's rows in the groups that share a Gram matrix.

    One group per task (ragged designs), or the shared X once. Sparse blocks
    are converted to CSC here, once per problem (``memory`` carries them
    along a path), so that the working sets' columns are cheap to take.
    """

    def __init__(self, design):
        self.design = design
        T = design.n_tasks
        if design.mode == "shared":
            X = design.X
            self.blocks = [X.tocsc() if sp.issparse(X) else X]
        else:
            X = design.X_sorted
            if sp.issparse(X):
                X = X.tocsc()
            b = design.bounds
            self.blocks = [X[b[t] : b[t + 1]] for t in range(T)]
        # dense shared X: the columns taken so far, kept in a Fortran-ordered
        # float64 buffer in the order they came (at most one copy of X, as
        # scikit-learn's MultiTaskLasso makes): every working set, Gram and
        # score update takes its columns from here, contiguous when they are
        # the buffer's first ones
        self._cached = design.mode == "shared" and not sp.issparse(self.blocks[0])
        self._buffer = np.empty((self.blocks[0].shape[0], 0), order="F")
        self._n_cached = 0
        self.position = np.full(design.n_features, -1, dtype=np.intp)

    def columns(self, block, ws):
        """Columns ``ws`` of block ``block`` (see :func:`_columns`)."""
        if not self._cached:
            return _columns(self.blocks[block], ws)
        new = ws[self.position[ws] < 0]
        if new.size:
            K, buffer = self._n_cached, self._buffer
            if K + new.size > buffer.shape[1]:
                size = min(self.design.n_features, max(2 * K, K + new.size))
                buffer = np.empty((buffer.shape[0], size), order="F")
                buffer[:, :K] = self._buffer[:, :K]
                self._buffer = buffer
            buffer[:, K : K + new.size] = _columns(self.blocks[0], new)
            self.position[new] = np.arange(K, K + new.size)
            self._n_cached = K + new.size
        pos = self.position[ws]
        if len(pos) and pos[-1] - pos[0] == len(pos) - 1 and np.all(np.diff(pos) == 1):
            return self._buffer[:, pos[0] : pos[-1] + 1]
        return self._buffer[:, pos]

    def scores(self, ws, V, b):
        """Scores ``X_ws v_t + b_t`` of every row (task-grouped), raw parameters."""
        design = self.design
        if design.mode == "shared":
            S = np.asarray(self.columns(0, ws) @ V) + b
            return S.T.ravel()
        if design.mode in ("blockdiag", "stacked"):
            # one product for every task (many small tasks: a loop over them
            # costs more than the arithmetic)
            W = np.zeros((design.n_features, design.n_tasks))
            W[ws] = V
            return design.raw_scores(W) + b[design.row_codes]
        out = np.empty(design.n_rows)
        bounds = design.bounds
        for t, block in enumerate(self.blocks):
            out[bounds[t] : bounds[t + 1]] = (
                np.asarray(_columns(block, ws) @ V[:, t]).ravel() + b[t]
            )
        return out


class _GramSource:
    """Weighted Grams ``X_g^T diag(h_g) X_g`` of the columns asked for.

    ``h`` (per row, task-grouped) fixes the weights. For the shared design,
    when every task weighs the rows alike up to a factor (the squared loss),
    one Gram serves all tasks (``scales``); otherwise there is one per task.
    With ``fit_intercept`` the Grams are kept centred (the weighted column
    means ``m_g = X_g^T h_g / H_g`` taken out: ``X_g^T h_g X_g - H_g m_g
    m_g^T``), the curvature of the model with its intercepts eliminated, so
    that :class:`_GramModel` takes them as they are, without a copy.
    Columns computed once are kept: a growing working set (or the next
    point of a path, for the squared loss whose weights do not change) pays
    only for its new columns.
    """

    def __init__(self, rows, h, u=None, fit_intercept=False):
        design = rows.design
        T, b = design.n_tasks, design.bounds
        self.rows = rows
        self.H = np.array([h[b[t] : b[t + 1]].sum() for t in range(T)])
        self.scales = None
        if design.mode == "shared":
            n = b[1]
            Hm = h.reshape(T, n)
            ref = int(np.argmax(self.H))
            scales = self.H / self.H[ref] if self.H[ref] > 0 else np.zeros(T)
            if np.allclose(Hm, np.outer(scales, Hm[ref]), rtol=1e-12, atol=0.0):
                self.scales = scales
                self.groups = [(0, Hm[ref])]
            else:
                self.groups = [(0, Hm[t]) for t in range(T)]
        else:
            self.groups = [(t, h[b[t] : b[t + 1]]) for t in range(T)]
        # each group's total weight: the centring of its Gram
        self.Hg = np.array([float(hg.sum()) for _, hg in self.groups])
        self.fit_intercept = fit_intercept
        self.h = h
        # u fixed for every working set (the squared loss: u = h * y): its
        # products with X's columns are kept with the Grams
        self.u = u
        self.features = np.empty(0, dtype=np.intp)
        self.position = np.full(design.n_features, -1, dtype=np.intp)
        self.gram = np.zeros((0, 0, len(self.groups)))
        self.hx = np.zeros((len(self.groups), 0))
        self.xu = np.zeros((0, T))

    def means(self, hx):
        """Column means ``X_g^T h_g / H_g`` from ``hx`` (0 without intercept)."""
        if not self.fit_intercept:
            return np.zeros_like(hx)
        return hx / np.where(self.Hg > 0, self.Hg, 1.0)[:, None]

    def grams(self, ws):
        """``(G, hx)``: Grams (k, k, n_groups), centred with ``fit_intercept``,
        and ``X_g^T h_g`` (n_groups, k)."""
        self.add(ws)
        pos = self.position[ws]
        if np.array_equal(pos, np.arange(len(self.features))):
            return self.gram, self.hx  # the working set is every column so far
        return self.gram[np.ix_(pos, pos)], self.hx[:, pos]

    def add(self, ws):
        """Compute the Grams' columns of the features of ``ws`` not held yet."""
        new = ws[self.position[ws] < 0]
        if new.size:
            old, K = self.features, len(self.features)
            gram = np.empty((K + new.size, K + new.size, len(self.groups)))
            gram[:K, :K] = self.gram
            hx = np.empty((len(self.groups), K + new.size))
            hx[:, :K] = self.hx
            for g, (block, h) in enumerate(self.groups):
                Xn = self.rows.columns(block, new)
                hx[g, K:] = np.asarray(Xn.T @ h).ravel()
                if K:
                    cross = _cross(self.rows.columns(block, old), h, Xn)
                    gram[:K, K:, g] = cross
                    gram[K:, :K, g] = cross.T
                gram[K:, K:, g] = _cross(Xn, h, Xn)
            if self.fit_intercept:
                # centring, new columns only, every group at once (a loop
                # over 139 School tasks cost 5% of a CV search): minus
                # H_g m_i m_j = m_i (X^T h)_j
                corr = self.means(hx).T[:, None, :] * hx[:, K:].T[None, :, :]
                gram[:, K:] -= corr
                gram[K:, :K] -= corr[:K].transpose(1, 0, 2)
            if self.u is not None:
                self.xu = np.concatenate([self.xu, self.response(new, self.u)])
            self.features = np.concatenate([old, new])
            self.position[new] = np.arange(K, K + new.size)
            self.gram, self.hx = gram, hx

    def response(self, ws, u):
        """``X_t^T u_t`` for every task, shape (k, T)."""
        if u is self.u and np.all(self.position[ws] >= 0):
            return self.xu[self.position[ws]]
        design = self.rows.design
        T, b = design.n_tasks, design.bounds
        if design.mode == "shared":
            Xw = self.rows.columns(0, ws)
            return np.asarray(Xw.T @ u.reshape(T, b[1]).T)
        if design.mode in ("stacked", "blockdiag"):
            return design.raw_adjoint(u)[ws]
        C = np.empty((len(ws), T))
        for t in range(T):
            Xw = _columns(self.rows.blocks[t], ws)
            C[:, t] = np.asarray(Xw.T @ u[b[t] : b[t + 1]]).ravel()
        return C


class _GramModel:
    """The second-order model of the datafit on a working set of features.

    In the raw (uncentred) parametrisation ``s = X_ws V + b`` and with the
    intercepts eliminated in closed form (weighted centring), the model is
    ``1/2 sum_t v_t^T A_t v_t - c_t^T v_t + const``; ``intercepts(V)`` gives
    the minimising ``b`` for given weights ``V``.

    Parameters
    ----------
    source : _GramSource
        Grams under the row weights ``h``, the curvature of the datafit at
        the current scores.
    ws : ndarray of int
        The working set (feature indices).
    u : ndarray of shape (n_rows,)
        ``h * scores - gradient``: ``h`` times the working response.
    fit_intercept : bool
    """

    def __init__(self, source, ws, u, fit_intercept):
        design = source.rows.design
        T, k, bounds = design.n_tasks, len(ws), design.bounds
        self.H = source.H
        self.usum = np.array([u[bounds[t] : bounds[t + 1]].sum() for t in range(T)])
        self.fit_intercept = fit_intercept
        self.scales = source.scales
        # (ws, last ws, its A V): see start; set by the solver
        self.previous = None
        # the source's Grams are centred already (fit_intercept): no copy
        # here when the working set is every column the source holds
        assert source.fit_intercept == fit_intercept
        gram, hx = source.grams(ws)  # before response: it may fill its cache
        m = source.means(hx)  # (n_groups, k)
        if self.scales is not None:
            self.G = np.ascontiguousarray(gram[:, :, 0])
            self.means = np.broadcast_to(m[0], (T, k))
            self.diag = np.diag(self.G) * self.scales.max(initial=0.0)
        else:
            # G[j] holds column j of every task's Gram, shape (k, T): a block
            # step reads one contiguous slice
            self.G = np.ascontiguousarray(gram)
            self.means = m
            self.diag = np.einsum("jjt->jt", self.G).max(axis=1)
        # c_t = X_t^T u_t - m_t sum(u_t): the centred working response
        self.C = source.response(ws, u) - self.means.T * self.usum

    def product(self, V, rows=None):
        """``A_t v_t`` for every task, shape (k, T) (its ``rows`` only if given)."""
        # the rows of V that are not zero only (the support, a prefix of the
        # working set when it grew from the last one): a product of k s T
        # instead of k^2 T
        nz = np.flatnonzero(np.any(V != 0, axis=1))
        G = self.G if rows is None else self.G[rows]
        if len(nz) == 0:
            return np.zeros((G.shape[0], V.shape[1]))
        # a prefix: a view of G, no copy of its columns
        nz = slice(0, len(nz)) if nz[-1] == len(nz) - 1 else nz
        if self.scales is None:
            return np.einsum("jlt,lt->jt", G[:, nz], V[nz])
        return np.ascontiguousarray((G[:, nz] @ V[nz]) * self.scales)

    def intercepts(self, V):
        """Minimising raw intercepts ``b_t = (sum u_t) / H_t - m_t . v_t``."""
        if not self.fit_intercept:
            return np.zeros(V.shape[1])
        H = np.where(self.H > 0, self.H, 1.0)
        return self.usum / H - np.einsum("tj,jt->t", self.means, V)

    # the interface of _cd_epochs: a state that follows V (here Q = A V)
    def start(self, V):
        if self.previous is None:
            return self.product(V)
        # the last working set's A V (the same Grams: the squared loss) holds
        # the rows of its features already, V being 0 outside its support
        ws, ws_prev, Q_prev = self.previous
        where = np.full(max(ws.max(initial=-1), ws_prev.max(initial=-1)) + 1, -1)
        where[ws_prev] = np.arange(len(ws_prev))
        at = where[ws]
        known = at >= 0
        if not np.any(known):
            return self.product(V)
        Q = np.empty(V.shape)
        Q[known] = Q_prev[at[known]]
        fresh = np.flatnonzero(~known)
        if fresh.size:
            if fresh[0] == len(ws) - fresh.size:  # the new features at the end
                fresh = slice(fresh[0], None)
            Q[fresh] = self.product(V, fresh)
        return Q

    def epoch(self, V, Q, lam, r, compiled):
        Q = cd_epoch(self.G, self.scales, self.C, V, Q, self.diag + r, lam, r, compiled)
        return Q, None

    def gradient(self, V, Q):
        return Q - self.C

    def value(self, V, Q):
        return 0.5 * float(np.sum(V * Q)) - float(np.sum(self.C * V))


class _ResidualModel(_GramModel):
    """The same model on residuals: shared design, dense X, one Gram up to scales.

    With ``D = sqrt(h) (X_ws - m)`` (rows of zero weight dropped) and the
    weighted centred working response ``Z``, the model is
    ``1/2 sum_t scales[t] ||Z_t - D v_t||^2``; coordinate descent keeps the
    residuals ``E = Z - D V`` (n, T). A block step costs ``O(n T)`` and no
    Gram is formed (``n k^2``): the choice when the working set has more
    features than about the rows (see :func:`_use_residuals`).
    """

    def __init__(self, source, ws, u, fit_intercept):
        design = source.rows.design
        T, n = design.n_tasks, design.bounds[1]
        self.H = H = source.H
        self.scales = scales = source.scales
        self.fit_intercept = fit_intercept
        U = u.reshape(T, n)
        self.usum = U.sum(axis=1)
        ref = int(np.argmax(H))
        h = source.groups[0][1]
        keep = h > 0
        Xw = source.rows.columns(0, ws)
        if not np.all(keep):
            Xw = Xw[keep]
        hk = h[keep]
        m = hk @ Xw / H[ref] if fit_intercept else np.zeros(len(ws))
        self.means = np.broadcast_to(m, (T, len(ws)))
        root = np.sqrt(hk)
        D = (Xw - m) * root[:, None]
        self.DT = np.ascontiguousarray(D.T)
        self.GB = chunk_grams(self.DT)
        # Z_t = sqrt(h) (z_t - zbar_t) with z_t = u_t / (scales_t h)
        safe = np.where(scales > 0, scales, 1.0)
        zbar = self.usum / np.where(H > 0, H, 1.0)
        Z = U[:, keep] / (safe[:, None] * hk) - zbar[:, None]
        Z[scales == 0] = 0.0
        self.Z = np.ascontiguousarray((Z * root).T)
        self.diag = np.einsum("jn,jn->j", self.DT, self.DT) * scales.max(initial=0.0)

    def start(self, V):
        return self.Z - self.DT.T @ V

    def epoch(self, V, E, lam, r, compiled):
        return residual_epoch(
            self.DT, self.GB, self.scales, V, E, self.diag + r, lam, r, compiled
        )

    def gradient(self, V, E):
        return -(self.DT @ E) * self.scales

    def value(self, V, E):
        return 0.5 * float(np.sum(E * E * self.scales))


def _use_residuals(source, n_features_ws):
    """Whether the residual form costs less than the Gram form for this working set.

    Operation counts for about 20 epochs: the Gram form pays ``n k^2`` for
    the Gram (its new columns, in fact; a BLAS-3 product, counted at a
    quarter of the epochs' cost per operation) and ``20 k^2 T`` for the
    epochs; the residual form ``2 n k T`` per epoch. Measured on bench_l21
    (shared X): n=500, p=5000, T=20 at 0.1 alpha_max (working sets of ~1250
    features) runs in about half the time on residuals; n=p=2000, T=50 at
    0.01 alpha_max (every feature active) on the Gram. With the chunked
    (BLAS-3) epochs of both forms, a speed-up of 1 or 2 instead of 4 was
    measured on the four problems of bench_core's L2,1 rows: no difference
    beyond the noise of the machine, so the rule stayed.
    """
    design = source.rows.design
    if design.mode != "shared" or source.scales is None:
        return False
    if sp.issparse(source.rows.blocks[0]):
        return False  # centring would densify the columns
    n, T, k = design.bounds[1], design.n_tasks, n_features_ws
    return k * (n / _GRAM_SPEEDUP + 20 * T) > 40 * n * T
