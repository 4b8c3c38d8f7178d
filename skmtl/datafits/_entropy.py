"""Entropy regularization: cross-entropy on labelled rows, entropy on the rest."""

import numpy as np
from scipy.special import logsumexp

from .base import BaseDatafit

__all__ = ["EntropyRegularized"]


class EntropyRegularized(BaseDatafit):
    """Softmax cross-entropy on labelled rows plus conditional entropy on the rest.

    The datafit of minimum entropy regularization (Grandvalet & Bengio, 2005).
    With ``p_i = softmax(s_i)`` the predicted class distribution of row ``i``::

        labelled row   (y_i a one-hot row):  loss_i = w_i * CE(y_i, p_i)
        unlabelled row (y_i all zeros):      loss_i = w_i * H(p_i)

    with ``CE(y, p) = -sum_k y_k log p_k`` and the Shannon entropy
    ``H(p) = -sum_k p_k log p_k = logsumexp(s) - sum_k p_k s_k``. The value is
    ``sum_i loss_i``, plus ``class_balance * KL(p_bar || pi)`` where
    ``p_bar = sum_i u_i p_i`` is the mean prediction over the unlabelled rows
    (``u_i`` their weights normalised to sum 1) and ``pi`` a class prior. The
    entropy term pushes the decision boundary away from dense regions of
    unlabelled rows (the cluster assumption); alone it is also minimised by
    predicting one class everywhere, which the class-balance term (the
    marginal-entropy term of regularized information maximization, Krause,
    Perona & Gomes, 2010, with a prior) prevents. It couples the unlabelled
    rows: the Hessian is then not block-diagonal by row.

    The entropy is **not convex** in the scores: its Hessian at a row is
    ``-diag(p * (a + 1)) + p p^T * (a_j + a_k + 1)`` (entry ``j, k``) with
    ``a = log p + H(p)``, which has negative eigenvalues away from the uniform
    distribution. Solvers that need a positive semi-definite Hessian
    (Newton-CG's conjugate gradients, the direct solvers) do not apply; L-BFGS
    with a line search does, and converges to a stationary point, which
    depends on the start.

    Parameters
    ----------
    n_classes : int
        Number of score columns (use 2 columns for a binary problem).
    class_balance : float, default=0.0
        Weight of ``KL(p_bar || pi)``; 0 is the plain entropy regularization.

    Notes
    -----
    Gradient of the entropy in the scores: ``-p * (log p + H(p))``. Its
    curvature bound: by Gershgorin, each row of the entropy's Hessian has
    absolute sum at most ``2 + 2 / e + 4 log K`` (``p_k |log p_k| <= 1 / e``,
    ``H <= log K``), ``K = n_classes``; the cross-entropy's Hessian has
    spectral norm at most 1/2.

    References
    ----------
    Y. Grandvalet and Y. Bengio, "Semi-supervised learning by entropy
    minimization", NIPS 17, 2005.

    A. Krause, P. Perona and R. Gomes, "Discriminative clustering by
    regularized information maximization", NIPS 23, 2010.

    Examples
    --------
    >>> import numpy as np
    >>> from skmtl.datafits import EntropyRegularized
    >>> Y = np.array([[1.0, 0.0], [0.0, 0.0]])  # second row unlabelled
    >>> df = EntropyRegularized(2).initialize(Y, np.array([0.5, 0.5]))
    >>> round(df.value(np.zeros((2, 2))), 6)  # 0.5 log 2 + 0.5 log 2
    0.693147
    """

    per_row_attributes = ("Y", "weights", "labelled")

    def __init__(self, n_classes, class_balance=0.0):
        self.n_outputs = n_classes
        self.class_balance = float(class_balance)

    def initialize(self, y, weights, class_prior=None):
        """Targets and weights.

        Parameters
        ----------
        y : ndarray of shape (n_rows, n_classes)
            One-hot rows for labelled rows; a row of zeros marks an unlabelled
            row (its loss is the entropy of the prediction).
        weights : ndarray of shape (n_rows,)
            Non-negative weight of each row's loss.
        class_prior : ndarray of shape (n_classes,), default=None
            ``pi`` of the class-balance term (positive, summing to 1); None is
            uniform. Used only when ``class_balance > 0``.
        """
        K = self.n_outputs
        Y = np.asarray(y, dtype=np.float64)
        if Y.ndim != 2 or Y.shape[1] != K:
            raise ValueError(
                f"EntropyRegularized datafit expects y of shape (n_rows, {K}), "
                f"got {Y.shape}."
            )
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (Y.shape[0],) or np.any(w < 0):
            raise ValueError(
                f"weights must be non-negative of shape ({Y.shape[0]},), got "
                f"shape {w.shape}."
            )
        prior = np.full(K, 1.0 / K) if class_prior is None else class_prior
        prior = np.asarray(prior, dtype=np.float64)
        if prior.shape != (K,) or np.any(prior <= 0):
            raise ValueError(f"class_prior must be positive of shape ({K},).")
        if self.class_balance < 0:
            raise ValueError(
                f"class_balance must be non-negative, got {self.class_balance}."
            )
        self.Y = Y
        self.weights = w
        self.labelled = Y.sum(axis=1) > 0
        self.log_prior = np.log(prior / prior.sum())
        unl_w = np.where(self.labelled, 0.0, w)
        total = unl_w.sum()
        # u: the unlabelled rows' shares in the mean prediction p_bar
        self.shares = unl_w / total if total > 0 else unl_w
        return self

    def restrict_rows(self, lo, hi):
        if self.class_balance > 0:
            raise ValueError(
                "the class-balance term couples every unlabelled row: the datafit "
                "cannot be restricted to a block of rows."
            )
        return super().restrict_rows(lo, hi)

    def _balance(self, p):
        """``KL(p_bar || pi)`` and ``c = log p_bar - log pi`` (None if off)."""
        if self.class_balance <= 0 or not np.any(self.shares):
            return 0.0, None
        p_bar = self.shares @ p
        c = np.log(p_bar) - self.log_prior
        return float(p_bar @ c), c

    def _terms(self, scores):
        """Log-probabilities, probabilities and per-row entropies."""
        log_p = scores - logsumexp(scores, axis=1, keepdims=True)
        p = np.exp(log_p)
        entropy = -np.einsum("ik,ik->i", p, log_p)
        return log_p, p, entropy

    def value(self, scores):
        log_p, p, entropy = self._terms(scores)
        ce = -np.einsum("ik,ik->i", self.Y, log_p)
        kl, _ = self._balance(p)
        rows = float(np.dot(self.weights, np.where(self.labelled, ce, entropy)))
        return rows + self.class_balance * kl

    def gradient(self, scores):
        log_p, p, entropy = self._terms(scores)
        ce = p - self.Y
        ent = -p * (log_p + entropy[:, None])
        G = self.weights[:, None] * np.where(self.labelled[:, None], ce, ent)
        _, c = self._balance(p)
        if c is not None:
            # d KL / d s_i = u_i p_i * (c - p_i . c)
            bu = (self.class_balance * self.shares)[:, None]
            G += bu * p * (c - (p @ c)[:, None])
        return G

    def curvature(self):
        if self.class_balance > 0:
            # log p_bar has unbounded curvature as p_bar -> 0
            raise ValueError(
                "EntropyRegularized with class_balance > 0 has no Lipschitz bound; "
                "use a solver with a line search (L-BFGS)."
            )
        K = self.n_outputs
        bound = 2.0 + 2.0 / np.e + 4.0 * np.log(K)
        return self.weights * np.where(self.labelled, 0.5, bound)

    def hessian_operator(self, scores):
        """``V -> `` per row ``w_i H_i v_i`` (the softmax computed once).

        Labelled rows: ``H = diag(p) - p p^T``. Unlabelled rows, with
        ``a = log p + H(p)``: ``(H v)_j = -p_j (a_j + 1) v_j + p_j (a_j + 1)
        (p . v) + p_j (sum_k p_k a_k v_k)``, symmetric and indefinite.
        """
        log_p, p, entropy = self._terms(scores)
        lab = self.labelled[:, None]
        wp = self.weights[:, None] * p
        a1 = np.where(lab, 0.0, log_p + entropy[:, None] + 1.0)
        pa = np.where(lab, 0.0, p * (log_p + entropy[:, None]))
        _, c = self._balance(p)
        if c is not None:
            bu = (self.class_balance * self.shares)[:, None]
            p_bar = self.shares @ p
            pc = (p @ c)[:, None]

        def product(V):
            pv = np.einsum("ik,ik->i", p, V)[:, None]
            ce = wp * (V - pv)
            ent = wp * (a1 * (pv - V) + np.einsum("ik,ik->i", pa, V)[:, None])
            out = np.where(lab, ce, ent)
            if c is not None:
                # derivative of u_i p_i (c - p_i . c) along V: dp_i = p_i (v_i -
                # p_i . v_i), dc = d p_bar / p_bar (couples the rows)
                dp = p * (V - pv)
                dc = (self.shares @ dp) / p_bar
                out += bu * (
                    dp * (c - pc) + p * (dc - (dp @ c)[:, None] - (p @ dc)[:, None])
                )
            return out

        return product
