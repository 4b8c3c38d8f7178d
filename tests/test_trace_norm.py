"""The trace-norm coupling, checked against independent references.

The prox and the KKT violation against convex programs solved by cvxpy and
the closed-form singular value thresholding; whole fits (squared, binary and
multinomial logistic losses; dense and sparse; float64 and float32) against
cvxpy solving the same objective, written here from its definition; the
limits (huge alpha, no trace norm, no penalty, a planted low-rank model)
against closed forms and scikit-learn; the scikit-learn API round trips.
"""

import pickle

import numpy as np
import pytest
import scipy.linalg
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.linear_model import LinearRegression

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.penalties import PENALTY_ALIASES, TraceNorm

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


def _nuclear(W):
    """Sum of the nuclear norms of the class slices, from numpy's own norm."""
    W = W if W.ndim == 3 else W[:, :, None]
    return sum(np.linalg.norm(W[:, :, k], "nuc") for k in range(W.shape[2]))


def _random_W(shape, rank, rng):
    """A (p, T[, K]) array whose class slices have the given rank, and its bases."""
    p, T = shape[:2]
    slices, bases = [], []
    for _ in range(shape[2] if len(shape) == 3 else 1):
        U = np.linalg.qr(rng.normal(size=(p, p)))[0]
        V = np.linalg.qr(rng.normal(size=(T, T)))[0]
        s = np.zeros(min(p, T))
        s[:rank] = rng.uniform(0.5, 2.0, size=rank)
        slices.append((U[:, : len(s)] * s) @ V.T[: len(s)])
        bases.append((U, V))
    W = np.stack(slices, axis=2)
    return (W if len(shape) == 3 else W[:, :, 0]), bases


# ----------------------------------------------------------------- penalty maths
@pytest.mark.parametrize("l1_ratio", [1.0, 0.3, 0.0])
@pytest.mark.parametrize("shape", [(5, 3), (3, 4, 2)])
def test_value_gradient_hvp_lipschitz(l1_ratio, shape):
    alpha = 0.8
    bound = TraceNorm(l1_ratio=l1_ratio).bind(LABELS[: shape[1]], alpha)
    rng = np.random.default_rng(0)
    W, V = rng.normal(size=shape), rng.normal(size=shape)
    ridge = 0.5 * alpha * (1 - l1_ratio) * np.sum(W**2)
    assert_allclose(bound.value(W), alpha * l1_ratio * _nuclear(W) + ridge, rtol=1e-13)
    assert_allclose(bound.smooth_value(W), ridge, rtol=1e-13, atol=1e-15)
    assert_allclose(bound.gradient(W), num_grad(bound.smooth_value, W), atol=1e-7)
    assert_allclose(
        bound.hvp(V), num_grad(lambda Z: np.sum(V * bound.gradient(Z)), W), atol=1e-7
    )
    assert bound.lipschitz() == pytest.approx(alpha * (1 - l1_ratio), rel=1e-15)


def test_declared_capabilities_and_alias():
    bound = TraceNorm().bind(LABELS[:3], 1.0)
    assert bound.is_smooth is False
    assert bound.separable_by_task is False
    assert bound.separable_by_feature is False
    assert bound.quadratic_form is None
    assert bound.shared_component is False
    assert PENALTY_ALIASES["trace"] is TraceNorm


@pytest.mark.parametrize(
    "value, match",
    [(-0.1, "l1_ratio"), (np.nan, "l1_ratio"), (np.inf, "l1_ratio"), (1.5, "[0, 1]")],
)
def test_invalid_l1_ratio_raises(value, match):
    with pytest.raises(ValueError, match=match.replace("[", r"\[").replace("]", r"\]")):
        TraceNorm(l1_ratio=value).bind(LABELS[:3], 1.0)


def _prox_reference(V, thresh):
    """argmin_Z 0.5 ||Z - V||_F^2 + thresh ||Z||_* (per class slice), by cvxpy."""
    V3 = V if V.ndim == 3 else V[:, :, None]
    out = np.empty_like(V3)
    for k in range(V3.shape[2]):
        Z = cp.Variable(V3.shape[:2])
        objective = 0.5 * cp.sum_squares(Z - V3[:, :, k]) + thresh * cp.normNuc(Z)
        solve_cvxpy(cp.Problem(cp.Minimize(objective)))
        out[:, :, k] = Z.value
    return out if V.ndim == 3 else out[:, :, 0]


def _svt_reference(V, thresh):
    """Singular value thresholding with full bases (Cai, Candes & Shen 2010)."""
    V3 = V if V.ndim == 3 else V[:, :, None]
    out = np.empty_like(V3)
    for k in range(V3.shape[2]):
        U, s, Vt = np.linalg.svd(V3[:, :, k], full_matrices=True)
        S = np.zeros(V3.shape[:2])
        np.fill_diagonal(S, np.maximum(s - thresh, 0.0))
        out[:, :, k] = U @ S @ Vt
    return out if V.ndim == 3 else out[:, :, 0]


PROX_CASES = pytest.mark.parametrize(
    "shape, l1_ratio, step",
    [
        (shape, l1_ratio, step)
        for shape in [(5, 3), (3, 4), (4, 3, 3)]
        for l1_ratio, step in [(1.0, 0.8), (0.5, 2.0)]
    ],
)


def _prox_case(shape, l1_ratio, step):
    alpha = 1.1
    bound = TraceNorm(l1_ratio=l1_ratio).bind(LABELS[: shape[1]], alpha)
    V = np.random.default_rng(1).normal(size=shape)
    return bound, V, step * alpha * l1_ratio


@needs_cvxpy
@PROX_CASES
def test_prox_matches_cvxpy(shape, l1_ratio, step):
    bound, V, thresh = _prox_case(shape, l1_ratio, step)
    assert_allclose(bound.prox(V, step), _prox_reference(V, thresh), atol=1e-6)


@PROX_CASES
def test_prox_is_singular_value_thresholding(shape, l1_ratio, step):
    bound, V, thresh = _prox_case(shape, l1_ratio, step)
    V_before = V.copy()
    Z = bound.prox(V, step)
    assert_array_equal(V, V_before)  # the input is not modified
    assert Z.shape == V.shape and Z.dtype == np.float64
    assert_allclose(Z, _svt_reference(V, thresh), atol=1e-12)
    # exactly low rank: the singular values under the threshold are gone
    ranks = bound.fitted_attributes(Z, None)["rank_"]
    s = np.linalg.svd(np.moveaxis(V.reshape(V.shape[:2] + (-1,)), 2, 0))[1]
    assert_array_equal(np.ravel(ranks), (s > thresh).sum(axis=1))
    # the threshold falls between singular values: the result has lower rank
    ranks = bound.fitted_attributes(Z, None)["rank_"]
    s = np.linalg.svd(np.moveaxis(V.reshape(shape[:2] + (-1,)), 2, 0))[1]
    assert_array_equal(np.ravel(ranks), (s > thresh).sum(axis=1))


def test_prox_limits():
    rng = np.random.default_rng(2)
    V = rng.normal(size=(4, 3))
    # no trace-norm part: the identity (a copy)
    Z = TraceNorm(l1_ratio=0.0).bind(LABELS[:3], 1.0).prox(V, 1.0)
    assert_array_equal(Z, V)
    assert Z is not V
    # a threshold above the largest singular value: exactly zero
    big = np.linalg.norm(V, 2) * 1.0001
    assert_array_equal(TraceNorm().bind(LABELS[:3], big).prox(V, 1.0), 0.0)


def _distance_reference(G, lam, bases, rank):
    """Frobenius distance of G to lam * d||W||_* by a cvxpy projection (per slice)."""
    G3 = G if G.ndim == 3 else G[:, :, None]
    worst = 0.0
    for k, (U, V) in enumerate(bases):
        Ur, Vr = U[:, :rank], V[:, :rank]
        Z = cp.Variable(G3.shape[:2])
        constraints = [cp.sigma_max(Z) <= 1]
        if rank:
            constraints += [Ur.T @ Z == 0, Z @ Vr == 0]
        residual = G3[:, :, k] - lam * (Ur @ Vr.T + Z)
        value = solve_cvxpy(
            cp.Problem(cp.Minimize(cp.sum_squares(residual)), constraints)
        )
        worst = max(worst, np.sqrt(max(value, 0.0)))
    return worst


@needs_cvxpy
@pytest.mark.parametrize("shape", [(5, 4), (4, 3, 2)])
@pytest.mark.parametrize("rank", [0, 2, 3])
def test_kkt_violation_is_distance_to_subdifferential(shape, rank):
    alpha, l1_ratio = 0.9, 0.6
    lam = alpha * l1_ratio
    bound = TraceNorm(l1_ratio=l1_ratio).bind(LABELS[: shape[1]], alpha)
    rng = np.random.default_rng(3 + rank)
    W, bases = _random_W(shape, rank, rng)
    # an optimal point: -G = lam (U_r V_r^T + U_perp M V_perp^T), ||M||_2 <= 1
    G = np.empty(shape)
    G3 = G if G.ndim == 3 else G[:, :, None]
    for k, (U, V) in enumerate(bases):
        M = rng.normal(size=(shape[0] - rank, shape[1] - rank))
        M *= 0.9 / max(np.linalg.norm(M, 2), 1e-300)
        G3[:, :, k] = -lam * (
            U[:, :rank] @ V[:, :rank].T + U[:, rank:] @ M @ V[:, rank:].T
        )
    assert bound.kkt_violation(W, G) <= 1e-12
    # elsewhere: the distance of a cvxpy projection onto the subdifferential
    G2 = G + 0.5 * rng.normal(size=shape)
    kkt = bound.kkt_violation(W, G2)
    assert kkt > 0.1
    assert_allclose(kkt, _distance_reference(-G2, lam, bases, rank), rtol=1e-6)


@pytest.mark.parametrize("shape", [(6, 3), (3, 5, 2)])
def test_kkt_violation_zero_after_prox(shape):
    # Z = prox(V, t) satisfies V - Z in t * lam * d||Z||_*, i.e. the gradient
    # (Z - V) / t of the smooth part 0.5 ||Z - V||^2 / t is optimal
    bound = TraceNorm(l1_ratio=0.7).bind(LABELS[: shape[1]], 1.4)
    V = np.random.default_rng(4).normal(size=shape)
    for step in (0.3, 1.0):
        Z = bound.prox(V, step)
        assert bound.kkt_violation(Z, (Z - V) / step) <= 1e-12
        assert bound.kkt_violation(Z, (Z - V) / step + 1e-3) > 1e-4


def test_fitted_rank_matches_numpy():
    bound = TraceNorm().bind(LABELS[:4], 1.0)
    rng = np.random.default_rng(5)
    W, _ = _random_W((6, 4), 2, rng)
    assert bound.fitted_attributes(W, np.zeros(4)) == {"rank_": 2}
    W3 = np.stack([_random_W((6, 4), r, rng)[0] for r in (0, 1, 4)], axis=2)
    rank = bound.fitted_attributes(W3, np.zeros((4, 3)))["rank_"]
    assert_array_equal(rank, [0, 1, 4])
    assert_array_equal(rank, np.linalg.matrix_rank(np.moveaxis(W3, 2, 0)))


# ------------------------------------------------------------------ whole fits
def _row_weights(tasks, labels, sample_weight):
    """s_i / sum_{j in t(i)} s_j: the per-task weighted mean."""
    sw = np.ones(len(tasks)) if sample_weight is None else sample_weight
    totals = {label: sw[tasks == label].sum() for label in labels}
    return sw / np.array([totals[t] for t in tasks])


def _objective(kind, X, y, tasks, labels, c, coef, intercept, alpha, l1_ratio):
    """The estimators' objective at (coef_, intercept_), from its definition."""
    codes = np.searchsorted(labels, tasks)
    coef = np.asarray(coef, dtype=np.float64)
    if kind == "multinomial":
        S = np.einsum("ip,ikp->ik", X, coef[codes]) + intercept[codes]
        classes = np.unique(y)
        rows = np.arange(len(y))
        losses = logsumexp(S, axis=1) - S[rows, np.searchsorted(classes, y)]
        W = np.moveaxis(coef, 2, 0)  # (p, T, K)
    else:
        s = np.einsum("ip,ip->i", X, coef[codes]) + intercept[codes]
        if kind == "squared":
            losses = 0.5 * (y - s) ** 2
        else:  # binary logistic, y in {-1, +1}
            losses = np.logaddexp(0.0, -np.where(y > 0, 1.0, -1.0) * s)
        W = coef.T
    penalty = alpha * (l1_ratio * _nuclear(W) + 0.5 * (1 - l1_ratio) * np.sum(coef**2))
    return float(c @ losses) + penalty


def _cvxpy_optimum(kind, X, y, tasks, labels, c, alpha, l1_ratio):
    """The optimal value of the same objective, solved by cvxpy."""
    onehot = (tasks[:, None] == labels[None]).astype(float)
    p, T = X.shape[1], len(labels)

    def scores():
        W, b = cp.Variable((p, T)), cp.Variable(T)
        s = cp.sum(cp.multiply(X @ W, onehot), axis=1) + onehot @ b
        return W, s

    if kind == "multinomial":
        classes = np.unique(y)
        Ws, ss = zip(*(scores() for _ in classes))
        S = cp.vstack(ss).T
        Y = (y[:, None] == classes[None]).astype(float)
        losses = cp.log_sum_exp(S, axis=1) - cp.sum(cp.multiply(Y, S), axis=1)
    else:
        W, s = scores()
        Ws = (W,)
        if kind == "squared":
            losses = 0.5 * cp.square(y - s)
        else:
            losses = cp.logistic(-cp.multiply(np.where(y > 0, 1.0, -1.0), s))
    penalty = sum(
        l1_ratio * cp.normNuc(W) + 0.5 * (1 - l1_ratio) * cp.sum_squares(W) for W in Ws
    )
    return solve_cvxpy(cp.Problem(cp.Minimize(c @ losses + alpha * penalty)))


_REFERENCES = {}


def _reference(kind, l1_ratio, weighted):
    """Problem and cvxpy optimum, once per setting (shared by the containers)."""
    key = (kind, l1_ratio, weighted)
    if key not in _REFERENCES:
        if kind == "squared":
            X, y, tasks, labels = ragged_problem()
            lam = 0.6
        else:
            n_classes = 3 if kind == "multinomial" else 2
            X, y, tasks, labels = ragged_problem(
                classification=True, n_classes=n_classes
            )
            lam = 0.03 if kind == "multinomial" else 0.1
        # the same trace-norm weight whatever the mix: a rank below full
        alpha = lam / l1_ratio
        sw = np.random.default_rng(6).uniform(0.5, 2.0, len(y)) if weighted else None
        c = _row_weights(tasks, labels, sw)
        best = _cvxpy_optimum(kind, X, y, tasks, labels, c, alpha, l1_ratio)
        _REFERENCES[key] = (X, y, tasks, labels, sw, c, alpha, best)
    return _REFERENCES[key]


def _check_fit(kind, l1_ratio, weighted, container, dtype):
    X, y, tasks, labels, sw, c, alpha, best = _reference(kind, l1_ratio, weighted)
    Model = MultiTaskRegressor if kind == "squared" else MultiTaskClassifier
    tol = 1e-10 if dtype == np.float64 else 1e-5
    model = Model(
        alpha=alpha, penalty=TraceNorm(l1_ratio=l1_ratio), tol=tol, max_iter=20000
    ).fit(as_container(X, container, dtype), y, tasks=tasks, sample_weight=sw)
    ours = _objective(
        kind, X, y, tasks, labels, c, model.coef_, model.intercept_, alpha, l1_ratio
    )
    rel = 1e-6 if dtype == np.float64 else 1e-5
    assert abs(ours - best) <= rel * abs(best)
    assert_allclose(model.objective_, ours, rtol=1e-9 if dtype == np.float64 else 1e-5)
    assert model.kkt_violation_ <= model.kkt_tol_
    assert model.coef_.dtype == dtype
    # the coupling is active: a rank below min(n_features, n_tasks)
    ranks = np.ravel(model.rank_)
    assert np.all((ranks > 0) & (ranks < min(X.shape[1], len(labels))))


@needs_cvxpy
@pytest.mark.parametrize(
    "kind, l1_ratio, weighted",
    [
        ("squared", 1.0, False),
        ("squared", 0.5, True),
        ("binary", 1.0, False),
        ("binary", 0.7, True),
    ],
)
def test_fit_matches_cvxpy(kind, l1_ratio, weighted, container, dtype):
    _check_fit(kind, l1_ratio, weighted, container, dtype)


@needs_cvxpy
def test_multinomial_fit_matches_cvxpy():
    _check_fit("multinomial", 1.0, False, "dense", np.float64)


# ------------------------------------------------------------------ limits
def test_alpha_max_gives_zero_exactly(container):
    # W = 0 is optimal iff ||gradient of the loss at (0, best b)||_2 <= alpha:
    # the gradient of task t is -sum_{i in t} c_i x_i (y_i - ybar_t)
    X, y, tasks, labels = ragged_problem()
    c = _row_weights(tasks, labels, None)
    G = np.column_stack(
        [
            -X[tasks == t].T @ (c[tasks == t] * (y[tasks == t] - y[tasks == t].mean()))
            for t in labels
        ]
    )
    alpha_max = np.linalg.norm(G, 2)
    Xc = as_container(X, container)
    zero = MultiTaskRegressor(alpha=1.01 * alpha_max, penalty="trace").fit(
        Xc, y, tasks=tasks
    )
    assert_array_equal(zero.coef_, 0.0)
    assert zero.rank_ == 0
    assert_allclose(zero.intercept_, [y[tasks == t].mean() for t in labels])
    huge = MultiTaskRegressor(alpha=1e6, penalty=TraceNorm(0.5)).fit(Xc, y, tasks=tasks)
    assert_array_equal(huge.coef_, 0.0)
    # just below: one direction enters, the leading singular pair of G
    one = MultiTaskRegressor(alpha=0.95 * alpha_max, penalty="trace", tol=1e-8).fit(
        Xc, y, tasks=tasks
    )
    assert one.rank_ == 1
    u = np.linalg.svd(G)[0][:, 0]
    direction = np.linalg.svd(one.coef_.T)[0][:, 0]
    assert abs(u @ direction) > 0.99


def test_no_trace_part_equals_independent_ridge(container, dtype):
    X, y, tasks, _ = ragged_problem()
    Xc = as_container(X, container, dtype)
    tol, rtol = (1e-10, 1e-7) if dtype == np.float64 else (1e-6, 1e-4)
    ridge = MultiTaskRegressor(alpha=0.2, penalty="independent", tol=tol).fit(
        Xc, y, tasks=tasks
    )
    ours = MultiTaskRegressor(alpha=0.2, penalty=TraceNorm(0.0), tol=tol).fit(
        Xc, y, tasks=tasks
    )
    assert_allclose(ours.coef_, ridge.coef_, rtol=rtol, atol=rtol)
    assert_allclose(ours.intercept_, ridge.intercept_, rtol=rtol, atol=rtol)


def test_alpha_zero_equals_least_squares_per_task():
    X, y, tasks, labels = ragged_problem()
    model = MultiTaskRegressor(alpha=0.0, penalty="trace", tol=1e-12).fit(
        X, y, tasks=tasks
    )
    for t, label in enumerate(labels):
        ref = LinearRegression().fit(X[tasks == label], y[tasks == label])
        assert_allclose(model.coef_[t], ref.coef_, rtol=1e-8, atol=1e-8)
        assert_allclose(model.intercept_[t], ref.intercept_, rtol=1e-8, atol=1e-8)


def test_planted_low_rank_is_recovered():
    rng = np.random.default_rng(7)
    p, T, n_t = 20, 10, 60
    A = rng.normal(size=(p, 2))
    W_true = A @ rng.normal(size=(2, T))  # rank 2
    tasks = np.repeat(np.arange(T), n_t)
    X = rng.normal(size=(T * n_t, p))
    y = np.einsum("ip,pi->i", X, W_true[:, tasks]) + 0.5 * rng.normal(size=len(tasks))
    model = MultiTaskRegressor(alpha=0.5, penalty="trace").fit(X, y, tasks=tasks)
    assert model.rank_ == 2
    # the fitted column space is span(A): small principal angles
    basis = np.linalg.svd(model.coef_.T)[0][:, :2]
    assert np.max(scipy.linalg.subspace_angles(basis, A)) < 0.1
    # the independent ridge at a similar strength keeps the full rank
    ridge = MultiTaskRegressor(alpha=0.3, penalty="independent").fit(X, y, tasks=tasks)
    assert np.linalg.matrix_rank(ridge.coef_) == T


def test_multinomial_rank_per_class():
    X, y, tasks, labels = ragged_problem(classification=True, n_classes=3)
    model = MultiTaskClassifier(alpha=0.03, penalty="trace").fit(X, y, tasks=tasks)
    assert model.rank_.shape == (3,)
    expected = [np.linalg.matrix_rank(model.coef_[:, k, :], 1e-8) for k in range(3)]
    assert_array_equal(model.rank_, expected)
    assert model.kkt_violation_ <= model.kkt_tol_


# ------------------------------------------------------------------ API
def test_pickle_clone_get_params():
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor(alpha=0.3, penalty=TraceNorm(l1_ratio=0.8))
    assert model.get_params()["penalty__l1_ratio"] == 0.8
    fitted = clone(model).fit(X, y, tasks=tasks)
    again = pickle.loads(pickle.dumps(fitted))
    assert_array_equal(again.predict(X, tasks=tasks), fitted.predict(X, tasks=tasks))
    assert again.rank_ == fitted.rank_
    # a later set_params does not change the fitted model's penalty
    fitted.set_params(penalty__l1_ratio=0.1)
    assert fitted.penalty_.l1_ratio == 0.8
    assert repr(TraceNorm(l1_ratio=0.5)) == "TraceNorm(l1_ratio=0.5)"


def test_grid_search_and_cv_estimator_agree():
    cv_model, (X, y, tasks) = check_cv_matches_grid_search(
        TraceNorm(), "l1_ratio", [1.0, 0.5], [1.0, 0.3, 0.03], atol=1e-6
    )
    assert cv_model.best_estimator_.rank_ <= 3
    assert cv_model.score(X, y, tasks=tasks) > 0.5


def test_fitted_rank_is_an_integer_whatever_the_dtype():
    from skmtl.datasets import make_multitask_regression

    X, y, tasks = make_multitask_regression(
        n_tasks=4, n_samples=30, n_features=5, random_state=0
    )[:3]
    model = MultiTaskRegressor(penalty="trace", alpha=0.1)
    model.fit(X.astype(np.float32), y, tasks=tasks)
    assert model.coef_.dtype == np.float32
    assert isinstance(model.rank_, (int, np.integer))
