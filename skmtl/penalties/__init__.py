"""Task-coupling penalties of the multi-task linear models."""

from sklearn.base import clone

from ._clustered import Clustered
from ._dirty import Dirty, RobustFeatureLearning, RobustLowRank
from ._l21 import L21
from ._prior import TransferPrior
from ._quadratic import GraphLaplacian, Independent, MeanRegularized
from ._relationship import TaskRelationship
from ._trace import TraceNorm
from .base import BasePenalty, BoundPenalty

__all__ = [
    "BasePenalty",
    "BoundPenalty",
    "Independent",
    "MeanRegularized",
    "GraphLaplacian",
    "L21",
    "TraceNorm",
    "TaskRelationship",
    "Clustered",
    "Dirty",
    "RobustLowRank",
    "RobustFeatureLearning",
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
    "trace": TraceNorm,
    "relationship": TaskRelationship,
    "clustered": Clustered,
    "dirty": Dirty,
    "rmtl": RobustLowRank,
    "rmtfl": RobustFeatureLearning,
}


def resolve_penalty(penalty):
    """A new penalty object from an alias, or an unfitted clone of an object.

    Fitted state must never alias a parameter (scikit-learn clones): a later
    ``set_params(penalty__...)`` on the estimator must not change a fitted
    model. Raises ``ValueError`` for an unknown alias and ``TypeError`` for an
    object without ``bind``.
    """
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
    return clone(penalty, safe=False)
