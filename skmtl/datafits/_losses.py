"""Squared, logistic and multinomial datafits."""

import numpy as np
from scipy.special import expit, log_expit, logsumexp, softmax

from .base import BaseDatafit


class Quadratic(BaseDatafit):
    """Squared loss ``sum_i w_i * (y_i - s_i)**2 / 2``."""

    #: the Hessian does not depend on the scores (direct solvers apply)
    is_quadratic = True
    diagonal_hessian = True
    per_row_attributes = ("y", "weights")

    def initialize(self, y, weights):
        self.y = np.asarray(y, dtype=np.float64)
        self.weights = np.asarray(weights, dtype=np.float64)
        return self

    def value(self, scores):
        residual = self.y - scores
        return 0.5 * float(np.dot(self.weights, residual * residual))

    def gradient(self, scores):
        return self.weights * (scores - self.y)

    def curvature(self):
        return self.weights

    def hessian_diag(self, scores):
        return self.weights


class Logistic(BaseDatafit):
    """Binary logistic loss ``sum_i w_i * log(1 + exp(-y_i s_i))``, y in {-1, +1}.

    Written with ``log_expit`` so that large margins neither overflow nor lose
    precision.
    """

    diagonal_hessian = True
    per_row_attributes = ("y", "weights")

    def initialize(self, y, weights):
        y = np.asarray(y, dtype=np.float64)
        if not np.all(np.abs(y) == 1):
            raise ValueError("Logistic datafit expects targets in {-1, +1}.")
        self.y = y
        self.weights = np.asarray(weights, dtype=np.float64)
        return self

    def value(self, scores):
        return -float(np.dot(self.weights, log_expit(self.y * scores)))

    def gradient(self, scores):
        return -self.weights * self.y * expit(-self.y * scores)

    def curvature(self):
        # sigma'(z) <= 1/4
        return 0.25 * self.weights

    def hessian_diag(self, scores):
        p = expit(self.y * scores)
        return self.weights * p * (1.0 - p)

    def gradient_hessian_diag(self, scores):
        # one sigmoid for both (Newton-CG's intercept steps evaluate them
        # together); the gradient exactly as :meth:`gradient`
        q = expit(-self.y * scores)
        wq = self.weights * q
        return -self.y * wq, wq * (1.0 - q)


class Multinomial(BaseDatafit):
    """Multinomial (softmax cross-entropy) loss with hard or soft targets.

    ``value = sum_i w_i * (logsumexp_k(s_ik) - sum_k Y_ik s_ik)`` where each row
    of ``Y`` is a probability vector (one-hot for hard labels; a teacher's
    probabilities for distillation). With soft targets this is the
    cross-entropy, which differs from the KL divergence by the (constant)
    entropy of ``Y``.

    ``class_mask`` (bool array of shape (n_rows, n_classes)) removes classes
    from a row's softmax: a task that never saw a class in training gives it
    zero probability, instead of pushing its unpenalised intercept to -inf.
    """

    per_row_attributes = ("Y", "weights", "offset")
    #: ``hessian_diag`` gives the diagonal of each row's softmax Hessian
    output_hessian_diag = True

    def __init__(self, n_classes):
        self.n_outputs = n_classes

    def initialize(self, y, weights, class_mask=None):
        Y = np.asarray(y, dtype=np.float64)
        if Y.ndim != 2 or Y.shape[1] != self.n_outputs:
            raise ValueError(
                f"Multinomial datafit expects targets of shape (n_rows, "
                f"{self.n_outputs}), got {Y.shape}."
            )
        self.Y = Y
        self.weights = np.asarray(weights, dtype=np.float64)
        if class_mask is not None and not np.all(class_mask):
            # additive offset: -inf would give 0 * inf = nan in Y * scores
            self.offset = np.where(class_mask, 0.0, -1e300)
        else:
            self.offset = None
        return self

    def _masked(self, scores):
        return scores if self.offset is None else scores + self.offset

    def value(self, scores):
        s = self._masked(scores)
        per_row = logsumexp(s, axis=1) - np.einsum("ik,ik->i", self.Y, s)
        return float(np.dot(self.weights, per_row))

    def gradient(self, scores):
        proba = softmax(self._masked(scores), axis=1)
        return self.weights[:, None] * (proba - self.Y)

    def curvature(self):
        # The softmax Hessian diag(p) - p p^T has spectral norm <= 1/2.
        return 0.5 * self.weights

    def hessian_diag(self, scores):
        """Diagonal of each row's Hessian block: ``w_i p_ik (1 - p_ik)``.

        Shape (n_rows, n_classes). Not the whole Hessian (``diag(p_i) -
        p_i p_i^T`` couples the classes): what a diagonal preconditioner uses.
        """
        p = softmax(self._masked(scores), axis=1)
        return self.weights[:, None] * p * (1.0 - p)

    def hessian_operator(self, scores):
        """``V -> `` per row ``w_i (diag(p_i) - p_i p_i^T) v_i`` (p_i computed once)."""
        p = softmax(self._masked(scores), axis=1)
        wp = self.weights[:, None] * p

        def product(V):
            pv = np.einsum("ik,ik->i", p, V)
            return wp * (V - pv[:, None])

        return product
