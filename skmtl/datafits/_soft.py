"""Distillation loss: hard labels plus a teacher's soft targets at a temperature."""

import numpy as np
from scipy.special import logsumexp, softmax

from .base import BaseDatafit

__all__ = ["Distillation"]


class Distillation(BaseDatafit):
    """Knowledge-distillation loss of Hinton, Vinyals & Dean (2015).

    For row ``i`` with student logits ``z_i`` (one score per class), teacher
    logits ``t_i``, temperature ``T`` and mix ``lam``::

        q_i  = softmax(t_i / T)                       (teacher's soft targets)
        loss_i = a_i * CE(y_i, softmax(z_i)) + c_i * T**2 * CE(q_i, softmax(z_i / T))

    with ``CE(u, p) = -sum_k u_k log p_k`` and::

        labelled row  (y_i a one-hot row):  a_i = w_i * (1 - lam),  c_i = w_i * lam
        unlabelled row (y_i all zeros):     a_i = 0,                c_i = w_i

    so that an unlabelled row is learned from the teacher alone, with its whole
    weight. The value is ``sum_i loss_i``. The ``T**2`` factor keeps the
    gradient of the soft term on the scale of the hard term when ``T``
    changes (Hinton et al., 2015, section 2): the soft term's gradient is
    ``c_i * T * (softmax(z_i / T) - q_i)``, its Hessian
    ``c_i * (diag(r_i) - r_i r_i^T)`` with ``r_i = softmax(z_i / T)``. Both
    terms are cross-entropies, not KL divergences: they differ by the
    teacher's entropy, a constant.

    Parameters
    ----------
    n_classes : int
        Number of score columns (use 2 columns for a binary problem).
    temperature : float, default=1.0
    mix : float, default=0.5
        Weight ``lam`` in [0, 1] of the soft term on labelled rows.

    References
    ----------
    G. Hinton, O. Vinyals and J. Dean, "Distilling the knowledge in a neural
    network", NIPS Deep Learning Workshop, 2015 (arXiv:1503.02531).

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.datafits import Distillation
    >>> Y = np.array([[1.0, 0.0], [0.0, 0.0]])  # second row unlabelled
    >>> df = Distillation(2, temperature=2.0, mix=0.5)
    >>> df = df.initialize(Y, np.array([0.5, 0.5]), np.array([[2.0, 0.0], [0.0, 1.0]]))
    >>> round(df.value(np.zeros((2, 2))), 6)  # log(2) * (0.25 + 4 * 0.75)
    2.252728
    """

    per_row_attributes = ("Y", "Q", "hard_weights", "soft_weights")

    def __init__(self, n_classes, temperature=1.0, mix=0.5):
        self.n_outputs = n_classes
        self.temperature = float(temperature)
        self.mix = float(mix)

    def initialize(self, y, weights, teacher_logits):
        """Targets and weights.

        Parameters
        ----------
        y : ndarray of shape (n_rows, n_classes)
            Hard targets as probability rows (one-hot); a row of zeros marks an
            unlabelled row.
        weights : ndarray of shape (n_rows,)
        teacher_logits : ndarray of shape (n_rows, n_classes)
            The teacher's logits (``-inf`` allowed for impossible classes,
            not in every column of a row).
        """
        K, T = self.n_outputs, self.temperature
        Y = np.asarray(y, dtype=np.float64)
        t = np.asarray(teacher_logits, dtype=np.float64)
        for name, A in (("y", Y), ("teacher_logits", t)):
            if A.ndim != 2 or A.shape[1] != K:
                raise ValueError(
                    f"Distillation datafit expects {name} of shape (n_rows, {K}), "
                    f"got {A.shape}."
                )
        if not T > 0:
            raise ValueError(f"temperature must be positive, got {T}.")
        if not 0 <= self.mix <= 1:
            raise ValueError(f"mix must be in [0, 1], got {self.mix}.")
        w = np.asarray(weights, dtype=np.float64)
        labelled = Y.sum(axis=1) > 0
        self.Y = Y
        self.Q = softmax(t / T, axis=1)
        if not np.all(np.isfinite(self.Q)):
            raise ValueError("teacher_logits give non-finite probabilities.")
        self.hard_weights = np.where(labelled, (1.0 - self.mix) * w, 0.0)
        self.soft_weights = np.where(labelled, self.mix * w, w)
        return self

    def value(self, scores):
        T = self.temperature
        hard = logsumexp(scores, axis=1) - np.einsum("ik,ik->i", self.Y, scores)
        zT = scores / T
        soft = logsumexp(zT, axis=1) - np.einsum("ik,ik->i", self.Q, zT)
        return float(
            np.dot(self.hard_weights, hard) + T * T * np.dot(self.soft_weights, soft)
        )

    def gradient(self, scores):
        T = self.temperature
        p = softmax(scores, axis=1)
        r = softmax(scores / T, axis=1)
        return self.hard_weights[:, None] * (p - self.Y) + (T * self.soft_weights)[
            :, None
        ] * (r - self.Q)

    def curvature(self):
        # both softmax Hessians have spectral norm <= 1/2; the soft one is
        # scaled by T**2 * (1 / T)**2 = 1
        return 0.5 * (self.hard_weights + self.soft_weights)

    def hessian_operator(self, scores):
        """``V -> `` per row ``a_i H(p_i) v_i + c_i H(r_i) v_i``.

        ``H(p) = diag(p) - p p^T``; the softmaxes are computed once.
        """
        T = self.temperature
        terms = [
            (weights[:, None] * proba, proba)
            for weights, proba in (
                (self.hard_weights, softmax(scores, axis=1)),
                (self.soft_weights, softmax(scores / T, axis=1)),
            )
        ]

        def product(V):
            out = np.zeros_like(V, dtype=np.float64)
            for wp, proba in terms:
                pv = np.einsum("ik,ik->i", proba, V)
                out += wp * (V - pv[:, None])
            return out

        return product
