"""L-BFGS for smooth multi-task objectives.

Why a loop of our own rather than ``scipy.optimize.minimize(method="L-BFGS-B")``
(measured by ``benchmarks/bench_lbfgs.py``, results in
``benchmarks/results/lbfgs.md``): on the cross-validation paths of
``benchmarks/bench_cv.py`` with ``solver="lbfgs"`` this loop takes 0.69x
scipy's time summed over the six smooth problems (0.45x on 20 Newsgroups
TF-IDF, 0.73-0.96x elsewhere), with the same choices and objectives within
6e-7; single fits 0.33-1.09x. The iteration counts are alike: the
difference is scipy's cost per iteration (bound handling, copies between its
Fortran/C core and Python), which dominates when the objective is cheap.
Carrying the curvature pairs from one alpha to the next did not pay (1.17x
slower summed: the full two-loop from the first step costs more than the
10-19% of iterations it saves), so each solve starts afresh.
"""

from collections import deque

import numpy as np

from .base import BaseSolver, SolverResult, warn_not_converged


def _two_loop(g, pairs):
    """``H g`` for the inverse-Hessian model of ``pairs`` (Nocedal-Wright alg. 7.4)."""
    q = g.copy()
    alphas = []
    for s, y in reversed(pairs):
        rho = 1.0 / np.dot(y, s)
        a = rho * np.dot(s, q)
        q -= a * y
        alphas.append((rho, a))
    s, y = pairs[-1]
    q *= np.dot(s, y) / np.dot(y, y)
    for (s, y), (rho, a) in zip(pairs, reversed(alphas)):
        q += (a - rho * np.dot(y, q)) * s
    return q


class LBFGS(BaseSolver):
    """Limited-memory BFGS with an Armijo backtracking line search.

    For smooth penalties. Stops when the KKT violation, the max-norm of the
    gradient of the whole objective, is at most ``tol_abs`` (set by the
    estimator from its ``tol``), when the objective stops decreasing at machine
    precision, or after ``max_iter`` iterations (with a ``ConvergenceWarning``).

    A pair is stored only when ``s . y > 0`` (always true for a convex
    objective unless rounding interferes), which keeps the model positive
    definite without a Wolfe line search. ``memory`` is not used (see the
    module docstring for the measurement).
    """

    name = "lbfgs"
    _datafit_required_attr = ("value", "gradient")
    _penalty_required_attr = ("value", "gradient")
    _requires_smooth = True

    def __init__(self, max_iter=1000, verbose=0, n_pairs=20):
        super().__init__(max_iter, verbose)
        self.n_pairs = n_pairs

    def _solve(self, loss, penalty, W0, b0, tol_abs, memory=None):
        w_shape, b_shape = W0.shape, b0.shape
        n_w = W0.size
        fit_b = loss.fit_intercept

        def fun(x):
            W, b = x[:n_w].reshape(w_shape), x[n_w:].reshape(b_shape)
            f, gW, gb = loss.value_grad(W, b)
            f += penalty.value(W)
            gW += penalty.gradient(W)
            g = np.concatenate([gW.ravel(), gb.ravel() if fit_b else 0 * gb.ravel()])
            return f, g

        x = np.concatenate([W0.ravel(), b0.ravel()]).astype(np.float64)
        f, g = fun(x)
        pairs = deque(maxlen=self.n_pairs)
        eps = np.finfo(float).eps
        n_iter, reason, flat = 0, None, 0
        kkt = float(np.max(np.abs(g), initial=0.0))
        while kkt > tol_abs:
            if n_iter >= self.max_iter:
                break
            n_iter += 1
            d = -_two_loop(g, pairs) if pairs else -g / max(np.linalg.norm(g), 1.0)
            slope = float(np.dot(g, d))
            if slope >= 0:  # the model lost positive definiteness: restart
                pairs.clear()
                d = -g / max(np.linalg.norm(g), 1.0)
                slope = float(np.dot(g, d))
            t = 1.0
            for _ in range(40):
                x_new = x + t * d
                f_new, g_new = fun(x_new)
                if f_new <= f + 1e-4 * t * slope:
                    break
                # safeguarded quadratic interpolation of the step
                denom = 2.0 * (f_new - f - slope * t)
                t_q = -slope * t * t / denom if denom > 0 else 0.5 * t
                t = min(max(t_q, 0.1 * t), 0.5 * t)
            else:
                reason = "the line search found no decrease in floating point"
                break
            s, y = x_new - x, g_new - g
            if np.dot(s, y) > 1e-10 * np.linalg.norm(s) * np.linalg.norm(y):
                pairs.append((s, y))
            decrease = f - f_new
            x, f, g = x_new, f_new, g_new
            kkt = float(np.max(np.abs(g), initial=0.0))
            # two steps in a row that change f only at rounding level: the
            # gradient test asks for more than the precision allows
            flat = flat + 1 if decrease <= 10 * eps * max(abs(f), 1.0) else 0
            if flat >= 2:
                break
        W, b = x[:n_w].reshape(w_shape), x[n_w:].reshape(b_shape)
        if self.verbose:
            print(f"[LBFGS] {n_iter} iterations, objective {f:.8g}, KKT {kkt:.3g}")
        converged = kkt <= tol_abs or (flat >= 2 and reason is None)
        result = SolverResult(W, b, n_iter, kkt, f, converged)
        if reason is not None:
            reason += (
                ", typically from ill-conditioning (very large or very small "
                "strengths, unscaled features, float32 data)"
            )
        warn_not_converged("L-BFGS", result, tol_abs, self.max_iter, reason=reason)
        return result
