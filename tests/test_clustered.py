"""Convex clustered MTL (Zhou, Chen & Ye 2011), checked against independent references.

Whole fits (squared, binary and multinomial logistic losses; ragged tasks;
dense and sparse; float64 and float32) against cvxpy solving the jointly
convex problem in ``(W, M)`` with ``matrix_frac``; the prox, the M-step and
the fitted M against cvxpy; the gradient against finite differences; the
limits (``n_clusters = n_tasks`` is the independent ridge, a huge
``coupling`` with one cluster the squared trace norm); planted clusters
recovered; the scikit-learn API and the CV estimator.
"""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.datasets import make_multitask_regression
from skmtl.linear_model import fit_path
from skmtl.model_selection import MultiTaskRegressorCV
from skmtl.penalties import PENALTY_ALIASES, BoundPenalty, Clustered, TaskRelationship
from skmtl.penalties._clustered import capped_simplex_weights

from .conftest import (
    as_container,
    check_cv_matches_grid_search,
    cp,
    needs_cvxpy,
    num_grad,
    ragged_problem,
    solve_cvxpy,
)

LABELS = np.array(["a", "b", "c", "d"])


def _stacked(W):
    """(p, T) or (p, T, K) -> (p * K, T): the classes as extra rows."""
    return W if W.ndim == 2 else np.moveaxis(W, 2, 1).reshape(-1, W.shape[1])


def _eta_c(ridge, coupling):
    eta = ridge / coupling
    return eta, coupling * eta * (1 + eta)


def _cvxpy_coupling(A, k, eta):
    """``min_M tr(A (eta I + M)^-1 A^T)`` as a cvxpy expression and M, ``A`` (m, T)."""
    T = A.shape[1]
    M = cp.Variable((T, T), symmetric=True)
    constraints = [M >> 0, np.eye(T) - M >> 0, cp.trace(M) == k]
    return cp.matrix_frac(A.T, eta * np.eye(T) + M), M, constraints


# ------------------------------------------------------------------ whole fits
def _objective(kind, X, y, tasks, labels, coef, intercept, alpha, k, ridge, coupling):
    """The estimators' objective at (coef_, intercept_), M minimised by cvxpy."""
    codes = np.searchsorted(labels, tasks)
    c_rows = 1.0 / np.bincount(codes)[codes]  # per-task means
    coef = np.asarray(coef, dtype=np.float64)
    if kind == "multinomial":
        S = np.einsum("ip,ikp->ik", X, coef[codes]) + intercept[codes]
        classes = np.unique(y)
        losses = (
            logsumexp(S, axis=1) - S[np.arange(len(y)), np.searchsorted(classes, y)]
        )
        W = np.moveaxis(coef, (0, 1, 2), (1, 2, 0))  # (T, K, p) -> (p, T, K)
    else:
        s = np.einsum("ip,ip->i", X, coef[codes]) + intercept[codes]
        if kind == "squared":
            losses = 0.5 * (y - s) ** 2
        else:
            losses = np.logaddexp(0.0, -np.where(y > 0, 1.0, -1.0) * s)
        W = coef.T
    eta, c = _eta_c(ridge, coupling)
    expr, _, constraints = _cvxpy_coupling(_stacked(W), k, eta)
    frac = solve_cvxpy(cp.Problem(cp.Minimize(expr), constraints))
    return float(c_rows @ losses) + 0.5 * alpha * c * frac


def _cvxpy_optimum(kind, X, y, tasks, labels, alpha, k, ridge, coupling):
    """The optimal value of the same objective, jointly in (W, b, M), by cvxpy."""
    onehot = (tasks[:, None] == labels[None]).astype(float)
    c_rows = 1.0 / onehot.sum(axis=0)[np.searchsorted(labels, tasks)]
    p, T = X.shape[1], len(labels)

    def scores():
        W, b = cp.Variable((p, T)), cp.Variable(T)
        return W, cp.sum(cp.multiply(X @ W, onehot), axis=1) + onehot @ b

    if kind == "multinomial":
        classes = np.unique(y)
        Ws, ss = zip(*(scores() for _ in classes))
        S = cp.vstack(ss).T
        Y = (y[:, None] == classes[None]).astype(float)
        losses = cp.log_sum_exp(S, axis=1) - cp.sum(cp.multiply(Y, S), axis=1)
        stacked = cp.vstack(Ws)
    else:
        stacked, s = scores()
        if kind == "squared":
            losses = 0.5 * cp.square(y - s)
        else:
            losses = cp.logistic(-cp.multiply(np.where(y > 0, 1.0, -1.0), s))
    eta, c = _eta_c(ridge, coupling)
    expr, _, constraints = _cvxpy_coupling(stacked, k, eta)
    objective = c_rows @ losses + 0.5 * alpha * c * expr
    return solve_cvxpy(cp.Problem(cp.Minimize(objective), constraints))


# (alpha, n_clusters, ridge, coupling), 4 tasks of 5 features
SETTINGS = {
    "squared": (0.1, 2, 0.5, 2.0),
    "binary": (0.05, 2, 0.5, 2.0),
    "multinomial": (0.05, 1, 1.0, 1.0),
}
_REFERENCES = {}


def _reference(kind):
    if kind not in _REFERENCES:
        sizes, n_features = (12, 20, 30, 16), 5
        if kind == "squared":
            X, y, tasks, labels = ragged_problem(sizes, n_features)
        else:
            X, y, tasks, labels = ragged_problem(
                sizes,
                n_features,
                classification=True,
                n_classes=3 if kind == "multinomial" else 2,
            )
        best = _cvxpy_optimum(kind, X, y, tasks, labels, *SETTINGS[kind])
        _REFERENCES[kind] = (X, y, tasks, labels, best)
    return _REFERENCES[kind]


def _check_fit(kind, container, dtype):
    X, y, tasks, labels, best = _reference(kind)
    alpha, k, ridge, coupling = SETTINGS[kind]
    Model = MultiTaskRegressor if kind == "squared" else MultiTaskClassifier
    tol = 1e-10 if dtype == np.float64 else 1e-5
    penalty = Clustered(n_clusters=k, ridge=ridge, coupling=coupling)
    model = Model(alpha=alpha, penalty=penalty, tol=tol, max_iter=20000)
    with warnings.catch_warnings():
        # float32: FISTA may stall at rounding level
        action = "error" if dtype == np.float64 else "ignore"
        warnings.simplefilter(action, ConvergenceWarning)
        model.fit(as_container(X, container, dtype), y, tasks=tasks)
    ours = _objective(
        kind, X, y, tasks, labels, model.coef_, model.intercept_, alpha, k, ridge,
        coupling,
    )  # fmt: skip
    rel = 1e-6 if dtype == np.float64 else 1e-5
    assert abs(ours - best) <= rel * abs(best), (ours, best)
    assert_allclose(model.objective_, ours, rtol=1e-6 if dtype == np.float64 else 1e-5)
    assert model.coef_.dtype == dtype
    M = model.task_cluster_matrix_
    assert M.shape == (len(labels), len(labels)) and M.dtype == dtype
    assert_allclose(np.trace(M), k, rtol=1e-5)
    assert model.task_clusters_.shape == (len(labels),)
    if dtype == np.float64:
        assert model.kkt_violation_ <= model.kkt_tol_
    return model


@needs_cvxpy
@pytest.mark.parametrize("kind", ["squared", "binary"])
def test_fit_matches_cvxpy(kind, container, dtype):
    _check_fit(kind, container, dtype)


@needs_cvxpy
def test_multinomial_fit_matches_cvxpy():
    model = _check_fit("multinomial", "dense", np.float64)
    assert_array_equal(model.task_clusters_, np.zeros(4))  # n_clusters=1


# ------------------------------------------------------------- penalty maths
def test_declared_capabilities_and_alias():
    bound = Clustered().bind(LABELS, 0.5)
    assert isinstance(bound, BoundPenalty)
    assert bound.is_smooth is False and bound.quadratic_form is None
    assert bound.separable_by_task is False and bound.separable_by_feature is False
    assert PENALTY_ALIASES["clustered"] is Clustered
    assert bound.smooth_value(np.ones((3, 4))) == 0.0


@needs_cvxpy
@pytest.mark.parametrize("s", [[3.0, 2.0, 1.0, 0.5], [2.0, 1e-3, 0.0, 0.0], [1.0] * 4])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_capped_simplex_weights_match_cvxpy(s, k):
    s, eta = np.array(s), 0.3
    m = capped_simplex_weights(s, eta, k)
    assert_allclose(m.sum(), k, rtol=1e-12)
    assert m.min() >= 0 and m.max() <= 1
    x = cp.Variable(len(s))
    expr = cp.sum(cp.multiply(s**2, cp.inv_pos(eta + x)))
    best = solve_cvxpy(cp.Problem(cp.Minimize(expr), [x >= 0, x <= 1, cp.sum(x) == k]))
    assert_allclose(np.sum(s**2 / (eta + m)), best, rtol=1e-7, atol=1e-10)


@needs_cvxpy
@pytest.mark.parametrize("shape, k", [((5, 4), 2), ((2, 4), 3), ((3, 4, 2), 1)])
def test_value_and_fitted_m_match_cvxpy(shape, k):
    rng = np.random.default_rng(1)
    W = rng.normal(size=shape)
    alpha, ridge, coupling = 0.7, 0.5, 2.0
    bound = Clustered(k, ridge, coupling).bind(LABELS, alpha)
    eta, c = _eta_c(ridge, coupling)
    expr, M, constraints = _cvxpy_coupling(_stacked(W), k, eta)
    frac = solve_cvxpy(cp.Problem(cp.Minimize(expr), constraints))
    assert_allclose(bound.value(W), 0.5 * alpha * c * frac, rtol=1e-7)
    ours = bound.fitted_attributes(W, None)["task_cluster_matrix_"]
    eig = np.linalg.eigvalsh(ours)
    assert_allclose(np.trace(ours), k, rtol=1e-12)
    assert eig.min() >= -1e-12 and eig.max() <= 1 + 1e-12
    A = _stacked(W)
    assert_allclose(
        np.trace(A @ np.linalg.solve(eta * np.eye(4) + ours, A.T)), frac, rtol=1e-7
    )


@needs_cvxpy
@pytest.mark.parametrize("shape, k", [((5, 4), 2), ((2, 4), 3), ((3, 4, 2), 1)])
def test_prox_matches_cvxpy(shape, k):
    rng = np.random.default_rng(2)
    V = rng.normal(size=shape)
    step, alpha, ridge, coupling = 0.7, 1.3, 0.5, 2.0
    ours = Clustered(k, ridge, coupling).bind(LABELS, alpha).prox(V, step)
    eta, c = _eta_c(ridge, coupling)
    Z = cp.Variable(_stacked(V).shape)
    expr, _, constraints = _cvxpy_coupling(Z, k, eta)
    objective = 0.5 * cp.sum_squares(Z - _stacked(V)) + 0.5 * step * alpha * c * expr
    best = solve_cvxpy(cp.Problem(cp.Minimize(objective), constraints))
    bound = Clustered(k, ridge, coupling).bind(LABELS, alpha)
    value = 0.5 * np.sum((ours - V) ** 2) + step * bound.value(ours)
    assert abs(value - best) <= 1e-8 * best, (value, best)
    assert_allclose(_stacked(ours), Z.value, atol=1e-5)  # the SDP's argmin accuracy


@pytest.mark.parametrize("shape", [(5, 4), (2, 4), (3, 4, 2)])
def test_gradient_and_kkt(shape):
    rng = np.random.default_rng(3)
    W = rng.normal(size=shape)
    bound = Clustered(2, 0.5, 2.0).bind(LABELS, 0.8)
    G = bound.coupling_gradient(W)
    assert_allclose(G, num_grad(bound.value, W), rtol=1e-6, atol=1e-8)
    assert bound.kkt_violation(W, -G) < 1e-12
    # a prox point: (V - W) / step is the gradient at W = prox(V)
    step = 0.4
    P = bound.prox(W, step)
    assert bound.kkt_violation(P, -(W - P) / step) < 1e-10
    assert bound.kkt_violation(P, np.zeros_like(P)) > 1e-3


@pytest.mark.parametrize(
    "params, match",
    [
        ({"ridge": -1.0}, "ridge"),
        ({"ridge": 0.0}, "ridge"),
        ({"coupling": 0.0}, "coupling"),
        ({"coupling": np.nan}, "coupling"),
        ({"n_clusters": 0}, "n_clusters"),
        ({"n_clusters": 1.5}, "n_clusters"),
    ],
)
def test_invalid_parameters_raise(params, match):
    with pytest.raises(ValueError, match=match):
        Clustered(**params).bind(LABELS, 1.0)


def test_zero_weights_give_scaled_identity():
    attrs = Clustered(2).bind(LABELS, 1.0).fitted_attributes(np.zeros((3, 4)), None)
    assert_allclose(attrs["task_cluster_matrix_"], 0.5 * np.eye(4), atol=1e-15)
    assert attrs["task_clusters_"].shape == (4,)


# ------------------------------------------------------------- limits
@pytest.mark.parametrize("n_clusters", [3, 5])
def test_as_many_clusters_as_tasks_is_independent_ridge(n_clusters, container):
    # tr M = T with M <= I forces M = I: alpha / 2 * c / (eta + 1) ||W||^2, and
    # c / (eta + 1) = coupling * eta = ridge
    X, y, tasks, labels = ragged_problem()
    Xc = as_container(X, container)
    alpha, ridge = 0.2, 0.7
    ref = MultiTaskRegressor(alpha=alpha * ridge, penalty="independent", tol=1e-10)
    ref.fit(Xc, y, tasks=tasks)
    penalty = Clustered(n_clusters=n_clusters, ridge=ridge, coupling=3.0)
    ours = MultiTaskRegressor(alpha=alpha, penalty=penalty, tol=1e-10)
    ours.fit(Xc, y, tasks=tasks)
    assert_allclose(ours.coef_, ref.coef_, rtol=1e-7, atol=1e-9)
    assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-7, atol=1e-9)
    assert_allclose(ours.task_cluster_matrix_, np.eye(3), atol=1e-12)
    assert_array_equal(ours.task_clusters_, [0, 1, 2])


def test_huge_coupling_one_cluster_is_squared_trace_norm():
    # eta -> 0: c / (eta + m_i) -> ridge / m_i, and min over the simplex of
    # sum s_i^2 / m_i is (sum s_i)^2: ridge * ||W||_*^2 (MTRL without ridge)
    X, y, tasks, labels = ragged_problem()
    alpha, ridge = 0.3, 0.5
    ref = MultiTaskRegressor(
        alpha=alpha, penalty=TaskRelationship(ridge=0.0, coupling=ridge), tol=1e-10
    ).fit(X, y, tasks=tasks)
    penalty = Clustered(n_clusters=1, ridge=ridge, coupling=1e6)
    ours = MultiTaskRegressor(alpha=alpha, penalty=penalty, tol=1e-10)
    ours.fit(X, y, tasks=tasks)
    assert_allclose(ours.coef_, ref.coef_, rtol=1e-4, atol=1e-5)
    # and a small coupling is close to the ridge of strength alpha * ridge
    weak = MultiTaskRegressor(alpha=alpha, penalty=Clustered(1, ridge, 1e-6), tol=1e-10)
    ridge_ref = MultiTaskRegressor(alpha=alpha * ridge, penalty="independent")
    assert_allclose(
        weak.fit(X, y, tasks=tasks).coef_,
        ridge_ref.set_params(tol=1e-10).fit(X, y, tasks=tasks).coef_,
        rtol=1e-4,
        atol=1e-5,
    )


def test_huge_alpha_shrinks_to_zero():
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor(alpha=1e8, penalty="clustered").fit(X, y, tasks=tasks)
    assert np.abs(model.coef_).max() < 1e-6


@pytest.mark.parametrize("n_clusters, seed", [(2, 0), (3, 1), (3, 2)])
def test_planted_clusters_are_recovered(n_clusters, seed):
    X, y, tasks, W = make_multitask_regression(
        n_tasks=9,
        n_samples=40,
        n_features=8,
        n_clusters=n_clusters,
        relatedness=0.97,
        noise=0.1,
        random_state=seed,
        coef=True,
    )
    planted = np.arange(9) * n_clusters // 9  # the generator's assignment
    model = MultiTaskRegressor(
        alpha=0.05, penalty=Clustered(n_clusters=n_clusters, coupling=5.0)
    ).fit(X, y, tasks=tasks)
    assert adjusted_rand_score(planted, model.task_clusters_) == 1.0
    assert model.task_clusters_[0] == 0  # numbered by first appearance


def test_single_task():
    X, y, tasks, labels = ragged_problem()
    rows = tasks == labels[0]
    one = MultiTaskRegressor(alpha=0.2, penalty=Clustered(n_clusters=2), tol=1e-10)
    one.fit(X[rows], y[rows])  # one task: k = 1 = T, the ridge
    ref = MultiTaskRegressor(alpha=0.2, penalty="independent", tol=1e-10)
    assert_allclose(one.coef_, ref.fit(X[rows], y[rows]).coef_, rtol=1e-7)
    assert_allclose(one.task_cluster_matrix_, [[1.0]])


def test_short_budget_warns():
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor(alpha=0.3, penalty="clustered", tol=1e-12, max_iter=2)
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y, tasks=tasks)
    assert model.kkt_violation_ > model.kkt_tol_


# ------------------------------------------------------------------ API
def test_pickle_clone_get_params():
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor(alpha=0.3, penalty=Clustered(coupling=2.0))
    assert model.get_params()["penalty__coupling"] == 2.0
    assert model.get_params()["penalty__n_clusters"] == 2
    fitted = clone(model).fit(X, y, tasks=tasks)
    again = pickle.loads(pickle.dumps(fitted))
    assert_array_equal(again.predict(X, tasks=tasks), fitted.predict(X, tasks=tasks))
    assert_array_equal(again.task_clusters_, fitted.task_clusters_)
    fitted.set_params(penalty__coupling=0.1)
    assert fitted.penalty_.coupling == 2.0
    assert repr(Clustered(n_clusters=3)) == "Clustered(n_clusters=3)"
    fitted.set_params(penalty="independent").fit(X, y, tasks=tasks)
    assert not hasattr(fitted, "task_clusters_")


def test_grid_search_and_cv_estimator_agree():
    cv_model, (X, y, tasks) = check_cv_matches_grid_search(
        Clustered(), "coupling", [3.0, 0.3], [0.1, 0.03, 0.01]
    )
    assert cv_model.best_estimator_.task_cluster_matrix_.shape == (3, 3)
    assert cv_model.score(X, y, tasks=tasks) > 0.5


def test_warm_path_matches_cold_fits():
    X, y, tasks, _ = ragged_problem()
    alphas = [1.0, 0.1, 0.01]
    model = MultiTaskRegressor(penalty=Clustered(coupling=3.0), tol=1e-10)
    path = list(fit_path(model, X, y, tasks=tasks, alphas=alphas))
    assert len(path) == len(alphas)
    for alpha, warm in zip(alphas, path):
        cold = clone(model).set_params(alpha=alpha).fit(X, y, tasks=tasks)
        assert_allclose(warm.coef_, cold.coef_, rtol=1e-6, atol=1e-8)
        assert_array_equal(warm.task_clusters_, cold.task_clusters_)
    cv = MultiTaskRegressorCV(alphas, penalty="clustered", cv=3).fit(X, y, tasks=tasks)
    assert cv.alpha_ in alphas and cv.best_estimator_.task_clusters_.shape == (3,)
