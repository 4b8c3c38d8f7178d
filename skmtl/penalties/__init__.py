"""Task-coupling penalties of the multi-task linear models."""

from ._l21 import L21
from ._prior import TransferPrior
from ._quadratic import GraphLaplacian, Independent, MeanRegularized
from .base import BasePenalty

__all__ = [
    "BasePenalty",
    "Independent",
    "MeanRegularized",
    "GraphLaplacian",
    "L21",
    "TransferPrior",
    "PENALTY_ALIASES",
    "resolve_penalty",
]

#: string aliases accepted by the estimators' ``penalty`` parameter
PENALTY_ALIASES = {
    "independent": Independent,
    "mean": MeanRegularized,
    "graph": GraphLaplacian,
    "l21": L21,
}


def resolve_penalty(penalty):
    """A penalty object from an alias or an object (returned as a fresh clone)."""
    if isinstance(penalty, str):
        try:
            return PENALTY_ALIASES[penalty]()
        except KeyError:
            raise ValueError(
                f"penalty={penalty!r} is not a known alias; use one of "
                f"{sorted(PENALTY_ALIASES)} or a penalty object."
            ) from None
    if not hasattr(penalty, "bind"):
        raise TypeError(
            f"penalty must be one of {sorted(PENALTY_ALIASES)} or an object with a "
            f"bind(task_labels, alpha) method, got {type(penalty).__name__}."
        )
    return penalty
