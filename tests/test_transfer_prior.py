"""Regularization toward a source model: closed form, KKT, limits, sources."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from scipy.special import expit
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.transfer import RegularizedTransferClassifier, RegularizedTransferRegressor

from .conftest import as_container


def _source_target(seed=0, classification=False, n_target=30):
    rng = np.random.default_rng(seed)
    p = 6
    w_source = rng.normal(size=p)
    w_target = w_source + 0.3 * rng.normal(size=p)
    Xs = rng.normal(size=(300, p))
    Xt = rng.normal(size=(n_target, p))
    ys = Xs @ w_source + 0.1 * rng.normal(size=300)
    yt = Xt @ w_target + 0.5 + 0.1 * rng.normal(size=n_target)
    if classification:
        ys, yt = (ys > 0).astype(int), (yt > 0.5).astype(int)
    return Xs, ys, Xt, yt


def test_ridge_transfer_closed_form(container, dtype):
    Xs, ys, Xt, yt = _source_target()
    source = Ridge(alpha=1.0).fit(Xs, ys)
    alpha = 0.3
    model = RegularizedTransferRegressor(source, alpha=alpha, tol=1e-10).fit(
        as_container(Xt, container, dtype), yt
    )
    # mean_i (y - x.w - b)^2 / 2 + alpha / 2 ||w - ws||^2, b free: centre, then
    # (Xc^T Xc / n + alpha I) w = Xc^T yc / n + alpha ws
    n = len(yt)
    Xc, yc = Xt - Xt.mean(0), yt - yt.mean()
    w = np.linalg.solve(Xc.T @ Xc / n + alpha * np.eye(Xt.shape[1]),
                        Xc.T @ yc / n + alpha * source.coef_)  # fmt: skip
    tol = 1e-7 if dtype == np.float64 else 1e-3
    assert_allclose(model.coef_, w, rtol=tol, atol=tol)
    assert_allclose(model.intercept_, yt.mean() - Xt.mean(0) @ w, rtol=tol, atol=tol)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_logistic_transfer_gradient_is_zero_and_limits(n_classes):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = rng.integers(n_classes, size=60)
    Xs, ys = rng.normal(size=(200, 4)), rng.integers(n_classes, size=200)
    source = LogisticRegression(C=10.0).fit(Xs, ys)
    ws = source.coef_.ravel() if n_classes == 2 else source.coef_
    alpha = 0.2
    model = RegularizedTransferClassifier(source, alpha=alpha, tol=1e-12).fit(X, y)
    # gradient of mean log-loss + alpha/2 ||W - Ws||^2 vanishes at the solution
    P = model.predict_proba(X)
    Y = np.eye(n_classes)[y]
    if n_classes == 2:
        grad_w = X.T @ (P[:, 1] - y) / len(y) + alpha * (model.coef_ - ws)
        grad_b = np.mean(P[:, 1] - y)
    else:
        grad_w = (P - Y).T @ X / len(y) + alpha * (model.coef_ - ws)
        grad_b = (P - Y).mean(0)
    assert np.abs(grad_w).max() < 1e-8 and np.abs(grad_b).max() < 1e-8
    # alpha -> 0: the unpenalised target model
    free = RegularizedTransferClassifier(source, alpha=1e-10, tol=1e-12).fit(X, y)
    ref = MultiTaskClassifier(alpha=1e-10, tol=1e-12).fit(X, y)
    assert_allclose(free.coef_, ref.coef_[0], rtol=1e-4, atol=1e-6)
    # alpha -> inf: the source weights
    stuck = RegularizedTransferClassifier(source, alpha=1e8).fit(X, y)
    assert_allclose(stuck.coef_, ws, atol=1e-6)


def test_sources_pipeline_frozen_multitask_and_arrays():
    Xs, ys, Xt, yt = _source_target(classification=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(Xs, ys)
    model = RegularizedTransferClassifier(FrozenEstimator(pipe), alpha=1.0).fit(Xt, yt)
    # the source pipeline's scaler builds the target features
    direct = RegularizedTransferClassifier(pipe[-1].coef_.ravel(), alpha=1.0).fit(
        pipe[:-1].transform(Xt), yt
    )
    assert_allclose(model.coef_, direct.coef_, rtol=1e-6)
    # survives clone (FrozenEstimator) and pickling
    again = clone(model).fit(Xt, yt)
    assert_allclose(again.coef_, model.coef_)
    restored = pickle.loads(pickle.dumps(model))
    assert_allclose(restored.predict_proba(Xt), model.predict_proba(Xt))
    # an unfitted source (what clone does to a bare estimator) is a clear error
    with pytest.raises(ValueError, match="FrozenEstimator"):
        RegularizedTransferClassifier(clone(pipe)).fit(Xt, yt)
    # a new task from a mean-coupled multi-task model: prior at the shared part
    tasks = np.repeat(["a", "b"], 150)
    mt = MultiTaskRegressor(penalty="mean").fit(Xs, Xs @ np.ones(6), tasks=tasks)
    new = RegularizedTransferRegressor(mt, alpha=1e6).fit(Xt[:10], yt[:10])
    assert_allclose(new.coef_, mt.shared_coef_, atol=1e-4)
    with pytest.raises(ValueError, match="classes"):
        RegularizedTransferClassifier(pipe[-1]).fit(Xt, yt + 5)


def test_few_target_labels_transfer_beats_target_only():
    gains = []
    for seed in range(5):
        Xs, ys, Xt, yt = _source_target(seed, n_target=12)
        Xtest, ytest = _source_target(seed, n_target=500)[2:]
        source = Ridge(alpha=1.0).fit(Xs, ys)
        transfer = RegularizedTransferRegressor(source, alpha=0.1).fit(Xt, yt)
        alone = MultiTaskRegressor(alpha=0.1).fit(Xt, yt)
        gains.append(transfer.score(Xtest, ytest) - alone.score(Xtest, ytest))
    assert np.mean(gains) > 0.02 and min(gains) > 0


def test_sparse_input_matches_dense():
    Xs, ys, Xt, yt = _source_target(classification=True)
    source = LogisticRegression().fit(Xs, ys)
    a = RegularizedTransferClassifier(source, alpha=0.5, tol=1e-10).fit(Xt, yt)
    b = RegularizedTransferClassifier(source, alpha=0.5, tol=1e-10).fit(
        sp.csr_matrix(Xt), yt
    )
    assert_allclose(a.coef_, b.coef_, rtol=1e-7)
    assert_allclose(expit(a.decision_function(Xt)), a.predict_proba(Xt)[:, 1])
