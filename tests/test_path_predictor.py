"""The predictor step of alpha paths (``skmtl.solvers._path._next_start``).

Each point of a smooth alpha path starts from the linear extrapolation in
log(alpha) of the last two solutions (a secant predictor). It must start
closer to the next solution than the last solution alone, and it must not
change what a path converges to: every point equals an independent cold fit,
dense and sparse, float32 and float64. The guards (first point, repeated or
non-positive alphas, a step more than twice the last) fall back to the last
solution itself (the very object: Newton-CG's path memory recognises it).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl._design import count_data_passes
from skmtl.datasets import make_multitask_classification, make_multitask_regression
from skmtl.linear_model import fit_path
from skmtl.penalties import GraphLaplacian, MeanRegularized
from skmtl.solvers import _path

# equal steps in log(alpha), 3x apart (the 20 Newsgroups row uses 5.6x)
ALPHAS = [1.0, 0.3, 0.1, 0.03, 0.01]


# ------------------------------------------------------------- 1. the formula
def test_secant_is_exact_on_a_line_in_log_alpha():
    rng = np.random.default_rng(0)
    W_a, W_b = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    b_a, b_b = rng.normal(size=3), rng.normal(size=3)
    alphas = [2.0, 0.5, 0.2]

    def point(alpha):  # (W, b) linear in log(alpha)
        x = np.log(alpha)
        return W_a + x * W_b, b_a + x * b_b

    W, b = _path._next_start(point(alphas[0]), point(alphas[1]), alphas, 1)
    assert_allclose(W, point(alphas[2])[0], rtol=1e-12, atol=1e-12)
    assert_allclose(b, point(alphas[2])[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "previous_alpha, alphas, k",
    [
        (None, [1.0, 0.1], 0),  # the first point: nothing to extrapolate from
        (1.0, [1.0, 0.1], 1),  # the last point: no next alpha
        (1.0, [1.0, 1.0, 0.1], 1),  # a repeated alpha: no direction
        (1.0, [1.0, 0.1, 0.0], 1),  # alpha 0: no log
        (1.0, [1.0, 0.9, 0.01], 1),  # a step 44x the last one
    ],
)
def test_guards_return_the_last_solution_itself(previous_alpha, alphas, k):
    rng = np.random.default_rng(1)
    current = (rng.normal(size=(4, 2)), rng.normal(size=2))
    previous = None
    if previous_alpha is not None:
        previous = (rng.normal(size=(4, 2)), rng.normal(size=2))
    start = _path._next_start(previous, current, alphas, k)
    # the same objects: Newton-CG then reuses the scores of the last solution
    assert start[0] is current[0] and start[1] is current[1]


# ------------------------------------------------------ 2. on real problems
def _classification(sparse, dtype):
    X, y, tasks = make_multitask_classification(
        n_tasks=3,
        n_samples=[40, 55, 70],
        n_features=30,
        sparse=sparse,
        density=0.3,
        random_state=0,
    )
    return X.astype(dtype), y, tasks


def _regression(sparse, dtype):
    X, y, tasks = make_multitask_regression(
        n_tasks=3, n_samples=[40, 55, 70], n_features=30, noise=1.0, random_state=0
    )
    if sparse:
        rng = np.random.default_rng(0)
        X = sp.csr_matrix(X * (rng.random(X.shape) < 0.3))
    return X.astype(dtype), y, tasks


CASES = [
    (MultiTaskClassifier, _classification, MeanRegularized(specific=0.3)),
    (MultiTaskClassifier, _classification, GraphLaplacian(coupling=3.0)),
    (MultiTaskRegressor, _regression, MeanRegularized(specific=0.3)),
]
# distance of the prediction to the next solution, at most this fraction of
# the last solution's (measured: 0.29-0.51 for the logistic cases; the ridge
# path flattens in log(alpha) where n > p, 0.73-0.90 dense)
CLOSER = [0.6, 0.6, 0.95]
IDS = ["logistic-mean", "logistic-graph", "squared-mean"]


def _cold(Est, penalty, X, y, tasks, tol):
    return [
        Est(alpha=a, penalty=penalty, solver="newton-cg", tol=tol).fit(
            X, y, tasks=tasks
        )
        for a in ALPHAS
    ]


@pytest.mark.parametrize(
    "Est, data, penalty, bound",
    [(*case, bound) for case, bound in zip(CASES, CLOSER)],
    ids=IDS,
)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_prediction_is_closer_than_the_last_solution(Est, data, penalty, bound, sparse):
    X, y, tasks = data(sparse, np.float64)
    cold = _cold(Est, penalty, X, y, tasks, 1e-10)
    # the public (coef_, intercept_) is an affine image of the solver's
    # centred (W, b): extrapolating either is the same
    sols = [(m.coef_, m.intercept_) for m in cold]
    for k in range(1, len(ALPHAS) - 1):
        W, b = _path._next_start(sols[k - 1], sols[k], ALPHAS, k)
        target = np.concatenate([sols[k + 1][0].ravel(), sols[k + 1][1].ravel()])
        predicted = np.concatenate([W.ravel(), b.ravel()])
        last = np.concatenate([sols[k][0].ravel(), sols[k][1].ravel()])
        err_predicted = np.linalg.norm(predicted - target)
        err_last = np.linalg.norm(last - target)
        assert err_predicted < bound * err_last, (k, err_predicted, err_last)


@pytest.mark.parametrize("Est, data, penalty", CASES, ids=IDS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_path_points_equal_cold_fits(Est, data, penalty, sparse, dtype):
    X, y, tasks = data(sparse, dtype)
    tol = 1e-8 if dtype == np.float64 else 1e-6
    atol = 1e-6 if dtype == np.float64 else 1e-4
    path = list(
        fit_path(
            Est(penalty=penalty, solver="newton-cg", tol=tol),
            X,
            y,
            tasks,
            alphas=ALPHAS,
        )
    )
    cold = _cold(Est, penalty, X, y, tasks, tol)
    for on_path, alone in zip(path, cold):
        assert on_path.coef_.dtype == dtype
        scale = max(1.0, float(np.max(np.abs(alone.coef_))))
        assert_allclose(on_path.coef_, alone.coef_, rtol=0, atol=atol * scale)
        assert_allclose(on_path.intercept_, alone.intercept_, rtol=0, atol=atol * scale)
        assert on_path.kkt_violation_ <= on_path.kkt_tol_


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_the_predictor_saves_work_on_a_path(sparse, monkeypatch):
    """Newton-CG along the path takes fewer data passes with the predictor."""
    X, y, tasks = _classification(sparse, np.float64)
    est = MultiTaskClassifier(
        penalty=MeanRegularized(specific=0.3), solver="newton-cg", tol=1e-8
    )

    def run():
        with count_data_passes() as passes:
            models = list(fit_path(est, X, y, tasks, alphas=ALPHAS))
        return passes.total, models

    with_predictor, models = run()
    monkeypatch.setattr(
        _path, "_next_start", lambda previous, current, alphas, k: current
    )
    without, plain = run()
    assert with_predictor < without, (with_predictor, without)
    for a, b in zip(models, plain):
        assert_allclose(a.coef_, b.coef_, rtol=0, atol=1e-6)
