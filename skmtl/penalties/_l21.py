"""Joint feature selection: the L2,1 norm across tasks, with optional ridge."""

import numpy as np

from .base import BasePenalty, RidgeSmoothPart


class _BoundL21(RidgeSmoothPart):
    is_smooth = False
    # the penalty is a sum over features: working sets of features apply
    separable_by_feature = True

    def __init__(self, alpha, l1_ratio):
        self.lam = alpha * l1_ratio  # weight of the non-smooth part
        self.mu = alpha * (1.0 - l1_ratio)  # weight of the ridge part

    @staticmethod
    def _row_norms(W):
        return np.sqrt(np.sum(W.reshape(W.shape[0], -1) ** 2, axis=1))

    def value(self, W):
        return self.lam * float(self._row_norms(W).sum()) + 0.5 * self.mu * float(
            np.sum(W * W)
        )

    def prox(self, W, step):
        # Group soft-thresholding of each feature's row (all tasks, all classes).
        norms = self._row_norms(W)
        thresh = step * self.lam
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(norms > thresh, 1.0 - thresh / norms, 0.0)
        return W * scale.reshape((-1,) + (1,) * (W.ndim - 1))

    @property
    def row_curvature(self):
        """The smooth part is ``row_curvature / 2 * ||W_j||^2`` on each row."""
        return self.mu

    @property
    def row_l2_weight(self):
        """The non-smooth part is ``row_l2_weight * ||W_j||_2`` on each row."""
        return self.lam

    def kkt_violation(self, W, grad):
        return float(self.feature_violations(W, grad).max(initial=0.0))

    def feature_violations(self, W, grad):
        """Per-feature distance of ``-grad`` to the subdifferential."""
        norms = self._row_norms(W)
        G = grad.reshape(grad.shape[0], -1)
        Wf = W.reshape(W.shape[0], -1)
        active = norms > 0
        viol = np.maximum(np.sqrt(np.sum(G * G, axis=1)) - self.lam, 0.0)
        if np.any(active):
            sub = G[active] + self.lam * Wf[active] / norms[active, None]
            viol[active] = np.sqrt(np.sum(sub * sub, axis=1))
        return viol


class L21(BasePenalty):
    """Joint feature selection across tasks (group lasso on feature rows).

    ::

        alpha * ( l1_ratio * sum_j ||W_j||_2 + (1 - l1_ratio) / 2 * ||W||_F^2 )

    where ``W_j`` gathers feature ``j``'s weights over all tasks (and classes).
    This is the penalty of scikit-learn's ``MultiTaskLasso`` (``l1_ratio=1``)
    and ``MultiTaskElasticNet``, with the same meaning of ``alpha`` and
    ``l1_ratio``.

    Parameters
    ----------
    l1_ratio : float, default=1.0
        Mix between the L2,1 norm (1.0) and ridge (0.0).
    """

    def __init__(self, l1_ratio=1.0):
        self.l1_ratio = l1_ratio

    def bind(self, task_labels, alpha):
        l1_ratio = self._check_strength("l1_ratio")
        if l1_ratio > 1:
            raise ValueError(f"L21.l1_ratio must be in [0, 1], got {l1_ratio}.")
        return _BoundL21(alpha, l1_ratio)
