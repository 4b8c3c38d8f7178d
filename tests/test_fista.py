"""FISTA's growing step (``shrink``) and the intercepts' own step.

The reference is FISTA with ``shrink=1.0`` (a step that never grows, the
solver before the change) run to the same tolerance: both must reach the same
optimum, the growing step in far fewer iterations where the loss is flatter
than its global bound (logistic losses at large margins).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skmtl import MultiTaskRegressor
from skmtl._design import TaskDesign
from skmtl._loss import SmoothLoss
from skmtl.datafits import Logistic
from skmtl.penalties import L21, Dirty, TraceNorm
from skmtl.solvers import FISTA


def _separable_loss(seed=0, n_tasks=3, n_t=30, p=40):
    # few rows, many features, well separated classes: large margins at
    # small alpha, where sigma'(margin) is far below its bound 1/4
    rng = np.random.default_rng(seed)
    codes = np.repeat(np.arange(n_tasks), n_t)
    X = rng.normal(size=(n_tasks * n_t, p))
    y = np.where(X @ rng.normal(size=p) > 0, 1.0, -1.0)
    design = TaskDesign(X, codes, n_tasks)
    rw = np.full(len(y), 1.0 / n_t)  # the estimators' per-task mean
    design.center(rw)
    loss = SmoothLoss(design, Logistic().initialize(y, rw), True)
    return loss, np.zeros((p, n_tasks)), np.zeros(n_tasks)


@pytest.mark.parametrize("penalty", [TraceNorm(), Dirty(sparse=0.3), L21()])
def test_growing_step_same_optimum_fewer_iterations(penalty):
    loss, W0, b0 = _separable_loss()
    bound = penalty.bind(np.arange(W0.shape[1]), 1e-3)
    fixed = FISTA(max_iter=200_000, shrink=1.0).solve(loss, bound, W0, b0, 1e-8)
    grows = FISTA(max_iter=200_000).solve(loss, bound, W0, b0, 1e-8)
    assert fixed.converged and grows.converged
    assert_allclose(grows.objective, fixed.objective, rtol=1e-6)
    assert_allclose(grows.W, fixed.W, atol=1e-3 * np.abs(fixed.W).max())
    assert grows.n_iter * 3 < fixed.n_iter


def test_intercept_step_keeps_rounding_from_growing():
    # uniform features have far less curvature than the intercepts: a step
    # fitted to W's curvature made the intercepts' rounding errors grow until
    # the fits of y and of y as a column (other rounding) differed at 1e-7
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(30, 3))
    y = np.arange(30) % 3
    one = MultiTaskRegressor(penalty="trace").fit(X, y)
    col = MultiTaskRegressor(penalty="trace").fit(X, y[:, None])
    assert_allclose(one.predict(X), col.predict(X).ravel(), rtol=1e-9)


@pytest.mark.parametrize("shrink", [0.0, -0.5, 1.5])
def test_shrink_out_of_range_is_refused(shrink):
    with pytest.raises(ValueError, match="shrink"):
        FISTA(shrink=shrink)
