"""Direct solvers for quadratic task couplings: factorise once, solve every alpha.

Both apply to the quadratic penalties ``alpha / 2 * sum_j w_j M w_j^T``
(:class:`~skmtl.penalties.Independent`, :class:`~skmtl.penalties.MeanRegularized`,
:class:`~skmtl.penalties.GraphLaplacian`), whose bound form exposes ``M``. What
depends on the data alone is computed once per problem and kept in
``loss.cache`` (a :class:`~skmtl._loss.SolverCache`), so that a path over
alphas and penalty settings (the cross-validated estimators) pays for it once
per fold:

- :class:`GramSolver` (squared loss, few features): per-task Gram matrices and
  their eigendecompositions; every alpha is then a solve of
  ``(blockdiag(A_t) + alpha M (x) I) W = R`` in ``O(n_tasks * p^2)`` per
  step, exact through Woodbury's identity when ``M = diag(a) + b 11^T``, by a
  few preconditioned conjugate-gradient steps for other graphs.
- :class:`KernelNewton` (squared or binary logistic loss, fewer rows than
  coefficients, as for text): by the representer theorem
  ``w_t = sum_s (M^-1)_st X_s^T c_s``, so the model lives in the span of the
  rows; Newton's method runs on the ``n_rows`` dual coefficients ``c`` and the
  intercepts with the kernel ``K_ik = x_i . x_k (M^-1)_{t(i) t(k)}``, each step an
  exact dense solve.

Both stop on the same criterion as every other solver (the KKT violation of the
primal problem, max-norm, at most ``tol_abs``), checked on the primal gradient,
and fall back to :class:`~skmtl.solvers.NewtonCG` polishing if rounding leaves
the exact solution above the tolerance.
"""

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from .._design import _segment_sum, task_weighted_means
from ._newton import NewtonCG
from .base import BaseSolver, SolverResult, armijo_backtracking, warn_not_converged

__all__ = [
    "GramSolver",
    "KernelNewton",
    "solve_gram_system",
    "GRAM_MAX_FEATURES",
    "KERNEL_MAX_ROWS",
]

#: the Gram solver factorises one p x p matrix per task
GRAM_MAX_FEATURES = 256
#: the kernel solver factorises one dense (n_rows + n_tasks) square matrix
KERNEL_MAX_ROWS = 2000
#: both work with the dense (n_tasks, n_tasks) coupling matrix
DIRECT_MAX_TASKS = 2000


def _coupling(penalty):
    """``(alpha, M)`` of a quadratic coupling (M None: identity), or None."""
    if not penalty.is_smooth:
        return None
    return penalty.quadratic_form


class _DirectSolver(BaseSolver):
    """What the direct solvers share: their parameters and what they need."""

    def __init__(self, max_iter=100, verbose=0):
        super().__init__(max_iter, verbose)


class GramSolver(_DirectSolver):
    """Squared-loss problems with a quadratic coupling, solved on Gram matrices.

    For the centred design the intercepts are the tasks' weighted means of y,
    and the weights solve ``A_t w_t + alpha * sum_s M_ts w_s = r_t`` with
    ``A_t`` task t's weighted Gram matrix and ``r_t = X_t^T D_t y_t``: a
    system of ``n_tasks * p`` unknowns that never touches the data again.

    It is solved by conjugate gradients preconditioned with the same system
    for the coupling ``diag(a) + b 11^T`` closest to ``M`` (``b`` the mean
    off-diagonal entry of M, ``a_t = M_tt - b``): block-diagonal plus a rank-p
    term, each block inverted from the eigendecomposition of ``A_t``
    (computed once per problem, valid for every alpha) and the rank-p term by
    Woodbury's identity. When M has that form (independent, mean-regularized
    and all-pairs graph couplings) the preconditioner is the exact inverse and
    one iteration solves the problem; for other graphs it captures the task
    blocks and the average coupling, and a few iterations suffice. The
    residual is minus the gradient, so the stopping rule is the usual KKT one.
    """

    name = "gram"

    @staticmethod
    def applicable(loss, penalty, W0):
        """None when the solver applies, else the reason it does not."""
        if not loss.is_quadratic:
            return "it needs the squared loss"
        if loss.design.n_tasks > DIRECT_MAX_TASKS:
            return f"it needs at most {DIRECT_MAX_TASKS} tasks (a dense coupling)"
        coupling = _coupling(penalty)
        if coupling is None:
            return "it needs a quadratic coupling (independent, mean or graph)"
        if W0.ndim != 2:
            return "it needs one score per row"
        if loss.design.n_features > GRAM_MAX_FEATURES:
            return f"it needs at most {GRAM_MAX_FEATURES} features"
        return None

    def _factors(self, loss):
        if loss.cache.gram is None:
            design = loss.design
            A = design.task_grams(loss.row_weights)
            sigma, Q = np.linalg.eigh(A)
            # r_t = X_t^T D_t (y_t - ybar_t): minus the gradient at W = 0 with
            # the exact intercepts
            b = self._intercepts(loss)
            S0 = loss.scores(np.zeros((design.n_features, design.n_tasks)), b)
            R, _ = loss.grad_from_scores(S0)
            loss.cache.gram = (A, np.maximum(sigma, 0.0), Q, -R, b)
        return loss.cache.gram

    @staticmethod
    def _intercepts(loss):
        design = loss.design
        n_tasks = design.n_tasks
        if not loss.fit_intercept:
            return np.zeros(n_tasks)
        return task_weighted_means(
            loss.targets, loss.row_weights, design.row_codes, n_tasks
        )

    @staticmethod
    def _preconditioner(sigma, Q, alpha, M):
        """``V -> P^-1 V`` for the nearest ``diag(a) + b 11^T`` coupling, or None."""
        n_tasks = Q.shape[0]
        if M is None:
            a, off = np.ones(n_tasks), 0.0
        elif n_tasks == 1:
            a, off = np.diag(M).copy(), 0.0
        else:
            off = float(np.mean(M[~np.eye(n_tasks, dtype=bool)]))
            a = np.diag(M) - off
        denom = sigma + alpha * a[:, None]  # eigenvalues of the task blocks
        if not np.all(denom > 1e-12 * max(1.0, float(np.max(denom, initial=0.0)))):
            return None  # singular blocks (alpha = 0 on a rank-deficient task)
        inv = 1.0 / denom

        Qt = np.ascontiguousarray(Q.transpose(0, 2, 1))

        def block_solve(V):  # (A_t + alpha a_t I)^-1 v_t for every task
            # batched products (matmul) on the columns of V, one per task
            coords = inv * np.matmul(Qt, V.T[:, :, None])[:, :, 0]
            return np.matmul(Q, coords[:, :, None])[:, :, 0].T

        if off == 0.0:
            return block_solve
        # Woodbury for the rank-p term alpha b (1 1^T) (x) I: the p x p
        # capacitance C = I + alpha b sum_t P_t^-1 (positive definite exactly
        # when the preconditioner is)
        # sum_t Q_t diag(inv_t) Q_t^T as one product
        scaled = (
            (Q * np.sqrt(inv)[:, None, :]).transpose(1, 0, 2).reshape(Q.shape[1], -1)
        )
        C = np.eye(Q.shape[1]) + alpha * off * (scaled @ scaled.T)
        try:
            factor = scipy.linalg.cho_factor(C, check_finite=False)
        except np.linalg.LinAlgError:
            return block_solve  # the nearest form is indefinite: blocks only

        def solve(V):
            U = block_solve(V)
            z = scipy.linalg.cho_solve(factor, U.sum(axis=1), check_finite=False)
            return U - alpha * off * block_solve(np.repeat(z[:, None], n_tasks, 1))

        return solve

    def _solve(self, loss, penalty, W0, b0, tol_abs, memory=None):
        A, sigma, Q, R, b = self._factors(loss)
        alpha, M = _coupling(penalty)
        precondition = self._preconditioner(sigma, Q, alpha, M)
        if precondition is None:
            return NewtonCG(self.max_iter, self.verbose).solve(
                loss, penalty, W0, b0, tol_abs
            )
        W, n_iter = _pcg(A, R, alpha, M, W0, precondition, tol_abs, self.max_iter)
        return _checked(self, loss, penalty, W, b, tol_abs, n_iter=max(n_iter, 1))


def _pcg(A, R, alpha, M, W0, precondition, tol_abs, max_iter):
    """Preconditioned CG on ``(blockdiag(A_t) + alpha M (x) I) W = R``.

    Stops when the residual (minus the gradient) is at most ``tol_abs / 2`` in
    max-norm; returns ``(W, n_iter)``.
    """

    def hessian(V):  # (blockdiag(A_t) + alpha M (x) I) V
        HV = np.matmul(A, V.T[:, :, None])[:, :, 0].T
        return HV + alpha * (V if M is None else V @ M)

    W = np.asarray(W0, dtype=np.float64).copy()
    r = R - hessian(W)  # minus the gradient
    z = precondition(r)
    d, rz = z.copy(), float(np.sum(r * z))
    n_iter = 0
    while np.max(np.abs(r)) > 0.5 * tol_abs and n_iter < max_iter:
        n_iter += 1
        q = hessian(d)
        dq = float(np.sum(d * q))
        if not dq > 0 or not np.isfinite(dq):
            break
        step = rz / dq
        W += step * d
        r -= step * q
        z = precondition(r)
        rz_new = float(np.sum(r * z))
        d = z + (rz_new / rz) * d
        rz = rz_new
    return W, n_iter


def solve_gram_system(A, R, alpha, M, W0, tol_abs, max_iter=100):
    """Solve a quadratic coupling from per-task Gram statistics alone.

    The system :class:`GramSolver` solves, ``A_t w_t + alpha * sum_s M_ts w_s
    = r_t`` for every task t, given ``A`` (n_tasks, p, p) and ``R``
    (p, n_tasks) rather than a loss: the seam for callers that keep the
    statistics themselves (``MultiTaskRegressor.partial_fit``). Same
    preconditioned conjugate gradients (one step when ``M`` is
    ``diag(a) + b 11^T``); plain CG when the task blocks are singular
    (``alpha = 0`` on a rank-deficient task).

    Parameters
    ----------
    A : ndarray of shape (n_tasks, n_features, n_features)
        Symmetric positive semi-definite task blocks.
    R : ndarray of shape (n_features, n_tasks)
    alpha : float
    M : ndarray of shape (n_tasks, n_tasks) or None
        The coupling (None: the identity).
    W0 : ndarray of shape (n_features, n_tasks)
        Starting point.
    tol_abs : float
        Stop when the max-norm of the residual ``R - H W`` (minus the
        gradient) is at most ``tol_abs / 2``.
    max_iter : int, default=100

    Returns
    -------
    W : ndarray of shape (n_features, n_tasks)
    n_iter : int
    kkt : float
        Max-norm of the final residual.
    """
    sigma, Q = np.linalg.eigh(A)
    precondition = GramSolver._preconditioner(np.maximum(sigma, 0.0), Q, alpha, M)
    if precondition is None:
        precondition = lambda V: V  # noqa: E731 - plain CG
    W, n_iter = _pcg(A, R, alpha, M, W0, precondition, tol_abs, max_iter)
    HW = np.matmul(A, W.T[:, :, None])[:, :, 0].T + alpha * (W if M is None else W @ M)
    return W, max(n_iter, 1), float(np.max(np.abs(R - HW), initial=0.0))


def _checked(solver, loss, penalty, W, b, tol_abs, n_iter, memory=None):
    """Result of a direct solve, polished by Newton-CG if above the tolerance."""
    f, gW, gb = loss.value_grad(W, b)
    f += penalty.value(W)
    gW = gW + penalty.gradient(W)
    kkt = max(float(np.max(np.abs(gW))), float(np.max(np.abs(gb), initial=0.0)))
    if kkt > tol_abs:
        polish = NewtonCG(solver.max_iter, solver.verbose).solve(
            loss, penalty, W, b, tol_abs
        )
        polish.n_iter += n_iter
        polish.memory = memory
        return polish
    if solver.verbose:
        print(f"[{type(solver).__name__}] objective {f:.8g}, KKT {kkt:.3g}")
    result = SolverResult(W, b, n_iter, kkt, f, True, memory)
    return result


class _DualStart:
    """Dual solution of a kernel solve and its tangent, to warm-start the next one.

    ``tangent`` is ``d(c, b) / d log(alpha)`` at the solution, from the
    implicit function theorem (one more solve with the last Newton system).
    Along a path the next start is predicted from it: to first order
    (Euler predictor), or to second order when the solution at the previous
    alpha is known (Hermite extrapolation: the tangent here and the previous
    point fix a quadratic in log(alpha)). Such a start lands within Newton's
    fast convergence region far more often than the last solution alone.
    Only used for the same kernel (penalty setting).
    """

    def __init__(self, alpha, c, b, key, tangent=None, previous=None):
        self.alpha, self.c, self.b, self.key = alpha, c, b, key
        self.tangent = tangent
        self.previous = previous

    def start(self, alpha, key):
        if self.tangent is None or key != self.key or not alpha > 0:
            return self.c.copy(), self.b.copy()
        step = np.log(alpha / self.alpha)
        if not np.isfinite(step) or abs(step) > 3:
            return self.c.copy(), self.b.copy()
        dc, db = self.tangent
        c, b = self.c + step * dc, self.b + step * db
        prev = self.previous
        if prev is not None and prev.key == key:
            back = np.log(prev.alpha / self.alpha)  # previous point, log scale
            if np.isfinite(back) and back != 0 and abs(step / back) <= 2:
                # quadratic term through the previous solution
                qc = (prev.c - self.c - back * dc) / back**2
                qb = (prev.b - self.b - back * db) / back**2
                c, b = c + step**2 * qc, b + step**2 * qb
        return c, b


class _NewtonSystem:
    """The kernel Newton matrix at one point, factorised once (Cholesky).

    ``B = diag(h) K + alpha I`` is not symmetric, but
    ``B^-1 v = (v - D^1/2 Ht^-1 D^1/2 K v) / alpha`` with the positive definite
    ``Ht = D^1/2 K D^1/2 + alpha I`` (valid for h >= 0, zero-weight rows
    included). :meth:`solve` returns ``(u, db)`` with ``B u + D E db = -r`` and
    ``E^T u = -s``, the intercept steps coming from the ``n_tasks`` x
    ``n_tasks`` Schur complement ``E^T B^-1 D E``.
    """

    def __init__(self, K, h, alpha, rc, n_tasks, fit_b):
        n = len(h)
        self.K, self.alpha, self.rc, self.n_tasks, self.fit_b = (
            K, alpha, rc, n_tasks, fit_b,
        )  # fmt: skip
        self.sq = sq = np.sqrt(h)
        Ht = sq[:, None] * K
        Ht *= sq[None, :]
        Ht[np.arange(n), np.arange(n)] += alpha
        self.factor = scipy.linalg.cho_factor(
            Ht, lower=True, overwrite_a=True, check_finite=False
        )
        if fit_b:
            E = np.zeros((n, n_tasks))
            E[np.arange(n), rc] = h
            self.Z = self._apply_inverse(E)  # B^-1 D E
            self.schur = _segment_sum(self.Z, rc, n_tasks)
            # a task with zero total weight (task_weights=0) does not depend on
            # its intercept: keep that intercept where it is
            self.free = _segment_sum(h, rc, n_tasks) <= 0
            if np.any(self.free):
                self.schur[self.free, :] = 0.0
                self.schur[:, self.free] = 0.0
                self.schur[self.free, self.free] = 1.0

    def _apply_inverse(self, V):
        sq = self.sq[:, None] if V.ndim == 2 else self.sq
        Q = scipy.linalg.cho_solve(self.factor, sq * (self.K @ V), check_finite=False)
        return (V - sq * Q) / self.alpha

    def solve(self, r, s):
        u = self._apply_inverse(-r)
        if not self.fit_b:
            return u, np.zeros(self.n_tasks)
        rhs = _segment_sum(u, self.rc, self.n_tasks) + s
        rhs[self.free] = 0.0
        db = np.linalg.solve(self.schur, rhs)
        return u - self.Z @ db, db


class KernelNewton(_DirectSolver):
    """Newton's method on the dual coefficients of a quadratic coupling.

    Minimises ``F(K c + E b) + alpha / 2 * c^T K c`` over the ``n_rows`` dual
    coefficients ``c`` and the intercepts ``b`` (``E`` maps tasks to rows),
    which has the same minimiser as the primal problem when ``M`` is positive
    definite and ``alpha > 0``. A Newton step solves::

        [ D K + alpha I   D E ] [dc]   [ -(g + alpha c) ]
        [ E^T             0   ] [db] = [ -E^T c          ]

        with g, D the loss' first and second derivatives in the scores

    exactly (the first row is the Newton equation premultiplied by ``K^-1``,
    the second the intercepts' optimality), followed by an Armijo step. The
    primal gradient is ``X_t^T (g_t + alpha c_t)`` for task t, which gives the
    usual stopping rule. With the squared loss one step is exact.
    """

    name = "kernel"

    @staticmethod
    def applicable(loss, penalty, W0):
        """None when the solver applies, else the reason it does not."""
        if loss.design.n_tasks > DIRECT_MAX_TASKS:
            return f"it needs at most {DIRECT_MAX_TASKS} tasks (a dense coupling)"
        coupling = _coupling(penalty)
        if coupling is None:
            return "it needs a quadratic coupling (independent, mean or graph)"
        if W0.ndim != 2 or not loss.diagonal_hessian:
            return "it needs one score per row (squared or binary logistic loss)"
        alpha, M = coupling
        if not alpha > 0:
            return "it needs alpha > 0"
        if loss.design.n_rows > KERNEL_MAX_ROWS:
            return f"it needs at most {KERNEL_MAX_ROWS} training rows"
        if M is not None:
            eig = np.linalg.eigvalsh(M)
            if eig[0] <= 1e-10 * max(eig[-1], 0.0):
                return "it needs a positive definite coupling (ridge > 0)"
        return None

    def _kernel(self, loss, M):
        """``(key, K, M^-1)`` for the coupling ``M``, cached for the last ``M``."""
        cache = loss.cache
        if cache.row_gram is None:
            cache.row_gram = loss.design.row_gram()
        key = ("kernel", None if M is None else M.tobytes())
        if cache.kernel is None or cache.kernel[0] != key:
            rc = loss.design.row_codes
            if M is None:
                Minv = np.eye(loss.design.n_tasks)
                K = np.where(rc[:, None] == rc[None, :], cache.row_gram, 0.0)
            else:
                Minv = np.linalg.inv(M)
                Minv = 0.5 * (Minv + Minv.T)
                K = cache.row_gram * Minv[np.ix_(rc, rc)]
            cache.kernel = (key, K, Minv)
        return cache.kernel

    @staticmethod
    def _max_column_norms(loss):
        """Per task, the largest norm of a (centred) feature column."""
        if loss.cache.column_norms is None:
            design = loss.design
            out = np.zeros(design.n_tasks)
            for t in range(design.n_tasks):
                lo, hi = design.bounds[t], design.bounds[t + 1]
                Xt = design.task_rows(t)  # the shared design: X itself, no copy
                if sp.issparse(Xt):
                    sq = np.asarray(Xt.multiply(Xt).sum(axis=0)).ravel()
                    sums = np.asarray(Xt.sum(axis=0)).ravel()
                else:
                    Xt = np.asarray(Xt, dtype=np.float64)
                    sq, sums = (Xt * Xt).sum(axis=0), Xt.sum(axis=0)
                if design.means is not None:
                    m = design.means[t]
                    sq = sq - 2.0 * m * sums + (hi - lo) * m * m
                out[t] = np.sqrt(max(float(np.max(sq, initial=0.0)), 0.0))
            # a little slack for rounding in the bound
            loss.cache.column_norms = (1.0 + 1e-6) * out
        return loss.cache.column_norms

    def _solve(self, loss, penalty, W0, b0, tol_abs, memory=None):
        alpha, M = _coupling(penalty)
        key, K, Minv = self._kernel(loss, M)
        design, fit_b = loss.design, loss.fit_intercept
        n, T, rc = design.n_rows, design.n_tasks, design.row_codes
        if isinstance(memory, _DualStart) and memory.c.shape == (n,):
            c, b = memory.start(alpha, key)
        else:
            c, b = np.zeros(n), np.asarray(b0, dtype=np.float64).copy()
        if not fit_b:
            b = np.zeros(T)

        def state(c, b):
            Kc = K @ c
            S = Kc + b[rc]
            return Kc, S, loss.value_from_scores(S) + 0.5 * alpha * float(c @ Kc)

        Kc, S, f = state(c, b)
        col_norms = self._max_column_norms(loss)
        eps = np.finfo(float).eps
        n_iter, flat, reason, system = 0, 0, None, None
        t, kkt_prev = 1.0, np.inf
        while True:
            g = loss.score_gradient(S)
            r = g + alpha * c
            gb = _segment_sum(g, rc, T) if fit_b else np.zeros(T)
            kkt_b = float(np.max(np.abs(gb), initial=0.0))
            # |x_j^t . r_t| <= ||x_j^t|| ||r_t||: a bound that often certifies
            # convergence without the product with X^T
            bound = float(np.max(col_norms * np.sqrt(_segment_sum(r * r, rc, T))))
            if max(bound, kkt_b) <= tol_abs:
                kkt = max(bound, kkt_b)
            else:
                gW, _ = design.backward(r)
                kkt = max(float(np.max(np.abs(gW))), kkt_b)
            if kkt <= tol_abs or n_iter >= self.max_iter or flat >= 2:
                break
            n_iter += 1
            # Close to the solution (the last full step cut the violation
            # tenfold) the previous factorisation is kept: a chord step costs
            # products only, and still converges fast there.
            reuse = system is not None and t == 1.0 and kkt < 0.1 * kkt_prev
            kkt_prev = kkt
            try:
                if not reuse:
                    h = loss.score_hessian_diag(S)
                    system = _NewtonSystem(K, h, alpha, rc, T, fit_b)
                u, db = system.solve(r, _segment_sum(c, rc, T))
            except (np.linalg.LinAlgError, ValueError):
                system = None
                reason = "the Newton system was singular"
                break
            Ku = K @ u
            slope = float(g @ (Ku + db[rc]) + alpha * (u @ Kc))
            if not slope < 0:
                u, db = -r, -gb  # not a descent direction (rounding): gradient step
                Ku = K @ u
                slope = float(g @ (Ku + db[rc]) + alpha * (u @ Kc))

            def evaluate(t, c=c, b=b, u=u, db=db):
                Kc_t, S_t, f_t = state(c + t * u, b + t * db)
                return f_t, (Kc_t, S_t)

            step = armijo_backtracking(evaluate, f, slope)
            if step is None:
                reason = "the line search found no decrease in floating point"
                break
            t, f_new, (Kc_new, S_new) = step
            c_new, b_new = c + t * u, b + t * db
            if f - f_new <= 10 * eps * max(abs(f), 1.0):
                # no decrease beyond rounding: after a chord step, refactorise
                # first; after two full Newton steps, stop (as Newton-CG)
                flat = flat if reuse else flat + 1
                kkt_prev = 0.0  # no reuse at the next step
            else:
                flat = 0
            c, b, Kc, S, f = c_new, b_new, Kc_new, S_new, f_new
        W = design.backward(c)[0] @ Minv
        tangent = None
        if system is not None:
            # d(c, b)/d alpha solves J (dc, db) = -(c, 0), J the Newton matrix
            # (that of the last step: close to the solution's)
            dc, db = system.solve(c, np.zeros(T))
            tangent = (alpha * dc, alpha * db)
        last = memory if isinstance(memory, _DualStart) else None
        if last is not None:
            last.previous = None  # keep two solutions, not the whole path
        memory = _DualStart(alpha, c, b, key, tangent, last)
        if kkt > tol_abs and reason is None and n_iter < self.max_iter:
            # stalled at rounding level: let the primal check / polish decide
            return _checked(self, loss, penalty, W, b, tol_abs, n_iter, memory)
        if self.verbose:
            print(
                f"[KernelNewton] {n_iter} iterations, objective {f:.8g}, KKT {kkt:.3g}"
            )
        result = SolverResult(W, b, n_iter, kkt, f, kkt <= tol_abs, memory)
        warn_not_converged("Newton (kernel)", result, tol_abs, self.max_iter, reason)
        return result
