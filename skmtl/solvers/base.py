"""What a solver needs from the loss and the penalty, one gate that checks it,
and what every solver returns.

A solver minimises ``f(W, b) + penalty(W)`` for a ``SmoothLoss`` ``f`` (private,
``skmtl._design``) and a bound penalty (see :mod:`skmtl.penalties.base`). It subclasses
:class:`BaseSolver` and declares:

- ``_datafit_required_attr`` / ``_penalty_required_attr``: the methods it
  calls (a missing one is named by the gate);
- ``_requires_smooth``: True when it cannot handle a non-smooth penalty;
- ``_handles_components``: True when it solves a penalty on a sum of parts
  (``n_components > 1``, through :class:`ComponentSumLoss`);
- ``applicable(loss, penalty, W0)``: None when it applies, else the reason
  (the direct solvers need a quadratic coupling, few features ...).

``solve(loss, penalty, W0, b0, tol_abs, memory=None)`` checks all of this
once, then calls the solver's ``_solve``. It returns a :class:`SolverResult`.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..datafits.base import REQUIRED_DATAFIT_ATTRS
from ..penalties.base import REQUIRED_PENALTY_ATTRS

__all__ = [
    "BaseSolver",
    "ComponentSumLoss",
    "SolverResult",
    "check_solver_requirements",
    "armijo_backtracking",
    "warn_not_converged",
]


def check_solver_requirements(solver, loss, penalty, W0=None):
    """The gate: a clear error when ``solver`` cannot solve this problem.

    Raises ``AttributeError`` naming the methods the datafit or the penalty
    lacks, ``ValueError`` when the solver needs a smooth penalty and gets a
    non-smooth one, or when its ``applicable`` check gives a reason.
    """
    name = getattr(solver, "name", None) or type(solver).__name__
    for obj, role, default in (
        (loss.datafit, "datafit", REQUIRED_DATAFIT_ATTRS),
        (penalty, "penalty", REQUIRED_PENALTY_ATTRS),
    ):
        required = getattr(solver, f"_{role}_required_attr", default)
        missing = [attr for attr in required if not hasattr(obj, attr)]
        if missing:
            raise AttributeError(
                f"{type(solver).__name__} needs a {role} with method(s) {missing}; "
                f"{type(obj).__name__} does not provide them."
            )
    # a penalty without the declaration (a duck-typed one) has one part
    if getattr(penalty, "n_components", 1) > 1 and not getattr(
        solver, "_handles_components", False
    ):
        raise ValueError(
            f"solver={name!r} does not solve penalties on a sum of parts "
            f"({type(penalty).__name__} has {penalty.n_components}): use "
            "solver='fista'."
        )
    if getattr(solver, "_requires_smooth", False) and not penalty.is_smooth:
        raise ValueError(
            f"solver={name!r} handles smooth penalties only; "
            f"{type(penalty).__name__} has a non-smooth part: use solver='fista'."
        )
    applicable = getattr(solver, "applicable", None)
    if applicable is not None and W0 is not None:
        why = applicable(loss, penalty, W0)
        if why is not None:
            raise ValueError(f"solver={name!r} does not apply here: {why}.")


class SolverResult:
    """Output of ``solve``: coefficients and how the run went.

    Attributes
    ----------
    W : ndarray of shape (n_features, n_tasks[, n_classes])
    b : ndarray of shape (n_tasks[, n_classes])
        Intercepts in the loss' (centred) parametrisation.
    n_iter : int
    kkt_violation : float
        Max-norm KKT violation at ``(W, b)``.
    objective : float
    converged : bool
        ``kkt_violation <= tol_abs`` (or no further decrease possible).
    memory : object or None
        What the solver can reuse on a nearby problem (``memory=`` of the
        next ``solve`` along a path), or None.
    n_inner : list of int or None
        Inner iterations per outer one (Newton-CG: CG steps per Newton
        step), when the solver has them.
    components : ndarray of shape (n_components, n_features, n_tasks[, \
n_classes]) or None
        For a penalty on a sum of parts (``n_components > 1``), the parts;
        ``W`` is their sum. None otherwise.
    """

    def __init__(
        self, W, b, n_iter, kkt_violation, objective, converged, memory=None,
        components=None, n_inner=None,
    ):  # fmt: skip
        self.components = components
        self.W = W
        self.b = b
        self.n_iter = n_iter
        self.kkt_violation = kkt_violation
        self.objective = objective
        self.converged = converged
        self.memory = memory
        self.n_inner = n_inner


class ComponentSumLoss:
    """A loss seen through the sum ``W = sum_k V[k]`` of the stacked parts ``V``.

    What a first-order solver uses of a ``skmtl._loss.SmoothLoss``
    (``scores``, ``value_from_scores``, ``grad_from_scores``, ``lipschitz``,
    ``fit_intercept``, ``design``), for a penalty with ``n_components = c``:
    the scores are those of the sum, the gradient with respect to each part
    is the gradient with respect to ``W`` (repeated),
    and the Lipschitz constant is ``c`` times the loss' (the map ``V -> sum
    V`` has squared operator norm ``c``).
    """

    def __init__(self, loss, n_components):
        self.loss = loss
        self.n_components = n_components
        self.datafit = loss.datafit
        self.design = loss.design
        self.fit_intercept = loss.fit_intercept

    def scores(self, V, b):
        # a Python sum over the few parts: faster than V.sum(axis=0) here
        return self.loss.scores(sum(V[1:], V[0]), b)

    def value_from_scores(self, S):
        return self.loss.value_from_scores(S)

    def grad_from_scores(self, S):
        gW, gb = self.loss.grad_from_scores(S)
        # a copy per part: ndarray.repeat costs a third of np.broadcast_to's
        # Python-level call on these small arrays, and the solver makes a
        # new array from it at once (adding the penalty's smooth gradient)
        return gW[None].repeat(self.n_components, axis=0), gb

    def lipschitz(self):
        return self.n_components * self.loss.lipschitz()

    def start(self, penalty, W0, memory):
        """Stacked parts to start from: ``memory`` when it splits ``W0``, else
        ``penalty.split(W0)``.

        Along a path, the previous point's parts (its ``memory``) start the
        next one; any other start (a warm start from ``coef_``) is split by
        the penalty.
        """
        shape = (self.n_components,) + tuple(W0.shape)
        if (
            isinstance(memory, np.ndarray)
            and memory.shape == shape
            and np.allclose(memory.sum(axis=0), W0, rtol=1e-12, atol=0.0)
        ):
            return memory.astype(np.float64)
        return penalty.split(W0)


class BaseSolver:
    """Base class of the solvers: parameters, the gate, then ``_solve``.

    Parameters
    ----------
    max_iter : int, default=1000
        Iteration budget; a run that stops on it warns with a
        ``ConvergenceWarning``.
    verbose : int, default=0
        Print a line per run (or per check) when positive.
    """

    name = None
    _datafit_required_attr = REQUIRED_DATAFIT_ATTRS
    _penalty_required_attr = REQUIRED_PENALTY_ATTRS
    _requires_smooth = False
    # solves penalties on a sum of parts (``n_components > 1``)
    _handles_components = False

    def __init__(self, max_iter=1000, verbose=0):
        self.max_iter = max_iter
        self.verbose = verbose

    def applicable(self, loss, penalty, W0):
        """None when the solver applies to this problem, else the reason."""
        return None

    def solve(self, loss, penalty, W0, b0, tol_abs, memory=None):
        """Minimise ``loss(W, b) + penalty(W)`` from ``(W0, b0)``.

        Parameters
        ----------
        loss : SmoothLoss
        penalty : bound penalty
        W0 : ndarray of shape (n_features, n_tasks[, n_classes])
        b0 : ndarray of shape (n_tasks[, n_classes])
            Start, intercepts in the loss' (centred) parametrisation.
        tol_abs : float
            Stop when the max-norm KKT violation is at most this.
        memory : object, default=None
            ``result.memory`` of a solve of a nearby problem (the previous
            point of a path), when this solver can use it.

        Returns
        -------
        result : SolverResult
        """
        check_solver_requirements(self, loss, penalty, W0)
        return self._solve(loss, penalty, W0, b0, tol_abs, memory=memory)

    def _solve(self, loss, penalty, W0, b0, tol_abs, memory=None):  # pragma: no cover
        raise NotImplementedError


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
    """Warn with a ``ConvergenceWarning`` when ``result`` did not converge."""
    if not result.converged:
        why = reason or f"max_iter={max_iter} reached"
        warnings.warn(
            f"{name} stopped after {result.n_iter} iterations ({why}) with KKT "
            f"violation {result.kkt_violation:.3g} > tolerance {tol_abs:.3g}. "
            "Increase max_iter, loosen tol, or scale the features.",
            ConvergenceWarning,
            stacklevel=4,
        )
