"""skmtl: multi-task and transfer learning estimators for scikit-learn.

Importing skmtl never imports torch and never changes scikit-learn's global
configuration.
"""

from .linear_model import MultiTaskClassifier, MultiTaskRegressor

__version__ = "0.1.0.dev0"

__all__ = ["MultiTaskRegressor", "MultiTaskClassifier", "__version__"]
