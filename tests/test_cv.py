"""Cross-validated estimators against GridSearchCV on the same grid and folds."""

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose
from sklearn.model_selection import GridSearchCV

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.datasets import make_multitask_classification, make_multitask_regression
from skmtl.metrics import make_task_scorer
from skmtl.model_selection import (
    MultiTaskClassifierCV,
    MultiTaskRegressorCV,
    TaskStratifiedKFold,
)
from skmtl.penalties import L21, GraphLaplacian, MeanRegularized

ALPHAS = [1.0, 0.1, 0.01, 0.001]


def _classification():
    return make_multitask_classification(
        n_tasks=4, n_samples=[30, 45, 60, 80], n_features=12, random_state=0
    )


def _regression():
    return make_multitask_regression(
        n_tasks=4, n_samples=[25, 40, 50, 70], n_features=10, noise=1.0, random_state=0
    )


@pytest.mark.parametrize(
    "Est, EstCV, data, penalty, grid, scoring",
    [
        (MultiTaskClassifier, MultiTaskClassifierCV, _classification,
         MeanRegularized(), {"specific": [0.3, 3.0]}, None),
        (MultiTaskClassifier, MultiTaskClassifierCV, _classification,
         "independent", None, "accuracy"),
        (MultiTaskRegressor, MultiTaskRegressorCV, _regression,
         GraphLaplacian(), {"coupling": [0.1, 1.0]}, None),
        (MultiTaskRegressor, MultiTaskRegressorCV, _regression,
         L21(), None, "neg_mean_squared_error"),
    ],
)  # fmt: skip
def test_same_choice_and_scores_as_grid_search(
    Est, EstCV, data, penalty, grid, scoring
):
    X, y, tasks = data()
    folds = list(
        TaskStratifiedKFold(4, shuffle=True, random_state=0).split(X, y, tasks=tasks)
    )
    cvm = EstCV(ALPHAS, penalty=penalty, penalty_grid=grid, cv=folds, scoring=scoring,
                tol=1e-8).fit(X, y, tasks=tasks)  # fmt: skip
    param_grid = {"alpha": ALPHAS}
    param_grid.update({f"penalty__{k}": v for k, v in (grid or {}).items()})
    with sklearn.config_context(enable_metadata_routing=True):
        gs = GridSearchCV(
            Est(penalty=penalty, tol=1e-8),
            param_grid,
            cv=folds,
            scoring=None if scoring is None else make_task_scorer(scoring),
        ).fit(X, y, tasks=tasks)
    assert cvm.best_params_ == {k: float(v) if k == "alpha" else v
                                for k, v in gs.best_params_.items()}  # fmt: skip
    # the same candidates in a different order: compare score by parameters
    res = cvm.cv_results_
    ours = {
        tuple(sorted(p.items())): s
        for p, s in zip(res["params"], res["mean_test_score"])
    }
    for p, s in zip(gs.cv_results_["params"], gs.cv_results_["mean_test_score"]):
        key = tuple(sorted((k, float(v) if k == "alpha" else v) for k, v in p.items()))
        assert_allclose(ours[key], s, rtol=1e-6, atol=1e-9)
    assert_allclose(cvm.best_score_, gs.best_score_, rtol=1e-6)
    # refit on all data with the chosen parameters
    ref = gs.best_estimator_
    # (the refit starts from the folds' mean solution, GridSearchCV's from
    # zero: both are solved to tol, not to the last digit)
    assert_allclose(cvm.best_estimator_.coef_, ref.coef_, rtol=1e-5, atol=1e-6)
    assert_allclose(
        cvm.predict(X, tasks=tasks), ref.predict(X, tasks=tasks), rtol=1e-6, atol=1e-6
    )


def test_defaults_parallel_and_attributes():
    X, y, tasks = _classification()
    a = MultiTaskClassifierCV([0.1, 0.01], penalty="mean", cv=3).fit(X, y, tasks=tasks)
    b = MultiTaskClassifierCV([0.1, 0.01], penalty="mean", cv=3, n_jobs=2)
    b.fit(X, y, tasks=tasks)
    assert a.best_params_ == b.best_params_
    assert_allclose(a.cv_results_["mean_test_score"], b.cv_results_["mean_test_score"])
    assert a.n_splits_ == 3 and list(a.alphas_) == [0.1, 0.01]
    assert set(a.classes_) == {0, 1}
    assert a.predict_proba(X, tasks=tasks).shape == (len(y), 2)
    assert a.score(X, y, tasks=tasks) > 0.6
    with pytest.raises(ValueError, match="alphas"):
        MultiTaskClassifierCV([], cv=3).fit(X, y, tasks=tasks)


def test_cv_estimator_inside_grid_search_with_routing():
    # tasks routed through an outer search to the CV estimator's fit and score
    X, y, tasks = _regression()
    outer = GridSearchCV(
        MultiTaskRegressorCV([0.1, 0.01], penalty="mean", cv=3),
        {"penalty_grid": [None, {"specific": [0.5, 2.0]}]},
        cv=TaskStratifiedKFold(3, shuffle=True, random_state=1),
    )
    with sklearn.config_context(enable_metadata_routing=True):
        outer.fit(X, y, tasks=tasks)
    assert np.isfinite(outer.cv_results_["mean_test_score"]).all()


def test_regressor_cv_takes_the_shared_design():
    # 2-D y (one column per task on a shared X), as MultiTaskRegressor: the
    # same choice and scores as GridSearchCV over the same row folds
    from sklearn.model_selection import GridSearchCV

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    Y = X @ rng.normal(size=(5, 3)) + 0.5 * rng.normal(size=(60, 3))
    alphas = [1.0, 0.1, 0.01]
    cv_model = MultiTaskRegressorCV(alphas, penalty="l21", cv=3).fit(X, Y)
    folds = list(TaskStratifiedKFold(3).split(X, Y[:, 0], tasks=np.zeros(60)))
    search = GridSearchCV(
        MultiTaskRegressor(penalty="l21"), {"alpha": alphas}, cv=folds
    ).fit(X, Y)
    assert cv_model.alpha_ == search.best_params_["alpha"]
    np.testing.assert_allclose(
        np.sort(cv_model.cv_results_["mean_test_score"]),
        np.sort(search.cv_results_["mean_test_score"]),
        rtol=1e-4,
    )
    assert cv_model.predict(X).shape == (60, 3)
    with pytest.raises(ValueError, match="2-D y"):
        MultiTaskRegressorCV(alphas).fit(X, Y, tasks=np.zeros(60))
