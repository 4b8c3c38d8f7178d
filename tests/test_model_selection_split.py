"""Task-aware splitters, and how tasks reach them through scikit-learn's tools."""

import importlib

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV, cross_validate

import skmtl.model_selection
from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.datasets import make_multitask_classification, make_multitask_regression
from skmtl.model_selection import (
    LeaveOneTaskOut,
    SourceTargetSplit,
    TaskStratifiedKFold,
)


@pytest.fixture(scope="module")
def data():
    return make_multitask_classification(n_tasks=3, n_samples=40, random_state=0)


def test_all_importable():
    module = importlib.import_module("skmtl.model_selection")
    for name in skmtl.model_selection.__all__:
        assert hasattr(module, name), name


def _check_partition(splits, n):
    tests = np.concatenate([test for _, test in splits])
    np.testing.assert_array_equal(np.sort(tests), np.arange(n))
    for train, test in splits:
        assert np.intersect1d(train, test).size == 0
        assert train.size + test.size == n


# ------------------------------------------------------------------ K-fold
@pytest.mark.parametrize("shuffle, seed", [(False, None), (True, 0), (True, 1)])
def test_task_stratified_kfold_every_task_and_class(data, shuffle, seed):
    X, y, tasks = data
    cv = TaskStratifiedKFold(4, shuffle=shuffle, random_state=seed)
    splits = list(cv.split(X, y, tasks=tasks))
    assert len(splits) == cv.get_n_splits() == 4
    _check_partition(splits, len(y))
    sizes = [len(test) for _, test in splits]
    assert max(sizes) - min(sizes) <= 1
    for _, test in splits:
        pairs = set(zip(tasks[test].tolist(), y[test].tolist()))
        assert pairs == set(zip(tasks.tolist(), y.tolist()))


def test_task_stratified_kfold_regression_stratifies_by_task():
    X, y, tasks = make_multitask_regression(
        n_tasks=3, n_samples=[5, 9, 20], random_state=0
    )
    splits = list(TaskStratifiedKFold(5).split(X, y, tasks=tasks))
    _check_partition(splits, len(y))
    for _, test in splits:
        np.testing.assert_array_equal(np.unique(tasks[test]), [0, 1, 2])
    # the same folds without y: continuous targets are not strata
    no_y = list(TaskStratifiedKFold(5).split(X, tasks=tasks))
    for (_, a), (_, b) in zip(splits, no_y):
        np.testing.assert_array_equal(a, b)


def test_task_stratified_kfold_deterministic(data):
    X, y, tasks = data

    def folds(seed):
        cv = TaskStratifiedKFold(3, shuffle=True, random_state=seed)
        return [test for _, test in cv.split(X, y, tasks=tasks)]

    for a, b in zip(folds(7), folds(7)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(folds(7), folds(8)))


def test_task_stratified_kfold_errors(data):
    X, y, tasks = data
    small = np.where(np.arange(len(y)) < 3, "tiny", "big")
    with pytest.raises(ValueError, match=r"task\(s\) 'tiny' \(3 rows\)"):
        next(TaskStratifiedKFold(4).split(X, y, tasks=small))
    with pytest.raises(ValueError, match="random_state has no effect"):
        next(TaskStratifiedKFold(3, random_state=0).split(X, y, tasks=tasks))
    with pytest.raises(ValueError, match="n_splits must be at least 2"):
        next(TaskStratifiedKFold(1).split(X, y, tasks=tasks))
    with pytest.raises(ValueError, match="tasks has 5 labels but X has 120 rows"):
        next(TaskStratifiedKFold(3).split(X, y, tasks=tasks[:5]))


def test_tasks_none_explains_routing_and_column_mode(data):
    X, y, _ = data
    with pytest.raises(ValueError, match="enable_metadata_routing=True.*task_column"):
        next(TaskStratifiedKFold(3).split(X, y))
    with pytest.raises(ValueError, match="LeaveOneTaskOut.split needs"):
        LeaveOneTaskOut().get_n_splits(X)


def test_task_column_mode(data):
    X, y, tasks = data
    df = pd.DataFrame(X).add_prefix("x")
    df["task"] = tasks
    ref = list(TaskStratifiedKFold(3).split(X, y, tasks=tasks))
    by_name = list(TaskStratifiedKFold(3, task_column="task").split(df, y))
    arr = np.column_stack([tasks, X])
    by_index = list(TaskStratifiedKFold(3, task_column=0).split(arr, y))
    for (_, a), (_, b), (_, c) in zip(ref, by_name, by_index):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert LeaveOneTaskOut(task_column="task").get_n_splits(df) == 3
    # an explicit tasks argument wins over the column
    other = np.where(tasks == 0, "a", "b")
    assert LeaveOneTaskOut(task_column="task").get_n_splits(df, tasks=other) == 2


# ------------------------------------------------------------------ leave one out
def test_leave_one_task_out(data):
    X, y, tasks = data
    cv = LeaveOneTaskOut()
    assert cv.get_n_splits(X, tasks=tasks) == 3
    splits = list(cv.split(X, y, tasks=tasks))
    _check_partition(splits, len(y))
    for k, (train, test) in enumerate(splits):
        assert set(tasks[test]) == {k}
        assert k not in set(tasks[train])
    with pytest.raises(ValueError, match="at least 2 tasks"):
        next(cv.split(X, tasks="only"))


# ------------------------------------------------------------------ source/target
def test_source_target_split(data):
    X, y, tasks = data
    labels = np.where(tasks == 2, "target", "source")
    cv = SourceTargetSplit(4, random_state=0)
    splits = list(cv.split(X, y, tasks=labels))
    assert len(splits) == cv.get_n_splits() == 4
    source = np.flatnonzero(labels == "source")
    target = np.flatnonzero(labels == "target")
    tests = np.concatenate([test for _, test in splits])
    np.testing.assert_array_equal(np.sort(tests), target)
    for train, test in splits:
        assert np.isin(source, train).all()
        assert (labels[test] == "target").all()
        assert np.union1d(train, test).size == len(y)
        # stratified: both classes of the target in every fold
        assert set(y[test]) == {0, 1}
    again = [
        test
        for _, test in SourceTargetSplit(4, random_state=0).split(X, y, tasks=labels)
    ]
    for (_, a), b in zip(splits, again):
        np.testing.assert_array_equal(a, b)


def test_source_target_split_errors(data):
    X, y, tasks = data
    with pytest.raises(ValueError, match="target='target' has no rows"):
        next(SourceTargetSplit().split(X, y, tasks=tasks))
    labels = np.where(np.arange(len(y)) < 3, "target", "source")
    with pytest.raises(ValueError, match="has 3 rows, fewer than n_splits=5"):
        next(SourceTargetSplit(5).split(X, y, tasks=labels))
    cv = SourceTargetSplit(2, target=1, shuffle=False)
    assert all((tasks[test] == 1).all() for _, test in cv.split(X, y, tasks=tasks))


# ------------------------------------------------------------------ routing
class _Spy(MultiTaskClassifier):
    """Records the tasks that fit and score receive (class-level log)."""

    log = []

    def fit(self, X, y, tasks=None, sample_weight=None):
        _Spy.log.append(("fit", np.asarray(tasks).copy()))
        return super().fit(X, y, tasks=tasks, sample_weight=sample_weight)

    def score(self, X, y, tasks=None, sample_weight=None):
        _Spy.log.append(("score", np.asarray(tasks).copy()))
        return super().score(X, y, tasks=tasks, sample_weight=sample_weight)


def _routed_folds(data, cv):
    X, y, tasks = data
    return list(cv.split(X, y, tasks=tasks))


@pytest.mark.parametrize(
    "cv",
    [
        TaskStratifiedKFold(3, shuffle=True, random_state=0),
        LeaveOneTaskOut(),
        SourceTargetSplit(3, target=1, random_state=0),
    ],
    ids=lambda cv: type(cv).__name__,
)
def test_grid_search_routes_tasks_to_split_fit_and_score(data, cv):
    X, y, tasks = data
    est = _Spy(unseen_tasks="shared", penalty="mean")
    _Spy.log = []
    with sklearn.config_context(enable_metadata_routing=True):
        GridSearchCV(est, {"alpha": [0.1]}, cv=cv, refit=False).fit(X, y, tasks=tasks)
    folds = _routed_folds(data, cv)
    fits = [t for kind, t in _Spy.log if kind == "fit"]
    scores = [t for kind, t in _Spy.log if kind == "score"]
    assert len(fits) == len(scores) == len(folds)
    for (train, test), fit_tasks, score_tasks in zip(folds, fits, scores):
        np.testing.assert_array_equal(fit_tasks, tasks[train])
        np.testing.assert_array_equal(score_tasks, tasks[test])


def test_cross_validate_routes_tasks(data):
    X, y, tasks = data
    cv = TaskStratifiedKFold(4, shuffle=True, random_state=0)
    _Spy.log = []
    with sklearn.config_context(enable_metadata_routing=True):
        res = cross_validate(
            _Spy(), X, y, cv=cv, params={"tasks": tasks}, return_indices=True
        )
    fits = [t for kind, t in _Spy.log if kind == "fit"]
    scores = [t for kind, t in _Spy.log if kind == "score"]
    for k, (fit_tasks, score_tasks) in enumerate(zip(fits, scores)):
        np.testing.assert_array_equal(fit_tasks, tasks[res["indices"]["train"][k]])
        np.testing.assert_array_equal(score_tasks, tasks[res["indices"]["test"][k]])
    folds = _routed_folds(data, cv)
    for k, (_, test) in enumerate(folds):
        np.testing.assert_array_equal(res["indices"]["test"][k], test)


def test_without_routing_the_splitter_asks_for_tasks(data):
    X, y, tasks = data
    search = GridSearchCV(MultiTaskRegressor(), {"alpha": [0.1]}, cv=LeaveOneTaskOut())
    with pytest.raises(ValueError, match="enable metadata routing"):
        search.fit(X, y)


def test_split_request_is_declared():
    for cv in (TaskStratifiedKFold(), LeaveOneTaskOut(), SourceTargetSplit()):
        requests = cv.get_metadata_routing().split.requests
        assert requests["tasks"] is True
