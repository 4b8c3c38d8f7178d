"""Multi-task linear models."""

from ._classifier import MultiTaskClassifier
from ._regressor import MultiTaskRegressor

__all__ = ["MultiTaskRegressor", "MultiTaskClassifier"]
