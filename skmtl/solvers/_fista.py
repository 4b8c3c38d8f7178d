"""Accelerated proximal gradient (FISTA) with backtracking and adaptive restart."""

import numpy as np

from ..penalties.base import REQUIRED_PENALTY_ATTRS
from ._fista_gram import gram_fista_applies, solve_gram_fista
from .base import BaseSolver, ComponentSumLoss, SolverResult, warn_not_converged


class FISTA(BaseSolver):
    """FISTA (Beck & Teboulle, 2009) for smooth loss + (possibly non-smooth) penalty.

    - Backtracking in both directions: the step ``1 / L`` starts from a
      power-iteration estimate of the Lipschitz constant; each iteration
      first tries ``L`` times ``shrink`` (a longer step), then doubles ``L``
      until the quadratic upper bound holds. The global bound can be far
      above the curvature near the solution (logistic losses at large
      margins, ``sigma' << 1/4``): on 20 Newsgroups TF-IDF at alpha 1e-3 a
      dirty model needed 15,580 iterations with a non-increasing ``L`` and
      290 with ``shrink=0.9`` and the intercepts' own step (below;
      ``benchmarks/results/structure.md``). The
      momentum follows the step (Scheinberg, Goldfarb & Bai 2014; Calatroni &
      Chambolle 2019): ``t_{k+1} = (1 + sqrt(1 + 4 t_k^2 L_{k+1} / L_k)) / 2``.
    - The intercepts take their own step, ``1 / max(L, L_b)`` with ``L_b``
      their curvature bound (the rows' total curvature weight per task): a
      variable metric, the quadratic bound is tested in it.
    - Adaptive restart (O'Donoghue & Candes, 2015): momentum is reset when it
      points against the last step, which restores linear convergence on
      strongly convex pieces.
    - Scores are linear in the coefficients, so those of the extrapolated point
      are combined from the two last iterates instead of recomputed: one
      product with X and one with X^T per iteration.
    - Stops when the KKT violation (distance of minus the gradient to the
      penalty's subdifferential, max-norm) is at most ``tol_abs``; checked every
      ``check_every`` iterations.
    - A penalty on a sum of parts (``n_components > 1``, a dirty model) is
      solved on the stacked parts through
      :class:`~skmtl.solvers.base.ComponentSumLoss`; the result's ``W`` is their
      sum, ``components`` and ``memory`` the parts.
    - With ``gram=True`` (default), a squared loss on few features and numba
      installed, those parts are solved by the same iterations on the per-task
      Gram matrices, compiled (``skmtl.solvers._fista_gram``: 2-3x faster
      fits of dirty and rMTFL models on small problems); ``gram=False``
      always works on X.
    """

    name = "fista"
    _datafit_required_attr = ("value", "gradient", "curvature")
    # every method of the penalty protocol: value, smooth part, prox, KKT
    _penalty_required_attr = REQUIRED_PENALTY_ATTRS
    _handles_components = True

    def __init__(self, max_iter=1000, verbose=0, check_every=10, shrink=0.9, gram=True):
        super().__init__(max_iter, verbose)
        # the compiled Gram-form loop where it applies (gram=False: always
        # on X; tests compare the two)
        self.gram = gram
        if not 0.0 < shrink <= 1.0:
            raise ValueError(f"FISTA: shrink must be in (0, 1], got {shrink!r}.")
        self.check_every = check_every
        # 1.0: the step never grows (plain FISTA with backtracking)
        self.shrink = shrink

    def _kkt(self, loss, penalty, W, b, S):
        gW, gb = loss.grad_from_scores(S)
        gW = gW + penalty.gradient(W)
        kkt = penalty.kkt_violation(W, gW)
        if loss.fit_intercept:
            kkt = max(kkt, float(np.max(np.abs(gb), initial=0.0)))
        return kkt

    def _solve(self, loss, penalty, W0, b0, tol_abs, memory=None):
        # a duck-typed penalty without the declaration has one part
        n_components = getattr(penalty, "n_components", 1)
        if n_components > 1:
            loss = ComponentSumLoss(loss, n_components)
            V0 = loss.start(penalty, W0, memory)
            if self.gram and gram_fista_applies(loss.loss, penalty, W0):
                result = self._iterate_gram(loss.loss, penalty, V0, b0, tol_abs)
                if result is not None:
                    return result
            result = self._iterate(loss, penalty, V0, b0, tol_abs)
            parts = result.W
            result.W, result.components, result.memory = parts.sum(0), parts, parts
            return result
        return self._iterate(loss, penalty, W0, b0, tol_abs)

    def _iterate_gram(self, loss, penalty, V0, b0, tol_abs):
        out = solve_gram_fista(self, loss, penalty, V0, b0, tol_abs)
        if out is None:
            return None
        V, b, n_iter, kkt, objective = out
        result = SolverResult(V.sum(0), b, n_iter, kkt, objective, kkt <= tol_abs)
        result.components = result.memory = V
        if not result.converged:
            warn_not_converged("FISTA", result, tol_abs, self.max_iter)
        return result

    def _iterate(self, loss, penalty, W0, b0, tol_abs):
        fit_b = loss.fit_intercept
        L = max(loss.lipschitz() + penalty.lipschitz(), 1e-12)
        # longer steps than a millionth of the global bound are never tried
        L_min = 1e-6 * L
        # The intercepts' curvature is bounded by their rows' total weight,
        # often far above that of the (centred) features: their step never
        # exceeds that bound. Otherwise a step fitted to W's curvature makes
        # the intercepts' rounding errors grow (x5 per iteration on
        # sklearn's check_supervised_y_2d data) until the test sees them.
        L_b = _intercept_curvature(loss) if fit_b else 0.0
        eps = float(np.finfo(loss.design.dtype).eps)

        def smooth_value(W, S):
            return loss.value_from_scores(S) + penalty.smooth_value(W)

        x_W, x_b = W0.astype(np.float64), b0.astype(np.float64)
        x_S = loss.scores(x_W, x_b)
        y_W, y_b, y_S = x_W, x_b, x_S
        t = 1.0
        longer = True
        kkt = np.inf
        n_iter = 0
        for n_iter in range(1, self.max_iter + 1):
            gW, gb = loss.grad_from_scores(y_S)
            gW = gW + penalty.gradient(y_W)
            f_y = smooth_value(y_W, y_S)
            # Rounding (float32 X, scores combined from two iterates) can make
            # the exact test fail at any step: allow a few ulps of slack and
            # stop doubling L after a bounded number of tries.
            slack = 100 * eps * (abs(f_y) + 1.0)
            L_prev = L
            if longer:
                L = max(L * self.shrink, L_min)
            for _ in range(60):
                step, Lb = 1.0 / L, max(L, L_b)
                new_W = penalty.prox(y_W - step * gW, step)
                new_b = y_b - gb / Lb if fit_b else y_b
                new_S = loss.scores(new_W, new_b)
                dW, db = new_W - y_W, new_b - y_b
                # the quadratic bound in the metric of the two steps
                sq = L * _dot(dW, dW) + Lb * _dot(db, db)
                lin = _dot(gW, dW) + _dot(gb, db)
                if smooth_value(new_W, new_S) <= f_y + lin + 0.5 * sq + slack:
                    break
                L *= 2.0
            # Try a longer step next time only when this test measured the
            # curvature: once the quadratic term is below the rounding slack,
            # any L passes, and shrinking it would take steps at random.
            longer = 0.5 * sq > slack
            # restart when the momentum direction disagrees with the step
            # taken (the moves are computed once, for the test and the
            # extrapolation: the test is that of x - new, negated exactly)
            mW, mb = new_W - x_W, new_b - x_b
            if _dot(dW, mW) + _dot(db, mb) < 0:
                t = 1.0
            t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t * L / L_prev))
            beta = (t - 1.0) / t_new
            y_W = new_W + beta * mW
            y_b = new_b + beta * mb
            y_S = new_S + beta * (new_S - x_S)
            x_W, x_b, x_S, t = new_W, new_b, new_S, t_new
            if n_iter % self.check_every == 0 or n_iter == self.max_iter:
                kkt = self._kkt(loss, penalty, x_W, x_b, x_S)
                if self.verbose:
                    obj = loss.value_from_scores(x_S) + penalty.value(x_W)
                    print(f"[FISTA] iter {n_iter}: objective {obj:.8g}, KKT {kkt:.3g}")
                if kkt <= tol_abs:
                    break
        objective = loss.value_from_scores(x_S) + penalty.value(x_W)
        result = SolverResult(x_W, x_b, n_iter, kkt, objective, kkt <= tol_abs)
        if not result.converged:
            warn_not_converged("FISTA", result, tol_abs, self.max_iter)
        return result


def _dot(a, b):
    # np.vdot: no temporary array, a fraction of np.sum's call overhead on
    # the small arrays where FISTA's per-iteration cost is overhead
    return float(np.vdot(a, b))


def _intercept_curvature(loss):
    """Bound on the intercepts' curvature: the largest task's total row curvature."""
    # the intercepts' block of the curvature bound is diagonal: the sum of
    # each task's row curvatures (no product with X)
    sums = loss.design.task_sums(np.asarray(loss.datafit.curvature(), dtype=float))
    return 1.05 * float(np.max(sums, initial=0.0))
