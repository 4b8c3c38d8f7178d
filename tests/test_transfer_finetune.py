"""Warm-start fine-tuning: starts at the source, converges to target-only."""

import numpy as np
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression, Ridge

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.transfer import FineTunedClassifier, FineTunedRegressor


def _data(seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=5)
    Xs, Xt = rng.normal(size=(300, 5)), rng.normal(size=(30, 5))
    return Xs, Xs @ w, Xt, Xt @ (w + 0.5) + 0.1 * rng.normal(size=30)


def test_budget_moves_from_source_to_target_only():
    Xs, ys, Xt, yt = _data()
    source = Ridge(alpha=1e-3).fit(Xs, ys)
    target_only = MultiTaskRegressor(alpha=0.01, tol=1e-10).fit(Xt, yt).coef_[0]
    dist = []
    for budget in (1, 2, 4, 200):
        model = FineTunedRegressor(source, alpha=0.01, max_iter=budget).fit(Xt, yt)
        dist.append(np.linalg.norm(model.coef_ - target_only))
    assert dist[0] > dist[-1] and dist[1] >= dist[-1]
    assert dist[-1] < 1e-4  # converged: the target-only model


def test_first_iteration_starts_from_the_source():
    # gradient of the target loss at the source weights = direction of the
    # first move: a tiny FISTA budget stays close to the source
    Xs, ys, Xt, yt = _data()
    source = Ridge(alpha=1e-3).fit(Xs, ys)
    near = FineTunedRegressor(source, alpha=0.01, max_iter=1, solver="fista")
    near.fit(Xt, yt)
    far = MultiTaskRegressor(alpha=0.01, tol=1e-10).fit(Xt, yt).coef_[0]
    assert np.linalg.norm(near.coef_ - source.coef_) < np.linalg.norm(
        far - source.coef_
    )


def test_early_stopping_keeps_the_best_validation_score():
    rng = np.random.default_rng(1)
    Xs = rng.normal(size=(400, 8))
    ws = rng.normal(size=8)
    source = LogisticRegression().fit(Xs, (Xs @ ws > 0).astype(int))
    Xt = rng.normal(size=(60, 8))
    yt = (Xt @ (ws + 0.3 * rng.normal(size=8)) > 0).astype(int)
    model = FineTunedClassifier(
        source, early_stopping=True, max_iter=40, check_every=2, random_state=0
    ).fit(Xt, yt)
    scores = model.validation_scores_
    assert model.best_validation_score_ == max(scores)
    assert model.n_iter_ == 2 * (int(np.argmax(scores)) + 1)
    assert model.predict(Xt).shape == (60,)
    assert_allclose(model.predict_proba(Xt).sum(1), 1.0)
    # the same classes as the target-only model
    ref = MultiTaskClassifier().fit(Xt, yt)
    assert list(model.classes_) == list(ref.classes_)
