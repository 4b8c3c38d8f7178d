"""Newton-CG's coupling-aware preconditioner and the structured couplings.

References: the Hessian diagonal against the explicit Hessian built column by
column from Hessian-vector products and against finite differences of the
gradient; every preconditioner against a dense solve of ``diag(d_j) + C``
written here; the couplings' structured products against the dense ``M`` of
their definition; solutions with and without the preconditioner (and
against L-BFGS) equal within the tolerance, the final gradient below it; CG
steps per Newton step flat in the number of tasks; no n_tasks^2 memory.
"""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl._design import TaskDesign, count_data_passes
from skmtl._loss import SmoothLoss
from skmtl.datafits._losses import Logistic, Quadratic
from skmtl.penalties import GraphLaplacian, Independent, MeanRegularized
from skmtl.solvers import LBFGS, NewtonCG, absolute_tolerance
from skmtl.solvers._precondition import coupled_preconditioner

from .conftest import as_container, num_grad


def make_loss(mode, container, dtype, *, logistic, fit_intercept, seed=0):
    """A small loss with ragged tasks, sample weights, in design ``mode``."""
    rng = np.random.default_rng(seed)
    p = 5
    if mode == "shared":
        n, T = 30, 3
        X = rng.normal(size=(n, p)) + 0.5  # uncentred: the centring matters
        codes, n_rows = None, n * T
    else:
        T = 3 if mode == "blocks" else 7
        sizes = rng.integers(4, 12, size=T)
        if mode == "stacked":
            # ragged, padded to the largest task (less than twice the rows)
            sizes = rng.integers(8, 12, size=T)
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
    if logistic:
        y = np.where(rng.random(n_rows) < 0.5, -1.0, 1.0)
        datafit = Logistic().initialize(y, weights)
    else:
        datafit = Quadratic().initialize(rng.normal(size=n_rows), weights)
    return SmoothLoss(design, datafit, fit_intercept)


MODES = ["shared", "blocks", "blockdiag", "stacked"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("logistic", [True, False], ids=["logistic", "squared"])
def test_hessian_diagonal_matches_explicit_hessian(
    mode, container, dtype, fit_intercept, logistic
):
    if mode in ("blocks", "stacked") and container == "csr":
        pytest.skip("sparse X is always stored block-diagonal")
    loss = make_loss(mode, container, dtype, logistic=logistic, fit_intercept=True)
    loss.fit_intercept = fit_intercept
    if not fit_intercept:
        loss.design.means = None
    p, T = loss.design.n_features, loss.design.n_tasks
    rng = np.random.default_rng(1)
    W, b = rng.normal(size=(p, T)), rng.normal(size=T)
    S = loss.scores(W, b)
    hessp = loss.hessian_product(S)
    # the explicit Hessian's diagonal, one unit vector at a time
    ref_W, ref_b = np.zeros((p, T)), np.zeros(T)
    for j in range(p):
        for t in range(T):
            E = np.zeros((p, T))
            E[j, t] = 1.0
            ref_W[j, t] = hessp(E, np.zeros(T))[0][j, t]
    for t in range(T):
        e = np.zeros(T)
        e[t] = 1.0
        ref_b[t] = hessp(np.zeros((p, T)), e)[1][t]
    with count_data_passes() as passes:
        dW, db = loss.hessian_diagonal(S)
    assert passes.total == (2 if fit_intercept else 1)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    assert_allclose(dW, ref_W, rtol=rtol, atol=rtol * np.abs(ref_W).max())
    assert_allclose(db, ref_b, rtol=rtol, atol=1e-12)


def test_hessian_diagonal_matches_finite_differences():
    loss = make_loss("blockdiag", "csr", np.float64, logistic=True, fit_intercept=True)
    p, T = loss.design.n_features, loss.design.n_tasks
    rng = np.random.default_rng(2)
    W, b = rng.normal(size=(p, T)), rng.normal(size=T)
    dW, _ = loss.hessian_diagonal(loss.scores(W, b))
    for j, t in [(0, 0), (2, 3), (4, 6)]:

        def grad_jt(x, j=j, t=t):
            V = W.copy()
            V[j, t] = x[0]
            return loss.value_grad(V, b)[1][j, t]

        fd = (grad_jt([W[j, t] + 1e-5]) - grad_jt([W[j, t] - 1e-5])) / 2e-5
        assert_allclose(dW[j, t], fd, rtol=1e-6)


def _dense_coupling(bound, T):
    return bound.hvp(np.eye(T))  # rows of I times H along the task axis


LABELS = np.arange(9)


def _chain(T):
    return sp.diags([np.ones(T - 1), np.ones(T - 1)], [-1, 1])


PENALTIES = {
    "independent": Independent(),
    "mean": MeanRegularized(shared=0.3, specific=1.7),
    "mean, no shared strength": MeanRegularized(shared=0.0, specific=1.0),
    "graph, all pairs": GraphLaplacian(coupling=0.4, ridge=0.2),
    "graph, chain": GraphLaplacian(adjacency=_chain(9), coupling=0.8, ridge=0.1),
    "graph, no ridge": GraphLaplacian(
        adjacency=_chain(9).toarray() * 2.0, coupling=1.0, ridge=0.0
    ),
    "graph, random": GraphLaplacian(
        adjacency=sp.random(9, 9, density=0.4, random_state=0).toarray(), ridge=0.3
    ),
}


@pytest.mark.parametrize("name", PENALTIES)
def test_coupling_hessian_is_the_penalty_hessian(name):
    T, alpha = len(LABELS), 0.7
    bound = PENALTIES[name].bind(LABELS, alpha)
    kind, *rest = bound.coupling_hessian
    if kind == "identity_minus_ones":
        a, beta = rest
        H = a * np.eye(T) - beta * np.ones((T, T))
    else:
        H = rest[0].toarray() if sp.issparse(rest[0]) else rest[0]
    V = np.random.default_rng(0).normal(size=(4, T))
    assert_allclose(bound.hvp(V), V @ H, atol=1e-12)
    # and the dense form the direct solvers read is alpha M
    a, M = bound.quadratic_form
    if M is not None:
        assert_allclose(a * M, H, atol=1e-12)


@pytest.mark.parametrize("name", PENALTIES)
@pytest.mark.parametrize("zero_feature", [False, True])
def test_preconditioner_inverts_diagonal_plus_coupling(name, zero_feature):
    T, p, alpha = len(LABELS), 4, 0.7
    bound = PENALTIES[name].bind(LABELS, alpha)
    H = _dense_coupling(bound, T)
    rng = np.random.default_rng(3)
    dW, db = rng.uniform(0.0, 2.0, size=(p, T)), rng.uniform(0.5, 1.0, size=T)
    if zero_feature:
        dW[1] = 0.0  # a feature no task sees
    apply = coupled_preconditioner(bound.coupling_hessian, dW, db)
    R, rb = rng.normal(size=(p, T)), rng.normal(size=T)
    Z, zb = apply(R, rb)
    assert_allclose(zb, rb / db)
    for j in range(p):
        P = np.diag(dW[j]) + H
        if np.linalg.eigvalsh(P)[0] < 1e-8:
            continue  # singular (no ridge, unseen feature): only SPD matters
        assert_allclose(Z[j], np.linalg.solve(P, R[j]), rtol=1e-6, atol=1e-8)
    # symmetric positive definite, as conjugate gradients needs
    U, ub = rng.normal(size=(p, T)), rng.normal(size=T)
    ZU, zub = apply(U, ub)
    lhs = np.sum(Z * U) + zb @ ub
    assert_allclose(lhs, np.sum(R * ZU) + rb @ zub, rtol=1e-8)
    assert np.sum(Z * R) + zb @ rb > 0


def test_dense_coupling_falls_back_to_jacobi():
    C = np.array([[2.0, -1.0], [-1.0, 3.0]])
    dW = np.array([[1.0, 0.0]])
    apply = coupled_preconditioner(("dense", C), dW, np.ones(2))
    Z, _ = apply(np.array([[3.0, 6.0]]), np.zeros(2))
    assert_allclose(Z, [[1.0, 2.0]])
    with pytest.raises(ValueError, match="unknown coupling_hessian"):
        coupled_preconditioner(("banded", C), dW, np.ones(2))


def test_graph_penalty_equals_its_dense_definition():
    # the sparse Laplacian against ridge I + 2 coupling (diag(A 1) - A)
    rng = np.random.default_rng(0)
    T = 6
    A = rng.uniform(0, 1, size=(T, T)) * (rng.random((T, T)) < 0.5)
    As = 0.5 * (A + A.T)
    np.fill_diagonal(As, 0.0)
    M = 0.3 * np.eye(T) + 2.0 * 1.1 * (np.diag(As.sum(axis=1)) - As)
    for adjacency in (A, sp.csr_matrix(A)):
        bound = GraphLaplacian(adjacency, coupling=1.1, ridge=0.3).bind(
            np.arange(T), 0.5
        )
        W = rng.normal(size=(3, T, 2))  # multinomial layout too
        assert_allclose(bound.gradient(W), 0.5 * np.einsum("ptk,ts->psk", W, M))
        assert_allclose(bound.quadratic_form[1], M)
        assert_allclose(bound.lipschitz(), 0.5 * np.linalg.eigvalsh(M)[-1])
    bound = GraphLaplacian(coupling=0.2, ridge=0.1).bind(np.arange(T), 2.0)
    full = 0.1 * np.eye(T) + 0.4 * (T * np.eye(T) - np.ones((T, T)))
    assert_allclose(bound.quadratic_form[1], full)
    assert_allclose(bound.lipschitz(), 2.0 * np.linalg.eigvalsh(full)[-1])
    W = rng.normal(size=(3, T))
    assert_allclose(bound.value(W), 0.5 * 2.0 * np.sum(W * (W @ full)))


@pytest.mark.parametrize(
    "penalty",
    [MeanRegularized(), GraphLaplacian(), GraphLaplacian(adjacency=_chain(20_000))],
    ids=["mean", "graph-all-pairs", "graph-chain"],
)
def test_structured_couplings_use_no_tasks_squared_memory(penalty):
    T, p = 20_000, 3
    labels = np.arange(T)
    W = np.random.default_rng(0).normal(size=(p, T))
    tracemalloc.start()
    bound = penalty.bind(labels, 0.5)
    bound.value(W)
    bound.gradient(W)
    apply = coupled_preconditioner(bound.coupling_hessian, np.ones((p, T)), np.ones(T))
    apply(W, np.zeros(T))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # a dense T x T matrix would take 3.2 GB; p * T floats are 0.5 MB
    assert peak < 30e6


def _as_float64(design, mode):
    X = design.X_sorted.astype(np.float64)
    codes = None if mode == "shared" else design.row_codes
    out = TaskDesign(X, codes, design.n_tasks)
    out.means = design.means
    return out


def _fit_both(loss, bound, tol):
    p, T = loss.design.n_features, loss.design.n_tasks
    W0, b0 = np.zeros((p, T)), np.zeros(T)
    tol_abs = absolute_tolerance(loss, W0, b0, tol)
    out = {}
    for name, solver in [
        ("pre", NewtonCG(precondition=True)),
        ("plain", NewtonCG(precondition=False)),
        ("lbfgs", LBFGS(max_iter=10_000)),
    ]:
        out[name] = solver.solve(loss, bound, W0, b0, tol_abs)
    return out, tol_abs


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("logistic", [True, False], ids=["logistic", "squared"])
@pytest.mark.parametrize("name", ["mean", "graph, chain", "graph, all pairs"])
def test_preconditioned_newton_reaches_the_same_solution(
    mode, container, dtype, logistic, name
):
    if mode in ("blocks", "stacked") and container == "csr":
        pytest.skip("sparse X is always stored block-diagonal")
    loss = make_loss(mode, container, dtype, logistic=logistic, fit_intercept=True)
    T = loss.design.n_tasks
    penalty = PENALTIES[name]
    if name == "graph, chain":
        penalty = GraphLaplacian(adjacency=_chain(T), coupling=0.8, ridge=0.1)
    bound = penalty.bind(np.arange(T), 0.3)
    # float32 products carry about 1e-7 relative error: a looser tolerance
    tol = 1e-8 if dtype == np.float64 else 1e-4
    out, tol_abs = _fit_both(loss, bound, tol)
    pre = out["pre"]
    assert pre.converged and pre.n_inner and len(pre.n_inner) == pre.n_iter
    # the final gradient, recomputed here, is below the tolerance
    _, gW, gb = loss.value_grad(pre.W, pre.b)
    gW = gW + bound.gradient(pre.W)
    assert max(np.abs(gW).max(), np.abs(gb).max()) <= tol_abs
    if dtype == np.float64:
        for other in ("plain", "lbfgs"):
            assert_allclose(pre.W, out[other].W, atol=1e3 * tol)
            assert_allclose(pre.objective, out[other].objective, rtol=10 * tol)
    else:
        # float32 data: against float64 solves of the same (rounded) numbers
        loss64 = make_loss(
            mode, container, dtype, logistic=logistic, fit_intercept=True
        )
        loss64.design = _as_float64(loss64.design, mode)
        ref, _ = _fit_both(loss64, bound, 1e-10)
        assert_allclose(pre.W, ref["lbfgs"].W, atol=1e-3)


def _tasks_problem(T, seed=0):
    """TF-IDF-like tasks: sparse nonnegative rows of unit norm, 20-40 per task."""
    rng = np.random.default_rng(seed)
    p = 300
    sizes = rng.integers(20, 41, size=T)
    n = int(sizes.sum())
    X = sp.random(n, p, density=0.03, format="csr", random_state=rng)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X)
    tasks = np.repeat(np.arange(T), sizes)
    W = 5.0 * (rng.normal(size=(p, 1)) + rng.normal(size=(p, T)))
    z = np.asarray(X.multiply(W[:, tasks].T).sum(axis=1)).ravel()
    y = np.where(rng.random(n) < 1.0 / (1.0 + np.exp(-z)), 1.0, -1.0)
    design = TaskDesign(X, tasks, T)
    weights = 1.0 / sizes[tasks]
    design.center(weights)
    return SmoothLoss(design, Logistic().initialize(y, weights), fit_intercept=True)


def test_cg_steps_do_not_grow_with_the_number_of_tasks():
    steps = {}
    for T in (10, 80):
        loss = _tasks_problem(T)
        bound = MeanRegularized().bind(np.arange(T), 1e-2)
        W0, b0 = np.zeros((300, T)), np.zeros(T)
        tol_abs = absolute_tolerance(loss, W0, b0, 1e-6)
        for pre in (True, False):
            res = NewtonCG(max_cg=1000, precondition=pre).solve(
                loss, bound, W0, b0, tol_abs
            )
            assert res.converged
            steps[T, pre] = sum(res.n_inner)
    # without the preconditioner the shared direction slows CG as T grows
    # (measured 68 -> 125 steps); with it the count stays (19 -> 22)
    assert steps[80, False] > 1.3 * steps[10, False]
    assert steps[80, True] <= 1.2 * steps[10, True] + 2
    assert steps[80, True] < 0.5 * steps[80, False]


def test_count_data_passes_counts_products_and_nests():
    loss = make_loss("blockdiag", "csr", np.float64, logistic=True, fit_intercept=True)
    p, T = loss.design.n_features, loss.design.n_tasks
    with count_data_passes() as outer:
        loss.value_grad(np.zeros((p, T)), np.zeros(T))
        with count_data_passes() as inner:
            loss.scores(np.zeros((p, T)), np.zeros(T))
    assert (outer.forward, outer.backward, outer.total) == (2, 1, 3)
    assert (inner.forward, inner.backward) == (1, 0)
    loss.scores(np.zeros((p, T)), np.zeros(T))  # closed counters stay put
    assert outer.total == 3


@pytest.mark.parametrize("Est", [MultiTaskRegressor, MultiTaskClassifier])
def test_estimators_agree_across_solvers_with_weights(Est, container, dtype):
    rng = np.random.default_rng(4)
    T, p = 12, 6
    tasks = np.repeat(np.arange(T), 9)
    X = as_container(rng.normal(size=(len(tasks), p)) + 1.0, container, dtype)
    y = rng.normal(size=len(tasks))
    if Est is MultiTaskClassifier:
        y = (y > 0).astype(int)
    sw = rng.uniform(0.5, 2.0, size=len(tasks))
    for penalty in (
        MeanRegularized(shared=0.5),
        GraphLaplacian(adjacency=_chain(T), ridge=0.2),
    ):
        model = Est(alpha=0.1, penalty=penalty, solver="newton-cg", tol=1e-9)
        model.fit(X, y, tasks=tasks, sample_weight=sw)
        # the reference: L-BFGS in float64 on the same numbers
        X64 = X.astype(np.float64)
        ref = Est(alpha=0.1, penalty=penalty, solver="lbfgs", tol=1e-11)
        ref.fit(X64, y, tasks=tasks, sample_weight=sw)
        # float32 products: about 1e-7 relative noise in every gradient
        tol = {"atol": 1e-6} if dtype == np.float64 else {"atol": 1e-4, "rtol": 1e-3}
        assert_allclose(model.coef_, ref.coef_, **tol)
        assert_allclose(model.intercept_, ref.intercept_, **tol)


def test_num_grad_of_the_graph_penalty_with_sparse_laplacian():
    bound = PENALTIES["graph, random"].bind(LABELS, 0.9)
    W = np.random.default_rng(5).normal(size=(3, len(LABELS)))
    assert_allclose(bound.gradient(W), num_grad(bound.value, W), rtol=1e-6, atol=1e-8)


def test_unsorted_csr_of_the_caller_is_left_alone():
    # the squared X must not put the caller's matrix in canonical form in
    # place: the block-diagonal design shares its data array
    rng = np.random.default_rng(6)
    T, p = 3, 8
    tasks = np.repeat(np.arange(T), 20)
    dense = rng.random((len(tasks), p)) * (rng.random((len(tasks), p)) < 0.5)
    X = sp.csr_matrix(dense)
    perm = [np.arange(a, b)[::-1] for a, b in zip(X.indptr[:-1], X.indptr[1:])]
    perm = np.concatenate(perm).astype(np.intp)
    X = sp.csr_matrix((X.data[perm], X.indices[perm], X.indptr), shape=X.shape)
    X.has_sorted_indices = False
    assert not X.has_sorted_indices
    before = (X.data.copy(), X.indices.copy())
    y = np.tile([0, 1], len(tasks) // 2)  # both classes in every task
    model = MultiTaskClassifier(penalty="mean", solver="newton-cg", tol=1e-10)
    model.fit(X, y, tasks=tasks)
    assert_allclose(X.data, before[0])
    assert_allclose(X.indices, before[1])
    ref = MultiTaskClassifier(penalty="mean", solver="lbfgs", tol=1e-10)
    ref.fit(dense, y, tasks=tasks)
    assert_allclose(model.coef_, ref.coef_, atol=1e-6)
