"""The smooth loss of a multi-task linear model: a datafit on a task design.

:class:`SmoothLoss` composes a datafit (``skmtl.datafits``) with a
:class:`~skmtl._design.TaskDesign`; the solvers see only this object and the
penalty, never X. :class:`SolverCache` holds what they compute once per
problem and reuse along a path. Split from ``_design.py`` (the products with X)
to keep both modules readable.
"""

from dataclasses import dataclass, field

import numpy as np

from ._design import TaskDesign

__all__ = ["SmoothLoss", "SolverCache", "task_scores"]


@dataclass
class SolverCache:
    """What solvers compute once per problem and reuse along a path.

    One per :class:`SmoothLoss`; a path over alphas and penalty settings (the
    cross-validated estimators) solves every point on the same loss, so each
    entry is paid for once per fold. Entries (None until computed):

    - ``gram``: :class:`~skmtl.solvers.GramSolver`'s factors ``(A, sigma, Q,
      R, b)``: per-task Gram matrices (n_tasks, p, p), their eigenvalues
      (n_tasks, p) and eigenvectors (n_tasks, p, p), ``X_t^T D_t (y_t -
      ybar_t)`` (p, n_tasks) and the exact intercepts (n_tasks,);
    - ``row_gram``: centred row inner products (n_rows, n_rows)
      (:class:`~skmtl.solvers.KernelNewton`);
    - ``kernel``: ``(key, K, M^-1)``, the kernel matrix of the last coupling
      ``M`` seen (``key`` identifies it);
    - ``column_norms``: per task, the largest centred column norm (n_tasks,);
    - ``power``: the last power-iteration vectors ``(V, vb)`` of
      :meth:`SmoothLoss.lipschitz`, to start the next estimate;
    - ``task_losses``: ``{t: SmoothLoss}``, the per-task losses of
      :meth:`SmoothLoss.restrict`;
    - ``parent``: for a loss made by :meth:`SmoothLoss.restrict_features`, the
      parent loss and the feature indices;
    """

    gram: tuple = None
    row_gram: np.ndarray = None
    kernel: tuple = None
    column_norms: np.ndarray = None
    power: tuple = None
    task_losses: dict = field(default_factory=dict)
    parent: tuple = None


class SmoothLoss:
    """A datafit composed with a task design: ``f(W, b) = datafit(scores(W, b))``.

    Solvers use only this object and the penalty; they never see X. Shapes:
    ``W`` (n_features, n_tasks[, n_classes]), ``b`` (n_tasks[, n_classes]),
    scores (n_rows[, n_classes]) in the design's task-grouped row order.

    Declared capabilities, from the datafit: ``is_quadratic``,
    ``diagonal_hessian`` and ``n_outputs`` (see :mod:`skmtl.datafits.base`).
    """

    def __init__(self, design, datafit, fit_intercept):
        self.design = design
        self.datafit = datafit
        self.fit_intercept = fit_intercept
        self.cache = SolverCache()

    @property
    def is_quadratic(self):
        return bool(self.datafit.is_quadratic)

    @property
    def diagonal_hessian(self):
        return bool(self.datafit.diagonal_hessian)

    @property
    def output_hessian_diag(self):
        """:meth:`hessian_diagonal` applies with several scores per row."""
        return bool(getattr(self.datafit, "output_hessian_diag", False))

    def scores(self, W, b):
        return self.design.forward(W, b if self.fit_intercept else None)

    def value_from_scores(self, S):
        return self.datafit.value(S)

    def grad_from_scores(self, S):
        return self.grad_from_score_gradient(self.datafit.gradient(S))

    def grad_from_score_gradient(self, G):
        """``(gW, gb)`` from the datafit's gradient ``G`` in score space."""
        gW, gb = self.design.backward(G)
        if not self.fit_intercept:
            gb = np.zeros_like(gb)
        return gW, gb

    def value_grad(self, W, b):
        """``(f, gW, gb)`` at ``(W, b)`` (``gb`` zero without intercept)."""
        S = self.scores(W, b)
        gW, gb = self.grad_from_scores(S)
        return self.value_from_scores(S), gW, gb

    def gradient_hessian_product(self, W, b):
        """Value, gradient and a Hessian-vector-product closure at ``(W, b)``.

        Returns ``(f, gW, gb, hessp)`` with ``hessp(VW, vb) -> (HW, Hb)`` the
        Hessian of ``f`` in ``(W, b)`` times the direction ``(VW, vb)``
        (``Hb`` zero without intercept). The datafit's second derivative is
        evaluated once, here; each product then costs one product with X and
        one with X^T (as scikit-learn's ``LinearModelLoss``).
        """
        S = self.scores(W, b)
        gW, gb = self.grad_from_scores(S)
        return self.value_from_scores(S), gW, gb, self.hessian_product(S)

    def hessian_product(self, S):
        """The Hessian-vector-product closure at the point whose scores are ``S``.

        For solvers that already hold the scores of their iterate (from
        :meth:`scores`): ``hessp(VW, vb) -> (HW, Hb)`` as in
        :meth:`gradient_hessian_product`, without recomputing the gradient.
        """
        apply_h = self.datafit.hessian_operator(S)

        def hessp(VW, vb):
            # scores are linear in (W, b): the direction's scores, then H, X^T
            HW, Hb = self.design.backward(apply_h(self.scores(VW, vb)))
            return HW, (Hb if self.fit_intercept else np.zeros_like(Hb))

        return hessp

    def hessian_diagonal(self, S):
        """Diagonal of the loss Hessian at scores ``S``: ``(dW, db)``.

        For datafits with ``diagonal_hessian``; shapes (n_features, n_tasks)
        and (n_tasks,) (``db`` zero without intercept). Two passes over the
        data (see :meth:`TaskDesign.hessian_diagonal`). With
        ``output_hessian_diag`` (multinomial) the diagonal of the Hessian over
        every output, shapes (n_features, n_tasks, n_outputs) and (n_tasks,
        n_outputs), two passes per output.
        """
        h = self.datafit.hessian_diag(S)
        if h.ndim == 1:
            dW, db = self.design.hessian_diagonal(h)
        else:
            # several scores per row (``output_hessian_diag``): the diagonal
            # of each row's block, one output at a time, (n_features,
            # n_tasks, n_outputs) and (n_tasks, n_outputs)
            parts = [self.design.hessian_diagonal(h[:, k]) for k in range(h.shape[1])]
            dW = np.stack([d for d, _ in parts], axis=-1)
            db = np.stack([d for _, d in parts], axis=-1)
        return dW, (db if self.fit_intercept else np.zeros_like(db))

    # Score-space access for the dual (kernel) and Gram solvers, which work on
    # the scores directly rather than through X.
    def score_gradient(self, S):
        """The datafit's gradient in score space, shape of ``S``."""
        return self.datafit.gradient(S)

    def score_gradient_hessian_diag(self, S):
        """:meth:`score_gradient` and :meth:`score_hessian_diag` at once."""
        return self.datafit.gradient_hessian_diag(S)

    def score_hessian_diag(self, S):
        """The datafit's Hessian diagonal in score space (``diagonal_hessian`` only)."""
        return self.datafit.hessian_diag(S)

    @property
    def row_weights(self):
        """Per-row loss weights (n_rows,) of a datafit with one weight per row."""
        return self.datafit.weights

    @property
    def targets(self):
        """Per-row targets of the datafit (n_rows,) or (n_rows, n_outputs)."""
        return self.datafit.y

    def lipschitz(self):
        """Upper estimate of the Lipschitz constant of the gradient.

        A loss made by :meth:`restrict_features` starts its power iterations
        from its parent's last vectors (restricted to its features) and needs
        fewer of them; the vectors go back to the parent afterwards.
        """
        parent = self.cache.parent
        start, n_iter = None, 10
        if parent is not None and parent[0].cache.power is not None:
            (V, vb), features = parent[0].cache.power, parent[1]
            start, n_iter = (V[features], vb), 4
        L, (V, vb) = self.design.block_lipschitz(
            self.datafit.curvature(), self.fit_intercept, n_iter, start
        )
        if parent is not None:
            full, features = parent
            if full.cache.power is None:
                rng = np.random.default_rng(0)
                shape = (full.design.n_features,) + V.shape[1:]
                full.cache.power = (rng.standard_normal(shape), vb)
            Vfull, _ = full.cache.power
            Vfull[features] = V
            full.cache.power = (Vfull, vb)
        return L

    def restrict_features(self, features):
        """The loss as a function of the weights of ``features`` only."""
        sub = SmoothLoss(
            self.design.restrict_features(features), self.datafit, self.fit_intercept
        )
        sub.cache.parent = (self, np.asarray(features))
        return sub

    def restrict(self, t):
        """The loss of task ``t`` alone, for block-separable problems.

        Kept in :attr:`cache`, so that a path reuses each task's problem (and
        what its solvers cached) at every alpha.
        """
        losses = self.cache.task_losses
        if t not in losses:
            lo, hi = self.design.bounds[t], self.design.bounds[t + 1]
            datafit = self.datafit.restrict_rows(lo, hi)
            losses[t] = SmoothLoss(self.design.restrict(t), datafit, self.fit_intercept)
        return losses[t]


def task_scores(X, codes, W, b):
    """Scores of new rows for their tasks, in the caller's row order.

    ``codes`` index the task axis of ``W`` and ``b``.
    """
    n_tasks = W.shape[1]
    design = TaskDesign(X, codes, n_tasks)
    return design.unsort_rows(design.forward(W, b))
