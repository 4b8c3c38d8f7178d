"""Strategies around a solver: one problem per task, working sets of features."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .base import SolverResult, warn_not_converged

__all__ = ["solve_by_task", "solve_working_set"]


def solve_by_task(solver, loss, penalty, W0, b0, tol_abs, memory=None):
    """Solve a block-separable problem (``penalty.separable_by_task``) task by task.

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
        memories.append(res.memory)
        for w in caught:
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        W[:, t : t + 1], b[t : t + 1] = res.W, res.b
        n_iter, kkt = max(n_iter, res.n_iter), max(kkt, res.kkt_violation)
        objective += res.objective
        if not res.converged:
            short.append(t)
    memory = memories if all(m is not None for m in memories) else None
    result = SolverResult(W, b, n_iter, kkt, objective, not short, memory)
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
    solver, loss, penalty, W0, b0, tol_abs, memory=None, *, min_size=50, max_outer=100
):
    """Solve a feature-separable sparse problem on growing working sets of features.

    The outer loop computes the full gradient, stops when the KKT violation of
    every feature is below ``tol_abs``, and otherwise solves the problem
    restricted to the current support plus the most violating features (at
    least twice the support), to a tolerance of a fraction of the current
    violation (as celer and skglm do). Each inner iteration then costs
    products with ``|working set|`` columns instead of all of them. ``memory``
    is not used (the sub-problems change with the working set).
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
