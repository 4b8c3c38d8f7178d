"""Newton-CG on float32 data reaches tight tolerances (a regression test).

float32 products round the scores to about 1e-7 relative, so near the optimum
the objective cannot resolve a Newton step's decrease: Armijo's test accepted
tiny steps on rounding noise and the fit stopped at a KKT violation of 3.9e-6
for a tolerance of 3.5e-7 (sparse X with an intercept). The full step is now
taken where it halves the KKT violation.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.penalties import GraphLaplacian, MeanRegularized


def _shared(dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 5)).astype(dtype)
    coef = rng.normal(size=(5, 3)) + rng.normal(size=(5, 1))
    Y = (X @ coef + 0.5 * rng.normal(size=(60, 3)) > 0).astype(int)
    return X, Y


def _ragged(dtype, seed=1):
    rng = np.random.default_rng(seed)
    tasks = np.repeat(np.arange(4), [30, 40, 50, 60])
    X = (rng.normal(size=(len(tasks), 8)) + 0.5).astype(dtype)
    w = rng.normal(size=8)
    y = (X @ w + 0.3 * tasks + 0.5 * rng.normal(size=len(tasks)) > 1).astype(int)
    return X, y, tasks


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_float32_shared_design_reaches_the_tolerance(sparse, fit_intercept):
    X, Y = _shared(np.float32)
    Xf = sp.csr_matrix(X) if sparse else X
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = MultiTaskClassifier(
            alpha=0.05, fit_intercept=fit_intercept, tol=1e-6, solver="newton-cg"
        ).fit(Xf, Y)
    assert model.kkt_violation_ <= model.kkt_tol_
    # the same numbers in float64 (the float32 values, exactly)
    ref = MultiTaskClassifier(
        alpha=0.05, fit_intercept=fit_intercept, tol=1e-12, solver="newton-cg"
    ).fit(X.astype(np.float64), Y)
    assert_allclose(model.coef_, ref.coef_, atol=2e-6)
    assert_allclose(model.intercept_, ref.intercept_, atol=2e-6)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize(
    "penalty",
    [MeanRegularized(specific=2.0), GraphLaplacian(coupling=0.5)],
    ids=["mean", "graph"],
)
def test_float32_coupled_fit_reaches_the_tolerance(sparse, penalty):
    # one preconditioned Newton-CG solve over all tasks
    X, y, tasks = _ragged(np.float32)
    Xf = sp.csr_matrix(X) if sparse else X
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = MultiTaskClassifier(
            alpha=0.01, penalty=penalty, tol=1e-6, solver="newton-cg"
        ).fit(Xf, y, tasks=tasks)
    assert model.kkt_violation_ <= model.kkt_tol_
    ref = MultiTaskClassifier(
        alpha=0.01, penalty=penalty, tol=1e-12, solver="lbfgs", max_iter=5000
    ).fit(X.astype(np.float64), y, tasks=tasks)
    assert_allclose(model.coef_, ref.coef_, atol=1e-5)


def test_float32_squared_loss_is_unchanged():
    # the squared loss takes one exact Newton step: nothing to rescue
    rng = np.random.default_rng(2)
    tasks = np.repeat(np.arange(3), 40)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    y = X @ rng.normal(size=6) + rng.normal(size=120)
    model = MultiTaskRegressor(alpha=0.1, penalty="mean", tol=1e-6,
                               solver="newton-cg").fit(X, y, tasks=tasks)  # fmt: skip
    assert model.kkt_violation_ <= model.kkt_tol_ and model.n_iter_ <= 2
