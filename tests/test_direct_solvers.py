"""The direct solvers of quadratic couplings: ``solver="gram"`` and ``"kernel"``.

Checked against references written here (scikit-learn per task, the normal
equations of the whole problem solved densely), against Newton-CG where no
closed form exists (binary logistic with a coupling), along paths of alphas,
and for the requests they refuse.
"""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, Ridge

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl._design import TaskDesign
from skmtl._loss import SmoothLoss
from skmtl._validation import per_task_row_weights
from skmtl.datafits import Logistic, Quadratic
from skmtl.linear_model import fit_path
from skmtl.penalties import GraphLaplacian, Independent, MeanRegularized
from skmtl.solvers import GramSolver, KernelNewton, NewtonCG, SmoothAuto

from .conftest import as_container, ragged_problem

SHARED, SPECIFIC = 0.5, 2.0  # MeanRegularized strengths used below
RIDGE, COUPLING = 0.4, 0.7  # GraphLaplacian strengths used below

PENALTIES = {
    "independent": Independent,
    "mean": lambda: MeanRegularized(shared=SHARED, specific=SPECIFIC),
    "graph": lambda: GraphLaplacian(coupling=COUPLING, ridge=RIDGE),
}


def _coupling_matrix(name, n_tasks):
    """``M`` of ``alpha / 2 * sum_j w_j M w_j^T``, written from the definitions."""
    eye, ones = np.eye(n_tasks), np.ones((n_tasks, n_tasks))
    if name == "independent":
        return eye
    if name == "mean":
        # min over w0 of shared ||w0||^2 + specific sum_t ||w_t - w0||^2
        c = SPECIFIC / (SHARED + n_tasks * SPECIFIC)
        return SPECIFIC * (eye - c * ones)
    # ridge ||w||^2 + coupling * sum over ordered pairs ||w_s - w_t||^2
    laplacian = n_tasks * eye - ones  # all pairs linked with weight 1
    return RIDGE * eye + 2.0 * COUPLING * laplacian


def _normal_equations(blocks, M, alpha, fit_intercept):
    """Exact solution of sum_t mean_s,t(0.5 r^2) + alpha/2 sum_j w_j M w_j^T.

    ``blocks`` lists ``(X_t, y_t, s_t)`` per task (dense float64). With an
    intercept, each task's X and y are centred by their weighted means (the
    intercepts are unpenalised). Returns coef (n_tasks, p), intercept (n_tasks,).
    """
    T, p = len(blocks), blocks[0][0].shape[1]
    H = alpha * np.kron(M, np.eye(p))  # block (t, s) = alpha * M_ts * I_p
    rhs = np.zeros(T * p)
    means = []
    for t, (Xt, yt, st) in enumerate(blocks):
        d = st / st.sum()
        mx = d @ Xt if fit_intercept else np.zeros(p)
        my = d @ yt if fit_intercept else 0.0
        Xc, yc = Xt - mx, yt - my
        H[t * p : (t + 1) * p, t * p : (t + 1) * p] += Xc.T @ (d[:, None] * Xc)
        rhs[t * p : (t + 1) * p] = Xc.T @ (d * yc)
        means.append((mx, my))
    coef = np.linalg.solve(H, rhs).reshape(T, p)
    intercept = np.array([my - mx @ w for (mx, my), w in zip(means, coef)])
    return coef, intercept


def _blocks(X, y, tasks, labels, sw):
    return [(X[tasks == lab], y[tasks == lab], sw[tasks == lab]) for lab in labels]


def _tols(dtype):
    # float32 products cannot certify a KKT violation of 1e-10: ask for less
    return (1e-10, 1e-6) if dtype == np.float64 else (1e-6, 1e-4)


# --------------------------------------------------------------- squared loss
@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("solver", ["gram", "kernel"])
def test_independent_equals_ridge_per_task(
    container, dtype, solver, fit_intercept, weighted
):
    X, y, tasks, labels = ragged_problem()
    rng = np.random.default_rng(3)
    sw = rng.uniform(0.2, 3.0, size=len(y)) if weighted else np.ones(len(y))
    alpha = 0.05
    tol, rtol = _tols(dtype)
    model = MultiTaskRegressor(
        alpha=alpha, fit_intercept=fit_intercept, solver=solver, tol=tol
    ).fit(as_container(X, container, dtype), y, tasks=tasks, sample_weight=sw)
    Xref = X.astype(dtype).astype(np.float64)  # the data the model saw
    for t, label in enumerate(labels):
        rows = tasks == label
        ref = Ridge(alpha=alpha * sw[rows].sum(), fit_intercept=fit_intercept)
        ref.fit(Xref[rows], y[rows], sample_weight=sw[rows])
        assert_allclose(model.coef_[t], ref.coef_, rtol=rtol, atol=rtol)
        assert_allclose(model.intercept_[t], ref.intercept_, rtol=rtol, atol=rtol)
    assert model.coef_.dtype == dtype
    assert model.kkt_violation_ <= model.kkt_tol_
    assert model.n_iter_ == 1  # one exact solve, no Newton-CG polishing


@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("penalty", ["independent", "mean", "graph"])
@pytest.mark.parametrize("solver", ["gram", "kernel"])
def test_coupled_equals_normal_equations(
    container, dtype, solver, penalty, fit_intercept, weighted
):
    X, y, tasks, labels = ragged_problem(sizes=(25, 40, 60, 35), seed=2)
    rng = np.random.default_rng(4)
    sw = rng.uniform(0.2, 3.0, size=len(y)) if weighted else np.ones(len(y))
    alpha = 0.2
    tol, rtol = _tols(dtype)
    model = MultiTaskRegressor(
        alpha=alpha,
        penalty=PENALTIES[penalty](),
        fit_intercept=fit_intercept,
        solver=solver,
        tol=tol,
    ).fit(as_container(X, container, dtype), y, tasks=tasks, sample_weight=sw)
    Xref = X.astype(dtype).astype(np.float64)
    coef, intercept = _normal_equations(
        _blocks(Xref, y, tasks, labels, sw),
        _coupling_matrix(penalty, len(labels)),
        alpha,
        fit_intercept,
    )
    assert_allclose(model.coef_, coef, rtol=rtol, atol=rtol)
    if fit_intercept:
        assert_allclose(model.intercept_, intercept, rtol=rtol, atol=rtol)
    else:
        assert_array_equal(model.intercept_, 0.0)
    assert model.coef_.dtype == dtype
    assert model.intercept_.dtype == dtype
    assert model.n_iter_ == 1  # one exact solve, no Newton-CG polishing


@pytest.mark.parametrize("penalty", ["independent", "mean", "graph"])
@pytest.mark.parametrize("solver", ["gram", "kernel"])
def test_shared_design_equals_normal_equations(container, solver, penalty):
    # 2-D y: every task sees every row of X (the kernel stacks X once per task)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 7))
    Y = X @ rng.normal(size=(7, 3)) + rng.normal(size=(40, 3)) + [0.0, 1.0, -2.0]
    sw = rng.uniform(0.5, 2.0, size=40)
    alpha = 0.3
    model = MultiTaskRegressor(
        alpha=alpha, penalty=PENALTIES[penalty](), solver=solver, tol=1e-10
    ).fit(as_container(X, container), Y, sample_weight=sw)
    blocks = [(X, Y[:, t], sw) for t in range(3)]
    coef, intercept = _normal_equations(
        blocks, _coupling_matrix(penalty, 3), alpha, True
    )
    assert_allclose(model.coef_, coef, rtol=1e-6, atol=1e-8)
    assert_allclose(model.intercept_, intercept, rtol=1e-6, atol=1e-8)
    assert model.n_iter_ == 1


# ------------------------------------------------------------ binary logistic
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_kernel_logistic_independent_equals_sklearn(container, fit_intercept):
    X, y, tasks, labels = ragged_problem(classification=True, seed=1)
    alpha = 0.02
    model = MultiTaskClassifier(
        alpha=alpha, solver="kernel", fit_intercept=fit_intercept, tol=1e-10
    ).fit(as_container(X, container), y, tasks=tasks)
    for t, label in enumerate(labels):
        rows = tasks == label
        ref = LogisticRegression(
            C=1.0 / (alpha * rows.sum()),
            fit_intercept=fit_intercept,
            tol=1e-12,
            max_iter=10000,
        ).fit(X[rows], y[rows])
        assert_allclose(model.coef_[t], ref.coef_[0], rtol=1e-6, atol=1e-6)
        assert_allclose(model.intercept_[t], ref.intercept_[0], rtol=1e-6, atol=1e-6)
    assert model.kkt_violation_ <= model.kkt_tol_


@pytest.mark.parametrize("shape", ["n>p", "n<<p"])
@pytest.mark.parametrize("penalty", ["mean", "graph"])
def test_kernel_logistic_coupled_equals_newton_cg(container, penalty, shape):
    if shape == "n>p":
        X, y, tasks, _ = ragged_problem(classification=True, seed=1)
    else:
        X, y, tasks = _wide_problem(classification=True)
    Xc = as_container(X, container)
    fits = {
        solver: MultiTaskClassifier(
            alpha=0.05, penalty=PENALTIES[penalty](), solver=solver, tol=1e-10
        ).fit(Xc, y, tasks=tasks)
        for solver in ("kernel", "newton-cg")
    }
    kernel, newton = fits["kernel"], fits["newton-cg"]
    assert_allclose(kernel.coef_, newton.coef_, rtol=1e-6, atol=1e-7)
    assert_allclose(kernel.intercept_, newton.intercept_, rtol=1e-6, atol=1e-7)
    assert_allclose(kernel.objective_, newton.objective_, rtol=1e-10)
    assert kernel.kkt_violation_ <= kernel.kkt_tol_


# ---------------------------------------------------------------- solver=auto
def _wide_problem(n=60, p=500, n_tasks=3, classification=False, seed=0):
    """Fewer rows than coefficients, sparse X (as for text)."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=0.05, random_state=seed, format="csr")
    X.data = rng.uniform(0.5, 2.0, size=X.nnz)
    tasks = rng.permutation(np.arange(n) % n_tasks)
    coef = rng.normal(size=(p, n_tasks)) + rng.normal(size=(p, 1))
    scores = np.asarray((X @ coef)[np.arange(n), tasks]).ravel()
    y = scores + 0.1 * rng.normal(size=n) + tasks
    if classification:
        y = (scores > np.median(scores)).astype(float)
    return X, y, tasks


def _loss(X, y, tasks, datafit, fit_intercept=True):
    """The loss the estimators build, from the public building blocks."""
    labels, codes = np.unique(tasks, return_inverse=True)
    design = TaskDesign(X, codes, len(labels))
    rw = per_task_row_weights(np.ones(len(y)), codes, np.ones(len(labels)), labels)
    rw = design.sort_rows(rw)
    if fit_intercept:
        design.center(rw)
    datafit.initialize(design.sort_rows(y), rw)
    return SmoothLoss(design, datafit, fit_intercept), labels


@pytest.mark.parametrize("path", [False, True], ids=["single-fit", "path"])
def test_auto_choice(path):
    auto = SmoothAuto(path=path)
    X, y, tasks, _ = ragged_problem()
    yc = np.where(y > np.median(y), 1.0, -1.0)
    Xw, yw, tw = _wide_problem()  # 60 rows, 1500 coefficients
    Xv, yv, tv = _wide_problem(p=800)  # 60 rows, 2400 coefficients
    # a single fit takes the kernel only when its n^3 / 3 Cholesky is clearly
    # cheap (n^3 <= 100 p T); a path shares it, so up to n^3 <= 900 p T
    wide = KernelNewton if path else NewtonCG
    cases = [
        # few features, squared loss: Gram, whatever the coupling
        ((X, y, tasks, Quadratic()), "mean", 0.1, GramSolver),
        ((X, y, tasks, Quadratic()), "graph", 0.0, GramSolver),
        # fewer rows than coefficients
        ((Xw, yw, tw, Quadratic()), "mean", 0.1, wide),
        ((Xw, np.where(yw > 1, 1.0, -1.0), tw, Logistic()), "graph", 0.1, wide),
        ((Xv, yv, tv, Quadratic()), "mean", 0.1, KernelNewton),
        # wide but alpha = 0 (the dual needs alpha > 0)
        ((Xw, yw, tw, Quadratic()), "mean", 0.0, NewtonCG),
        # logistic with more rows than coefficients
        ((X, yc, tasks, Logistic()), "mean", 0.1, NewtonCG),
    ]
    for (Xi, yi, ti, datafit), penalty, alpha, expected in cases:
        loss, labels = _loss(Xi, yi, ti, datafit)
        bound = PENALTIES[penalty]().bind(labels, alpha)
        W0 = np.zeros((Xi.shape[1], len(labels)))
        assert auto.choose(loss, bound, W0) is expected, (penalty, alpha, expected)
    # GraphLaplacian(ridge=0) is only semi-definite: not the kernel
    loss, labels = _loss(Xw, yw, tw, Quadratic())
    bound = GraphLaplacian(ridge=0.0).bind(labels, 0.1)
    assert auto.choose(loss, bound, np.zeros((500, 3))) is NewtonCG


@pytest.mark.parametrize("penalty", ["independent", "mean", "graph"])
def test_auto_few_features_is_gram(container, penalty):
    X, y, tasks, labels = ragged_problem()
    Xc = as_container(X, container)
    kwargs = dict(alpha=0.1, penalty=PENALTIES[penalty](), tol=1e-10)
    auto = MultiTaskRegressor(**kwargs).fit(Xc, y, tasks=tasks)
    gram = MultiTaskRegressor(solver="gram", **kwargs).fit(Xc, y, tasks=tasks)
    assert auto.n_iter_ == gram.n_iter_ == 1  # one exact solve
    assert_allclose(auto.coef_, gram.coef_, rtol=1e-12, atol=1e-14)
    assert_allclose(auto.intercept_, gram.intercept_, rtol=1e-12, atol=1e-14)
    sw = np.ones(len(y))
    coef, intercept = _normal_equations(
        _blocks(X, y, tasks, labels, sw), _coupling_matrix(penalty, 3), 0.1, True
    )
    assert_allclose(auto.coef_, coef, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("penalty", ["independent", "mean", "graph"])
def test_auto_wide_is_kernel(penalty):
    X, y, tasks = _wide_problem(p=800)
    kwargs = dict(alpha=0.1, penalty=PENALTIES[penalty](), tol=1e-10)
    auto = MultiTaskRegressor(**kwargs).fit(X, y, tasks=tasks)
    kernel = MultiTaskRegressor(solver="kernel", **kwargs).fit(X, y, tasks=tasks)
    assert_allclose(auto.coef_, kernel.coef_, rtol=1e-12, atol=1e-14)
    assert_allclose(auto.intercept_, kernel.intercept_, rtol=1e-12, atol=1e-14)
    # and the kernel solution is the exact one (2400 coefficients, 60 rows)
    labels = np.unique(tasks)
    coef, intercept = _normal_equations(
        _blocks(X.toarray(), y, tasks, labels, np.ones(len(y))),
        _coupling_matrix(penalty, 3),
        0.1,
        True,
    )
    assert_allclose(kernel.coef_, coef, rtol=1e-6, atol=1e-8)
    assert_allclose(kernel.intercept_, intercept, rtol=1e-6, atol=1e-8)


# -------------------------------------------------------------- bad requests
def _raises(solver, why):
    return pytest.raises(
        ValueError,
        match=re.escape(f"solver={solver!r} does not apply here") + ".*" + why,
    )


def test_refused_requests():
    X, y, tasks, _ = ragged_problem()
    Xcl, ycl, tcl, _ = ragged_problem(classification=True)
    with _raises("gram", "squared loss"):
        MultiTaskClassifier(solver="gram").fit(Xcl, ycl, tasks=tcl)
    with _raises("kernel", re.escape("alpha > 0")):
        MultiTaskRegressor(alpha=0.0, solver="kernel").fit(X, y, tasks=tasks)
    with _raises("kernel", re.escape("alpha > 0")):
        MultiTaskClassifier(alpha=0.0, penalty="mean", solver="kernel").fit(
            Xcl, ycl, tasks=tcl
        )
    with _raises("kernel", "positive definite"):
        MultiTaskRegressor(penalty=GraphLaplacian(ridge=0.0), solver="kernel").fit(
            X, y, tasks=tasks
        )
    with _raises("kernel", "positive definite"):
        MultiTaskRegressor(penalty=MeanRegularized(shared=0.0), solver="kernel").fit(
            X, y, tasks=tasks
        )
    with _raises("kernel", "one score per row"):
        Xm, ym, tm, _ = ragged_problem(classification=True, n_classes=3)
        MultiTaskClassifier(solver="kernel").fit(Xm, ym, tasks=tm)
    with _raises("gram", "quadratic coupling"):
        MultiTaskRegressor(penalty="l21", solver="gram").fit(X, y, tasks=tasks)
    rng = np.random.default_rng(0)
    Xwide = rng.normal(size=(90, 300))
    with _raises("gram", "256 features"):
        MultiTaskRegressor(solver="gram").fit(Xwide, y[:90], tasks=tasks[:90])
    # 256 features is still accepted
    MultiTaskRegressor(solver="gram").fit(Xwide[:, :256], y[:90], tasks=tasks[:90])


# --------------------------------------------------------------------- paths
def _path_vs_cold(model, X, y, tasks, alphas):
    path = [
        (fitted.alpha, fitted.coef_.copy(), fitted.intercept_.copy(), fitted.n_iter_)
        for fitted in fit_path(model, X, y, tasks, None, alphas=alphas)
    ]
    assert [a for a, *_ in path] == alphas
    for alpha, coef, intercept, _ in path:
        cold = clone(model).set_params(alpha=alpha).fit(X, y, tasks=tasks)
        assert_allclose(coef, cold.coef_, rtol=1e-6, atol=1e-8)
        assert_allclose(intercept, cold.intercept_, rtol=1e-6, atol=1e-8)
    return path


@pytest.mark.parametrize("penalty", ["independent", "mean", "graph"])
def test_path_on_kernel_problem(penalty):
    X, y, tasks = _wide_problem(classification=True)
    model = MultiTaskClassifier(penalty=PENALTIES[penalty](), tol=1e-10)
    path = _path_vs_cold(model, X, y, tasks, [1.0, 0.1, 0.01])
    # the path went through the kernel solver: same as an explicit request
    kernel = MultiTaskClassifier(
        alpha=0.01, penalty=PENALTIES[penalty](), solver="kernel", tol=1e-10
    ).fit(X, y, tasks=tasks)
    assert_allclose(path[-1][1], kernel.coef_, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("penalty", ["independent", "mean", "graph"])
def test_path_on_gram_problem(container, penalty):
    X, y, tasks, labels = ragged_problem()
    Xc = as_container(X, container)
    model = MultiTaskRegressor(penalty=PENALTIES[penalty](), tol=1e-10)
    alphas = [1.0, 0.1, 0.01]
    path = _path_vs_cold(model, Xc, y, tasks, alphas)
    for alpha, coef, intercept, n_iter in path:
        assert n_iter == 1
        expected, expected_b = _normal_equations(
            _blocks(X, y, tasks, labels, np.ones(len(y))),
            _coupling_matrix(penalty, 3),
            alpha,
            True,
        )
        assert_allclose(coef, expected, rtol=1e-6, atol=1e-8)
        assert_allclose(intercept, expected_b, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------- caller's arrays
@pytest.mark.parametrize(
    "solver,classification", [("gram", False), ("kernel", False), ("kernel", True)]
)
def test_inputs_not_modified(container, solver, classification):
    X, y, tasks, _ = ragged_problem(classification=classification)
    X = as_container(X, container)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))
    X0, y0, sw0, tasks0 = X.copy(), y.copy(), sw.copy(), tasks.copy()
    Model = MultiTaskClassifier if classification else MultiTaskRegressor
    for penalty in ("independent", "mean", "graph"):
        Model(penalty=penalty, solver=solver, tol=1e-10).fit(
            X, y, tasks=tasks, sample_weight=sw
        )
    if sp.issparse(X):
        assert_array_equal(X.data, X0.data)
        assert_array_equal(X.indices, X0.indices)
        assert_array_equal(X.indptr, X0.indptr)
    else:
        assert_array_equal(X, X0)
    assert_array_equal(y, y0)
    assert_array_equal(sw, sw0)
    assert_array_equal(tasks, tasks0)


@pytest.mark.parametrize("solver", ["gram", "kernel"])
def test_zero_task_weight_and_zero_sample_weights(solver):
    # a task with task weight 0 does not depend on its intercept (the kernel's
    # intercept system would be singular); rows with weight 0 drop out
    X, y, tasks, _ = ragged_problem()
    sw = np.random.default_rng(0).uniform(0.0, 2.0, len(y))
    sw[:7] = 0.0
    kw = dict(alpha=0.1, penalty="mean", task_weights=[1.0, 0.0, 2.0], tol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        direct = MultiTaskRegressor(solver=solver, **kw).fit(
            X, y, tasks=tasks, sample_weight=sw
        )
    ref = MultiTaskRegressor(solver="newton-cg", **kw).fit(
        X, y, tasks=tasks, sample_weight=sw
    )
    assert_allclose(direct.coef_, ref.coef_, rtol=1e-6, atol=1e-9)
    assert_allclose(direct.intercept_, ref.intercept_, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("solver", ["gram", "kernel"])
def test_shared_design_matches_newton_cg(solver):
    # 2-D y: every task sees every row of X
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(40, 6)), rng.normal(size=(40, 3))
    kw = dict(alpha=0.1, penalty="mean", tol=1e-10)
    direct = MultiTaskRegressor(solver=solver, **kw).fit(X, Y)
    ref = MultiTaskRegressor(solver="newton-cg", **kw).fit(X, Y)
    assert_allclose(direct.coef_, ref.coef_, rtol=1e-6, atol=1e-9)
    assert_allclose(direct.predict(X), ref.predict(X), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_gram_any_graph_equals_normal_equations(sparse):
    # a graph that is not all-pairs (a weighted chain over 4 tasks): the
    # preconditioner is no longer exact, conjugate gradients finish the job
    rng = np.random.default_rng(3)
    n_tasks, p = 4, 7
    sizes = [25, 40, 31, 50]
    X = rng.normal(size=(sum(sizes), p))
    tasks = np.repeat(np.arange(n_tasks), sizes)
    y = X @ rng.normal(size=p) + tasks + rng.normal(size=len(tasks))
    A = np.zeros((n_tasks, n_tasks))
    for s_, t_, w in [(0, 1, 2.0), (1, 2, 0.5), (2, 3, 1.0)]:
        A[s_, t_] = A[t_, s_] = w
    penalty = GraphLaplacian(adjacency=A, coupling=COUPLING, ridge=RIDGE)
    Xf = sp.csr_matrix(X) if sparse else X
    model = MultiTaskRegressor(alpha=0.3, penalty=penalty, solver="gram", tol=1e-10)
    model.fit(Xf, y, tasks=tasks)
    M = RIDGE * np.eye(n_tasks) + 2.0 * COUPLING * (np.diag(A.sum(axis=1)) - A)
    blocks = [(X[tasks == t], y[tasks == t], np.ones(sizes[t])) for t in range(4)]
    coef, intercept = _normal_equations(blocks, M, 0.3, True)
    assert_allclose(model.coef_, coef, rtol=1e-7, atol=1e-9)
    assert_allclose(model.intercept_, intercept, rtol=1e-7, atol=1e-9)
    assert 1 < model.n_iter_ < 30  # iterations, but few
    # and auto takes it (few features)
    auto = MultiTaskRegressor(alpha=0.3, penalty=penalty, tol=1e-10).fit(
        Xf, y, tasks=tasks
    )
    assert_allclose(auto.coef_, coef, rtol=1e-7, atol=1e-9)
