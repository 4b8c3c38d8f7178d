"""The learned task relationship (MTRL), checked against independent references.

Whole fits (squared, binary and multinomial logistic losses; dense and
sparse; float64 and float32) against cvxpy solving the objective minimised
over Omega in closed form, ``alpha / 2 (ridge ||W||^2 + coupling ||W||_*^2)``,
including low-rank optima; the prox against cvxpy; the fitted Omega against a
cvxpy minimisation of ``tr(W Omega^-1 W^T)``; a fixed Omega = I / T against
the independent ridge (every solver, the direct ones included); a planted
task structure; the scikit-learn API round trips.
"""

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.penalties import PENALTY_ALIASES, BoundPenalty, TaskRelationship

from .conftest import (
    as_container,
    check_cv_matches_grid_search,
    cp,
    needs_cvxpy,
    ragged_problem,
    solve_cvxpy,
)

LABELS = np.array(["a", "b", "c", "d"])


def _stacked(W):
    """(p, T) or (p, T, K) -> (p * K, T): the classes as extra rows."""
    return W if W.ndim == 2 else np.moveaxis(W, 2, 1).reshape(-1, W.shape[1])


# ------------------------------------------------------------------ whole fits
def _row_weights(tasks, labels, sample_weight):
    """s_i / sum_{j in t(i)} s_j: the per-task weighted mean."""
    sw = np.ones(len(tasks)) if sample_weight is None else sample_weight
    totals = {label: sw[tasks == label].sum() for label in labels}
    return sw / np.array([totals[t] for t in tasks])


def _objective(kind, X, y, tasks, labels, c, coef, intercept, alpha, ridge, coupling):
    """The estimators' objective at (coef_, intercept_), Omega minimised out."""
    codes = np.searchsorted(labels, tasks)
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
        else:  # binary logistic
            losses = np.logaddexp(0.0, -np.where(y > 0, 1.0, -1.0) * s)
        W = coef.T
    nuclear = np.linalg.norm(_stacked(W), "nuc")
    penalty = 0.5 * alpha * (ridge * np.sum(coef**2) + coupling * nuclear**2)
    return float(c @ losses) + penalty


def _cvxpy_optimum(kind, X, y, tasks, labels, c, alpha, ridge, coupling):
    """The optimal value of the same objective, solved by cvxpy."""
    onehot = (tasks[:, None] == labels[None]).astype(float)
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
        stacked = cp.vstack(Ws)  # the classes as rows: one shared Omega
    else:
        W, s = scores()
        Ws, stacked = (W,), W
        if kind == "squared":
            losses = 0.5 * cp.square(y - s)
        else:
            losses = cp.logistic(-cp.multiply(np.where(y > 0, 1.0, -1.0), s))
    penalty = ridge * sum(cp.sum_squares(W) for W in Ws)
    penalty += coupling * cp.square(cp.normNuc(stacked))
    return solve_cvxpy(cp.Problem(cp.Minimize(c @ losses + 0.5 * alpha * penalty)))


_REFERENCES = {}
# (alpha, ridge, coupling): the first three have full-rank optima, the
# "lowrank" ones (large alpha * coupling) low-rank optima, where the paper's
# alternation stalled
SETTINGS = {
    "squared": (0.05, 1.0, 1.0),
    "binary": (0.01, 1.0, 1.0),
    "multinomial": (0.02, 1.0, 1.0),
    "squared-lowrank": (0.3, 0.5, 2.0),
    "binary-lowrank": (0.05, 0.2, 3.0),
}


def _kind(setting):
    return setting.split("-")[0]


def _reference(setting, weighted):
    key = (setting, weighted)
    kind = _kind(setting)
    if key not in _REFERENCES:
        if kind == "squared":
            X, y, tasks, labels = ragged_problem()
        else:
            n_classes = 3 if kind == "multinomial" else 2
            X, y, tasks, labels = ragged_problem(
                classification=True, n_classes=n_classes
            )
        alpha, ridge, coupling = SETTINGS[setting]
        sw = np.random.default_rng(6).uniform(0.5, 2.0, len(y)) if weighted else None
        c = _row_weights(tasks, labels, sw)
        best = _cvxpy_optimum(kind, X, y, tasks, labels, c, alpha, ridge, coupling)
        _REFERENCES[key] = (X, y, tasks, labels, sw, c, best)
    return _REFERENCES[key]


def _check_fit(setting, weighted, container, dtype):
    X, y, tasks, labels, sw, c, best = _reference(setting, weighted)
    alpha, ridge, coupling = SETTINGS[setting]
    kind = _kind(setting)
    Model = MultiTaskRegressor if kind == "squared" else MultiTaskClassifier
    tol = 1e-10 if dtype == np.float64 else 1e-5
    penalty = TaskRelationship(ridge=ridge, coupling=coupling)
    model = Model(alpha=alpha, penalty=penalty, tol=tol, max_iter=20000)
    with warnings.catch_warnings():
        # float32: FISTA may stall at rounding level
        action = "error" if dtype == np.float64 else "ignore"
        warnings.simplefilter(action, ConvergenceWarning)
        model.fit(as_container(X, container, dtype), y, tasks=tasks, sample_weight=sw)
    ours = _objective(
        kind, X, y, tasks, labels, c, model.coef_, model.intercept_, alpha, ridge,
        coupling,
    )  # fmt: skip
    rel = 1e-6 if dtype == np.float64 else 1e-5
    assert abs(ours - best) <= rel * abs(best), (ours, best)
    assert_allclose(model.objective_, ours, rtol=1e-7 if dtype == np.float64 else 1e-5)
    assert model.coef_.dtype == dtype
    Omega = model.task_relationship_
    assert Omega.shape == (len(labels), len(labels)) and Omega.dtype == dtype
    assert_allclose(np.trace(Omega), 1.0, rtol=1e-6)
    assert_allclose(np.diag(model.task_correlation_), 1.0, rtol=1e-6)
    if dtype == np.float64:
        assert model.kkt_violation_ <= model.kkt_tol_
    return model, ours, best


@needs_cvxpy
@pytest.mark.parametrize("setting", ["squared", "binary"])
@pytest.mark.parametrize("weighted", [False, True])
def test_fit_matches_cvxpy(setting, weighted, container, dtype):
    _check_fit(setting, weighted, container, dtype)


@needs_cvxpy
@pytest.mark.parametrize("setting", ["squared-lowrank", "binary-lowrank"])
def test_low_rank_optimum_is_reached_and_certified(setting):
    model, _, _ = _check_fit(setting, False, "dense", np.float64)
    A = model.coef_.T if model.coef_.ndim == 2 else model.coef_
    s = np.linalg.svd(np.asarray(A, dtype=float), compute_uv=False)
    assert s[-1] < 1e-8 * s[0]  # the optimum is rank deficient
    assert np.linalg.matrix_rank(model.task_relationship_) < len(s)


@needs_cvxpy
def test_multinomial_fit_matches_cvxpy():
    model, _, _ = _check_fit("multinomial", False, "dense", np.float64)
    assert model.task_relationship_.shape == (3, 3)


# ------------------------------------------------------------- penalty maths
def test_declared_capabilities_and_alias():
    bound = TaskRelationship().bind(LABELS[:3], 0.5)
    assert bound.is_smooth is False and bound.quadratic_form is None
    assert bound.separable_by_task is False and bound.separable_by_feature is False
    fixed = TaskRelationship(task_relationship=np.eye(3) / 3).bind(LABELS[:3], 0.5)
    assert fixed.is_smooth is True
    alpha, M = fixed.quadratic_form
    assert alpha == 0.5
    assert_allclose(M, 4.0 * np.eye(3), rtol=1e-14)  # ridge + T coupling
    assert PENALTY_ALIASES["relationship"] is TaskRelationship
    assert isinstance(bound, BoundPenalty)


@needs_cvxpy
@pytest.mark.parametrize("shape", [(5, 3), (3, 4, 2), (2, 5)])
def test_prox_matches_cvxpy(shape):
    rng = np.random.default_rng(2)
    V = rng.normal(size=shape)
    step, alpha, coupling = 0.7, 1.3, 0.4
    bound = TaskRelationship(ridge=1.0, coupling=coupling).bind(
        LABELS[: shape[1]], alpha
    )
    ours = bound.prox(V, step)
    Z = cp.Variable(_stacked(V).shape)
    t = step * alpha * coupling
    objective = 0.5 * cp.sum_squares(Z - _stacked(V)) + 0.5 * t * cp.square(
        cp.normNuc(Z)
    )
    solve_cvxpy(cp.Problem(cp.Minimize(objective)))
    assert_allclose(_stacked(ours), Z.value, atol=1e-6)


def test_kkt_is_zero_at_a_prox_point_and_positive_elsewhere():
    rng = np.random.default_rng(3)
    V = rng.normal(size=(6, 4))
    step, alpha, coupling = 0.5, 1.0, 2.0
    bound = TaskRelationship(ridge=0.0, coupling=coupling).bind(LABELS, alpha)
    W = bound.prox(V, step)
    # W = prox(V): (V - W) / step is in the subdifferential at W
    assert bound.kkt_violation(W, -(V - W) / step) < 1e-10
    assert bound.kkt_violation(W, np.zeros_like(W)) > 1e-3
    # at W = 0 the subdifferential is {0}
    assert_allclose(bound.kkt_violation(np.zeros((6, 4)), V), np.linalg.norm(V))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"ridge": -1.0}, "ridge"),
        ({"coupling": np.nan}, "coupling"),
        ({"task_relationship": np.eye(3)}, "shape"),
        ({"task_relationship": np.diag([1.0, 1.0, 1.0, 0.0])}, "positive definite"),
        ({"task_relationship": np.triu(np.ones((4, 4)))}, "symmetric"),
    ],
)
def test_invalid_parameters_raise(params, match):
    with pytest.raises(ValueError, match=match):
        TaskRelationship(**params).bind(LABELS, 1.0)


@needs_cvxpy
@pytest.mark.parametrize("shape, rank", [((6, 4), 4), ((3, 4, 2), 4), ((6, 4), 2)])
def test_fitted_omega_is_the_minimiser(shape, rank):
    rng = np.random.default_rng(1)
    W = rng.normal(size=shape)
    if rank < shape[1]:
        W = W.reshape(-1, shape[1])[:, :rank] @ rng.normal(size=(rank, shape[1]))
        W = W.reshape(shape)
    bound = TaskRelationship().bind(LABELS[: shape[1]], 1.0)
    Omega = bound.fitted_attributes(W, None)["task_relationship_"]
    A = _stacked(W)
    # tr(A Omega^+ A^T) at the fitted Omega equals ||A||_*^2, the minimum
    # over {Omega PSD, tr Omega = 1} (cvxpy, with A in the range of Omega)
    assert_allclose(np.trace(Omega), 1.0, rtol=1e-12)
    assert_allclose(
        np.trace(A @ np.linalg.pinv(Omega) @ A.T),
        np.linalg.norm(A, "nuc") ** 2,
        rtol=1e-8,
    )
    if rank == shape[1]:
        X = cp.Variable((shape[1], shape[1]), PSD=True)
        problem = cp.Problem(cp.Minimize(cp.matrix_frac(A.T, X)), [cp.trace(X) == 1])
        value = solve_cvxpy(problem)
        assert_allclose(Omega, X.value, atol=1e-5)
        assert_allclose(value, np.linalg.norm(A, "nuc") ** 2, rtol=1e-6)


def test_zero_weights_give_uniform_omega_and_correlation():
    bound = TaskRelationship().bind(LABELS[:3], 1.0)
    attrs = bound.fitted_attributes(np.zeros((4, 3)), np.zeros(3))
    assert_allclose(attrs["task_relationship_"], np.eye(3) / 3, rtol=1e-15)
    assert_allclose(attrs["task_correlation_"], np.eye(3), rtol=1e-15)


# ------------------------------------------------------------- limits
@pytest.mark.parametrize("solver", ["auto", "newton-cg", "lbfgs", "gram", "kernel"])
def test_fixed_uniform_omega_is_independent_ridge(solver, container):
    X, y, tasks, labels = ragged_problem()
    Xc = as_container(X, container)
    alpha, ridge, coupling, T = 0.2, 0.5, 1.5, len(labels)
    ref = MultiTaskRegressor(
        alpha=alpha * (ridge + T * coupling), penalty="independent", tol=1e-10
    ).fit(Xc, y, tasks=tasks)
    penalty = TaskRelationship(ridge, coupling, task_relationship=np.eye(T) / T)
    ours = MultiTaskRegressor(alpha=alpha, penalty=penalty, tol=1e-10, solver=solver)
    ours.fit(Xc, y, tasks=tasks)
    assert_allclose(ours.coef_, ref.coef_, rtol=1e-7, atol=1e-9)
    assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-7, atol=1e-9)
    assert_allclose(ours.task_relationship_, np.eye(T) / T)


def test_planted_groups_are_recovered():
    rng = np.random.default_rng(7)
    p, n_t = 12, 50
    # two groups of three tasks: near copies of one of two orthogonal vectors
    bases = np.linalg.qr(rng.normal(size=(p, 2)))[0] * 3.0
    W_true = np.column_stack(
        [bases[:, g] + 0.2 * rng.normal(size=p) for g in (0, 0, 0, 1, 1, 1)]
    )
    tasks = np.repeat(np.arange(6), n_t)
    X = rng.normal(size=(len(tasks), p))
    y = np.einsum("ip,pi->i", X, W_true[:, tasks]) + 0.5 * rng.normal(size=len(tasks))
    model = MultiTaskRegressor(alpha=0.05, penalty=TaskRelationship()).fit(
        X, y, tasks=tasks
    )
    corr = model.task_correlation_
    within = np.array(
        [[g == h for h in (0, 0, 0, 1, 1, 1)] for g in (0, 0, 0, 1, 1, 1)]
    )
    assert corr[within & ~np.eye(6, dtype=bool)].min() > 0.8
    assert np.abs(corr[~within]).max() < 0.2
    assert_allclose(corr, corr.T, atol=1e-12)


def test_single_task_and_alpha_zero():
    X, y, tasks, labels = ragged_problem()
    rows = tasks == labels[0]
    one = MultiTaskRegressor(alpha=0.2, penalty=TaskRelationship(), tol=1e-10)
    one.fit(X[rows], y[rows])
    ref = MultiTaskRegressor(alpha=0.4, penalty="independent", tol=1e-10)
    ref.fit(X[rows], y[rows])  # one task: ||w||_*^2 = ||w||^2, ridge + coupling
    assert_allclose(one.coef_, ref.coef_, rtol=1e-6, atol=1e-8)
    assert_allclose(one.task_relationship_, [[1.0]])
    free = MultiTaskRegressor(alpha=0.0, penalty=TaskRelationship(), tol=1e-10)
    plain = MultiTaskRegressor(alpha=0.0, penalty="independent", tol=1e-10)
    assert_allclose(
        free.fit(X, y, tasks=tasks).coef_, plain.fit(X, y, tasks=tasks).coef_, 1e-8
    )


def test_short_budget_warns():
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor(
        alpha=0.3, penalty=TaskRelationship(coupling=3.0), tol=1e-12, max_iter=2
    )
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y, tasks=tasks)
    assert model.kkt_violation_ > model.kkt_tol_


# ------------------------------------------------------------------ API
def test_pickle_clone_get_params():
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor(alpha=0.3, penalty=TaskRelationship(coupling=2.0))
    assert model.get_params()["penalty__coupling"] == 2.0
    fitted = clone(model).fit(X, y, tasks=tasks)
    again = pickle.loads(pickle.dumps(fitted))
    assert_array_equal(again.predict(X, tasks=tasks), fitted.predict(X, tasks=tasks))
    assert_array_equal(again.task_relationship_, fitted.task_relationship_)
    fitted.set_params(penalty__coupling=0.1)
    assert fitted.penalty_.coupling == 2.0
    assert repr(TaskRelationship(ridge=0.5)) == "TaskRelationship(ridge=0.5)"
    # refitting with another penalty drops the attributes
    fitted.set_params(penalty="independent").fit(X, y, tasks=tasks)
    assert not hasattr(fitted, "task_relationship_")


def test_grid_search_and_cv_estimator_agree():
    cv_model, (X, y, tasks) = check_cv_matches_grid_search(
        TaskRelationship(), "coupling", [0.3, 0.1], [0.1, 0.03, 0.01]
    )
    assert cv_model.best_estimator_.task_relationship_.shape == (3, 3)
    assert cv_model.score(X, y, tasks=tasks) > 0.5
