"""Joint weighted source/target loss: exact objective, limits, routing, checks."""

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose
from sklearn.model_selection import GridSearchCV

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.model_selection import SourceTargetSplit
from skmtl.transfer import JointTransferClassifier, JointTransferRegressor


def _domains(seed=0, n_source=200, n_target=20, classification=False):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=5)
    X = rng.normal(size=(n_source + n_target, 5))
    shift = np.r_[np.zeros(n_source), np.ones(n_target)]
    d = rng.normal(size=5)  # the target's concept is shifted by 0.3 d
    y = X @ w + 0.3 * shift * (X @ d) + 0.2 * rng.normal(size=len(shift))
    tasks = np.where(shift > 0, "target", "source")
    if classification:
        y = (y > 0).astype(int)
    return X, y, tasks


def test_pooled_objective_is_the_weighted_sum():
    X, y, tasks = _domains()
    lam, alpha = 0.3, 0.05
    model = JointTransferRegressor(lam, alpha=alpha, tol=1e-10).fit(X, y, tasks=tasks)
    w, b = model.model_.coef_[0], model.model_.intercept_[0]
    src, tgt = tasks == "source", tasks == "target"

    def objective(w, b):
        r = y - X @ w - b
        return (
            lam * 0.5 * np.mean(r[src] ** 2)
            + (1 - lam) * 0.5 * np.mean(r[tgt] ** 2)
            + 0.5 * alpha * w @ w
        )

    # the solution minimises the written objective: gradient ~ 0
    eps = 1e-6
    for j in range(5):
        e = np.zeros(5)
        e[j] = eps
        grad = (objective(w + e, b) - objective(w - e, b)) / (2 * eps)
        assert abs(grad) < 1e-6
    assert abs((objective(w, b + eps) - objective(w, b - eps)) / (2 * eps)) < 1e-6
    # lam = 0: the target-only model
    zero = JointTransferRegressor(0.0, alpha=alpha, tol=1e-10).fit(X, y, tasks=tasks)
    ref = MultiTaskRegressor(alpha=alpha, tol=1e-10).fit(X[tgt], y[tgt])
    assert_allclose(zero.model_.coef_, ref.coef_, rtol=1e-6, atol=1e-8)


def test_coupled_penalty_weights_the_domains():
    X, y, tasks = _domains(classification=True)
    model = JointTransferClassifier(0.2, penalty="mean", alpha=0.05, tol=1e-10)
    model.fit(X, y, tasks=tasks)
    ref = MultiTaskClassifier(
        alpha=0.05, penalty="mean", task_weights={"source": 0.2, "target": 0.8},
        tol=1e-10,
    ).fit(X, y, tasks=tasks)  # fmt: skip
    assert_allclose(model.predict_proba(X), ref.predict_proba(X, tasks="target"))
    assert model.score(X, y) == ref.score(X, y, tasks=np.full(len(y), "target"))


def test_grid_search_over_lambda_on_target_folds():
    X, y, tasks = _domains(classification=True, n_target=40)
    search = GridSearchCV(
        JointTransferClassifier(alpha=0.05),
        {"source_weight": [0.0, 0.5, 0.9]},
        cv=SourceTargetSplit(4, random_state=0),
    )
    with sklearn.config_context(enable_metadata_routing=True):
        search.fit(X, y, tasks=tasks)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    with pytest.raises(ValueError, match="target"):
        JointTransferClassifier(target="tgt").fit(X, y, tasks=tasks)
