"""A row of weight 0 is absent; an integer weight is that many copies of the row.

Issue [6/9], kind 1 (sample weights everywhere) and kind 2 (folds where a task
lacks a class, undefined scores): each case with its right answer.
"""

import warnings

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.metrics import make_task_scorer
from skmtl.model_selection import MultiTaskClassifierCV, MultiTaskRegressorCV
from skmtl.transfer import TrAdaBoostClassifier

from .conftest import as_container, ragged_problem

PENALTIES = ["independent", "mean", "graph", "l21"]


def _zero_weight_data(classification, n_classes=2, seed=0):
    X, y, tasks, labels = ragged_problem(
        classification=classification, n_classes=n_classes, seed=seed
    )
    rng = np.random.default_rng(seed)
    sw = rng.integers(1, 4, size=len(y)).astype(float)
    sw[rng.random(len(y)) < 0.2] = 0.0
    # arbitrary labels on rows of weight 0: they must not matter
    y_noisy = y.copy()
    zero = sw == 0
    y_noisy[zero] = rng.permutation(y[zero]) if classification else 1e3
    return X, y_noisy, tasks, sw


# ------------------------------------------------------- weight 0 == dropped
@pytest.mark.parametrize("penalty", PENALTIES)
@pytest.mark.parametrize("Est", [MultiTaskRegressor, MultiTaskClassifier])
def test_zero_weight_is_a_dropped_row(Est, penalty, container):
    classification = Est is MultiTaskClassifier
    X, y, tasks, sw = _zero_weight_data(classification)
    Xc = as_container(X, container)
    keep = sw > 0
    a = Est(penalty=penalty, tol=1e-10).fit(Xc, y, tasks=tasks, sample_weight=sw)
    b = Est(penalty=penalty, tol=1e-10).fit(
        as_container(X[keep], container),
        y[keep],
        tasks=tasks[keep],
        sample_weight=sw[keep],
    )
    assert_allclose(a.coef_, b.coef_, rtol=1e-7, atol=1e-9)
    assert_allclose(a.intercept_, b.intercept_, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("Est", [MultiTaskRegressor, MultiTaskClassifier])
def test_integer_weight_is_repeated_rows(Est):
    classification = Est is MultiTaskClassifier
    X, y, tasks, sw = _zero_weight_data(classification, n_classes=3, seed=1)
    reps = sw.astype(int)
    a = Est(penalty="mean", tol=1e-10).fit(X, y, tasks=tasks, sample_weight=sw)
    b = Est(penalty="mean", tol=1e-10).fit(
        np.repeat(X, reps, axis=0), np.repeat(y, reps), tasks=np.repeat(tasks, reps)
    )
    assert_allclose(a.coef_, b.coef_, rtol=1e-6, atol=1e-8)
    assert_allclose(a.intercept_, b.intercept_, rtol=1e-6, atol=1e-8)


def test_class_only_in_zero_weight_rows_is_absent():
    # the case: task b's class 2 has a single row, of weight 0
    X = np.array([0, 1, 2, 0.5, 1.5, 2.5, 0.2, 1.2, 2.2])[:, None]
    y = np.array([0, 1, 2] * 3)
    tasks = np.array(["a"] * 6 + ["b"] * 3)
    sw = np.array([1.0] * 8 + [0.0])
    model = MultiTaskClassifier(alpha=0.1, tol=1e-10)
    model.fit(X, y, tasks=tasks, sample_weight=sw)
    ref = MultiTaskClassifier(alpha=0.1, tol=1e-10).fit(X[:8], y[:8], tasks=tasks[:8])
    assert_array_equal(model.task_class_mask_, [[True] * 3, [True, True, False]])
    assert_allclose(model.coef_, ref.coef_, rtol=1e-10)
    assert_allclose(model.intercept_, ref.intercept_, rtol=1e-10)
    assert np.all(model.predict_proba(X, tasks="b")[:, 2] == 0)
    # and its intercepts no longer drift with tol
    loose = MultiTaskClassifier(alpha=0.1, tol=1e-4)
    loose.fit(X, y, tasks=tasks, sample_weight=sw)
    assert_allclose(loose.intercept_, model.intercept_, atol=1e-3)


def test_task_whose_rows_all_weigh_zero_is_absent():
    X, y, tasks, labels = ragged_problem()
    sw = np.where(tasks == labels[0], 0.0, 1.0)
    model = MultiTaskRegressor().fit(X, y, tasks=tasks, sample_weight=sw)
    assert list(model.tasks_) == list(labels[1:])
    with pytest.raises(ValueError, match="not seen during fit"):
        model.predict(X[:2], tasks=labels[0])
    with pytest.raises(ValueError, match="weight.*zero"):
        MultiTaskRegressor().fit(X, y, tasks=tasks, sample_weight=np.zeros(len(y)))


def test_tradaboost_without_weighted_source_is_adaboost_on_target():
    # the case: every source row at weight 0 gave NaN weights
    X = np.array([-1, 1, -2, -1, 1, 2.0])[:, None]
    y = np.array([1, 0, 0, 0, 1, 1])
    tasks = np.array(["source"] * 2 + ["target"] * 4)
    sw = np.array([0, 0, 1, 1, 1, 1.0])
    model = TrAdaBoostClassifier(n_estimators=2).fit(
        X, y, tasks=tasks, sample_weight=sw
    )
    ref = TrAdaBoostClassifier(n_estimators=2).fit(X[2:], y[2:])
    assert np.all(np.isfinite(model.sample_weights_))
    assert_allclose(model.sample_weights_[2:], ref.sample_weights_)
    assert_allclose(model.decision_function(X), ref.decision_function(X))


def test_tradaboost_zero_weight_is_a_dropped_row():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] + 0.5 * rng.normal(size=80) > 0).astype(int)
    tasks = np.where(np.arange(80) < 50, "source", "target")
    sw = np.ones(80)
    sw[[3, 17, 55, 70]] = 0.0
    keep = sw > 0
    base = LogisticRegression(tol=1e-10)
    a = TrAdaBoostClassifier(base, n_estimators=4).fit(
        X, y, tasks=tasks, sample_weight=sw
    )
    b = TrAdaBoostClassifier(base, n_estimators=4).fit(
        X[keep], y[keep], tasks=tasks[keep]
    )
    assert_allclose(a.estimator_errors_, b.estimator_errors_, rtol=1e-5, atol=1e-8)
    assert_allclose(a.decision_function(X), b.decision_function(X), rtol=1e-4)


# ------------------------------------------- folds where a task lacks a class
def _tasks_one_after_another():
    # task b's class-0 rows come first and its class-1 rows last:
    # StratifiedKFold (no shuffle) puts all of b's class-1 rows in the last
    # test fold, so that fold's training rows of b have one class
    rng = np.random.default_rng(0)
    X = rng.normal(size=(42, 3))
    y = np.concatenate([[0] * 6, np.tile([0, 1], 15), [1] * 6])
    tasks = np.array(["b"] * 6 + ["a"] * 30 + ["b"] * 6)
    return X, y, tasks


def test_stock_cross_validation_with_a_one_class_training_fold():
    X, y, tasks = _tasks_one_after_another()
    cv = StratifiedKFold(3)
    assert any(len(np.unique(y[tr][tasks[tr] == "b"])) == 1 for tr, _ in cv.split(X, y))
    with sklearn.config_context(enable_metadata_routing=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            res = cross_validate(
                MultiTaskClassifier(penalty="mean"),
                X,
                y,
                params={"tasks": tasks},
                cv=cv,
                scoring=make_task_scorer("accuracy"),
                error_score="raise",
            )
    assert np.all(np.isfinite(res["test_score"]))


def test_cv_estimator_with_a_one_class_training_fold():
    X, y, tasks = _tasks_one_after_another()
    search = MultiTaskClassifierCV(alphas=[1.0, 0.01], cv=StratifiedKFold(3))
    with pytest.warns(UserWarning, match="'b' \\(only 0\\)"):
        search.fit(X, y, tasks=tasks)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


# ------------------------------------------------------------ undefined scores
def test_undefined_candidate_scores_rank_last():
    X, y, tasks, _ = ragged_problem()

    def scorer(est, X, y, tasks=None):
        # undefined for the strong penalties, as per-task R^2 on one test row
        return np.nan if est.alpha >= 1 else est.score(X, y, tasks=tasks)

    search = MultiTaskRegressorCV(alphas=[10.0, 1.0, 0.1, 0.01], scoring=scorer, cv=3)
    with pytest.warns(UserWarning, match="non-finite"):
        search.fit(X, y, tasks=tasks)
    ranks = search.cv_results_["rank_test_score"]
    means = search.cv_results_["mean_test_score"]
    finite = np.isfinite(means)
    assert ranks[~finite].min() > ranks[finite].max()
    assert search.alpha_ < 1 and np.isfinite(search.best_score_)


def test_error_in_a_fold_names_the_fold():
    X, y, tasks = _tasks_one_after_another()
    y = y.copy()
    # a fold whose training rows hold a single class of the whole data
    splits = [(np.flatnonzero(y == 0), np.flatnonzero(y == 1))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(ValueError, match="cross-validation fold 0.*2 classes"):
            MultiTaskClassifierCV(alphas=[0.1], cv=splits).fit(X, y, tasks=tasks)


def test_cv_estimator_does_not_score_rows_of_weight_zero():
    # outliers of weight 0 must not choose alpha: the same choice and scores
    # as the search on the data without them (same folds of the other rows)
    X, y, tasks, _ = ragged_problem(seed=3)
    rng = np.random.default_rng(3)
    n = len(y)
    sw = np.ones(n)
    bad = rng.choice(n, size=12, replace=False)
    sw[bad] = 0.0
    y_bad = y.copy()
    y_bad[bad] += 50.0 * rng.normal(size=12)
    keep = sw > 0
    folds = [(tr, te) for tr, te in KFold(3, shuffle=True, random_state=0).split(X)]
    kept = np.cumsum(keep) - 1  # index of a kept row among the kept rows
    folds_kept = [(kept[tr[keep[tr]]], kept[te[keep[te]]]) for tr, te in folds]
    alphas = [10.0, 1.0, 0.1, 0.01, 0.001]
    a = MultiTaskRegressorCV(alphas, cv=folds, tol=1e-10)
    a.fit(X, y_bad, tasks=tasks, sample_weight=sw)
    b = MultiTaskRegressorCV(alphas, cv=folds_kept, tol=1e-10)
    b.fit(X[keep], y[keep], tasks=tasks[keep])
    assert a.alpha_ == b.alpha_
    assert_allclose(
        a.cv_results_["mean_test_score"], b.cv_results_["mean_test_score"], rtol=1e-6
    )
