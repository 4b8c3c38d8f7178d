"""Newton-CG's coupling-aware preconditioner on multinomial (softmax) models.

References: the multinomial Hessian diagonal against the explicit Hessian
built from Hessian-vector products and against finite differences of the
gradient; the preconditioner against dense solves of ``diag(d_jk) + C``; the
preconditioned solution against the unpreconditioned one, L-BFGS and
scikit-learn's multinomial ``LogisticRegression`` (independent tasks); CG
steps per Newton step flat in the number of tasks.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression

from skmtl import MultiTaskClassifier
from skmtl._design import TaskDesign, count_data_passes
from skmtl._loss import SmoothLoss
from skmtl.datafits._losses import Multinomial
from skmtl.penalties import GraphLaplacian, Independent, MeanRegularized
from skmtl.solvers import LBFGS, NewtonCG, absolute_tolerance
from skmtl.solvers._precondition import coupled_preconditioner

from .conftest import as_container

K = 3


def make_loss(mode, container, dtype, *, fit_intercept=True, seed=0, n_classes=K):
    """A small multinomial loss with ragged tasks and sample weights."""
    rng = np.random.default_rng(seed)
    p = 5
    if mode == "shared":
        n, T = 30, 3
        X = rng.normal(size=(n, p)) + 0.5
        codes, n_rows = None, n * T
    else:
        T = 3 if mode == "blocks" else 6
        sizes = rng.integers(6, 14, size=T)
        if mode == "stacked":
            # ragged, padded to the largest task (less than twice the rows)
            sizes = rng.integers(10, 14, size=T)
        elif mode == "blockdiag":
            # one task far larger: stacking would pad too much
            sizes[0] = 5 * sizes.max()
        codes = rng.permutation(np.repeat(np.arange(T), sizes))
        X = rng.normal(size=(len(codes), p)) + 0.5
        n_rows = len(codes)
    X = as_container(X, container, dtype)
    design = TaskDesign(X, codes, T)
    if mode != "shared":
        assert design.mode == mode
    weights = rng.uniform(0.2, 2.0, size=n_rows)
    weights[0] = 0.0  # a zero weight: the row is absent
    if fit_intercept:
        design.center(weights)
    Y = np.eye(n_classes)[rng.integers(0, n_classes, size=n_rows)]
    datafit = Multinomial(n_classes).initialize(Y, weights)
    return SmoothLoss(design, datafit, fit_intercept)


MODES = ["shared", "blocks", "blockdiag", "stacked"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_multinomial_hessian_diagonal_matches_explicit_hessian(
    mode, container, dtype, fit_intercept
):
    if mode in ("blocks", "stacked") and container == "csr":
        pytest.skip("sparse X is always stored block-diagonal")
    loss = make_loss(mode, container, dtype, fit_intercept=fit_intercept)
    assert loss.output_hessian_diag and not loss.diagonal_hessian
    p, T = loss.design.n_features, loss.design.n_tasks
    rng = np.random.default_rng(1)
    W, b = rng.normal(size=(p, T, K)), rng.normal(size=(T, K))
    S = loss.scores(W, b)
    hessp = loss.hessian_product(S)
    ref_W, ref_b = np.zeros((p, T, K)), np.zeros((T, K))
    for j in range(p):
        for t in range(T):
            for k in range(K):
                E = np.zeros((p, T, K))
                E[j, t, k] = 1.0
                ref_W[j, t, k] = hessp(E, np.zeros((T, K)))[0][j, t, k]
    for t in range(T):
        for k in range(K):
            e = np.zeros((T, K))
            e[t, k] = 1.0
            ref_b[t, k] = hessp(np.zeros((p, T, K)), e)[1][t, k]
    with count_data_passes() as passes:
        dW, db = loss.hessian_diagonal(S)
    assert dW.shape == (p, T, K) and db.shape == (T, K)
    assert passes.total == K * (2 if fit_intercept else 1)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    assert_allclose(dW, ref_W, rtol=rtol, atol=rtol * np.abs(ref_W).max())
    assert_allclose(db, ref_b, rtol=rtol, atol=1e-12)


def test_multinomial_hessian_diag_matches_finite_differences():
    # the datafit's own diagonal, against differences of its gradient
    rng = np.random.default_rng(2)
    n = 8
    Y = np.eye(K)[rng.integers(0, K, size=n)]
    datafit = Multinomial(K).initialize(Y, rng.uniform(0.5, 2.0, size=n))
    S = rng.normal(size=(n, K))
    h = datafit.hessian_diag(S)
    eps = 1e-6
    for k in range(K):
        E = np.zeros((n, K))
        E[:, k] = eps
        fd = (datafit.gradient(S + E)[:, k] - datafit.gradient(S - E)[:, k]) / (2 * eps)
        assert_allclose(h[:, k], fd, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize(
    "penalty",
    [
        MeanRegularized(shared=0.3, specific=1.7),
        Independent(),
        GraphLaplacian(coupling=0.4, ridge=0.2),
        GraphLaplacian(
            adjacency=sp.diags([np.ones(4), np.ones(4)], [-1, 1]), ridge=0.1
        ),
    ],
    ids=["mean", "independent", "graph, all pairs", "graph, chain"],
)
def test_preconditioner_with_classes_inverts_diagonal_plus_coupling(penalty):
    T, p = 5, 4
    bound = penalty.bind(np.arange(T), 0.7)
    C = bound.hvp(np.eye(T))  # the coupling along the task axis
    rng = np.random.default_rng(3)
    dW, db = rng.uniform(0.1, 2.0, size=(p, T, K)), rng.uniform(0.1, 2.0, size=(T, K))
    apply = coupled_preconditioner(bound.coupling_hessian, dW, db)
    RW, rb = rng.normal(size=(p, T, K)), rng.normal(size=(T, K))
    ZW, zb = apply(RW, rb)
    for j in range(p):
        for k in range(K):
            expected = np.linalg.solve(np.diag(dW[j, :, k]) + C, RW[j, :, k])
            assert_allclose(ZW[j, :, k], expected, rtol=1e-8)
    assert_allclose(zb, rb / db)
    # the penalty's Hessian on a class axis is that same coupling per class
    V = rng.normal(size=(p, T, K))
    assert_allclose(bound.hvp(V), np.einsum("jtk,ts->jsk", V, C), atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["mean", "graph"])
def test_preconditioned_multinomial_newton_reaches_the_same_solution(
    mode, container, dtype, name
):
    if mode in ("blocks", "stacked") and container == "csr":
        pytest.skip("sparse X is always stored block-diagonal")
    loss = make_loss(mode, container, dtype)
    p, T = loss.design.n_features, loss.design.n_tasks
    penalty = MeanRegularized(specific=2.0) if name == "mean" else GraphLaplacian()
    bound = penalty.bind(np.arange(T), 0.3)
    W0, b0 = np.zeros((p, T, K)), np.zeros((T, K))
    tol = 1e-8 if dtype == np.float64 else 1e-5
    tol_abs = absolute_tolerance(loss, W0, b0, tol)
    pre = NewtonCG(precondition=True).solve(loss, bound, W0, b0, tol_abs)
    plain = NewtonCG(precondition=False).solve(loss, bound, W0, b0, tol_abs)
    lbfgs = LBFGS(max_iter=10_000).solve(loss, bound, W0, b0, tol_abs)
    assert pre.converged and len(pre.n_inner) == pre.n_iter
    _, gW, gb = loss.value_grad(pre.W, pre.b)
    gW = gW + bound.gradient(pre.W)
    assert max(np.abs(gW).max(), np.abs(gb).max()) <= tol_abs
    atol = 1e-5 if dtype == np.float64 else 1e-3
    assert_allclose(pre.W, plain.W, atol=atol)
    assert_allclose(pre.W, lbfgs.W, atol=atol)
    assert_allclose(pre.objective, lbfgs.objective, rtol=10 * tol)


def test_independent_multinomial_tasks_equal_sklearn():
    # the preconditioner on the independent coupling (Jacobi per class),
    # each task against scikit-learn's multinomial LogisticRegression
    rng = np.random.default_rng(4)
    sizes = [40, 55, 70]
    tasks = np.repeat(["a", "b", "c"], sizes)
    X = rng.normal(size=(len(tasks), 6)) + 0.3
    y = np.digitize(X @ rng.normal(size=6) + rng.normal(size=len(tasks)), [-1, 1])
    alpha = 0.05
    model = MultiTaskClassifier(
        alpha=alpha, penalty="independent", solver="newton-cg", tol=1e-10
    ).fit(X, y, tasks=tasks)
    for t, (label, n_t) in enumerate(zip(["a", "b", "c"], sizes)):
        rows = tasks == label
        ref = LogisticRegression(C=1.0 / (alpha * n_t), tol=1e-12, max_iter=10_000)
        ref.fit(X[rows], y[rows])
        assert_allclose(model.coef_[t], ref.coef_, atol=1e-6)
        # softmax intercepts are defined up to a constant per task
        assert_allclose(
            model.intercept_[t] - model.intercept_[t].mean(),
            ref.intercept_ - ref.intercept_.mean(),
            atol=1e-6,
        )


def test_coupled_multinomial_estimator_uses_the_preconditioner(monkeypatch):
    # the estimators' Newton-CG preconditions multinomial coupled fits and
    # reaches L-BFGS's solution
    import skmtl.solvers._newton as newton

    built = []
    original = newton.coupled_preconditioner

    def recording(coupling, dW, db):
        built.append(dW.shape)
        return original(coupling, dW, db)

    monkeypatch.setattr(newton, "coupled_preconditioner", recording)
    rng = np.random.default_rng(5)
    tasks = np.repeat(np.arange(4), 50)
    X = rng.normal(size=(200, 5))
    y = np.digitize(X @ rng.normal(size=5) + 0.3 * tasks, [-0.5, 0.5])
    kw = dict(alpha=0.02, penalty=MeanRegularized(specific=3.0), tol=1e-9)
    model = MultiTaskClassifier(solver="newton-cg", **kw).fit(X, y, tasks=tasks)
    assert built and all(shape == (5, 4, 3) for shape in built)
    ref = MultiTaskClassifier(solver="lbfgs", max_iter=10_000, **kw).fit(
        X, y, tasks=tasks
    )
    assert_allclose(model.coef_, ref.coef_, atol=1e-6)


def _tasks_problem(T, seed=0, p=300):
    """TF-IDF-like tasks with 3 classes: sparse rows of unit norm, 20-40 per task."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(20, 41, size=T)
    n = int(sizes.sum())
    X = sp.random(n, p, density=0.03, format="csr", random_state=rng)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X)
    tasks = np.repeat(np.arange(T), sizes)
    W = 5.0 * (rng.normal(size=(p, 1, K)) + rng.normal(size=(p, T, K)))
    Z = np.stack(
        [
            np.asarray(X.multiply(W[:, tasks, k].T).sum(axis=1)).ravel()
            for k in range(K)
        ],
        axis=1,
    )
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    y = (rng.random((n, 1)) > np.cumsum(P, axis=1)).sum(axis=1)
    design = TaskDesign(X, tasks, T)
    weights = 1.0 / sizes[tasks]
    design.center(weights)
    datafit = Multinomial(K).initialize(np.eye(K)[y], weights)
    return SmoothLoss(design, datafit, fit_intercept=True)


def test_multinomial_cg_steps_do_not_grow_with_the_number_of_tasks():
    per_step = {}
    for T in (10, 80):
        loss = _tasks_problem(T)
        bound = MeanRegularized().bind(np.arange(T), 1e-2)
        W0, b0 = np.zeros((300, T, K)), np.zeros((T, K))
        tol_abs = absolute_tolerance(loss, W0, b0, 1e-6)
        for pre in (True, False):
            res = NewtonCG(max_cg=1000, precondition=pre).solve(
                loss, bound, W0, b0, tol_abs
            )
            assert res.converged
            per_step[T, pre] = sum(res.n_inner) / res.n_iter
    # without the preconditioner the shared direction slows CG as T grows;
    # with it the count per Newton step stays small
    assert per_step[80, False] > 1.3 * per_step[10, False]
    assert per_step[80, True] <= 1.5 * per_step[10, True] + 1
    assert per_step[80, True] < 0.35 * per_step[80, False]
