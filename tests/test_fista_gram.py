"""FISTA on per-task Grams (skmtl.solvers._fista_gram) for squared two-part models.

- the compiled proximal steps equal the penalties' NumPy ones, and the
  Python loop (the uncompiled copy) equals the compiled loop;
- fits through the Gram form reach cvxpy's optimum (relative 1e-6; dense and
  sparse X, float64 and float32, ragged tasks, sample weights) and equal the
  fits of FISTA on X (``FISTA(gram=False)``);
- the Gram form is taken where it applies and only there.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.penalties import Dirty, RobustFeatureLearning, RobustLowRank
from skmtl.solvers import _fista_gram

from .conftest import as_container, needs_cvxpy, ragged_problem
from .test_dirty import _check_fit

needs_numba = pytest.mark.skipif(
    not _fista_gram.have_numba(), reason="the compiled loop needs numba"
)

PENALTIES = {
    "dirty": Dirty(block=1.0, sparse=0.5),
    "dirty_l2": Dirty(block=1.0, sparse=0.8, block_norm="l2"),
    "rmtfl": RobustFeatureLearning(block=1.0, outlier=1.0),
}


@pytest.mark.parametrize("kind", list(_fista_gram.NORM_CODES))
@pytest.mark.parametrize("compiled", [False, pytest.param(True, marks=needs_numba)])
@pytest.mark.parametrize("T", [1, 7, 70])
def test_prox_equals_the_penalty_prox(kind, compiled, T):
    from skmtl.penalties._dirty import _NORMS

    rng = np.random.default_rng(T)
    Z = rng.normal(size=(9, T))  # (n_features, n_tasks), as the penalty
    Z[2] = 0.0  # a zero row
    Z[4] = 1e-3  # a row inside every ball
    Z[5, 0] = Z[5, -1] = 3.0  # a tie at the maximum
    prox = _fista_gram._compiled()[1] if compiled else _fista_gram._prox_part
    code = _fista_gram.NORM_CODES[kind]
    for thresh in (0.0, 0.3, 2.0):
        out = np.empty((T, 9))
        prox(np.ascontiguousarray(Z.T), thresh, code, out)
        expected = _NORMS[kind]().prox(Z, thresh) if thresh > 0 else Z
        assert_allclose(out.T, expected, rtol=1e-12, atol=1e-14)


@needs_numba
@pytest.mark.parametrize("name", list(PENALTIES))
def test_python_loop_equals_compiled_loop(name, monkeypatch):
    X, y, tasks, _ = ragged_problem()
    fits = []
    for compiled in (True, False):
        solve = _fista_gram.solve_gram_fista

        def run(*args, compiled=compiled, solve=solve, **kwargs):
            return solve(*args, compiled=compiled, **kwargs)

        monkeypatch.setattr("skmtl.solvers._fista.solve_gram_fista", run)
        model = MultiTaskRegressor(
            penalty=PENALTIES[name], alpha=0.1, tol=1e-8, max_iter=5000
        )
        fits.append(model.fit(X, y, tasks=tasks))
    compiled_fit, python_fit = fits
    assert compiled_fit.n_iter_ == python_fit.n_iter_
    assert_allclose(python_fit.coef_, compiled_fit.coef_, rtol=1e-9, atol=1e-12)
    assert_allclose(python_fit.intercept_, compiled_fit.intercept_, rtol=1e-9)


def _fista_on_X(monkeypatch):
    monkeypatch.setattr("skmtl.solvers._fista.gram_fista_applies", lambda *args: False)


@needs_cvxpy
@pytest.mark.parametrize(
    "name, weighted",
    [("dirty", False), ("dirty", True), ("dirty_l2", False), ("rmtfl", True)],
)
@pytest.mark.parametrize("on_X", [False, True])
def test_both_paths_match_cvxpy(name, weighted, on_X, container, dtype, monkeypatch):
    # the Gram path is the default where numba is installed: test_dirty's
    # reference check, on it and on FISTA on X
    if on_X:
        _fista_on_X(monkeypatch)
    elif not _fista_gram.have_numba():
        pytest.skip("the compiled loop needs numba")
    _check_fit(name, "squared", weighted, container, dtype)


def _many_small_tasks(seed=2, T=8, n_t=20, p=5):
    """Ragged small tasks (the stacked design for dense X), features offset
    from 0 (the centring's rounding in float32 is then the largest)."""
    rng = np.random.default_rng(seed)
    sizes = n_t - np.arange(T) % 3
    tasks = np.repeat(np.arange(T), sizes)
    X = 5.0 + rng.normal(size=(len(tasks), p))
    W = rng.normal(size=(p, 1)) + 0.5 * rng.normal(size=(p, T))
    y = np.einsum("ij,ji->i", X, W[:, tasks]) + rng.normal(size=len(tasks))
    return X, y, tasks, np.arange(T)


@needs_numba
@pytest.mark.parametrize("name", list(PENALTIES))
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("problem", [ragged_problem, _many_small_tasks])
def test_gram_path_equals_fista_on_X(
    name, fit_intercept, problem, container, dtype, monkeypatch
):
    X, y, tasks, _ = problem()
    rng = np.random.default_rng(1)
    sw = rng.uniform(0.5, 2.0, len(y))
    tol = 1e-9 if dtype == np.float64 else 1e-5

    def fit():
        model = MultiTaskRegressor(
            penalty=PENALTIES[name],
            alpha=0.1,
            tol=tol,
            max_iter=20000,
            fit_intercept=fit_intercept,
        )
        Xc = as_container(X, container, dtype)
        return model.fit(Xc, y, tasks=tasks, sample_weight=sw)

    calls = []
    real = _fista_gram.solve_gram_fista

    def counted(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(out is not None)
        return out

    monkeypatch.setattr("skmtl.solvers._fista.solve_gram_fista", counted)
    gram = fit()
    assert calls == [True]  # the Gram form ran
    _fista_on_X(monkeypatch)
    on_X = fit()
    assert len(calls) == 1
    rtol = 1e-8 if dtype == np.float64 else 1e-5
    assert_allclose(gram.objective_, on_X.objective_, rtol=rtol)
    # both stop at the KKT tolerance: the coefficients agree to it times the
    # conditioning (features offset from 0 in _many_small_tasks), the
    # intercepts b_t - m_t . w_t to that times the means' size
    atol = (1e-4 if dtype == np.float64 else 1e-3) * np.abs(on_X.coef_).max()
    assert_allclose(gram.coef_, on_X.coef_, atol=atol)
    offset = 1.0 + np.abs(X.mean(axis=0)).sum()
    assert_allclose(gram.intercept_, on_X.intercept_, atol=atol * offset + 1e-6)
    assert gram.kkt_violation_ <= gram.kkt_tol_


@needs_numba
def test_warm_start_keeps_the_parts_on_the_gram_path():
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor(penalty=PENALTIES["dirty"], alpha=0.1, tol=1e-8)
    cold = model.fit(X, y, tasks=tasks)
    parts = cold.coef_block_.copy(), cold.coef_sparse_.copy()
    warm = model.set_params(warm_start=True).fit(X, y, tasks=tasks)
    assert warm.n_iter_ <= 10
    assert_allclose(warm.coef_block_, parts[0], atol=1e-6)
    assert_allclose(warm.coef_sparse_, parts[1], atol=1e-6)


@needs_numba
def test_where_the_gram_form_applies():
    X, y, tasks, _ = ragged_problem()
    seen = []
    real = _fista_gram.gram_fista_applies

    def spy(loss, penalty, W0):
        out = real(loss, penalty, W0)
        seen.append((type(penalty).__name__, out))
        return out

    import skmtl.solvers._fista as fista_module

    fista_module_applies = fista_module.gram_fista_applies
    fista_module.gram_fista_applies = spy
    try:
        for penalty in (PENALTIES["dirty"], PENALTIES["rmtfl"], RobustLowRank()):
            MultiTaskRegressor(penalty=penalty, alpha=0.1).fit(X, y, tasks=tasks)
        yc = (y > np.median(y)).astype(int)
        MultiTaskClassifier(penalty=PENALTIES["dirty"], alpha=0.01).fit(
            X, yc, tasks=tasks
        )
        # more features than a Gram product pays for (T p^2 > 2 nnz(X))
        rng = np.random.default_rng(0)
        wide = rng.normal(size=(len(y), 150))  # 3 x 150^2 > 2 x 165 x 150
        MultiTaskRegressor(penalty=PENALTIES["dirty"], alpha=0.1).fit(
            wide, y, tasks=tasks
        )
    finally:
        fista_module.gram_fista_applies = fista_module_applies
    # squared dirty / rMTFL: yes; the nuclear norm (RMTL), logistic, wide: no
    assert [ok for _, ok in seen] == [True, True, False, False, False]


@needs_numba
def test_fista_gram_false_runs_on_X():
    # the solver's own switch, below the estimator: gram=False never calls
    # the Gram form, gram=True does, and both reach the same optimum
    from skmtl._design import TaskDesign
    from skmtl._loss import SmoothLoss
    from skmtl.datafits import Quadratic
    from skmtl.solvers import FISTA

    X, y, tasks, labels = ragged_problem()
    codes = np.searchsorted(labels, tasks)
    design = TaskDesign(X, codes, len(labels))
    weights = 1.0 / np.bincount(codes)[codes]
    design.center(design.sort_rows(weights))
    datafit = Quadratic().initialize(design.sort_rows(y), design.sort_rows(weights))
    loss = SmoothLoss(design, datafit, fit_intercept=True)
    penalty = PENALTIES["dirty"].bind(labels, 0.1)
    W0, b0 = np.zeros((X.shape[1], len(labels))), np.zeros(len(labels))
    results = {}
    for gram in (True, False):
        calls = []

        def spy(*args, calls=calls, **kwargs):
            calls.append(1)
            return _fista_gram.solve_gram_fista(*args, **kwargs)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("skmtl.solvers._fista.solve_gram_fista", spy)
            results[gram] = FISTA(max_iter=5000, gram=gram).solve(
                loss, penalty, W0, b0, 1e-9
            )
        assert len(calls) == (1 if gram else 0)
    assert_allclose(results[True].objective, results[False].objective, rtol=1e-9)
    assert results[True].components.shape == (2,) + W0.shape
