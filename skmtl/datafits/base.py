"""Protocol of a datafit: the per-row loss of a multi-task linear model.

A datafit sees the stacked rows of every task. ``initialize`` receives the
targets and the per-row weights (sample weights already multiplied by the
task weights and divided by the task's total sample weight, see
:mod:`skmtl.linear_model`); afterwards the loss is a function of the linear
scores only, ``value(scores) = sum_i weights_i * loss(y_i, scores_i)``, with
``scores`` of shape (n_rows,) or (n_rows, n_outputs).

Methods, named after the maths:

- ``value(scores)``: the weighted loss (a float);
- ``gradient(scores)``: its derivative with respect to ``scores`` (same shape);
- ``hessian_operator(scores)``: a function ``V -> H V`` for score directions
  ``V`` of the shape of ``scores``, ``H`` the (row-block-diagonal) Hessian;
- ``hessian_diag(scores)``: the Hessian's diagonal, shape (n_rows,), for the
  datafits that declare ``diagonal_hessian``; ``gradient_hessian_diag(scores)``
  gives both at once (by default from the two methods);
- ``curvature()``: per-row upper bound of the Hessian's spectral norm, from
  which solvers derive Lipschitz constants (shape (n_rows,));
- ``restrict_rows(lo, hi)``: the same initialised datafit on rows ``lo:hi``.

Declared capabilities (class attributes, read by the solvers' gate):

- ``n_outputs``: score columns per row (1: scores of shape (n_rows,));
- ``is_quadratic``: the Hessian does not depend on the scores (squared loss);
- ``diagonal_hessian``: one score per row, ``hessian_diag`` available;
- ``output_hessian_diag``: several scores per row and ``hessian_diag`` gives
  the diagonal of each row's (n_outputs, n_outputs) Hessian block, shape
  (n_rows, n_outputs) (the multinomial loss: Newton-CG's preconditioner);
- ``per_row_attributes``: names of the per-row arrays that ``initialize``
  sets; ``restrict_rows`` slices exactly these.
"""

import copy

__all__ = ["BaseDatafit", "REQUIRED_DATAFIT_ATTRS"]

#: methods every datafit provides (checked by the solvers' gate)
REQUIRED_DATAFIT_ATTRS = (
    "initialize",
    "value",
    "gradient",
    "hessian_operator",
    "curvature",
    "restrict_rows",
)


class BaseDatafit:
    """Base class of datafits; subclasses implement the maths."""

    n_outputs = 1
    is_quadratic = False
    diagonal_hessian = False
    output_hessian_diag = False
    per_row_attributes = ()

    def initialize(self, y, weights):  # pragma: no cover - interface
        raise NotImplementedError

    def value(self, scores):  # pragma: no cover - interface
        raise NotImplementedError

    def gradient(self, scores):  # pragma: no cover - interface
        raise NotImplementedError

    def curvature(self):  # pragma: no cover - interface
        raise NotImplementedError

    def hessian_diag(self, scores):  # pragma: no cover - interface
        raise NotImplementedError(
            f"{type(self).__name__} has no diagonal Hessian (diagonal_hessian=False)."
        )

    def gradient_hessian_diag(self, scores):
        """``(gradient(scores), hessian_diag(scores))`` (datafits with
        ``diagonal_hessian``); a datafit whose two share their work overrides
        it."""
        return self.gradient(scores), self.hessian_diag(scores)

    def hessian_operator(self, scores):
        """``V -> H V`` at ``scores``; from ``hessian_diag`` when it is diagonal."""
        h = self.hessian_diag(scores)
        return lambda V: h * V

    def restrict_rows(self, lo, hi):
        """A copy of the initialised datafit that sees only rows ``lo:hi``.

        Slices the arrays named in ``per_row_attributes`` (None stays None);
        everything else is shared. Used to solve block-separable problems task
        by task.
        """
        sub = copy.copy(self)
        for name in self.per_row_attributes:
            value = getattr(self, name)
            if value is not None:
                setattr(sub, name, value[lo:hi])
        return sub
