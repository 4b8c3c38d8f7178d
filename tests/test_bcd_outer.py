"""The outer loop of block coordinate descent for the squared loss on Grams.

After a working set is solved on its Gram matrices, the solver takes the
working set's gradient from the model (``A V - C``, kept by the epochs), a
product with X^T only for the features outside it (their columns alone when
they are few) and, when the working set holds every feature, the objective
from the model instead of the scores. References: scikit-learn's
MultiTaskLasso (on repeated rows for integer sample weights), and the KKT
violation and objective recomputed here from the fitted ``coef_``.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import MultiTaskLasso

from skmtl import MultiTaskRegressor
from skmtl._design import count_data_passes

from .conftest import as_container


def _problem(n, p, T, seed, n_true=None):
    # columns with their own means and scales (the centring matters) and
    # correlated neighbours
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[:, 1:] += 0.6 * X[:, :-1]
    X = X * rng.uniform(0.5, 2.0, p) + rng.uniform(-3.0, 3.0, p)
    n_true = p // 10 if n_true is None else n_true
    W = np.zeros((p, T))
    W[rng.permutation(p)[:n_true]] = rng.normal(size=(n_true, T))
    Y = X @ W + rng.normal(size=(n, T)) + rng.uniform(-5, 5, T)
    return X, Y


def _alpha_max(X, Y, sw=None, fit_intercept=True):
    sw = np.ones(len(X)) if sw is None else sw
    if fit_intercept:
        X = X - sw @ X / sw.sum()
        Y = Y - sw @ Y / sw.sum()
    return np.sqrt(((X.T @ (sw[:, None] * Y)) ** 2).sum(axis=1)).max() / sw.sum()


def _objective(X, Y, coef, intercept, alpha, sw=None):
    """scikit-learn's MultiTaskLasso objective (weighted mean over rows)."""
    sw = np.ones(len(X)) if sw is None else sw
    R = Y - X @ coef.T - intercept
    return (
        0.5 * np.sum(sw[:, None] * R**2) / sw.sum()
        + alpha * np.sqrt((coef**2).sum(axis=0)).sum()
    )


def _kkt(X, Y, coef, intercept, alpha, fit_intercept=True):
    """Max-norm KKT violation of the fit, as the solver defines it."""
    n = X.shape[0]
    R = Y - X @ coef.T - intercept
    G = -(X.T @ R) / n
    if fit_intercept:
        G += X.mean(axis=0)[:, None] * R.mean(axis=0)  # the centred gradient
    norms = np.sqrt((coef**2).sum(axis=0))
    viol = np.maximum(np.sqrt((G**2).sum(axis=1)) - alpha, 0.0)
    on = norms > 0
    viol[on] = np.sqrt(((G[on] + alpha * coef[:, on].T / norms[on, None]) ** 2).sum(1))
    kkt = viol.max()
    if fit_intercept:
        kkt = max(kkt, np.abs(R.mean(axis=0)).max())
    return kkt


def _tol(dtype):
    return 1e-10 if dtype == np.float64 else 1e-4


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_every_feature_active_equals_multitask_lasso(container, dtype, fit_intercept):
    # n > p at alpha_max / 100: every feature active, the last working set
    # holds them all (no scores, the objective from the model)
    X, Y = _problem(n=150, p=90, T=6, seed=0)
    alpha = 0.001 * _alpha_max(X, Y, fit_intercept=fit_intercept)
    ref = MultiTaskLasso(
        alpha=alpha, fit_intercept=fit_intercept, tol=1e-14, max_iter=200000
    ).fit(X, Y)
    assert np.count_nonzero(ref.coef_.any(axis=0)) >= 0.9 * X.shape[1]
    model = MultiTaskRegressor(
        alpha=alpha,
        penalty="l21",
        solver="bcd",
        fit_intercept=fit_intercept,
        tol=_tol(dtype),
        max_iter=100000,
    ).fit(as_container(X, container, dtype), Y)
    coef = model.coef_.astype(np.float64)
    ours = _objective(X, Y, coef, model.intercept_, alpha)
    theirs = _objective(X, Y, ref.coef_, ref.intercept_, alpha)
    rel = 1e-10 if dtype == np.float64 else 1e-5
    assert abs(ours - theirs) <= rel * theirs
    # the reported objective (from the model) is the objective of the fit
    assert model.objective_ == pytest.approx(ours, rel=rel)
    assert model.kkt_violation_ <= model.kkt_tol_
    if dtype == np.float64:
        assert_allclose(model.coef_, ref.coef_, atol=1e-7)
        # the reported KKT violation (from the model) is the fit's own
        kkt = _kkt(X, Y, coef, model.intercept_, alpha, fit_intercept)
        assert kkt <= model.kkt_tol_
        assert model.kkt_violation_ == pytest.approx(kkt, rel=1e-3, abs=1e-12)


def test_working_sets_with_few_features_outside(container, dtype):
    # more features than the first working set: the working sets grow and
    # the last outer steps take X^T on the few features left outside (their
    # columns only, centred with weighted means). Integer sample weights are
    # rows repeated for MultiTaskLasso; weight 0 drops a row.
    X, Y = _problem(n=400, p=600, T=8, seed=1, n_true=150)
    sw = np.random.default_rng(2).integers(0, 4, size=len(X)).astype(float)
    alpha = 0.04 * _alpha_max(X, Y, sw)
    rows = np.repeat(np.arange(len(X)), sw.astype(int))
    ref = MultiTaskLasso(alpha=alpha, tol=1e-14, max_iter=200000).fit(X[rows], Y[rows])
    n_active = np.count_nonzero(ref.coef_.any(axis=0))
    # measured: working sets of 100, 400 then 367 features (some leave), X^T
    # on the 200 and then 233 features outside
    assert 250 < n_active < 400
    model = MultiTaskRegressor(
        alpha=alpha, penalty="l21", solver="bcd", tol=_tol(dtype), max_iter=100000
    ).fit(as_container(X, container, dtype), Y, sample_weight=sw)
    coef = model.coef_.astype(np.float64)
    ours = _objective(X, Y, coef, model.intercept_, alpha, sw)
    theirs = _objective(X, Y, ref.coef_, ref.intercept_, alpha, sw)
    rel = 1e-10 if dtype == np.float64 else 1e-5
    assert abs(ours - theirs) <= rel * theirs
    assert model.objective_ == pytest.approx(ours, rel=rel)
    if dtype == np.float64:
        assert_allclose(model.coef_, ref.coef_, atol=1e-7)
        assert_allclose(model.intercept_, ref.intercept_, atol=1e-7)
        kkt = _kkt(X[rows], Y[rows], coef, model.intercept_, alpha)
        assert model.kkt_violation_ == pytest.approx(kkt, rel=1e-3, abs=1e-12)


def test_no_product_with_the_data_after_the_zero_model():
    # n > p with every feature in the first working set: the KKT checks come
    # from the model, the first one from the zero model's gradient that the
    # tolerance already took; the products with X^T are the column means
    # (centring) and that gradient, the one product with X the zero model's
    # scores in the solver (counted though it takes none; the tolerance's
    # takes its scores from the intercepts, TaskDesign.zero_scores). Before:
    # two more products with X^T (the first and the last KKT checks).
    X, Y = _problem(n=200, p=60, T=5, seed=3)
    alpha = 0.001 * _alpha_max(X, Y)
    model = MultiTaskRegressor(alpha=alpha, penalty="l21", solver="bcd", tol=1e-8)
    with count_data_passes() as passes:
        model.fit(X, Y)
    assert np.all(model.coef_.any(axis=0))
    assert passes.backward == 2
    assert passes.forward == 1
