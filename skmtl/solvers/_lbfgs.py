"""L-BFGS for smooth multi-task objectives."""

import numpy as np
from scipy.optimize import minimize

from .base import SolverResult, check_solver_requirements, warn_not_converged


class LBFGS:
    """Quasi-Newton solver (scipy's L-BFGS-B) for smooth penalties.

    Stops when the KKT violation, the max-norm of the gradient of the whole
    objective, is at most ``tol_abs`` (set by the estimator from its ``tol``),
    or after ``max_iter`` iterations.
    """

    _datafit_required_attr = ("value", "gradient")
    _penalty_required_attr = ("value", "gradient")
    _requires_smooth = True

    def __init__(self, max_iter=1000, verbose=0):
        self.max_iter = max_iter
        self.verbose = verbose

    def solve(self, loss, penalty, W0, b0, tol_abs):
        check_solver_requirements(self, loss.datafit, penalty)
        w_shape, b_shape = W0.shape, b0.shape
        n_w = W0.size
        fit_b = loss.fit_intercept

        def unpack(x):
            return x[:n_w].reshape(w_shape), x[n_w:].reshape(b_shape)

        def fun(x):
            W, b = unpack(x)
            f, gW, gb = loss.value_grad(W, b)
            f += penalty.value(W)
            gW += penalty.gradient(W)
            return f, np.concatenate(
                [gW.ravel(), gb.ravel() if fit_b else 0 * gb.ravel()]
            )

        x0 = np.concatenate([W0.ravel(), b0.ravel()]).astype(np.float64)
        res = minimize(
            fun,
            x0,
            method="L-BFGS-B",
            jac=True,
            options={
                "maxiter": self.max_iter,
                "maxfun": 2 * self.max_iter + 20,
                "gtol": tol_abs,
                # Let the gradient test decide; a relative decrease test would
                # stop early on flat objectives.
                "ftol": 64 * np.finfo(float).eps,
                "maxcor": 20,
            },
        )
        W, b = unpack(res.x)
        f, g = fun(res.x)
        kkt = float(np.max(np.abs(g), initial=0.0))
        if self.verbose:
            print(f"[LBFGS] {res.nit} iterations, objective {f:.6g}, KKT {kkt:.3g}")
        # status 0: scipy's gradient test passed, or the objective stopped
        # decreasing at machine precision (asking for more is meaningless);
        # as scikit-learn, warn only on the iteration limit or a failed search.
        converged = kkt <= tol_abs or res.status == 0
        result = SolverResult(W, b, int(res.nit), kkt, f, converged)
        reason = None
        if res.status != 1:
            reason = (
                f"{res.message}: the line search found no decrease in floating "
                "point, typically from ill-conditioning (very large or very small "
                "strengths, unscaled features, float32 data)"
            )
        warn_not_converged("L-BFGS", result, tol_abs, self.max_iter, reason=reason)
        return result
