"""What a solver needs from the loss and the penalty, and one checker for it."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..datafits.base import REQUIRED_DATAFIT_ATTRS
from ..penalties.base import REQUIRED_PENALTY_ATTRS


def check_solver_requirements(solver, datafit, penalty):
    """Raise a clear error when the datafit or penalty lacks a method of the solver."""
    for obj, role, default in (
        (datafit, "datafit", REQUIRED_DATAFIT_ATTRS),
        (penalty, "penalty", REQUIRED_PENALTY_ATTRS),
    ):
        required = getattr(solver, f"_{role}_required_attr", default)
        missing = [name for name in required if not hasattr(obj, name)]
        if missing:
            raise AttributeError(
                f"{type(solver).__name__} needs a {role} with method(s) {missing}; "
                f"{type(obj).__name__} does not provide them."
            )
    if getattr(solver, "_requires_smooth", False) and not penalty.is_smooth:
        raise ValueError(
            f"{type(solver).__name__} handles smooth penalties only; "
            f"{type(penalty).__name__} has a non-smooth part: use solver='fista'."
        )


class SolverResult:
    """Output of ``solve``: coefficients and how the run went."""

    def __init__(self, W, b, n_iter, kkt_violation, objective, converged):
        self.W = W
        self.b = b
        self.n_iter = n_iter
        self.kkt_violation = kkt_violation
        self.objective = objective
        self.converged = converged


def armijo_backtracking(evaluate, f, slope, max_halvings=40):
    """First step ``t = 2^-k`` (k = 0, 1, ...) of sufficient decrease (Armijo).

    ``evaluate(t)`` returns ``(f_t, extra)``, the objective at step ``t`` and
    whatever the caller wants back at the accepted step. Returns ``(t, f_t,
    extra)`` for the first ``t`` with ``f_t <= f + 1e-4 * t * slope`` (Armijo),
    or None when ``max_halvings`` halvings found no decrease (rounding).
    """
    t = 1.0
    for _ in range(max_halvings):
        f_t, extra = evaluate(t)
        if f_t <= f + 1e-4 * t * slope:
            return t, f_t, extra
        t *= 0.5
    return None


def warn_not_converged(name, result, tol_abs, max_iter, reason=None):
    if not result.converged:
        why = reason or f"max_iter={max_iter} reached"
        warnings.warn(
            f"{name} stopped after {result.n_iter} iterations ({why}) with KKT "
            f"violation {result.kkt_violation:.3g} > tolerance {tol_abs:.3g}. "
            "Increase max_iter, loosen tol, or scale the features.",
            ConvergenceWarning,
            stacklevel=4,
        )


def solve_by_task(solver, loss, penalty, W0, b0, tol_abs, memory=None):
    """Solve a block-separable problem (``penalty.separable``) one task at a time.

    Each task's problem is small, so the solver's per-iteration work on the
    coefficients scales with that task alone, and every task stops at its own
    pace. The stopping rule is the same as for the joint problem: the KKT
    violation of every task below ``tol_abs``. Non-convergence is reported
    once for all tasks.
    """
    n_tasks = W0.shape[1]
    W, b = np.empty_like(W0, dtype=np.float64), np.empty_like(b0, dtype=np.float64)
    n_iter, kkt, objective, short, memories = 0, 0.0, 0.0, [], []
    for t in range(n_tasks):
        extra = {} if memory is None else {"memory": memory[t]}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            res = solver.solve(
                loss.restrict(t),
                penalty,
                W0[:, t : t + 1],
                b0[t : t + 1],
                tol_abs,
                **extra,
            )
        memories.append(getattr(res, "memory", None))
        for w in caught:
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        W[:, t : t + 1], b[t : t + 1] = res.W, res.b
        n_iter, kkt = max(n_iter, res.n_iter), max(kkt, res.kkt_violation)
        objective += res.objective
        if not res.converged:
            short.append(t)
    result = SolverResult(W, b, n_iter, kkt, objective, not short)
    result.memory = memories if all(m is not None for m in memories) else None
    if short:
        warnings.warn(
            f"{type(solver).__name__} stopped short on {len(short)} of {n_tasks} "
            f"task(s) (indices {short[:5]}): KKT violation {kkt:.3g} > tolerance "
            f"{tol_abs:.3g}. Increase max_iter or loosen tol.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return result


def solve_working_set(
    solver, loss, penalty, W0, b0, tol_abs, *, min_size=50, max_outer=100
):
    """Solve a feature-separable sparse problem on growing working sets of features.

    The outer loop computes the full gradient, stops when the KKT violation of
    every feature is below ``tol_abs``, and otherwise solves the problem
    restricted to the current support plus the most violating features (at
    least twice the support), to a tolerance of a fraction of the current
    violation (as celer and skglm do). Each inner iteration then costs
    products with ``|working set|`` columns instead of all of them.
    """
    n_features = W0.shape[0]
    W, b = W0.astype(np.float64).copy(), b0.astype(np.float64).copy()
    n_iter, kkt = 0, np.inf
    # Scores are kept from the restricted problems (the weights outside the
    # working set are zero), so each outer step costs one product with X^T.
    S = loss.scores(W, b)
    for _ in range(max_outer):
        gW, gb = loss.grad_from_scores(S)
        gW = gW + penalty.gradient(W)
        viol = penalty.feature_violations(W, gW)
        kkt = float(viol.max(initial=0.0))
        if loss.fit_intercept:
            kkt = max(kkt, float(np.max(np.abs(gb), initial=0.0)))
        if kkt <= tol_abs:
            break
        support = np.flatnonzero(np.any(W.reshape(n_features, -1) != 0, axis=1))
        size = min(n_features, max(min_size, 2 * len(support)))
        priority = viol.copy()
        priority[support] = np.inf  # the support always stays in
        ws = np.sort(np.argsort(-priority, kind="stable")[:size])
        sub_loss = loss.restrict_features(ws)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            inner = solver.solve(sub_loss, penalty, W[ws], b, max(0.3 * kkt, tol_abs))
        W = np.zeros_like(W)
        W[ws], b = inner.W, inner.b
        S = sub_loss.scores(inner.W, inner.b)
        n_iter += inner.n_iter
    objective = loss.value_from_scores(S) + penalty.value(W)
    result = SolverResult(W, b, n_iter, kkt, objective, kkt <= tol_abs)
    warn_not_converged(
        f"{type(solver).__name__} (working sets)", result, tol_abs, solver.max_iter
    )
    return result
