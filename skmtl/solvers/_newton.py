"""Truncated Newton (Newton-CG) for smooth objectives: cheap to warm-start."""

import numpy as np

from .base import BaseSolver, SolverResult, armijo_backtracking, warn_not_converged


class NewtonCG(BaseSolver):
    """Inexact Newton steps by conjugate gradient on Hessian-vector products.

    Each Newton system ``H d = -g`` is solved only to a relative residual of
    ``min(0.5, sqrt(||g||))`` (the forcing sequence of Eisenstat & Walker,
    superlinear convergence), with Hessian-vector products from the datafit's
    second derivative in score space and the penalty's linear gradient, then an
    Armijo backtracking step. From a nearby solution (warm starts along an
    alpha path) one or two Newton steps usually suffice, where L-BFGS must
    rebuild its curvature model. Stops when the KKT violation (max-norm of the
    gradient) is at most ``tol_abs``.
    """

    name = "newton-cg"
    _datafit_required_attr = ("value", "gradient", "hessian_operator")
    _penalty_required_attr = ("value", "gradient", "hvp")
    _requires_smooth = True

    def __init__(self, max_iter=100, verbose=0, max_cg=200):
        super().__init__(max_iter, verbose)
        self.max_cg = max_cg

    def _solve(self, loss, penalty, W0, b0, tol_abs, memory=None):
        fit_b = loss.fit_intercept
        W, b = W0.astype(np.float64).copy(), b0.astype(np.float64).copy()

        def value_grad(W, b):
            S = loss.scores(W, b)
            f = loss.value_from_scores(S) + penalty.value(W)
            gW, gb = loss.grad_from_scores(S)
            return S, f, gW + penalty.gradient(W), gb if fit_b else 0 * gb

        S, f, gW, gb = value_grad(W, b)
        kkt = max(float(np.max(np.abs(gW))), float(np.max(np.abs(gb), initial=0.0)))
        n_iter, reason, flat = 0, None, 0
        eps = np.finfo(float).eps
        while kkt > tol_abs and n_iter < self.max_iter:
            n_iter += 1
            # the loss' Hessian at the iterate, as a product closure
            loss_hvp = loss.hessian_product(S)

            def hvp(VW, vb, loss_hvp=loss_hvp):
                hW, hb = loss_hvp(VW, vb)
                return hW + penalty.hvp(VW), hb

            # conjugate gradient on H d = -g, truncated
            gnorm = np.sqrt(np.sum(gW * gW) + np.sum(gb * gb))
            eta = min(0.5, np.sqrt(gnorm))
            dW, db = np.zeros_like(W), np.zeros_like(b)
            rW, rb = -gW, -gb
            pW, pb = rW.copy(), rb.copy()
            rr = np.sum(rW * rW) + np.sum(rb * rb)
            for _ in range(self.max_cg):
                qW, qb = hvp(pW, pb)
                pq = np.sum(pW * qW) + np.sum(pb * qb)
                if pq <= 0:
                    break
                step = rr / pq
                dW += step * pW
                db += step * pb
                rW -= step * qW
                rb -= step * qb
                rr_new = np.sum(rW * rW) + np.sum(rb * rb)
                if np.sqrt(rr_new) <= eta * gnorm:
                    break
                pW = rW + (rr_new / rr) * pW
                pb = rb + (rr_new / rr) * pb
                rr = rr_new
            if not np.any(dW) and not np.any(db):
                dW, db = -gW, -gb
            slope = float(np.sum(gW * dW) + np.sum(gb * db))

            def evaluate(t, W=W, b=b, dW=dW, db=db):
                S_t, f_t, gW_t, gb_t = value_grad(W + t * dW, b + t * db)
                return f_t, (S_t, gW_t, gb_t)

            step = armijo_backtracking(evaluate, f, slope)
            if step is None:
                reason = "the line search found no decrease in floating point"
                break
            t, f_new, (S_new, gW_new, gb_new) = step
            W, b = W + t * dW, b + t * db
            # steps that change f only at rounding level: the gradient test
            # asks for more than the precision allows (as for L-BFGS)
            flat = flat + 1 if f - f_new <= 10 * eps * max(abs(f), 1.0) else 0
            S, f, gW, gb = S_new, f_new, gW_new, gb_new
            if flat >= 2:
                break
            kkt = max(float(np.max(np.abs(gW))), float(np.max(np.abs(gb), initial=0.0)))
        if self.verbose:
            print(f"[NewtonCG] {n_iter} iterations, objective {f:.8g}, KKT {kkt:.3g}")
        converged = kkt <= tol_abs or (flat >= 2 and reason is None)
        result = SolverResult(W, b, n_iter, kkt, f, converged)
        warn_not_converged("Newton-CG", result, tol_abs, self.max_iter, reason=reason)
        return result
