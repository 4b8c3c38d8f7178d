"""Protocol of a datafit: the per-row loss of a multi-task linear model.

A datafit sees the stacked rows of every task. ``initialize`` receives the
targets and the per-row weights (sample weights already multiplied by the
task weights and divided by the task's total sample weight, see
:mod:`skmtl.linear_model`); afterwards the loss is a function of the linear
scores only, ``value(scores) = sum_i weights_i * loss(y_i, scores_i)``.

Methods, named after the maths:

- ``value(scores)``: the weighted loss (a float);
- ``gradient(scores)``: its derivative with respect to ``scores`` (same shape);
- ``curvature()``: per-row upper bound of the second derivative, from which
  solvers derive Lipschitz constants (array of shape (n_rows,)).
"""

REQUIRED_DATAFIT_ATTRS = ("initialize", "value", "gradient", "curvature")

import copy  # noqa: E402


def restrict_rows(datafit, lo, hi, n_rows):
    """A copy of an initialised datafit that sees only rows ``lo:hi``.

    Every per-row array attribute (length ``n_rows``) is sliced; the rest is
    shared. Used to solve block-separable problems task by task.
    """
    sub = copy.copy(datafit)
    for name, value in vars(datafit).items():
        if hasattr(value, "shape") and value.ndim >= 1 and value.shape[0] == n_rows:
            setattr(sub, name, value[lo:hi])
    return sub


class BaseDatafit:
    """Base class of datafits; subclasses implement the four methods."""

    #: number of score columns per row: 1 for scalar outputs, else n_classes
    n_outputs = 1

    def initialize(self, y, weights):  # pragma: no cover - interface
        raise NotImplementedError

    def value(self, scores):  # pragma: no cover - interface
        raise NotImplementedError

    def gradient(self, scores):  # pragma: no cover - interface
        raise NotImplementedError

    def curvature(self):  # pragma: no cover - interface
        raise NotImplementedError
