"""Solutions checked against independent references: scikit-learn and closed forms.

Every test runs dense and sparse, float64 and float32.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (
    LogisticRegression,
    MultiTaskElasticNet,
    MultiTaskLasso,
    Ridge,
)

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.penalties import L21, GraphLaplacian, MeanRegularized

from .conftest import as_container, ragged_problem


def _tols(dtype):
    # solver tolerance and comparison tolerance for each precision
    # float32 data are computed in float32: ask only for what that precision gives
    return (1e-10, 1e-6) if dtype == np.float64 else (1e-4, 5e-3)


@pytest.mark.parametrize("solver", ["newton-cg", "lbfgs"])
def test_independent_equals_ridge_per_task(container, dtype, solver):
    X, y, tasks, labels = ragged_problem()
    rng = np.random.default_rng(1)
    sw = rng.uniform(0.5, 2.0, size=len(y))
    alpha, tw = 0.05, {"task-1": 3.0}
    solver_tol, rtol = _tols(dtype)
    model = MultiTaskRegressor(
        alpha=alpha, task_weights=tw, tol=solver_tol, solver=solver
    ).fit(as_container(X, container, dtype), y, tasks=tasks, sample_weight=sw)
    for t, label in enumerate(labels):
        rows = tasks == label
        lam = tw.get(label, 1.0)
        # per-task objective * 2 S_t / lam: ||r||_s^2 + alpha S_t / lam ||w||^2
        ref = Ridge(alpha=alpha * sw[rows].sum() / lam).fit(
            X[rows], y[rows], sample_weight=sw[rows]
        )
        assert_allclose(model.coef_[t], ref.coef_, rtol=rtol, atol=rtol)
        assert_allclose(model.intercept_[t], ref.intercept_, rtol=rtol, atol=rtol)
    assert model.coef_.dtype == dtype


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("solver", ["newton-cg", "lbfgs"])
def test_independent_equals_logistic_per_task(container, dtype, n_classes, solver):
    X, y, tasks, labels = ragged_problem(classification=True, n_classes=n_classes)
    alpha = 0.02
    solver_tol, rtol = _tols(dtype)
    model = MultiTaskClassifier(alpha=alpha, tol=solver_tol, solver=solver).fit(
        as_container(X, container, dtype), y, tasks=tasks
    )
    Xc = as_container(X, container, dtype)
    for t, label in enumerate(labels):
        rows = tasks == label
        ref = LogisticRegression(
            C=1.0 / (alpha * rows.sum()), tol=1e-12, max_iter=10000
        )
        ref.fit(X[rows], y[rows])
        proba = model.predict_proba(Xc[np.flatnonzero(rows)], tasks=label)
        assert_allclose(proba, ref.predict_proba(X[rows]), atol=10 * rtol)
        coef = model.coef_[t]
        if n_classes == 2:
            assert_allclose(coef, ref.coef_[0], rtol=rtol, atol=rtol)
        else:
            assert_allclose(coef, ref.coef_, rtol=rtol, atol=rtol)


def _mtl_objective(X, Y, coef, intercept, alpha, l1_ratio=1.0):
    # sklearn's MultiTaskElasticNet objective, written here independently
    R = Y - X @ coef.T - intercept
    row_norms = np.sqrt((coef**2).sum(axis=0))
    return (
        0.5 / X.shape[0] * np.sum(R**2)
        + alpha * l1_ratio * row_norms.sum()
        + 0.5 * alpha * (1 - l1_ratio) * np.sum(coef**2)
    )


@pytest.mark.parametrize("l1_ratio", [1.0, 0.6])
@pytest.mark.parametrize("p", [30, 300], ids=["plain-fista", "working-sets"])
def test_l21_equals_multitask_lasso(container, dtype, l1_ratio, p):
    # p > 50 goes through working sets of features, p = 30 through plain FISTA
    rng = np.random.default_rng(0)
    n, T = 80, 4
    X = rng.normal(size=(n, p))
    W = np.zeros((p, T))
    W[:5] = rng.normal(size=(5, T))
    Y = X @ W + 0.5 * rng.normal(size=(n, T)) + 3.0
    alpha = 0.05
    Ref = MultiTaskLasso if l1_ratio == 1.0 else MultiTaskElasticNet
    kwargs = {} if l1_ratio == 1.0 else {"l1_ratio": l1_ratio}
    ref = Ref(alpha=alpha, tol=1e-14, max_iter=100000, **kwargs).fit(X, Y)
    solver_tol, _ = _tols(dtype)
    model = MultiTaskRegressor(
        alpha=alpha, penalty=L21(l1_ratio=l1_ratio), tol=solver_tol, max_iter=20000
    ).fit(as_container(X, container, dtype), Y)
    ours = _mtl_objective(
        X, Y, model.coef_.astype(float), model.intercept_, alpha, l1_ratio
    )
    theirs = _mtl_objective(X, Y, ref.coef_, ref.intercept_, alpha, l1_ratio)
    rel = 1e-6 if dtype == np.float64 else 1e-5
    assert ours <= theirs * (1 + rel)
    assert abs(ours - theirs) <= rel * theirs
    assert_allclose(model.objective_, ours, rtol=1e-4 if dtype == np.float32 else 1e-9)
    if dtype == np.float64:
        # same support (in float32, features at the threshold may flip)
        assert_array_equal(
            np.abs(model.coef_).sum(axis=0) > 1e-6, np.abs(ref.coef_).sum(axis=0) > 1e-6
        )


@pytest.mark.parametrize("solver", ["newton-cg", "lbfgs"])
def test_mean_equals_ridge_on_daume_features(container, dtype, solver):
    X, y, tasks, labels = ragged_problem()
    mu, alpha = 0.7, 0.1
    solver_tol, rtol = _tols(dtype)
    model = MultiTaskRegressor(
        alpha=alpha,
        penalty=MeanRegularized(shared=mu, specific=1.0),
        fit_intercept=False,
        tol=solver_tol,
        solver=solver,
    ).fit(as_container(X, container, dtype), y, tasks=tasks)
    # Daume's augmentation [x / sqrt(mu), 0, .., x, .., 0], ridge with the
    # per-task mean loss expressed as sample weights 1 / n_t.
    T, p = len(labels), X.shape[1]
    codes = np.searchsorted(labels, tasks)
    Z = np.zeros((len(y), p * (T + 1)))
    Z[:, :p] = X / np.sqrt(mu)
    for t in range(T):
        Z[codes == t, p * (t + 1) : p * (t + 2)] = X[codes == t]
    n_t = np.bincount(codes)
    ref = Ridge(alpha=alpha, fit_intercept=False, tol=1e-12).fit(
        Z, y, sample_weight=1.0 / n_t[codes]
    )
    u, V = ref.coef_[:p], ref.coef_[p:].reshape(T, p)
    expected = u / np.sqrt(mu) + V
    assert_allclose(model.coef_, expected, rtol=rtol, atol=rtol)
    assert_allclose(model.shared_coef_, u / np.sqrt(mu), rtol=10 * rtol, atol=10 * rtol)
    assert_allclose(model.specific_coef_, V, rtol=10 * rtol, atol=10 * rtol)


def test_mean_with_intercept_equals_centred_problem():
    # Unpenalised per-task intercepts = per-task centring for the squared loss.
    X, y, tasks, labels = ragged_problem()
    model = MultiTaskRegressor(alpha=0.1, penalty="mean", tol=1e-10).fit(
        X, y, tasks=tasks
    )
    Xc, yc = X.copy(), y.copy()
    for label in labels:
        rows = tasks == label
        Xc[rows] -= X[rows].mean(axis=0)
        yc[rows] -= y[rows].mean()
    centred = MultiTaskRegressor(
        alpha=0.1, penalty="mean", fit_intercept=False, tol=1e-10
    ).fit(Xc, yc, tasks=tasks)
    assert_allclose(model.coef_, centred.coef_, rtol=1e-6, atol=1e-8)


def test_mean_limits_pooled_and_independent():
    X, y, tasks, labels = ragged_problem()
    codes = np.searchsorted(labels, tasks)
    n_t = np.bincount(codes)
    # specific -> infinity: one pooled ridge model with strength alpha * shared;
    # the distance shrinks like 1 / specific.
    ref = Ridge(alpha=0.1, fit_intercept=False).fit(
        X, y, sample_weight=1.0 / n_t[codes]
    )
    for specific, atol in ((1e4, 2e-3), (1e6, 2e-5)):
        with warnings.catch_warnings():
            # at 1e6 the conditioning may stop the line search before tol
            warnings.simplefilter("ignore", ConvergenceWarning)
            pooled = MultiTaskRegressor(
                alpha=0.1,
                penalty=MeanRegularized(shared=1.0, specific=specific),
                fit_intercept=False,
                tol=1e-6,
            ).fit(X, y, tasks=tasks)
        for t in range(len(labels)):
            assert_allclose(pooled.coef_[t], ref.coef_, atol=atol)
    # specific -> 0: unregularised least squares per task
    free = MultiTaskRegressor(
        alpha=1.0, penalty=MeanRegularized(shared=1.0, specific=1e-9), tol=1e-12
    ).fit(X, y, tasks=tasks)
    for t, label in enumerate(labels):
        rows = tasks == label
        ols = Ridge(alpha=0.0).fit(X[rows], y[rows])
        assert_allclose(free.coef_[t], ols.coef_, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("solver", ["newton-cg", "lbfgs"])
def test_graph_closed_form(container, dtype, solver):
    # Squared loss, no intercept: the normal equations written in the test.
    X, y, tasks, labels = ragged_problem(sizes=(25, 40, 60, 35))
    T, p = len(labels), X.shape[1]
    A = np.array([[0, 2.0, 0, 0], [2.0, 0, 1.0, 0], [0, 1.0, 0, 0.5], [0, 0, 0.5, 0]])
    alpha, ridge, coupling = 0.2, 0.3, 1.5
    solver_tol, rtol = _tols(dtype)
    model = MultiTaskRegressor(
        alpha=alpha,
        penalty=GraphLaplacian(adjacency=A, coupling=coupling, ridge=ridge),
        fit_intercept=False,
        tol=solver_tol,
        solver=solver,
    ).fit(as_container(X, container, dtype), y, tasks=tasks)
    # objective: sum_t 1/(2 n_t) ||y_t - X_t w_t||^2
    #   + alpha/2 (ridge sum_t ||w_t||^2 + coupling sum_{s,t} A_st ||w_s - w_t||^2)
    H = np.zeros((T * p, T * p))
    rhs = np.zeros(T * p)
    for t, label in enumerate(labels):
        rows = tasks == label
        Xt, n_t = X[rows], rows.sum()
        H[t * p : (t + 1) * p, t * p : (t + 1) * p] += Xt.T @ Xt / n_t
        rhs[t * p : (t + 1) * p] = Xt.T @ y[rows] / n_t
    for s in range(T):
        for t in range(T):
            # d/dw of alpha/2 * coupling * A_st ||w_s - w_t||^2 (ordered pair)
            c = alpha * coupling * A[s, t]
            for a, b_ in ((s, s), (t, t)):
                H[a * p : (a + 1) * p, b_ * p : (b_ + 1) * p] += c * np.eye(p)
            for a, b_ in ((s, t), (t, s)):
                H[a * p : (a + 1) * p, b_ * p : (b_ + 1) * p] -= c * np.eye(p)
    H += alpha * ridge * np.eye(T * p)
    expected = np.linalg.solve(H, rhs).reshape(T, p)
    assert_allclose(model.coef_, expected, rtol=rtol, atol=rtol)


def test_graph_adjacency_by_labels_matches_matrix():
    X, y, tasks, labels = ragged_problem()
    by_pairs = MultiTaskRegressor(
        penalty=GraphLaplacian(adjacency={("task-0", "task-2"): 2.0}), tol=1e-10
    ).fit(X, y, tasks=tasks)
    A = np.zeros((3, 3))
    A[0, 2] = 2.0
    by_matrix = MultiTaskRegressor(penalty=GraphLaplacian(adjacency=A), tol=1e-10).fit(
        X, y, tasks=tasks
    )
    assert_allclose(by_pairs.coef_, by_matrix.coef_, rtol=1e-8)


def test_default_graph_links_all_pairs_like_mean():
    # With every pair linked and ridge r: a mean-type coupling. Check the
    # default adjacency against an explicit all-ones matrix.
    X, y, tasks, _ = ragged_problem()
    default = MultiTaskRegressor(penalty="graph", tol=1e-10).fit(X, y, tasks=tasks)
    explicit = MultiTaskRegressor(
        penalty=GraphLaplacian(adjacency=np.ones((3, 3))), tol=1e-10
    ).fit(X, y, tasks=tasks)
    assert_allclose(default.coef_, explicit.coef_, rtol=1e-8)


def test_objective_pinned_and_kkt_below_tol(container):
    X, y, tasks, labels = ragged_problem()
    Xc = as_container(X, container)
    for penalty in ("independent", "mean", "graph", "l21"):
        model = MultiTaskRegressor(alpha=0.05, penalty=penalty, tol=1e-6, max_iter=5000)
        model.fit(Xc, y, tasks=tasks)
        # loss part written out: sum_t mean_i 0.5 (y - x.w_t - b_t)^2
        loss = 0.0
        for t, label in enumerate(labels):
            rows = tasks == label
            r = y[rows] - X[rows] @ model.coef_[t] - model.intercept_[t]
            loss += 0.5 * np.mean(r**2)
        pen = model.penalty_.bind(labels, 0.05).value(model.coef_.T)
        assert_allclose(model.objective_, loss + pen, rtol=1e-8)
        assert model.kkt_violation_ <= model.kkt_tol_


def test_float32_matches_float64_and_sparse_matches_dense():
    X, y, tasks, _ = ragged_problem(classification=True, n_classes=3)
    ref = MultiTaskClassifier(penalty="l21", alpha=0.01, tol=1e-10, max_iter=20000)
    ref.fit(X, y, tasks=tasks)
    for Xc in (
        sp.csr_matrix(X),
        X.astype(np.float32),
        sp.csc_matrix(X.astype(np.float32)),
    ):
        tol = 1e-8 if Xc.dtype == np.float64 else 1e-6
        model = MultiTaskClassifier(penalty="l21", alpha=0.01, tol=tol, max_iter=20000)
        model.fit(Xc, y, tasks=tasks)
        atol = 1e-6 if Xc.dtype == np.float64 else 2e-3
        assert_allclose(model.coef_, ref.coef_, atol=atol)
        assert_allclose(
            model.predict_proba(Xc, tasks), ref.predict_proba(X, tasks), atol=atol
        )
