"""Block coordinate descent (``solver="bcd"``) for the L2,1 penalty.

References: scikit-learn's MultiTaskLasso / MultiTaskElasticNet (shared
design), cvxpy on small ragged problems (squared and logistic losses), FISTA
at a tight tolerance, and an independent duality gap.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import MultiTaskElasticNet, MultiTaskLasso

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.model_selection import MultiTaskRegressorCV
from skmtl.penalties import L21, TraceNorm
from skmtl.solvers import SOLVERS, BlockCoordinateDescent
from skmtl.solvers._bcd_kernels import cd_epoch, have_numba

from .conftest import as_container, cp, needs_cvxpy, ragged_problem, solve_cvxpy


def _tols(dtype):
    return (1e-10, 1e-6) if dtype == np.float64 else (1e-4, 5e-3)


def _shared_problem(n=80, p=120, T=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    W = np.zeros((p, T))
    W[:5] = rng.normal(size=(5, T))
    Y = X @ W + 0.5 * rng.normal(size=(n, T)) + 3.0
    return X, Y


def _mtl_objective(X, Y, coef, intercept, alpha, l1_ratio=1.0):
    # scikit-learn's MultiTaskElasticNet objective, written independently
    R = Y - X @ coef.T - intercept
    return (
        0.5 / X.shape[0] * np.sum(R**2)
        + alpha * l1_ratio * np.sqrt((coef**2).sum(axis=0)).sum()
        + 0.5 * alpha * (1 - l1_ratio) * np.sum(coef**2)
    )


def _relative_gap(X, Y, coef, alpha):
    """Duality gap of the shared-design group lasso (centred data) / P(0)."""
    n = X.shape[0]
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    R = Yc - Xc @ coef.T
    primal = 0.5 / n * np.sum(R * R) + alpha * np.sqrt((coef**2).sum(axis=0)).sum()
    dual_norm = np.sqrt(((Xc.T @ R) ** 2).sum(axis=1)).max()
    theta = R / max(n, dual_norm / alpha)
    p0 = 0.5 / n * np.sum(Yc**2)
    return (primal - (p0 - 0.5 * n * np.sum((Yc / n - theta) ** 2))) / p0


def test_registered():
    assert SOLVERS["bcd"] is BlockCoordinateDescent


def test_auto_picks_bcd_for_the_squared_loss_only():
    # the measured rule of RowSparseAuto (benchmarks/results/l21.md)
    from skmtl._design import TaskDesign
    from skmtl._loss import SmoothLoss
    from skmtl.datafits import Logistic, Quadratic
    from skmtl.solvers import FISTA, RowSparseAuto, make_solver

    X = np.random.default_rng(0).normal(size=(20, 5))
    bound = L21().bind(np.arange(2), 0.1)
    auto = make_solver("auto", bound)
    assert isinstance(auto, RowSparseAuto)
    W0 = np.zeros((5, 2))
    codes = np.arange(20) % 2
    squared = SmoothLoss(
        TaskDesign(X, codes, 2), Quadratic().initialize(np.zeros(20), np.ones(20)), True
    )
    logistic = SmoothLoss(
        TaskDesign(X, codes, 2), Logistic().initialize(np.ones(20), np.ones(20)), True
    )
    expected = BlockCoordinateDescent if have_numba() else FISTA
    assert auto.choose(squared, bound, W0) is expected
    assert auto.choose(logistic, bound, W0) is FISTA
    trace = TraceNorm().bind(np.arange(2), 0.1)
    assert isinstance(make_solver("auto", trace), FISTA)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.6])
def test_bcd_equals_multitask_lasso(container, dtype, l1_ratio):
    X, Y = _shared_problem()
    alpha = 0.05
    Ref = MultiTaskLasso if l1_ratio == 1.0 else MultiTaskElasticNet
    kwargs = {} if l1_ratio == 1.0 else {"l1_ratio": l1_ratio}
    ref = Ref(alpha=alpha, tol=1e-14, max_iter=100000, **kwargs).fit(X, Y)
    solver_tol, _ = _tols(dtype)
    model = MultiTaskRegressor(
        alpha=alpha, penalty=L21(l1_ratio=l1_ratio), solver="bcd", tol=solver_tol
    ).fit(as_container(X, container, dtype), Y)
    assert model.coef_.dtype == dtype
    ours = _mtl_objective(
        X, Y, model.coef_.astype(float), model.intercept_, alpha, l1_ratio
    )
    theirs = _mtl_objective(X, Y, ref.coef_, ref.intercept_, alpha, l1_ratio)
    rel = 1e-9 if dtype == np.float64 else 1e-5
    assert abs(ours - theirs) <= rel * theirs
    assert model.kkt_violation_ <= model.kkt_tol_
    if dtype == np.float64:
        assert_allclose(model.coef_, ref.coef_, atol=1e-6)
        assert_allclose(model.intercept_, ref.intercept_, atol=1e-6)
        assert_array_equal(
            np.abs(model.coef_).sum(axis=0) > 0, np.abs(ref.coef_).sum(axis=0) > 0
        )


@pytest.mark.parametrize("alpha", [0.1, 0.01])
def test_final_duality_gap_below_tol(alpha):
    # the stopping rule is the KKT violation; the duality gap, computed
    # independently of the solver, is then small too
    X, Y = _shared_problem(n=60, p=200, T=5, seed=1)
    model = MultiTaskRegressor(alpha=alpha, penalty="l21", solver="bcd", tol=1e-8)
    model.fit(X, Y)
    assert model.kkt_violation_ <= model.kkt_tol_
    # tol is relative to the zero model's KKT violation, the gap to P(0):
    # the same order of magnitude, not the same number
    assert 0 <= _relative_gap(X, Y, model.coef_, alpha) <= 10 * model.tol


def test_ragged_equals_fista_with_sample_weights(container, dtype):
    X, y, tasks, _ = ragged_problem(n_features=60)
    rng = np.random.default_rng(0)
    sw = rng.uniform(0.5, 2.0, size=len(y))
    sw[::7] = 0.0  # rows of zero weight are absent
    solver_tol, rtol = _tols(dtype)
    Xc = as_container(X, container, dtype)
    kwargs = dict(alpha=0.02, penalty="l21", tol=solver_tol, max_iter=100000)
    bcd = MultiTaskRegressor(solver="bcd", **kwargs).fit(
        Xc, y, tasks=tasks, sample_weight=sw
    )
    fista = MultiTaskRegressor(solver="fista", **kwargs).fit(
        Xc, y, tasks=tasks, sample_weight=sw
    )
    assert_allclose(bcd.objective_, fista.objective_, rtol=rtol)
    if dtype == np.float64:
        # (float32 leaves the flat directions of the smallest task, 30 rows
        # for 60 features, at the precision's tolerance)
        assert_allclose(bcd.coef_, fista.coef_, atol=1e-6)
        assert_allclose(bcd.intercept_, fista.intercept_, atol=1e-6)
    keep = sw > 0
    absent = MultiTaskRegressor(solver="bcd", **kwargs).fit(
        Xc[np.flatnonzero(keep)], y[keep], tasks=tasks[keep], sample_weight=sw[keep]
    )
    assert_allclose(bcd.objective_, absent.objective_, rtol=rtol)
    if dtype == np.float64:
        assert_allclose(bcd.coef_, absent.coef_, atol=1e-6)
    assert bcd.kkt_violation_ <= bcd.kkt_tol_


@needs_cvxpy
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ragged_squared_equals_cvxpy(container, fit_intercept):
    X, y, tasks, labels = ragged_problem(sizes=(15, 25, 20), n_features=8)
    alpha = 0.05
    model = MultiTaskRegressor(
        alpha=alpha, penalty="l21", solver="bcd", tol=1e-10,
        fit_intercept=fit_intercept,
    ).fit(as_container(X, container), y, tasks=tasks)  # fmt: skip
    T, p = len(labels), X.shape[1]
    W, b = cp.Variable((p, T)), cp.Variable(T)
    loss = 0
    for t, label in enumerate(labels):
        rows = tasks == label
        r = y[rows] - X[rows] @ W[:, t] - (b[t] if fit_intercept else 0)
        loss += 0.5 * cp.sum_squares(r) / rows.sum()
    penalty = alpha * cp.sum(cp.norm(W, 2, axis=1))
    value = solve_cvxpy(cp.Problem(cp.Minimize(loss + penalty)))
    assert_allclose(model.objective_, value, rtol=1e-8)
    assert_allclose(model.coef_, W.value.T, atol=1e-5)
    if fit_intercept:
        assert_allclose(model.intercept_, b.value, atol=1e-5)


@needs_cvxpy
def test_logistic_equals_cvxpy(container, dtype):
    X, y, tasks, labels = ragged_problem(
        sizes=(30, 45, 40), n_features=6, classification=True
    )
    alpha = 0.02
    solver_tol, rtol = _tols(dtype)
    model = MultiTaskClassifier(
        alpha=alpha, penalty="l21", solver="bcd", tol=solver_tol
    ).fit(as_container(X, container, dtype), y, tasks=tasks)
    T, p = len(labels), X.shape[1]
    W, b = cp.Variable((p, T)), cp.Variable(T)
    loss = 0
    for t, label in enumerate(labels):
        rows = tasks == label
        sign = np.where(y[rows] == model.classes_[1], 1.0, -1.0)
        margin = cp.multiply(sign, X[rows] @ W[:, t] + b[t])
        loss += cp.sum(cp.logistic(-margin)) / rows.sum()
    penalty = alpha * cp.sum(cp.norm(W, 2, axis=1))
    value = solve_cvxpy(cp.Problem(cp.Minimize(loss + penalty)))
    assert_allclose(model.objective_, value, rtol=max(1e-8, rtol**2))
    assert_allclose(model.coef_, W.value.T, atol=10 * rtol)
    assert_allclose(model.intercept_, b.value, atol=10 * rtol)
    assert model.kkt_violation_ <= model.kkt_tol_


def test_logistic_shared_design_matches_fista(container):
    # logistic on working sets of a wider problem: ragged tasks, many features
    X, y, tasks, _ = ragged_problem(n_features=80, classification=True)
    Xc = as_container(X, container)
    kwargs = dict(alpha=0.01, penalty="l21", tol=1e-9, max_iter=100000)
    bcd = MultiTaskClassifier(solver="bcd", **kwargs).fit(Xc, y, tasks=tasks)
    fista = MultiTaskClassifier(solver="fista", **kwargs).fit(Xc, y, tasks=tasks)
    assert_allclose(bcd.coef_, fista.coef_, atol=1e-5)
    assert_allclose(bcd.objective_, fista.objective_, rtol=1e-9)


def test_warm_start_path_matches_cold_fits():
    X, Y = _shared_problem(n=60, p=150, T=3, seed=2)
    alphas = [0.3, 0.1, 0.03]
    model = MultiTaskRegressor(penalty="l21", solver="bcd", tol=1e-10)
    previous = None
    for alpha in alphas:
        cold = MultiTaskRegressor(alpha=alpha, penalty="l21", solver="bcd", tol=1e-10)
        cold.fit(X, Y)
        if previous is not None:
            model.set_params(alpha=alpha).fit(
                X, Y, coef_init=previous.coef_, intercept_init=previous.intercept_
            )
            assert_allclose(model.coef_, cold.coef_, atol=1e-7)
        # started at its own solution, the solver has nothing left to do
        again = MultiTaskRegressor(alpha=alpha, penalty="l21", solver="bcd", tol=1e-10)
        again.fit(X, Y, coef_init=cold.coef_, intercept_init=cold.intercept_)
        assert again.n_iter_ == 0
        assert_allclose(again.coef_, cold.coef_)
        previous = cold
    # the CV estimator solves every fold's grid as a warm-started path
    cv = MultiTaskRegressorCV(alphas, penalty="l21", solver="bcd", tol=1e-8, cv=3)
    cv_fista = MultiTaskRegressorCV(
        alphas, penalty="l21", solver="fista", tol=1e-8, cv=3, max_iter=100000
    )
    cv.fit(X, Y)
    cv_fista.fit(X, Y)
    assert cv.alpha_ == cv_fista.alpha_
    assert_allclose(cv.best_estimator_.coef_, cv_fista.best_estimator_.coef_, atol=1e-5)


def test_refuses_multinomial_with_a_clear_message():
    X, y, tasks, _ = ragged_problem(classification=True, n_classes=3)
    model = MultiTaskClassifier(penalty="l21", solver="bcd")
    with pytest.raises(ValueError, match="solver='bcd' does not apply.*multinomial"):
        model.fit(X, y, tasks=tasks)


def test_refuses_a_penalty_that_is_not_row_separable():
    X, y, tasks, _ = ragged_problem()
    with pytest.raises((ValueError, AttributeError), match="bcd|BlockCoordinate"):
        MultiTaskRegressor(penalty="trace", solver="bcd").fit(X, y, tasks=tasks)


def test_max_iter_warns():
    X, Y = _shared_problem(n=60, p=150, T=3, seed=3)
    model = MultiTaskRegressor(
        alpha=0.005, penalty="l21", solver="bcd", tol=1e-12, max_iter=2
    )
    with pytest.warns(ConvergenceWarning, match="BlockCoordinateDescent"):
        model.fit(X, Y)
    assert model.n_iter_ <= 3


def _random_model(per_task, seed=0):
    rng = np.random.default_rng(seed)
    k, T, n = 12, 4, 30
    A = rng.normal(size=(n, k))
    if per_task:
        G = np.stack([A.T @ (A * rng.uniform(0.1, 1, n)[:, None]) for _ in range(T)], 2)
        scales = None
    else:
        G, scales = A.T @ A, rng.uniform(0.5, 2.0, T)
    C = rng.normal(size=(k, T)) * 5
    V = np.zeros((k, T))
    V[:3] = rng.normal(size=(3, T))
    diag = np.einsum("jjt->jt", G).max(1) if per_task else np.diag(G) * scales.max()
    Q = np.einsum("jlt,lt->jt", G, V) if per_task else (G @ V) * scales
    return G, scales, C, V, Q, diag + 0.3


@pytest.mark.parametrize("per_task", [True, False])
def test_compiled_and_numpy_epochs_agree(per_task):
    if not have_numba():
        pytest.skip("numba is not installed: only the NumPy epochs run")
    G, scales, C, V, Q, L = _random_model(per_task)
    V1, V2 = V.copy(), V.copy()
    Q1 = cd_epoch(G, scales, C, V1, np.array(Q), L, 2.0, 0.3, compiled=True)
    Q2 = cd_epoch(G, scales, C, V2, np.array(Q), L, 2.0, 0.3, compiled=False)
    assert_allclose(V1, V2, rtol=1e-12, atol=1e-12)
    assert_allclose(Q1, Q2, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("per_task", [True, False])
def test_epoch_keeps_products_and_decreases_the_model(per_task):
    G, scales, C, V, Q, L = _random_model(per_task, seed=1)
    lam, r = 2.0, 0.3

    def model_value(V):
        AV = np.einsum("jlt,lt->jt", G, V) if per_task else (G @ V) * scales
        norms = np.sqrt((V**2).sum(1))
        return (
            0.5 * np.sum(V * AV)
            - np.sum(C * V)
            + lam * norms.sum()
            + 0.5 * r * np.sum(V**2)
        )

    before = model_value(V)
    Q = cd_epoch(G, scales, C, V, Q, L, lam, r, compiled=False)
    AV = np.einsum("jlt,lt->jt", G, V) if per_task else (G @ V) * scales
    assert_allclose(Q, AV, atol=1e-10)
    assert model_value(V) < before


def test_numpy_epochs_give_the_same_fit():
    X, Y = _shared_problem(n=50, p=100, T=3, seed=4)
    from skmtl._design import TaskDesign
    from skmtl._loss import SmoothLoss
    from skmtl.datafits import Quadratic

    design = TaskDesign(X, None, 3).center(np.full(150, 1 / 50))
    loss = SmoothLoss(
        design, Quadratic().initialize(Y.T.ravel(), np.full(150, 1 / 50)), True
    )
    bound = L21().bind(np.arange(3), 0.05)
    W0, b0 = np.zeros((100, 3)), Y.mean(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fast = BlockCoordinateDescent(use_numba=True).solve(loss, bound, W0, b0, 1e-10)
        slow = BlockCoordinateDescent(use_numba=False).solve(loss, bound, W0, b0, 1e-10)
    assert_allclose(fast.W, slow.W, atol=1e-9)
    assert fast.n_iter == slow.n_iter


def test_sparse_input_is_not_densified_and_caller_arrays_untouched():
    X, Y = _shared_problem(n=40, p=60, T=3, seed=5)
    X[X < 0.5] = 0.0
    Xs = sp.csr_matrix(X)
    before = Xs.copy()
    model = MultiTaskRegressor(alpha=0.02, penalty="l21", solver="bcd", tol=1e-10)
    model.fit(Xs, Y)
    dense = MultiTaskRegressor(alpha=0.02, penalty="l21", solver="bcd", tol=1e-10)
    dense.fit(X, Y)
    assert_allclose(model.coef_, dense.coef_, atol=1e-8)
    assert (Xs != before).nnz == 0


@pytest.mark.parametrize("layout", ["C", "F", "csr"])
def test_dense_solution_equals_multitask_lasso(layout, dtype):
    # alpha_max / 100 with more features than rows: most features active,
    # working sets that grow 4x and then stop at the violating features,
    # chunked epochs over several chunks, Gram and residual models
    rng = np.random.default_rng(7)
    n, p, T = 40, 300, 6
    X = rng.normal(size=(n, p))
    X[:, 1:] += 0.5 * X[:, :-1]  # correlated neighbours
    Y = X[:, :30] @ rng.normal(size=(30, T)) + rng.normal(size=(n, T)) + 2.0
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    alpha = 0.01 * np.sqrt(((Xc.T @ Yc) ** 2).sum(1)).max() / n
    ref = MultiTaskLasso(alpha=alpha, tol=1e-14, max_iter=200000).fit(X, Y)
    assert np.count_nonzero(ref.coef_.any(axis=0)) > 64  # several chunks
    Xin = X.astype(dtype)
    Xin = sp.csr_matrix(Xin) if layout == "csr" else np.asarray(Xin, order=layout)
    solver_tol, _ = _tols(dtype)
    model = MultiTaskRegressor(
        alpha=alpha, penalty="l21", tol=solver_tol, max_iter=100000
    ).fit(Xin, Y)
    assert model.kkt_violation_ <= model.kkt_tol_
    ours = _mtl_objective(X, Y, model.coef_.astype(float), model.intercept_, alpha)
    theirs = _mtl_objective(X, Y, ref.coef_, ref.intercept_, alpha)
    rel = 1e-9 if dtype == np.float64 else 1e-5
    assert abs(ours - theirs) <= rel * theirs
    if dtype == np.float64:
        assert_allclose(model.coef_, ref.coef_, atol=1e-5)
        assert_allclose(model.intercept_, ref.intercept_, atol=1e-5)


def _random_residual_model(seed=0, k=100, n=30, T=4):
    rng = np.random.default_rng(seed)
    DT = rng.normal(size=(k, n))
    DT[:, 1:] += 0.5 * DT[:, :-1]
    scales = rng.uniform(0.5, 2.0, T)
    V = np.zeros((k, T))
    V[::3] = rng.normal(size=(len(V[::3]), T))
    E = rng.normal(size=(n, T)) * 5 - DT.T @ V
    L = np.einsum("jn,jn->j", DT, DT) * scales.max() + 0.3
    L[5] = 0.0  # a block without curvature is skipped
    return DT, scales, V, E, L


@pytest.mark.parametrize("blas_outer", [False, True])
@pytest.mark.parametrize("chunk", [1, 7, 32, 200])
def test_chunked_epochs_equal_one_block_at_a_time(chunk, blas_outer):
    # the compiled epochs update Q and the residuals chunk by chunk (Q in
    # the kernel or by a BLAS call per chunk); their iterates are those of
    # the NumPy loop, one block at a time
    if not have_numba():
        pytest.skip("numba is not installed: only the NumPy epochs run")
    from skmtl.solvers._bcd_kernels import chunk_grams, residual_epoch

    rng = np.random.default_rng(3)
    k, T = 100, 4
    A = rng.normal(size=(30, k))
    G, scales = A.T @ A, rng.uniform(0.5, 2.0, T)
    C = rng.normal(size=(k, T)) * 5
    V = np.zeros((k, T))
    V[::4] = rng.normal(size=(25, T))
    Q = (G @ V) * scales
    L = np.diag(G) * scales.max() + 0.3
    V1, V2 = V.copy(), V.copy()
    Q1 = cd_epoch(
        G, scales, C, V1, Q.copy(), L, 2.0, 0.3, chunk=chunk, blas_outer=blas_outer
    )
    Q2 = cd_epoch(G, scales, C, V2, Q.copy(), L, 2.0, 0.3, compiled=False)
    assert np.count_nonzero(V1 != V) > 50
    assert_allclose(V1, V2, rtol=1e-10, atol=1e-10)
    assert_allclose(Q1, (G @ V1) * scales, rtol=1e-10, atol=1e-9)
    assert_allclose(Q1, Q2, rtol=1e-10, atol=1e-9)

    DT, scales, V, E, L = _random_residual_model()
    GB = chunk_grams(DT, chunk)
    V1, V2 = V.copy(), V.copy()
    E1, stale1 = residual_epoch(DT, GB, scales, V1, E.copy(), L, 2.0, 0.3)
    E2, stale2 = residual_epoch(DT, GB, scales, V2, E.copy(), L, 2.0, 0.3, False)
    assert np.count_nonzero(V1 != V) > 50
    assert_allclose(V1, V2, rtol=1e-10, atol=1e-10)
    # the residuals follow the weights: E = Z - D V with Z = E0 + D V0
    assert_allclose(E1, E + DT.T @ (V - V1), rtol=1e-10, atol=1e-9)
    assert_allclose(E1, E2, rtol=1e-10, atol=1e-9)
    assert stale1 == pytest.approx(stale2, rel=1e-10)
