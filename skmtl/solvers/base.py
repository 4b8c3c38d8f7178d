"""What a solver needs from the loss and the penalty, and one checker for it."""

import warnings

from sklearn.exceptions import ConvergenceWarning

from ..datafits.base import REQUIRED_DATAFIT_ATTRS
from ..penalties.base import REQUIRED_PENALTY_ATTRS


def check_solver_requirements(solver, datafit, penalty):
    """Raise a clear error when the datafit or penalty lacks a method the solver uses."""
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
