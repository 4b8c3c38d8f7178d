"""Per-task losses of the multi-task linear models."""

from ._entropy import EntropyRegularized
from ._losses import Logistic, Multinomial, Quadratic
from ._soft import Distillation
from .base import BaseDatafit

__all__ = [
    "BaseDatafit",
    "Quadratic",
    "Logistic",
    "Multinomial",
    "Distillation",
    "EntropyRegularized",
]
