"""Protocol of a task-coupling penalty.

A penalty has two faces:

- the user-facing object (a scikit-learn ``BaseEstimator``, so that its
  strengths are plain parameters that ``GridSearchCV`` can tune as
  ``penalty__<name>``); it only stores its arguments, and ``bind`` never
  modifies it;
- the bound penalty returned by ``bind(task_labels, alpha)``, a
  :class:`BoundPenalty` that knows the tasks of the fit and the overall
  strength. It provides the maths on the coefficient array ``W`` of shape
  (n_features, n_tasks) or (n_features, n_tasks, n_classes):

  - ``value(W)``: the penalty value (smooth and non-smooth parts), a float;
  - ``smooth_value(W)``: the smooth part alone;
  - ``gradient(W)``: gradient of the smooth part, shape of ``W``;
  - ``hvp(V)``: Hessian of the smooth part times ``V`` (the smooth parts are
    quadratic, so this is exact and independent of W);
  - ``prox(W, step)``: proximal operator of ``step`` times the non-smooth
    part (the identity for smooth penalties);
  - ``kkt_violation(W, grad)``: distance from ``-grad`` (gradient of the
    smooth part of the whole objective) to the subdifferential of the
    non-smooth part, as a max-norm over coefficients;
  - ``lipschitz()``: Lipschitz constant of ``gradient``;

  and declares what solvers and estimators may rely on, as class or instance
  attributes (never found by ``hasattr``):

  - ``is_smooth``: no non-smooth part (``prox`` is the identity);
  - ``separable_by_task``: a sum of one term per task (no coupling): the
    problem splits into one problem per task;
  - ``separable_by_feature``: a sum of one term per feature row of ``W``
    (working sets of features apply); such a penalty also provides
    ``feature_violations(W, grad)``, the per-feature KKT violation, and for
    block coordinate descent the floats ``row_l2_weight`` and
    ``row_curvature`` of each row's term
    ``row_l2_weight * ||W_j|| + row_curvature / 2 * ||W_j||^2``;
  - ``quadratic_form``: None, or ``(alpha, M)`` when the penalty is exactly
    ``alpha / 2 * sum_j w_j M w_j^T`` over the rows ``w_j`` of ``W`` (per
    class), ``M`` a positive semi-definite (n_tasks, n_tasks) array or None
    for the identity (the direct solvers need this);
  - ``coupling_hessian``: None, or the Hessian of the smooth part along the
    task axis, the same (n_tasks, n_tasks) matrix ``H`` for every feature row
    (``hvp(V)`` is ``V @ H`` along axis 1), described by its structure so that
    a preconditioner can invert ``diag(d) + H`` per feature in O(n_tasks) or
    O(n_edges): ``("identity_minus_ones", a, beta)`` for ``H = a I - beta
    11^T``, ``("sparse", H)`` with a scipy sparse ``H``, ``("dense", H)``;
  - ``shared_component``: the model has a shared part ``w_0`` that predicts
    for tasks not seen in fit (``unseen_tasks="shared"``);
  - ``fitted_attributes(W, b)``: the extra public fitted attributes the
    penalty defines (``shared_coef_`` ...), as a dict in the public layout;
  - ``n_components``: 1, or the number of parts ``V[0], ..., V[c - 1]``
    whose sum is the model's ``W`` (a dirty model's ``W = P + Q``). Such a
    penalty acts on the stacked parts ``V`` of shape (n_components,
    n_features, n_tasks[, n_classes]): ``value``, ``gradient``, ``prox``,
    ``kkt_violation`` and ``fitted_attributes`` take ``V`` (and the gradient
    of the loss with respect to each part, which is the gradient with respect
    to ``W``, repeated), and ``split(W)`` gives stacked parts summing to ``W``
    (a start). Only solvers that declare ``_handles_components`` (FISTA)
    solve it; the solver returns ``W`` (the sum) and the parts.
"""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["BasePenalty", "BoundPenalty", "RidgeSmoothPart", "REQUIRED_PENALTY_ATTRS"]

#: methods every bound penalty provides (checked by the solvers' gate)
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
        """The penalty for these tasks at strength ``alpha``: a :class:`BoundPenalty`.

        Parameters
        ----------
        task_labels : ndarray of shape (n_tasks,)
            Sorted task labels of the fit (the order of ``W``'s task axis).
        alpha : float
            Overall strength, >= 0.
        """
        raise NotImplementedError

    def _check_strength(self, name):
        value = getattr(self, name)
        # Real first: np.isfinite raises a TypeError on a string
        if not isinstance(value, Real) or not np.isfinite(value) or value < 0:
            raise ValueError(
                f"{type(self).__name__}.{name} must be a finite non-negative number, "
                f"got {value!r}."
            )
        return float(value)

    def _float_array(self, name):
        """Parameter ``name`` as a float64 array, refused by name otherwise."""
        value = getattr(self, name)
        try:
            return np.array(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            # numpy's "could not convert string to float" names no argument
            raise ValueError(
                f"{type(self).__name__}.{name} must be an array of numbers: {exc}"
            ) from None


class BoundPenalty:
    """Defaults of the declared capabilities; subclasses override what is true."""

    is_smooth = True
    separable_by_task = False
    separable_by_feature = False
    quadratic_form = None
    coupling_hessian = None
    shared_component = False
    n_components = 1

    def smooth_value(self, W):
        return self.value(W)

    def prox(self, W, step):
        return W

    def kkt_violation(self, W, grad):
        return float(np.max(np.abs(grad), initial=0.0))

    def fitted_attributes(self, W, b):
        """Extra public fitted attributes (public layout), none by default."""
        return {}

    def split(self, W):
        """Stacked parts summing to ``W`` (``n_components > 1`` only): a start."""
        W = np.asarray(W, dtype=np.float64)
        parts = np.zeros((self.n_components,) + W.shape)
        parts[0] = W
        return parts


class RidgeSmoothPart(BoundPenalty):
    """A non-smooth penalty whose smooth part is the ridge ``mu / 2 ||W||_F^2``.

    Subclasses set ``self.mu`` and implement ``value``, ``prox`` and
    ``kkt_violation`` of the whole (L2,1, trace norm, task relationship).
    """

    is_smooth = False

    def smooth_value(self, W):
        return 0.5 * self.mu * float(np.sum(W * W))

    def gradient(self, W):
        return self.mu * W

    def hvp(self, V):
        return self.mu * V

    def lipschitz(self):
        return self.mu
