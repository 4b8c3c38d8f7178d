"""Multi-task linear models."""

from ._base import fit_path
from ._classifier import MultiTaskClassifier
from ._regressor import MultiTaskRegressor

__all__ = ["MultiTaskRegressor", "MultiTaskClassifier", "fit_path"]
