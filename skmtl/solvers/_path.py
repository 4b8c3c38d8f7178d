"""Path following: one problem solved at several penalty settings and alphas.

A path is a list of ``(penalty, alpha)`` pairs on one
:class:`~skmtl._loss.SmoothLoss`: a single fit is a path of one point; the
cross-validated estimators solve every fold's grid as a path (each penalty
setting's alphas largest first). The loss, and what the solvers cache on it
(Gram matrices, factorisations), is built once; each solution warm-starts the
next, with a predictor step for smooth problems, and solvers that carry state
between nearby problems (L-BFGS curvature pairs, the kernel solver's dual
tangent) get it through ``memory``.
"""

import numpy as np

from .._threads import blas_threads
from ._dispatch import solve_problem

__all__ = ["absolute_tolerance", "solve_path"]


def absolute_tolerance(loss, W_zero, b_zero, tol):
    """``tol`` times the KKT violation of the zero model (with its best intercept).

    So that ``tol`` means the same whatever the scale of ``y`` or of the
    features. Falls back to ``tol`` itself when that violation is 0.
    """
    n_outputs = int(np.prod(np.shape(W_zero)[2:], dtype=np.int64))
    with blas_threads(loss.design.product_work(n_outputs)):  # skmtl._threads
        if np.any(W_zero):
            _, gW, _ = loss.value_grad(W_zero, b_zero)
        else:
            # no product for the scores; the solver's start reuses the
            # backward (TaskDesign.zero_scores)
            b = b_zero if loss.fit_intercept else None
            S = loss.design.zero_scores(b, np.shape(W_zero)[2:])
            gW, _ = loss.grad_from_scores(S)
    scale = float(np.max(np.abs(gW), initial=0.0))
    return tol * (scale if scale > 0 else 1.0)


def _next_start(previous, current, alphas, k):
    """Starting point for ``alphas[k + 1]`` from the solutions at ``k - 1`` and ``k``.

    The solutions of smooth problems move smoothly with log(alpha): a linear
    extrapolation in log(alpha) (a predictor step of path following) starts
    closer than the last solution alone. Non-smooth (sparse) paths only reuse
    the last solution, so that zeros stay zeros.
    """
    if previous is None or k + 1 >= len(alphas) or min(alphas[k - 1 : k + 2]) <= 0:
        return current
    back = np.log(alphas[k] / alphas[k - 1])
    if back == 0:  # a repeated alpha: no direction to extrapolate
        return current
    step = np.log(alphas[k + 1] / alphas[k]) / back
    if not np.isfinite(step) or abs(step) > 2:
        return current
    return tuple(c + step * (c - p) for c, p in zip(current, previous))


def solve_path(
    loss,
    path,
    task_labels,
    W0,
    b0,
    tol_abs,
    *,
    solver="auto",
    max_iter=1000,
    verbose=0,
    memory=None,
):
    """Solve ``loss + penalty`` at every ``(penalty, alpha)`` of ``path``.

    Parameters
    ----------
    loss : SmoothLoss
    path : list of (penalty object, float)
        User-facing penalty objects (with ``bind``) and strengths.
        Consecutive entries with the same penalty object form one alpha path
        (solved in the order given: largest alpha first is fastest); a new
        object starts from the first solution of the previous one (its
        largest alpha), not from its last.
    task_labels : ndarray of shape (n_tasks,)
    W0 : ndarray of shape (n_features, n_tasks[, n_classes])
    b0 : ndarray of shape (n_tasks[, n_classes])
        Start of the first point, intercepts in the loss' centred
        parametrisation.
    tol_abs : float
        Absolute KKT tolerance (see :func:`absolute_tolerance`).
    solver : str or BaseSolver, default="auto"
    max_iter, verbose : int
    memory : object, default=None
        What the solver may reuse at the first point (the stacked parts of
        a penalty on a sum of parts, for a warm start from a fitted model).

    Returns
    -------
    results : list of SolverResult
        One per point; ``result.b`` is the intercept of the uncentred model.
    bound : list of bound penalties
        The bound penalty of each point (its ``fitted_attributes``).
    """
    design = loss.design
    on_path = len(path) > 1
    results, bounds = [], []
    previous, first, current = None, None, None
    alphas, k0 = [], 0
    for k, (spec, alpha) in enumerate(path):
        alpha = float(alpha)
        if spec is not current:
            # a new penalty setting: start from the first solution of the
            # previous one (the largest alpha), not from its last
            current = spec
            alphas = [float(a) for s, a in path if s is spec]
            if first is not None:
                W0, b0, memory = first
            previous, first, k0 = None, None, k
        bound = spec.bind(task_labels, alpha)
        result = solve_problem(
            loss,
            bound,
            W0,
            b0,
            tol_abs,
            solver=solver,
            max_iter=max_iter,
            verbose=verbose,
            memory=memory,
            on_path=on_path,
        )
        memory = result.memory
        W0, b0 = result.W, result.b
        if first is None:
            first = (W0, b0, memory)
        if bound.is_smooth:
            W0, b0 = _next_start(previous, (W0, b0), alphas, k - k0)
        previous = (result.W, result.b)
        result.b = design.intercept_from_centered(result.W, result.b)
        results.append(result)
        bounds.append(bound)
    return results, bounds
