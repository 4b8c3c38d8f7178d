"""Transfer prior: ridge toward source weights (biased regularization)."""

import numpy as np

from .base import BasePenalty, BoundPenalty


class _BoundPrior(BoundPenalty):
    def __init__(self, coef, alpha):
        self.coef = coef
        self.alpha = alpha
        self._W_source = None

    def _source(self, W):
        # public layout (n_tasks, [n_classes,] n_features), or the same without
        # the task axis (one source for every task) -> internal (p, T, ...)
        if self._W_source is None:
            coef = self.coef
            if coef.ndim == W.ndim - 1:
                coef = coef[None]
            expected = (W.shape[1],) + W.shape[2:] + (W.shape[0],)
            if coef.shape != expected and coef.shape != (1,) + expected[1:]:
                raise ValueError(
                    f"TransferPrior.coef has shape {self.coef.shape}, which does not "
                    f"match the model's coef_ layout {expected} (n_tasks, "
                    "[n_classes,] n_features) or the same without the task axis."
                )
            self._W_source = np.moveaxis(coef, -1, 0)
        return self._W_source

    def value(self, W):
        D = W - self._source(W)
        return 0.5 * self.alpha * float(np.sum(D * D))

    def gradient(self, W):
        return self.alpha * (W - self._source(W))

    def hvp(self, V):
        return self.alpha * V

    def lipschitz(self):
        return self.alpha


class TransferPrior(BasePenalty):
    """Ridge toward source weights: ``alpha / 2 * sum_t ||w_t - w_source_t||^2``.

    The prior of biased regularization (Chelba & Acero, 2004): with little
    target data the weights stay near the source model's, and the intercepts
    are free. It is linear in ``alpha``: ``alpha -> 0`` gives the target-only
    model without penalty, ``alpha -> inf`` the source weights (with
    intercepts refitted on the target).

    Parameters
    ----------
    coef : array-like
        Source weights in the layout of ``coef_``: (n_tasks, n_features) or
        (n_tasks, n_classes, n_features), or the same without the task axis
        (one source for every task).

    References
    ----------
    C. Chelba and A. Acero, "Adaptation of maximum entropy capitalizer: little
    data can help a lot", EMNLP 2004.
    """

    def __init__(self, coef=None):
        self.coef = coef

    def bind(self, task_labels, alpha):
        if self.coef is None:
            raise ValueError("TransferPrior needs the source weights: coef=...")
        coef = self._float_array("coef")
        if not np.all(np.isfinite(coef)):
            raise ValueError("TransferPrior.coef contains NaN or infinite values.")
        return _BoundPrior(coef, alpha)
