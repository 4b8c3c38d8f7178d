"""Truncated Newton (Newton-CG) for smooth objectives: cheap to warm-start."""

import numpy as np

from ._precondition import coupled_preconditioner
from .base import BaseSolver, SolverResult, armijo_backtracking, warn_not_converged


def _dot(aW, ab, cW, cb):
    # vdot: no temporary of the size of W (fresh large arrays cost page faults)
    return float(np.vdot(aW, cW) + np.vdot(ab, cb))


#: relative change of the objective below which float32 products cannot
#: resolve it (scores rounded to about 1e-7 relative, with a margin)
_F_RESOLUTION = 1e-6

#: one-dimensional Newton steps per task of :func:`_best_intercepts`, and the
#: largest move of a score per step (the logistic curvature changes by at most
#: a factor of about e over a move of 1)
_INTERCEPT_STEPS = 8
_INTERCEPT_MAX_MOVE = 1.0


def _best_intercepts(loss, S, b, tol):
    """Each task's intercept minimised at fixed weights, from scores ``S``.

    The intercepts are unpenalised and each enters only its task's scores: a
    one-dimensional convex problem per task, solved by Newton steps on the
    scores (moves of at most :data:`_INTERCEPT_MAX_MOVE`, at most
    :data:`_INTERCEPT_STEPS` of them) until every intercept gradient is at
    most ``tol``, with no pass over the data. Returns ``(S, b, G, f)``: the
    shifted scores and intercepts, the datafit's gradient in score space and
    its value there; the input ``S`` and ``b`` when the shift did not lower
    the loss.
    """
    design = loss.design
    codes, T = design.row_codes, design.n_tasks
    G, H = loss.score_gradient_hessian_diag(S)
    g = design.task_sums(G)
    shift = np.zeros(T)
    S_new = S
    for _ in range(_INTERCEPT_STEPS):
        if float(np.max(np.abs(g), initial=0.0)) <= tol:
            break
        h = design.task_sums(H)
        # a task without curvature (no rows, or all weights 0) keeps its
        # intercept
        step = -g / np.where(h > 0, h, np.inf)
        shift += np.clip(step, -_INTERCEPT_MAX_MOVE, _INTERCEPT_MAX_MOVE)
        S_new = S + shift[codes]
        G, H = loss.score_gradient_hessian_diag(S_new)
        g = design.task_sums(G)
    f_new = loss.value_from_scores(S_new)
    if float(np.max(np.abs(g), initial=0.0)) > tol:
        # unfinished (far from the minimum, or no finite one: a separable
        # task): keep the shift only if it lowered the loss. Finished, every
        # intercept is within tol of its task's minimum, as low as it gets.
        f = loss.value_from_scores(S)
        if f_new > f:
            return S, b, loss.score_gradient(S), f
    return S_new, b + shift, G, f_new


class NewtonCG(BaseSolver):
    """Inexact Newton steps by conjugate gradient on Hessian-vector products.

    Each Newton system ``H d = -g`` is solved only to a relative residual of
    ``min(0.5, sqrt(||g||))`` (the forcing sequence of Eisenstat & Walker,
    superlinear convergence), with Hessian-vector products from the datafit's
    second derivative in score space and the penalty's linear gradient, then an
    Armijo backtracking step, whose trial points cost no product with X (their
    scores are the iterate's plus ``t`` times the step's, which CG combines
    from the scores its Hessian products compute). From a nearby solution
    (warm starts along an alpha path) one or two Newton steps usually
    suffice, where L-BFGS must rebuild its curvature model. Stops when the
    KKT violation (max-norm of the gradient) is at most ``tol_abs``.

    For the logistic loss every evaluated point gets the best intercepts for
    its weights (one-dimensional Newton steps per task on the scores, no pass
    over the data): otherwise the unpenalised intercepts hold the largest
    gradient entry and the worst of many tasks sets the number of Newton
    steps.

    Coupled problems are preconditioned (``skmtl.solvers._precondition``):
    each task's diagonal curvature plus the penalty's whole coupling
    (``coupling_hessian``), inverted exactly per feature, so that the number
    of CG steps does not grow with the number of tasks. Used for datafits with
    a diagonal Hessian (squared, logistic) or the diagonal of each row's
    block over classes (multinomial: then each (feature, class) pair is one
    system over the tasks) and penalties that declare their coupling, when
    there are several tasks (``precondition="auto"``).

    Parameters
    ----------
    max_iter : int, default=100
        Newton steps.
    verbose : int, default=0
    max_cg : int, default=200
        Conjugate-gradient steps per Newton step.
    precondition : {"auto", True, False}, default="auto"
        ``"auto"``: with more than one task, when the datafit and penalty
        allow it; True: whenever they allow it (also one task: Jacobi).

    The result's ``n_inner`` lists the CG steps of each Newton step.
    """

    name = "newton-cg"
    _datafit_required_attr = ("value", "gradient", "hessian_operator")
    _penalty_required_attr = ("value", "gradient", "hvp")
    _requires_smooth = True

    #: minimise over the intercepts at every evaluated point (the private
    #: ``_fits_intercepts``); False restores plain Newton steps on them
    best_intercepts = True

    def __init__(self, max_iter=100, verbose=0, max_cg=200, precondition="auto"):
        super().__init__(max_iter, verbose)
        self.max_cg = max_cg
        self.precondition = precondition

    def _use_preconditioner(self, loss, penalty, W):
        if not self.precondition or getattr(penalty, "coupling_hessian", None) is None:
            return False
        # one score per row (squared, logistic), or the diagonal of each
        # row's block over classes (multinomial)
        diagonal = loss.diagonal_hessian if W.ndim == 2 else loss.output_hessian_diag
        if not diagonal or W.ndim > 3:
            return False
        return self.precondition is True or loss.design.n_tasks > 1

    def _fits_intercepts(self, loss, W):
        """Whether every evaluated point gets the best intercepts for its weights.

        For datafits with one score per row and a curvature that depends on
        it (logistic; the squared loss' Newton step is exact). A Newton step on
        the whole problem left the unpenalised intercepts with the largest
        gradient entry at every step (the max-norm KKT violation), and the
        worst of more tasks took longer: on ``benchmarks/bench_core.py``'s
        growth step (mean coupling, 200 rows per task, T = 25, 50, 100, 200)
        4, 4, 5, 5 Newton steps and 31, 31, 39, 41 data passes; with the
        intercepts minimised 3, 4, 4, 4 and 27, 31, 31, 31 (the weights'
        gradient alone decides); 41 -> 17 passes on 20 one-vs-rest 20
        Newsgroups tasks. Each minimisation costs one to three evaluations of
        the loss' derivatives in score space, 4-10% of the time of those fits
        at T = 200 (where a graph coupling saves no pass, that is the cost).
        """
        return (
            self.best_intercepts
            and loss.fit_intercept
            and W.ndim == 2
            and loss.diagonal_hessian
            and not loss.is_quadratic
        )

    @staticmethod
    def _refresh(loss, S, S_precond):
        """Whether the preconditioner's curvature must be computed at ``S``.

        Once for the squared loss (its curvature does not depend on W). For
        the logistic loss ``h = sigma (1 - sigma)`` changes by at most a factor
        of about ``e`` while no score moved by more than 1 since the last
        computation: two passes over the data saved per reuse. Measured on
        ``benchmarks/bench_newton.py``'s synthetic problems (T = 25 ... 400,
        mean and chain couplings), a threshold of 1 never took more passes
        than 0.5 (42-50 against 42-52); 2 was worse on some.
        """
        if S_precond is None:
            return True
        if loss.is_quadratic:
            return False
        return float(np.max(np.abs(S - S_precond), initial=0.0)) > 1.0

    def _cg(self, hvp, gW, gb, eta, precond, floor):
        """Truncated (preconditioned) CG on ``H d = -g``: ``(dW, db, dS, steps)``.

        ``hvp(VW, vb)`` returns ``(HW, Hb, SV)``, ``SV`` the scores of the
        direction ``(VW, vb)`` it computed on the way; ``dS`` are those of the
        solution ``d`` (the same combination of the search directions' scores,
        no product; None when no step was taken). Stops at a residual of
        ``eta`` times ``||g||`` (2-norm) or of at most ``floor`` in max-norm,
        whichever comes first, or after ``max_cg`` steps.
        """
        gnorm = np.sqrt(_dot(gW, gb, gW, gb))
        dW, db, dS = np.zeros_like(gW), np.zeros_like(gb), None
        rW, rb = -gW, -gb
        zW, zb = precond(rW, rb) if precond is not None else (rW, rb)
        pW, pb = zW.copy(), zb.copy()
        rz = _dot(rW, rb, zW, zb)
        steps = 0
        for _ in range(self.max_cg):
            steps += 1
            qW, qb, pS = hvp(pW, pb)
            pq = _dot(pW, pb, qW, qb)
            if pq <= 0:
                break
            step = rz / pq
            dW += step * pW
            db += step * pb
            if dS is None:
                dS = step * pS
            else:
                dS += step * pS
            rW -= step * qW
            rb -= step * qb
            if np.sqrt(_dot(rW, rb, rW, rb)) <= eta * gnorm:
                break
            if max(np.max(np.abs(rW)), np.max(np.abs(rb), initial=0.0)) <= floor:
                break
            zW, zb = precond(rW, rb) if precond is not None else (rW, rb)
            rz_new = _dot(rW, rb, zW, zb)
            # p = z + beta p, in place (pW is never an alias of zW)
            pW *= rz_new / rz
            pW += zW
            pb *= rz_new / rz
            pb += zb
            rz = rz_new
        return dW, db, dS, steps

    @staticmethod
    def _memory_for(memory, loss):
        """The Newton-CG ``memory`` of an earlier point on this very loss, or None."""
        if isinstance(memory, _PathMemory) and memory.loss is loss:
            return memory
        return None

    @staticmethod
    def _gradient_step(evaluate, f, kkt):
        """The full Newton step where the objective cannot see its decrease, or None.

        Near the optimum a Newton step lowers ``f`` by about ``|g|^2 /
        curvature`` (half the slope), which float32 products (scores rounded
        to about 1e-7 relative) cannot resolve: Armijo's test then accepts a
        tiny step on rounding noise, ``f`` stops changing and the solve ends
        short (a float32 fit stopped at a KKT violation of 3.9e-6 for a
        tolerance of 3e-7, where the full step reaches 1e-7). The gradient
        stays accurate: the full step is taken when it halves the KKT
        violation and ``f`` rises by no more than that noise.
        """
        f_t, extra = evaluate(1.0)
        gW_t, gb_t = extra[1], extra[2]
        kkt_t = max(
            float(np.max(np.abs(gW_t))), float(np.max(np.abs(gb_t), initial=0.0))
        )
        if kkt_t <= 0.5 * kkt and f_t <= f + _F_RESOLUTION * max(abs(f), 1.0):
            return 1.0, f_t, extra
        return None

    def _solve(self, loss, penalty, W0, b0, tol_abs, memory=None):
        fit_b = loss.fit_intercept
        memory = self._memory_for(memory, loss)

        # the intercepts minimised at every evaluated point (see
        # _fits_intercepts); their gradient is then below a tenth of tol_abs
        best_b = self._fits_intercepts(loss, W0)
        intercept_tol = 0.1 * tol_abs

        def loss_parts(W, b, zero=False, scores=None):
            """``(S, f, gW, gb)`` of the loss and the intercepts ``b`` used.

            ``zero``: W is all zeros (the usual start): its scores are the
            intercepts' (no product), and the design answers the backward of
            the zero model's gradient from :func:`absolute_tolerance`'s, when
            that is the same (see ``TaskDesign.zero_scores``). ``scores``:
            those of ``(W, b)`` when already known (no product).
            """
            if zero:
                S = loss.design.zero_scores(b if fit_b else None, W.shape[2:])
            elif scores is not None:
                S = scores
            else:
                S = loss.scores(W, b)
            if not best_b:
                gW, gb = loss.grad_from_scores(S)
                return (S, loss.value_from_scores(S), gW, gb), b
            S, b, G, f = _best_intercepts(loss, S, b, intercept_tol)
            gW, gb = loss.grad_from_score_gradient(G)
            return (S, f, gW, gb), b

        def value_grad(W, parts):
            S, f, gW, gb = parts
            return (
                S,
                f + penalty.value(W),
                gW + penalty.gradient(W),
                (gb if fit_b else 0 * gb),
            )

        if memory is not None and memory.starts(W0, b0):
            # the path's previous solution: its scores and loss gradient
            # still hold (only the penalty changed), one pass saved
            W, b = memory.W, memory.b
            parts = memory.parts
        else:
            W, b = W0.astype(np.float64).copy(), b0.astype(np.float64).copy()
            parts, b = loss_parts(W, b, zero=not W.any())
        S, f, gW, gb = value_grad(W, parts)
        kkt = max(float(np.max(np.abs(gW))), float(np.max(np.abs(gb), initial=0.0)))
        n_iter, reason, flat = 0, None, 0
        eps = np.finfo(float).eps
        use_precond = self._use_preconditioner(loss, penalty, W)
        precond, S_precond, n_inner = None, None, []
        curvature = None
        if use_precond and memory is not None and memory.curvature is not None:
            # the data curvature of an earlier point (the coupling changes
            # with alpha and the setting, so the preconditioner is rebuilt)
            S_precond, curvature = memory.curvature
        if memory is not None:
            memory.release()
        last_parts = None
        while kkt > tol_abs and n_iter < self.max_iter:
            n_iter += 1
            # the loss' Hessian at the iterate, as a product closure (that of
            # SmoothLoss.hessian_product, also returning the direction's
            # scores: CG combines them into the step's, see evaluate)
            apply_h = loss.datafit.hessian_operator(S)

            def hvp(VW, vb, apply_h=apply_h):
                SV = loss.scores(VW, vb)
                hW, hb = loss.grad_from_score_gradient(apply_h(SV))
                hW += penalty.hvp(VW)
                return hW, hb, SV

            # conjugate gradient on H d = -g, truncated at a relative residual
            # of eta (Eisenstat-Walker forcing)
            gnorm = np.sqrt(_dot(gW, gb, gW, gb))
            # The residual of the Newton system is the gradient at the full
            # step for the squared loss (to first order otherwise): solving it
            # far below the tolerance is wasted work (a tenth keeps a margin
            # for rounding and the logistic loss' nonlinearity), and for the
            # squared loss it is all that is needed (one Newton step).
            eta = 0.0 if loss.is_quadratic else min(0.5, np.sqrt(gnorm))
            if use_precond:
                if self._refresh(loss, S, S_precond):
                    curvature = loss.hessian_diagonal(S)
                    S_precond, precond = S, None
                if precond is None:
                    precond = coupled_preconditioner(
                        penalty.coupling_hessian, *curvature
                    )
            dW, db, dS, steps = self._cg(hvp, gW, gb, eta, precond, 0.1 * tol_abs)
            n_inner.append(steps)
            if not np.any(dW) and not np.any(db):
                dW, db, dS = -gW, -gb, None
            slope = _dot(gW, gb, dW, db)

            def evaluate(t, W=W, b=b, dW=dW, db=db, S=S, dS=dS):
                W_t = W + t * dW
                # the scores are linear in (W, b): those of the trial point
                # from the iterate's and the step's, with no product (one
                # pass per trial saved, as LIBLINEAR's Newton line search,
                # Galli & Lin 2021)
                S_t = None if dS is None else S + t * dS
                parts_t, b_t = loss_parts(W_t, b + t * db, scores=S_t)
                S_t, f_t, gW_t, gb_t = value_grad(W_t, parts_t)
                return f_t, (S_t, gW_t, gb_t, parts_t, b_t)

            step = None
            if -slope <= _F_RESOLUTION * max(abs(f), 1.0):
                step = self._gradient_step(evaluate, f, kkt)
            if step is None:
                step = armijo_backtracking(evaluate, f, slope)
            if step is None:
                reason = "the line search found no decrease in floating point"
                break
            t, f_new, (S_new, gW_new, gb_new, last_parts, b) = step
            W = W + t * dW
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
        if last_parts is None:
            last_parts = parts
        new_memory = _PathMemory(
            loss, W, b, last_parts,
            None if curvature is None else (S_precond, curvature),
        )  # fmt: skip
        result = SolverResult(
            W, b, n_iter, kkt, f, converged, memory=new_memory, n_inner=n_inner
        )
        warn_not_converged("Newton-CG", result, tol_abs, self.max_iter, reason=reason)
        return result


class _PathMemory:
    """What Newton-CG hands to the next point of a path on the same loss.

    The solution ``(W, b)``, the loss' scores, value and gradient there
    (reused when the next point starts at this very solution: only the
    penalty changed), and the data curvature of the last preconditioner with
    the scores it was computed at (reused under the same rule as within a
    solve, :meth:`NewtonCG._refresh`).
    """

    def __init__(self, loss, W, b, parts, curvature):
        self.loss, self.W, self.b = loss, W, b
        self.parts, self.curvature = parts, curvature

    def starts(self, W0, b0):
        return self.parts is not None and W0 is self.W and b0 is self.b

    def release(self):
        """Drop the arrays once used: a path's results keep their memory, and
        these hold two arrays of W's size."""
        self.parts = self.curvature = None
