"""Protocol of a task-coupling penalty.

A penalty has two faces:

- the user-facing object (a scikit-learn ``BaseEstimator``, so that its
  strengths are plain parameters that ``GridSearchCV`` can tune as
  ``penalty__<name>``); it only stores its arguments;
- the bound penalty returned by ``bind(task_labels, alpha)``, which knows the
  tasks of the fit and the overall strength and provides the maths on the
  coefficient array ``W`` of shape (n_features, n_tasks[, n_classes]):

  - ``value(W)``: the penalty value (smooth and non-smooth parts);
  - ``smooth_value(W)``: the smooth part alone;
  - ``gradient(W)``: gradient of the smooth part;
  - ``hvp(V)``: Hessian of the smooth part times ``V`` (the smooth parts are
    quadratic, so this is exact and independent of W);
  - ``prox(W, step)``: proximal operator of ``step`` times the non-smooth
    part (the identity for smooth penalties);
  - ``kkt_violation(W, grad)``: distance from ``-grad`` (gradient of the
    smooth part of the whole objective) to the subdifferential of the
    non-smooth part, as a max-norm over coefficients;
  - ``lipschitz()``: Lipschitz constant of ``gradient``;
  - ``is_smooth``: True when there is no non-smooth part.
"""

import numpy as np
from sklearn.base import BaseEstimator

REQUIRED_PENALTY_ATTRS = (
    "value",
    "smooth_value",
    "gradient",
    "hvp",
    "prox",
    "kkt_violation",
    "lipschitz",
)


class BasePenalty(BaseEstimator):
    """Base class of user-facing penalties; subclasses implement ``bind``."""

    def bind(self, task_labels, alpha):  # pragma: no cover - interface
        raise NotImplementedError

    def _check_strength(self, name):
        value = getattr(self, name)
        if not np.isscalar(value) or not np.isfinite(value) or value < 0:
            raise ValueError(
                f"{type(self).__name__}.{name} must be a finite non-negative number, "
                f"got {value!r}."
            )
        return float(value)


class SmoothBoundPenalty:
    """Shared behaviour of bound penalties without a non-smooth part."""

    is_smooth = True

    def smooth_value(self, W):
        return self.value(W)

    def prox(self, W, step):
        return W

    def kkt_violation(self, W, grad):
        return float(np.max(np.abs(grad), initial=0.0))
