"""Alternating minimisation for penalties with an auxiliary variable.

A bound penalty that declares ``alternating = True`` is a penalty of the form
``min_A P(W, A)`` (for :class:`~skmtl.penalties.TaskRelationship`, ``A`` is
the task covariance Omega) whose current ``A`` it holds, so that its
``value``, ``gradient`` and ``quadratic_form`` are those of ``P(., A)``. It
provides ``update(W) -> float`` (set ``A`` to its minimiser for ``W``,
return the relative change of ``A``), ``max_alternations`` (an int) and
``rtol`` (a float).

:func:`solve_alternating` wraps any strategy of the dispatch: W-steps by the
chosen solver with ``A`` fixed, warm-started, alternate with ``update``. It
is block coordinate descent: the joint objective never increases. After each
``update`` the penalty's gradient is, by Danskin's theorem, that of the
penalty minimised over ``A``, so the KKT violation there is the one of the
problem actually solved: the loop stops on it, with the usual ``tol_abs``, or
when the objective decreased by at most ``rtol`` (relative) in one
alternation.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .base import SolverResult

__all__ = ["solve_alternating"]


def _objective_kkt(loss, penalty, W, b):
    f, gW, gb = loss.value_grad(W, b)
    kkt = max(
        float(np.max(np.abs(gW + penalty.gradient(W)))),
        float(np.max(np.abs(gb), initial=0.0)),
    )
    return f + penalty.value(W), kkt


def solve_alternating(solve, loss, penalty, W0, b0, tol_abs, memory=None, verbose=0):
    """Minimise ``loss + min_A P(W, A)`` by alternating W-steps and ``update``.

    Parameters
    ----------
    solve : callable
        ``solve(loss, penalty, W0, b0, tol_abs, memory=None) -> SolverResult``:
        a solver's ``solve`` or a strategy around it, for ``A`` fixed.
    loss, penalty, W0, b0, tol_abs, memory
        As for :func:`~skmtl.solvers.solve_problem`; ``penalty`` declares
        ``alternating`` and is updated in place: at the end it holds the
        ``A`` of the returned ``W``.
    verbose : int, default=0

    Returns
    -------
    result : SolverResult
        ``W`` and ``A = argmin_A P(W, A)`` (held by ``penalty``), with the
        objective and KKT violation of the problem minimised over ``A``;
        ``n_iter`` sums the W-steps' iterations. With ``max_alternations=0``
        the single W-step's result, ``A`` fixed at its minimiser for ``W0``.
    """
    # A starts as the minimiser for the start: the previous point's A along
    # a path, whatever the point's warm start
    penalty.update(W0)
    # W-steps a little tighter than the joint rule, so that the joint
    # violation can fall below tol_abs once A settles
    inner_tol = 0.5 * tol_abs
    result = solve(loss, penalty, W0, b0, inner_tol, memory=memory)
    n_iter, n_alt = result.n_iter, penalty.max_alternations
    if n_alt == 0:
        return result
    previous = np.inf
    for k in range(1, n_alt + 1):
        W, b, inner_memory = result.W, result.b, result.memory
        change = penalty.update(W)
        objective, kkt = _objective_kkt(loss, penalty, W, b)
        if verbose:
            print(
                f"[alternating] step {k}: objective {objective:.12g}, KKT "
                f"{kkt:.3g}, relative change of the auxiliary variable {change:.3g}"
            )
        # The KKT rule of every solver, or a stalled objective: a penalty
        # whose minimiser over A is singular (low rank for TaskRelationship)
        # is ill-conditioned in those directions, where the gradient can
        # stay far above tol_abs on a flat objective.
        if kkt <= tol_abs or previous - objective <= penalty.rtol * abs(objective):
            return SolverResult(W, b, n_iter, kkt, objective, True, inner_memory)
        previous = objective
        if k < n_alt:
            result = solve(loss, penalty, W, b, inner_tol, memory=inner_memory)
            n_iter += result.n_iter
    warnings.warn(
        f"The alternation of {type(penalty).__name__} stopped after {n_alt} "
        f"alternations (max_alternations reached) with KKT violation {kkt:.3g} > "
        f"tolerance {tol_abs:.3g} and a last relative decrease of the objective "
        f"above rtol={penalty.rtol:.3g}. Increase max_alternations or loosen tol.",
        ConvergenceWarning,
        stacklevel=4,
    )
    return SolverResult(W, b, n_iter, kkt, objective, False, inner_memory)
