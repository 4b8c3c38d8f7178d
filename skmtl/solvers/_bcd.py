"""Block coordinate descent for row-sparse penalties (L2,1), on working sets.

One block is one feature's row of ``W`` (its weight in every task), the unit
of a penalty that is a sum over feature rows (``separable_by_feature``). The
solver follows skglm's working-set scheme (Massias, Gramfort & Salmon, 2018;
Bertrand et al., 2022) with the datafit handled as a proximal Newton method:

- outer loop: one full gradient (a product with X^T), the per-feature KKT
  violations, stop when the largest is at most ``tol_abs``; otherwise the
  working set is the support plus the violating features and a margin of
  the zero features nearest to their threshold, up to twice the support
  (four times when the whole last working set became active), as celer and
  skglm grow it but without the features that already satisfy their
  optimality condition far from it;
- on the working set, the datafit is replaced by its second-order model at
  the current scores, a weighted least-squares problem (exact for the
  squared loss, a Newton step with an Armijo line search for the logistic
  loss); the intercepts of that model are solved in closed form (weighted
  centring), which leaves a quadratic in the working set's weights;
- the quadratic is minimised by cyclic block coordinate descent on its
  per-task Gram matrices (``k x k`` for a working set of ``k`` features): a
  block step costs ``O(k T)`` instead of ``O(n T)`` for a step on the
  residuals, and the Grams are formed by BLAS once per working set (only
  the new features' columns: the Grams and, for the squared loss, the
  products ``X^T u`` are kept from one working set to the next). The
  compiled epochs take their blocks in chunks whose updates are BLAS-3
  products (see ``_bcd_kernels``); working sets with more features than
  rows run on the residuals instead (:func:`_use_residuals`).

For the shared design (every task on the same rows, 2-D y) with task weights
proportional across tasks (the squared loss), all tasks share one Gram
matrix up to a factor, so memory is ``k^2`` and not ``T k^2``.
"""

import numpy as np
import scipy.sparse as sp

from ._bcd_kernels import cd_epoch, chunk_grams, residual_epoch
from .base import BaseSolver, SolverResult, armijo_backtracking, warn_not_converged

__all__ = ["BlockCoordinateDescent"]


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
                # centring: minus H_g m_i m_j = m_i * (X^T h)_j, new columns only
                m = hx[g] / (self.Hg[g] if self.Hg[g] > 0 else 1.0)
                if K:
                    cross = _cross(self.rows.columns(block, old), h, Xn)
                    if self.fit_intercept:
                        cross -= np.outer(m[:K], hx[g, K:])
                    gram[:K, K:, g] = cross
                    gram[K:, :K, g] = cross.T
                square = _cross(Xn, h, Xn)
                if self.fit_intercept:
                    square -= np.outer(m[K:], hx[g, K:])
                gram[K:, K:, g] = square
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
        if self.scales is None:
            return np.einsum("jlt,lt->jt", G[:, nz], V[nz])
        if len(nz) == 0:
            return np.zeros((G.shape[0], V.shape[1]))
        if nz[-1] == len(nz) - 1:
            GV = G[:, : len(nz)] @ V[: len(nz)]
        else:
            GV = G[:, nz] @ V[nz]
        return np.ascontiguousarray(GV * self.scales)

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


def _anderson(iterates):
    """Anderson extrapolation of the last iterates (Anderson, 1965; skglm's form).

    With ``U`` the differences of consecutive iterates, the weights ``c``
    solve ``min ||U^T c||`` subject to ``sum c = 1``; the extrapolated point
    is ``sum_i c_i iterates[i + 1]``. Returns ``c``, or None when the system
    is singular (the iterates no longer move).
    """
    X = np.stack([V.ravel() for V in iterates])
    U = np.diff(X, axis=0)
    M = U @ U.T
    try:
        z = np.linalg.solve(M + 1e-12 * np.trace(M) * np.eye(len(M)), np.ones(len(M)))
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(z)) or z.sum() == 0:
        return None
    return z / z.sum()


def _combine(c, arrays):
    """``sum_i c_i arrays[i]``."""
    out = c[0] * arrays[0]
    for ci, a in zip(c[1:], arrays[1:]):
        out += ci * a
    return out


#: arithmetic rate of a BLAS Gram product relative to the compiled epochs
_GRAM_SPEEDUP = 4

#: working sets are solved to this fraction of the current KKT violation
_INNER_FRACTION = 0.1

#: the last working set is solved to this fraction of tol_abs
_FINAL_FRACTION = 0.5

#: Anderson acceleration every this many epochs (skglm's default)
_ANDERSON_EVERY = 5


def _cd_epochs(quad, penalty, V, tol, max_epochs, compiled=True):
    """Cyclic block coordinate descent on ``quad`` + penalty from ``V`` (in place).

    Block ``j`` takes a proximal gradient step of size ``1 / L_j`` with
    ``L_j = max_t A_t[j, j]`` plus the penalty's ridge curvature: for the
    shared design (equal diagonals) this is the exact block minimiser of the
    group lasso. ``Q = A V`` is kept up to date by a rank-one (BLAS ``ger``)
    update per moved block, ``O(k T)``. Every few epochs an Anderson
    extrapolation of the iterates is taken when it lowers the model
    objective (Bertrand & Massias, 2021). Stops when the model's max KKT
    violation is at most ``tol``. Returns ``(n_epochs, violation, state)``,
    ``state`` the model's state at ``V`` (``A V`` on Grams).
    """
    r, lam = penalty.row_curvature, penalty.row_l2_weight
    state = quad.start(V)

    def model_value(V, state):
        return quad.value(V, state) + penalty.value(V)

    iterates, states = [V.copy()], []
    viol, epoch = np.inf, 0
    while epoch < max_epochs:
        epoch += 1
        state, stale = quad.epoch(V, state, lam, r, compiled)
        iterates.append(V.copy())
        states.append(state.copy())
        if len(iterates) == _ANDERSON_EVERY + 1:
            c = _anderson(iterates)
            if c is not None:
                # the state (A V or the residuals) is affine in V and the
                # weights sum to 1: the same combination of the states is the
                # extrapolated point's (no product with the design)
                V_acc = _combine(c, iterates[1:])
                state_acc = _combine(c, states)
                # a decrease beyond rounding (the combined state carries the
                # rounding of the weights c): near the optimum, ties would
                # otherwise be decided by the last bits
                current = model_value(V, state)
                if model_value(V_acc, state_acc) < current - 1e-12 * abs(current):
                    V[...], state = V_acc, state_acc
                    stale = None
            iterates, states = [V.copy()], []
        if stale is not None and stale > tol:
            continue  # the epoch's own (stale) violations say: not yet
        grad = quad.gradient(V, state) + r * V
        viol = float(penalty.feature_violations(V, grad).max(initial=0.0))
        if viol <= tol:
            break
    return epoch, viol, state


class BlockCoordinateDescent(BaseSolver):
    """Block coordinate descent with working sets for row-sparse penalties.

    For a penalty that is a sum over feature rows of ``W`` (L2,1, sparse
    group elastic net: ``separable_by_feature``) and a datafit with one score
    per row (squared and binary logistic losses: ``diagonal_hessian``), on
    ragged and shared designs, dense or sparse X. See the module docstring for
    the method.

    Stopping rule: the max-norm KKT violation (distance of minus the gradient
    to the subdifferential, with the intercepts' gradient) at most
    ``tol_abs``, as every solver of the package, so that an estimator's
    ``tol`` means the same whatever the solver; the duality gap at that point
    is checked in the tests.

    Parameters
    ----------
    max_iter : int, default=1000
        Budget of coordinate-descent epochs over the working sets (all
        working sets and Newton steps together); ``n_iter`` counts them.
    verbose : int, default=0
    min_working_set : int, default=100
        Size of the first working set.
    max_newton : int, default=50
        Newton steps per working set (one suffices for the squared loss).
    use_numba : bool, default=True
        Run the epochs compiled by numba when it is installed (the
        ``skmtl[fast]`` extra); False, or numba absent, runs the same loop in
        NumPy (see ``skmtl.solvers._bcd_kernels``).

    References
    ----------
    M. Massias, A. Gramfort and J. Salmon, "Celer: a fast solver for the Lasso
    with dual extrapolation", ICML 2018.
    Q. Bertrand, Q. Klopfenstein, P.-A. Bannier, G. Gidel and M. Massias,
    "Beyond L1: faster and better sparse models with skglm", NeurIPS 2022.
    """

    name = "bcd"
    _datafit_required_attr = ("value", "gradient", "hessian_diag")
    _penalty_required_attr = (
        "value",
        "gradient",
        "prox",
        "lipschitz",
        "feature_violations",
        "row_l2_weight",
        "row_curvature",
    )

    def __init__(
        self,
        max_iter=1000,
        verbose=0,
        min_working_set=100,
        max_newton=50,
        use_numba=True,
    ):
        super().__init__(max_iter, verbose)
        self.use_numba = use_numba
        self.min_working_set = min_working_set
        self.max_newton = max_newton

    @staticmethod
    def applicable(loss, penalty, W0):
        if not penalty.separable_by_feature:
            return (
                f"{type(penalty).__name__} is not a sum over feature rows "
                "(separable_by_feature); use solver='fista'"
            )
        if not loss.diagonal_hessian or W0.ndim != 2:
            return (
                "block coordinate descent handles one score per row (squared and "
                "binary logistic losses); use solver='fista' for multinomial models"
            )
        return None

    def _kkt(self, loss, penalty, W, S, b=None):
        zero = loss.cache.zero_gradient
        if (
            zero is not None
            and b is not None
            and zero[1].shape == W.shape
            and np.array_equal(zero[0], b)
            and not np.any(W)
        ):
            # the zero model, whose gradient gave the tolerance's scale
            gW, gb = zero[1], zero[2]
        else:
            gW, gb = loss.grad_from_scores(S)
        grad = gW + penalty.gradient(W)
        viol = penalty.feature_violations(W, grad)
        kkt = float(viol.max(initial=0.0))
        if loss.fit_intercept:
            kkt = max(kkt, float(np.max(np.abs(gb), initial=0.0)))
        return kkt, viol, grad

    def _kkt_model(self, loss, penalty, W, b, S, solved):
        """:meth:`_kkt` after a working set solved on Grams (the squared loss).

        The model is the loss: the working set's gradient is ``A V - C``,
        which the epochs keep (no product with X), and its intercepts are
        the exact minimisers given ``V`` (their gradient is 0). Only the
        features outside the working set take a product with X^T, restricted
        to their columns when they are few (shared dense X). Returns
        ``(kkt, viol, grad, S)``; ``S`` is computed here when it was left
        out (None) and the features outside need it.
        """
        ws, quad, Q, V = solved
        design = loss.design
        n_features, T = W.shape
        gW = np.empty_like(W)
        gW[ws] = quad.gradient(V, Q)
        outside = np.ones(n_features, dtype=bool)
        outside[ws] = False
        outside = np.flatnonzero(outside)
        gb = np.zeros(T)
        if outside.size:
            if S is None:
                S = loss.scores(W, b)
            X = design.X
            if (
                design.mode == "shared"
                and not sp.issparse(X)
                and 2 * outside.size <= n_features
            ):
                n = design.bounds[1]
                g = loss.datafit.gradient(S).reshape(T, n)
                gb = g.sum(axis=1)
                # (G^T X)^T: the layout OpenBLAS runs fastest on C-ordered
                # columns (see TaskDesign.backward). No centring term
                # (means * gb): gb is 0, the intercepts being the model's
                # exact minimisers (a mutation test dropping it changed no
                # result); gb still enters the KKT check below.
                gW[outside] = (g @ _columns(X, outside)).T
            else:
                full, gb = loss.grad_from_scores(S)
                gW[outside] = full[outside]
        grad = gW + penalty.gradient(W)
        viol = penalty.feature_violations(W, grad)
        kkt = float(viol.max(initial=0.0))
        if loss.fit_intercept:
            kkt = max(kkt, float(np.max(np.abs(gb), initial=0.0)))
        return kkt, viol, grad, S

    def _objective(self, loss, penalty, W, S, solved):
        """The objective at ``W``; from the model when the scores were left out."""
        if S is not None:
            return loss.value_from_scores(S) + penalty.value(W)
        # the model is the loss up to its value at V = 0 (with the best
        # intercepts): an O(n T) evaluation instead of a product with X
        _, quad, Q, V = solved
        b0 = quad.intercepts(np.zeros_like(V))
        S0 = np.repeat(b0, np.diff(loss.design.bounds))
        return loss.value_from_scores(S0) + quad.value(V, Q) + penalty.value(W)

    def _solve(self, loss, penalty, W0, b0, tol_abs, memory=None):
        n_features = W0.shape[0]
        design, datafit = loss.design, loss.datafit
        W, b = W0.astype(np.float64).copy(), b0.astype(np.float64).copy()
        S = loss.scores(W, b)
        # What a path reuses on the same loss: the rows by Gram group (sparse
        # blocks in CSC) and, for the squared loss whose weights never
        # change, the Gram columns computed so far.
        if memory is not None and memory.get("loss") is loss:
            rows, source = memory["rows"], memory["source"]
        else:
            rows, source = _RowBlocks(design), None
        if loss.is_quadratic and source is None:
            h = datafit.hessian_diag(S)
            source = _GramSource(
                rows, h, h * S - datafit.gradient(S), loss.fit_intercept
            )
        n_epochs, kkt, stalled, n_ws = 0, np.inf, False, 0
        # the last working set's model, when it can give the KKT (Gram form
        # of the squared loss): (ws, model, its state, V)
        solved = None
        while True:
            if solved is None:
                kkt, viol, grad = self._kkt(loss, penalty, W, S, b)
            else:
                kkt, viol, grad, S = self._kkt_model(loss, penalty, W, b, S, solved)
            if self.verbose:
                obj = self._objective(loss, penalty, W, S, solved)
                print(f"[BCD] epoch {n_epochs}: objective {obj:.10g}, KKT {kkt:.3g}")
            if kkt <= tol_abs or n_epochs >= self.max_iter or stalled:
                break
            in_support = np.any(W != 0, axis=1)
            support = np.flatnonzero(in_support)
            # twice the support, four times when the whole last working set
            # became active (a dense solution: one doubling fewer)
            grow = 4 if n_ws and len(support) >= n_ws else 2
            size = min(n_features, max(self.min_working_set, grow * len(support)))
            # Up to twice the support, as celer and skglm: the violating
            # features, then a margin of the zero features nearest to their
            # threshold (largest gradient norm), a tenth of the support. Near
            # the end few features violate, and a working set of twice the
            # support paid every epoch for features that stay at 0
            # (measured: the last working set of n=500, p=5000, T=20 at
            # alpha_max / 100 went from 4774 to about 2700 features).
            n_violating = int(np.count_nonzero(viol[~in_support] > 0))
            margin = -(-len(support) // 10)
            size = min(size, len(support) + n_violating + margin)
            if grow == 4 and 4 * size >= 3 * n_features:
                # a dense solution that will hold most features: all of them
                # now. The quarter left out would cost one more outer step
                # (the scores, X^T on the rest, a working set that adds
                # them) for epochs at most 1.8x cheaper (measured: n=p=2000,
                # T=50 at alpha_max / 100, 100 -> 400 -> 2000 features in
                # 18 epochs, 0.47 s, instead of 100 -> 400 -> 1600 -> 2000
                # in 21, 0.53 s; n=500, p=5000 reaches 54% and is unchanged)
                size = n_features
            n_ws = size
            priority = np.sqrt(np.einsum("jt,jt->j", grad, grad))
            priority[support] = np.inf  # the support always stays in
            ws = np.sort(np.argsort(-priority, kind="stable")[:size])
            # celer / skglm solve the working set to a fraction of the current
            # violation; compiled epochs are cheap next to the outer step's
            # full gradient and Gram columns, so ask for more (measured: half
            # the outer iterations of 0.3 on bench_l21); the floor keeps the
            # last working set below tol_abs
            inner_tol = max(_INNER_FRACTION * kkt, _FINAL_FRACTION * tol_abs)
            outside = np.ones(n_features, dtype=bool)
            outside[ws] = False
            if not np.any(viol[outside] > tol_abs):
                # every violating feature is in: finish on this working set
                inner_tol = _FINAL_FRACTION * tol_abs
            if loss.is_quadratic and not _use_residuals(source, len(ws)):
                # the Grams of the new features now, and the working set in
                # the Grams' order: when it holds every feature seen so far,
                # the model takes the cached Gram without a copy
                source.add(ws)
                ws = ws[np.argsort(source.position[ws], kind="stable")]
            V, b_raw = W[ws], design.intercept_from_centered(W, b)
            V, b_raw, S, epochs, stalled, quad, state = self._solve_working_set(
                loss, rows, source, penalty, V, b_raw, S, ws, inner_tol, n_epochs,
                solved=solved,
            )  # fmt: skip
            n_epochs += epochs
            W = np.zeros_like(W)
            W[ws] = V
            b = design.intercept_to_centered(W, b_raw)
            solved = None if state is None else (ws, quad, state, V)
        objective = self._objective(loss, penalty, W, S, solved)
        memory = {"loss": loss, "rows": rows, "source": source}
        result = SolverResult(W, b, n_epochs, kkt, objective, kkt <= tol_abs, memory)
        reason = "no further decrease (line search)" if stalled else None
        warn_not_converged(
            "BlockCoordinateDescent", result, tol_abs, self.max_iter, reason
        )
        return result

    def _solve_working_set(
        self, loss, rows, source, penalty, V, b_raw, S, ws, tol, n_epochs,
        solved=None,
    ):  # fmt: skip
        """Proximal Newton steps on the working set ``ws`` until its KKT <= tol.

        ``V`` (k, T) and ``b_raw`` (T,) in the raw parametrisation (scores
        ``X_ws V + b_raw``); returns them updated, with the scores, the
        epochs, whether the line search stalled, and for the squared loss on
        Grams the model and its state at ``V`` (else None): the outer loop's
        KKT on the working set. The scores are then None when the working
        set holds every feature (no product with X: nothing outside needs
        them, and the objective comes from the model). ``solved``: the last
        working set's ``(ws, model, state, V)`` on the same Grams, whose
        ``A V`` starts this one's.
        """
        datafit, fit_b = loss.datafit, loss.fit_intercept
        quadratic = loss.is_quadratic
        n_features = loss.design.n_features
        epochs, stalled = 0, False
        cd_tol = tol if quadratic else None
        quad = state = None
        for _ in range(self.max_newton):
            if quadratic:
                # u = h * y whatever the scores (the source's)
                g, u = None, source.u
            else:
                g, h = datafit.gradient(S), datafit.hessian_diag(S)
                source = _GramSource(rows, h, fit_intercept=fit_b)
                u = h * S - g
            residuals = _use_residuals(source, len(ws))
            Model = _ResidualModel if residuals else _GramModel
            quad = Model(source, ws, u, fit_b)
            if quadratic and not residuals and solved is not None:
                quad.previous = (ws, solved[0], solved[2])
            if cd_tol is None:  # inexact Newton: the first steps loosely
                kkt = _raw_kkt(source, penalty, ws, V, g, fit_b)
                cd_tol = max(0.3 * kkt, 0.5 * tol)
            V_new = V.copy()
            budget = max(1, self.max_iter - n_epochs - epochs)
            e, _, state = _cd_epochs(
                quad, penalty, V_new, cd_tol, budget, self.use_numba
            )
            epochs += e
            b_new = quad.intercepts(V_new) if fit_b else b_raw
            if quadratic:
                # the model is the loss: the block steps decreased it
                V, b_raw = V_new, b_new
                if residuals:
                    state = None  # the outer loop takes the full gradient
                else:
                    # A V afresh (the support's columns, k s T): the epochs'
                    # rank-B updates drift by rounding, and the outer loop's
                    # KKT check and objective read it (measured: 2564 epochs
                    # of an ill-conditioned uncentred problem drifted the
                    # gradient by half the tolerance; 12 epochs at n=p=2000
                    # by 1e-14 of it)
                    state = quad.product(V)
                if residuals or len(ws) < n_features:
                    # the scores afresh, from the support's columns only
                    nz = np.flatnonzero(np.any(V != 0, axis=1))
                    S = rows.scores(ws[nz], V[nz], b_raw)
                else:
                    S = None
                # the model is exact and its epochs stopped at tol (or at the
                # budget); the outer loop checks every feature next
                break
            dS = rows.scores(ws, V_new - V, b_new - b_raw)
            f0 = datafit.value(S) + penalty.value(V)
            slope = float(g @ dS) + penalty.value(V_new) - penalty.value(V)

            def evaluate(t, V=V, V_new=V_new, S=S, dS=dS):
                Vt = V + t * (V_new - V)
                return datafit.value(S + t * dS) + penalty.value(Vt), None

            found = armijo_backtracking(evaluate, f0, min(slope, 0.0))
            if found is None:
                stalled = True
                break
            step = found[0]
            V = V + step * (V_new - V)
            b_raw = b_raw + step * (b_new - b_raw)
            S = S + step * dS
            if n_epochs + epochs >= self.max_iter:
                break
            kkt = _raw_kkt(source, penalty, ws, V, datafit.gradient(S), fit_b)
            if kkt <= tol:
                break
            cd_tol = max(0.3 * kkt, 0.5 * tol)
        if not quadratic:
            quad = state = None
        return V, b_raw, S, epochs, stalled, quad, state


def _raw_kkt(source, penalty, ws, V, g, fit_intercept):
    """KKT violation on the working set in the raw parametrisation."""
    gV = source.response(ws, g) + penalty.gradient(V)
    kkt = float(penalty.feature_violations(V, gV).max(initial=0.0))
    if fit_intercept:
        b = source.rows.design.bounds
        gb = np.add.reduceat(g, b[:-1]) if len(g) else np.zeros(0)
        gb[np.diff(b) == 0] = 0.0
        kkt = max(kkt, float(np.max(np.abs(gb), initial=0.0)))
    return kkt
