"""Work saved by the design and Newton-CG without changing what they compute.

References: the implicitly centred products of :class:`TaskDesign` (centred
in row space when the means come from :meth:`TaskDesign.center`) against the
explicitly centred dense matrices ``X_t - m_t`` built here, for every storage
mode, dense and sparse, float32 and float64, one or several scores per row;
the zero model's scores against :meth:`TaskDesign.forward` at ``W = 0``; the
backward memory of the zero model against a fresh product; the scores that
Newton-CG's line search forms from the iterate's and the step's against a
product with the final weights, and its fit against scipy's L-BFGS-B on the
objective written here.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from scipy.optimize import minimize
from scipy.special import log_expit

from skmtl import MultiTaskClassifier
from skmtl._design import TaskDesign, count_data_passes
from skmtl._loss import SmoothLoss
from skmtl.datafits._losses import Logistic
from skmtl.penalties import MeanRegularized
from skmtl.solvers import NewtonCG, absolute_tolerance

from .conftest import as_container


def _rows(case, seed=0, p=7):
    """``(X, codes, T, rw)``: task-coded rows that ``case``'s storage mode takes."""
    rng = np.random.default_rng(seed)
    T = 4 if case == "blocks" else 5
    sizes = {"ragged": [70, 5, 6, 4, 5], "balanced": [18] * 5}.get(
        {"blockdiag": "ragged", "stacked": "balanced"}.get(case),
        [25, 15, 30, 20, 10][:T],
    )
    codes = np.repeat(np.arange(T), sizes)
    rng.shuffle(codes)
    X = rng.normal(size=(len(codes), p)) + 2.0  # uncentred: the means matter
    X[rng.random(X.shape) < 0.3] = 0.0
    rw = rng.uniform(0.5, 2.0, size=len(codes))
    rw[rng.random(len(codes)) < 0.15] = 0.0  # rows absent from the means
    rw[codes == T - 1] = 0.0  # a task without weight: its means are 0
    return X, codes, T, rw


def _explicit(X, codes, rw, T):
    """Per task: the centred dense rows ``X_t - m_t`` and their row indices."""
    out = []
    for t in range(T):
        rows = np.flatnonzero(codes == t)
        w = rw[rows]
        m = w @ X[rows] / w.sum() if w.sum() > 0 else np.zeros(X.shape[1])
        out.append((rows, X[rows] - m))
    return out


@pytest.mark.parametrize("case", ["blockdiag", "blocks", "stacked", "shared"])
@pytest.mark.parametrize("k", [None, 3])
def test_centred_products_equal_explicit_centring(container, dtype, case, k):
    X, codes, T, rw = _rows(case)
    p = X.shape[1]
    rng = np.random.default_rng(1)
    Xc = as_container(X, container, dtype)
    if case == "shared":
        design = TaskDesign(Xc, None, T)
        codes_g = np.repeat(np.arange(T), X.shape[0])
        X_rows = np.tile(X, (T, 1))
        rw_g = np.tile(rw, T)
        rw_g[: X.shape[0]] = rng.uniform(0.5, 2.0, size=X.shape[0])  # per task
    else:
        design = TaskDesign(Xc, codes, T)
        expected = "blockdiag" if container == "csr" else case
        assert design.mode == expected
        order = np.argsort(codes, kind="stable")
        X_rows, codes_g, rw_g = X[order], codes[order], rw[order]
    X_rows = X_rows.astype(dtype).astype(np.float64)
    design.center(rw_g)
    extra = () if k is None else (k,)
    W = rng.normal(size=(p, T) + extra)
    b = rng.normal(size=(T,) + extra)
    G = rng.normal(size=(len(codes_g),) + extra)
    S = design.forward(W, b)
    gW, gb = design.backward(G)
    S_ref = np.empty_like(S)
    gW_ref, gb_ref = np.zeros_like(W), np.zeros_like(b)
    for t, (rows, Xt) in enumerate(_explicit(X_rows, codes_g, rw_g, T)):
        S_ref[rows] = Xt @ W[:, t] + b[t]
        gW_ref[:, t] = Xt.T @ G[rows]
        gb_ref[t] = G[rows].sum(axis=0)
    # float32 stores X in float32: products to about 1e-6 relative
    rtol, atol = (1e-12, 1e-11) if dtype == np.float64 else (1e-5, 1e-4)
    assert_allclose(S, S_ref, rtol=rtol, atol=atol)
    assert_allclose(gW, gW_ref, rtol=rtol, atol=atol)
    assert_allclose(gb, gb_ref, rtol=1e-12, atol=1e-12)
    # float32 keeps the explicit correction (see TaskDesign._row_centring)
    assert (design._row_centring() is not None) == (
        design.mode != "stacked" and dtype == np.float64
    )
    # means set from outside (a feature subset): the explicit formula
    sub = design.restrict_features(np.arange(p - 2))
    assert sub._row_centring() is None
    assert_allclose(sub.backward(G)[0], gW_ref[: p - 2], rtol=rtol, atol=atol)
    S_sub = np.empty_like(S)
    for t, (rows, Xt) in enumerate(_explicit(X_rows, codes_g, rw_g, T)):
        S_sub[rows] = Xt[:, : p - 2] @ W[: p - 2, t] + b[t]
    assert_allclose(sub.forward(W[: p - 2], b), S_sub, rtol=rtol, atol=atol)


def test_row_centring_follows_the_means():
    X, codes, T, rw = _rows("blockdiag")
    design = TaskDesign(sp.csr_matrix(X), codes, T)
    assert design._row_centring() is None  # no means
    design.center(design.sort_rows(rw))
    assert design._row_centring() is not None
    design.means = design.means.copy()  # replaced: no longer center()'s
    assert design._row_centring() is None


@pytest.mark.parametrize("mode", ["blockdiag", "shared"])
def test_zero_scores_and_the_zero_models_backward(mode):
    X, codes, T, rw = _rows("blockdiag", seed=2)
    if mode == "shared":
        design = TaskDesign(sp.csr_matrix(X), None, T)
        n_rows = T * X.shape[0]
        rw = np.tile(rw, T)
    else:
        design = TaskDesign(sp.csr_matrix(X), codes, T)
        n_rows = X.shape[0]
        rw = design.sort_rows(rw)
    design.center(rw)
    rng = np.random.default_rng(3)
    b = rng.normal(size=T)
    with count_data_passes() as passes:
        S0 = design.zero_scores(b)
    assert passes.total == 0
    assert_allclose(S0, design.forward(np.zeros((X.shape[1], T)), b), rtol=0, atol=0)
    assert_allclose(design.zero_scores(None), 0.0)
    G = rng.normal(size=n_rows)
    design.zero_scores(b)
    gW, gb = design.backward(G)  # stored
    design.zero_scores(b)
    with count_data_passes() as passes:
        gW2, gb2 = design.backward(G.copy())  # answered from memory
    assert passes.total == 0
    assert_allclose(gW2, gW, rtol=0, atol=0)
    assert_allclose(gb2, gb, rtol=0, atol=0)
    gW2 += 1.0  # a copy: the memory is not the caller's array
    # other intercepts of the zero model shift a GLM gradient by d_i c_t:
    # the weights' gradient is unchanged (row-space centring), no pass
    c = rng.normal(size=T)
    codes_rows = design.row_codes
    G_shift = G + rw * c[codes_rows]
    design.zero_scores(b)
    design.backward(G)  # stored again
    design.zero_scores(b)
    with count_data_passes() as passes:
        gW4, gb4 = design.backward(G_shift)
    assert passes.total == 0
    fresh = TaskDesign(sp.csr_matrix(X), None if mode == "shared" else codes, T)
    fresh.center(rw)
    gW_ref, gb_ref = fresh.backward(G_shift)
    assert_allclose(gW4, gW_ref, rtol=1e-12, atol=1e-13)
    assert_allclose(gb4, gb_ref, rtol=1e-12, atol=1e-13)
    # a shift not proportional to the centring weights: a product
    design.zero_scores(b)
    design.backward(G)
    design.zero_scores(b)
    with count_data_passes() as passes:
        gW5, _ = design.backward(G + c[codes_rows])
    assert passes.backward == 1
    assert_allclose(gW5, fresh.backward(G + c[codes_rows])[0], rtol=1e-12, atol=1e-13)
    # not armed (a forward came between), or another gradient: a product
    for arm, G2 in ((False, G), (True, G + 1e-3)):
        if arm:
            design.zero_scores(b)
        else:
            design.zero_scores(b)
            design.forward(rng.normal(size=(X.shape[1], T)))
        with count_data_passes() as passes:
            gW3, _ = design.backward(G2)
        assert passes.backward == 1
        design2 = TaskDesign(sp.csr_matrix(X), None if mode == "shared" else codes, T)
        design2.center(rw)
        assert_allclose(gW3, design2.backward(G2)[0], rtol=1e-12, atol=1e-14)


def _problem(seed=0, T=6, p=9):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(20, 50, size=T)
    tasks = np.repeat(np.arange(T), sizes)
    X = rng.normal(size=(len(tasks), p)) + 0.5
    X[rng.random(X.shape) < 0.4] = 0.0
    V = rng.normal(size=p)[:, None] + 0.5 * rng.normal(size=(p, T))
    z = np.einsum("ij,ji->i", X, V[:, tasks]) + np.linspace(-1, 1, T)[tasks]
    y = (rng.random(len(tasks)) < 1 / (1 + np.exp(-z))).astype(int)
    return X, y, tasks


def _objective_minimum(X, y, tasks, alpha, shared, specific):
    """scipy L-BFGS-B on the per-task mean log-loss + the mean coupling with
    w_0 free (the package eliminates it in closed form)."""
    T, p = int(tasks.max()) + 1, X.shape[1]
    ys = np.where(y == 1, 1.0, -1.0)
    wts = 1.0 / np.bincount(tasks)[tasks]

    def fun(theta):
        W = theta[: p * T].reshape(T, p)
        b, w0 = theta[p * T : p * T + T], theta[p * T + T :]
        z = np.einsum("ij,ij->i", X, W[tasks]) + b[tasks]
        D = W - w0
        f = -wts @ log_expit(ys * z)
        f += 0.5 * alpha * (shared * w0 @ w0 + specific * np.sum(D * D))
        r = -wts * ys / (1 + np.exp(ys * z))
        gW = np.zeros((T, p))
        np.add.at(gW, tasks, r[:, None] * X)
        gW += alpha * specific * D
        gb = np.bincount(tasks, weights=r, minlength=T)
        gw0 = alpha * (shared * w0 - specific * D.sum(axis=0))
        return f, np.concatenate([gW.ravel(), gb, gw0])

    res = minimize(
        fun, np.zeros(p * T + T + p), jac=True, method="L-BFGS-B",
        options={"maxiter": 20_000, "gtol": 1e-12, "ftol": 1e-15},
    )  # fmt: skip
    return res.x[: p * T].reshape(T, p), res.x[p * T : p * T + T]


def test_newton_fit_with_reused_scores_equals_a_reference(container, dtype):
    X, y, tasks = _problem()
    alpha, shared, specific = 0.05, 0.5, 2.0
    W_ref, b_ref = _objective_minimum(X, y, tasks, alpha, shared, specific)
    tol, atol = (1e-9, 1e-6) if dtype == np.float64 else (1e-5, 3e-5)
    model = MultiTaskClassifier(
        alpha=alpha,
        penalty=MeanRegularized(shared=shared, specific=specific),
        solver="newton-cg",
        tol=tol,
    ).fit(as_container(X, container, dtype), y, tasks=tasks)
    assert model.kkt_violation_ <= model.kkt_tol_
    assert_allclose(model.coef_, W_ref, atol=atol)
    assert_allclose(model.intercept_, b_ref, atol=atol)


@pytest.mark.parametrize("container", ["dense", "csr"])
def test_line_search_scores_are_those_of_the_iterate(container):
    """The scores Newton-CG forms without products are those of its weights,
    and its only forward products are the CG steps' (mutation check: a solve
    that recomputed them, or combined the wrong directions, fails)."""
    X, y, tasks = _problem(seed=4, T=8)
    T = 8
    design = TaskDesign(as_container(X, container), tasks, T)
    weights = design.sort_rows(1.0 / np.bincount(tasks)[tasks])
    design.center(weights)
    ys = design.sort_rows(np.where(y == 1, 1.0, -1.0))
    loss = SmoothLoss(design, Logistic().initialize(ys, weights), True)
    penalty = MeanRegularized(shared=0.5, specific=2.0).bind(np.arange(T), 0.05)
    W0, b0 = np.zeros((X.shape[1], T)), np.zeros(T)
    tol_abs = absolute_tolerance(loss, W0, b0, 1e-10)
    with count_data_passes() as passes:
        result = NewtonCG().solve(loss, penalty, W0, b0, tol_abs)
    assert result.converged and result.n_iter >= 3
    S = result.memory.parts[0]
    assert_allclose(S, loss.scores(result.W, result.b), rtol=1e-10, atol=1e-12)
    # forward products: one per CG step (Hessian products), none for the
    # start (the zero model) or the line search's trial points
    assert passes.forward == sum(result.n_inner)
