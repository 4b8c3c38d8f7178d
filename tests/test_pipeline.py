"""Column mode: TaskColumnEstimator reads the tasks from a column of X."""

import pickle

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    cross_val_score,
    cross_validate,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl._tasks import check_task_labels
from skmtl.datasets import make_multitask_classification, make_multitask_regression
from skmtl.model_selection import TaskStratifiedKFold
from skmtl.pipeline import TaskColumnEstimator, make_task_pipeline


class _PooledTasksClassifier(MultiTaskClassifier):
    """Test double for scikit-learn's checks: validates the tasks, then pools them.

    check_estimator's data have no task column: column 0 holds continuous
    values, i.e. one task per row, and no classifier can fit a task with a
    single class. The double checks that the wrapper hands on one valid label
    per row and fits one model for all rows, so the checks exercise the
    wrapper's own contract (cloning, column splitting, fitted attributes,
    n_features_in_, dtypes, pickling, ...).
    """

    def fit(self, X, y, tasks=None, sample_weight=None):
        check_task_labels(tasks, X.shape[0])
        return super().fit(X, y, tasks=None, sample_weight=sample_weight)

    def decision_function(self, X, tasks=None):
        check_task_labels(tasks, X.shape[0])
        return super().decision_function(X, tasks=None)


# scikit-learn checks of TaskColumnEstimator: tests/test_common.py


# ------------------------------------------------------------------ data
@pytest.fixture(scope="module")
def clf_data():
    X, y, tasks = make_multitask_classification(
        n_tasks=3, n_samples=40, n_features=5, random_state=0
    )
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    df["task"] = np.array(["t0", "t1", "t2"])[tasks]
    return X, y, df["task"].to_numpy(), df


def _text_frame():
    sport = ["goal team match", "score ball team", "team goal ball", "match ball"]
    tech = ["disk driver chip", "memory screen chip", "chip disk memory", "cpu disk"]
    rng = np.random.default_rng(0)
    rows, y, tasks = [], [], []
    for task in ("forum-a", "forum-b"):
        for i in range(12):
            words = (sport if i % 2 == 0 else tech)[rng.integers(4)]
            rows.append(f"{words} {task}")
            y.append(i % 2)
            tasks.append(task)
    return pd.DataFrame({"text": rows, "task": tasks}), np.array(y)


# ------------------------------------------------------------------ basics
def test_same_model_as_tasks_argument(clf_data):
    X, y, tasks, df = clf_data
    direct = MultiTaskClassifier(penalty="mean").fit(X, y, tasks=tasks)
    wrapped = TaskColumnEstimator(MultiTaskClassifier(penalty="mean")).fit(df, y)
    np.testing.assert_allclose(wrapped.estimator_.coef_, direct.coef_)
    np.testing.assert_array_equal(wrapped.predict(df), direct.predict(X, tasks))
    np.testing.assert_allclose(
        wrapped.predict_proba(df), direct.predict_proba(X, tasks=tasks)
    )
    np.testing.assert_allclose(
        wrapped.decision_function(df), direct.decision_function(X, tasks=tasks)
    )
    assert wrapped.score(df, y) == direct.score(X, y, tasks=tasks)
    np.testing.assert_array_equal(wrapped.tasks_, ["t0", "t1", "t2"])
    np.testing.assert_array_equal(wrapped.classes_, [0, 1])
    assert wrapped.n_features_in_ == 6
    np.testing.assert_array_equal(wrapped.feature_names_in_, df.columns)


@pytest.mark.parametrize("routing", [False, True])
def test_pipeline_inner_with_and_without_routing(clf_data, routing):
    X, y, tasks, df = clf_data
    ref = make_pipeline(StandardScaler(), MultiTaskClassifier(penalty="mean"))
    ref.fit(X, y, multitaskclassifier__tasks=tasks)
    Xt = ref[:-1].transform(X)
    model = make_task_pipeline(StandardScaler(), MultiTaskClassifier(penalty="mean"))
    with sklearn.config_context(enable_metadata_routing=routing):
        model.fit(df, y)
        pred = model.predict(df)
        proba = model.predict_proba(df)
        dec = model.decision_function(df)
        score = model.score(df, y)
    np.testing.assert_array_equal(pred, ref[-1].predict(Xt, tasks=tasks))
    np.testing.assert_allclose(proba, ref[-1].predict_proba(Xt, tasks=tasks))
    np.testing.assert_allclose(dec, ref[-1].decision_function(Xt, tasks=tasks))
    assert score == ref[-1].score(Xt, y, tasks=tasks)


def test_integer_column_of_an_array():
    X, y, tasks = make_multitask_regression(
        n_tasks=3, n_samples=20, n_features=4, random_state=0
    )
    Xc = np.column_stack([X[:, :2], tasks, X[:, 2:]])
    wrapped = TaskColumnEstimator(MultiTaskRegressor(), task_column=2).fit(Xc, y)
    direct = MultiTaskRegressor().fit(X, y, tasks=tasks)
    np.testing.assert_allclose(wrapped.predict(Xc), direct.predict(X, tasks=tasks))
    np.testing.assert_array_equal(wrapped.tasks_, [0.0, 1.0, 2.0])
    # negative positions count from the end
    last = TaskColumnEstimator(MultiTaskRegressor(), task_column=-1)
    last.fit(np.column_stack([X, tasks]), y)
    np.testing.assert_allclose(last.estimator_.coef_, direct.coef_)
    assert is_regressor(wrapped) and not is_classifier(wrapped)


def test_feature_columns_and_squeezing(clf_data):
    X, y, tasks, df = clf_data
    seen = {}

    class Spy(MultiTaskClassifier):
        def fit(self, X, y, tasks=None, sample_weight=None):
            seen["shape"] = np.shape(X)
            return super().fit(np.reshape(X, (len(y), -1)), y, tasks=tasks)

    two = df[["x0", "task"]]
    TaskColumnEstimator(Spy()).fit(two, y)  # one numeric column stays 2-D
    assert seen["shape"] == (120, 1)
    TaskColumnEstimator(Spy(), feature_columns="x0").fit(df, y)  # scalar: 1-D
    assert seen["shape"] == (120,)
    TaskColumnEstimator(Spy(), feature_columns=["x1", "x3"]).fit(df, y)
    assert seen["shape"] == (120, 2)


def test_errors_name_the_column(clf_data):
    X, y, tasks, df = clf_data
    with pytest.raises(ValueError, match="task_column='group' is not a column"):
        TaskColumnEstimator(MultiTaskClassifier(), "group").fit(df, y)
    with pytest.raises(ValueError, match="must be an integer index"):
        TaskColumnEstimator(MultiTaskClassifier(), "task").fit(X, y)
    bad = df.copy()
    bad.loc[3, "task"] = None
    with pytest.raises(ValueError, match="task column 'task' contains missing"):
        TaskColumnEstimator(MultiTaskClassifier()).fit(bad, y)
    model = TaskColumnEstimator(MultiTaskClassifier()).fit(df, y)
    new = df.head(2).assign(task="t9")
    with pytest.raises(ValueError, match="not seen during fit: 't9'"):
        model.predict(new)
    with pytest.raises(ValueError, match="do not pass tasks"):
        TaskColumnEstimator(MultiTaskClassifier()).fit(df, y, tasks=tasks)
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        TaskColumnEstimator(MultiTaskClassifier()).fit(df[["task"]], y)


def test_clone_params_and_pickle(clf_data):
    X, y, tasks, df = clf_data
    model = make_task_pipeline(StandardScaler(), MultiTaskClassifier(alpha=0.1))
    params = model.get_params()
    assert params["task_column"] == "task"
    assert params["estimator__multitaskclassifier__alpha"] == 0.1
    model.set_params(estimator__multitaskclassifier__alpha=0.5)
    twin = clone(model)
    assert twin.estimator.steps[-1][1].alpha == 0.5
    assert not hasattr(twin, "estimator_")
    twin.fit(df, y)
    restored = pickle.loads(pickle.dumps(twin))
    np.testing.assert_array_equal(restored.predict(df), twin.predict(df))
    assert is_classifier(twin)


# ------------------------------------------------------------------ tools
@pytest.mark.parametrize(
    "cv_factory",
    [
        lambda column: KFold(4, shuffle=True, random_state=0),
        lambda column: TaskStratifiedKFold(
            4, shuffle=True, random_state=0, task_column=column
        ),
    ],
    ids=["KFold", "TaskStratifiedKFold"],
)
def test_column_mode_matches_routing_mode(clf_data, cv_factory):
    X, y, tasks, df = clf_data
    column = cross_val_score(
        TaskColumnEstimator(MultiTaskClassifier(penalty="mean")),
        df,
        y,
        cv=cv_factory("task"),
        scoring="accuracy",
    )
    with sklearn.config_context(enable_metadata_routing=True):
        routed = cross_validate(
            MultiTaskClassifier(penalty="mean"),
            X,
            y,
            cv=cv_factory(None),
            params={"tasks": tasks},
        )["test_score"]
    np.testing.assert_array_equal(column, routed)


def test_grid_search_and_cross_validate_without_routing(clf_data):
    X, y, tasks, df = clf_data
    cv = TaskStratifiedKFold(3, task_column="task")
    search = GridSearchCV(
        make_task_pipeline(StandardScaler(), MultiTaskClassifier()),
        {"estimator__multitaskclassifier__alpha": [0.01, 1.0]},
        cv=cv,
    ).fit(df, y)
    assert set(search.best_params_) == {"estimator__multitaskclassifier__alpha"}
    res = cross_validate(
        search.best_estimator_, df, y, cv=cv, scoring=["accuracy", "roc_auc"]
    )
    assert np.all(res["test_accuracy"] > 0.5)
    assert np.all(res["test_roc_auc"] > 0.5)


def test_text_frame_grid_search():
    df, y = _text_frame()
    model = TaskColumnEstimator(
        make_pipeline(TfidfVectorizer(), MultiTaskClassifier()), "task"
    )
    search = GridSearchCV(
        model,
        {
            "estimator__multitaskclassifier__alpha": [0.001, 0.1],
            "estimator__tfidfvectorizer__min_df": [1, 2],
        },
        cv=TaskStratifiedKFold(3, task_column="task"),
        scoring="accuracy",
    ).fit(df, y)
    assert search.best_score_ > 0.9
    best = search.best_estimator_
    query = pd.DataFrame({"text": ["ball team goal", "chip disk"], "task": "forum-b"})
    np.testing.assert_array_equal(best.predict(query), [0, 1])
    # the text column reached the vectorizer as documents, not as a table
    assert "ball" in best.estimator_[0].vocabulary_


def test_routing_on_with_grid_search(clf_data):
    X, y, tasks, df = clf_data
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            TaskColumnEstimator(MultiTaskClassifier()),
            {"estimator__alpha": [0.01, 1.0]},
            cv=TaskStratifiedKFold(3, task_column="task"),
        ).fit(df, y)
        assert search.score(df, y) > 0.5
