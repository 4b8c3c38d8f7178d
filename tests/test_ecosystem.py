"""Real flows through scikit-learn tools: 20 Newsgroups text, both task modes, dask."""

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.datasets import make_multitask_regression, train_test_split_tasks
from skmtl.metrics import make_task_scorer, per_task_scorers
from skmtl.model_selection import MultiTaskClassifierCV, TaskStratifiedKFold
from skmtl.penalties import MeanRegularized
from skmtl.pipeline import TaskColumnEstimator

from .conftest import needs_archive

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def newsgroups(data_home):
    """60 labelled documents per task of the comp_vs_rec setting (4 tasks)."""
    from skmtl.datasets import fetch_20newsgroups_multitask

    data = fetch_20newsgroups_multitask(
        "comp_vs_rec", remove=("headers", "footers", "quotes")
    )
    docs = np.asarray(data.data, dtype=object)
    X, _, y, _, tasks, _ = train_test_split_tasks(
        docs, data.target, data.tasks, train_size=60, random_state=0
    )
    return list(X), y, tasks


def _text_pipeline():
    return make_pipeline(
        TfidfVectorizer(sublinear_tf=True, min_df=1),
        MultiTaskClassifier(alpha=0.1, penalty=MeanRegularized()),
    )


@needs_archive
def test_newsgroups_grid_search_and_per_task_cv_in_both_modes(newsgroups):
    docs, y, tasks = newsgroups
    folds = list(TaskStratifiedKFold(3, shuffle=True, random_state=0).split(
        docs, y, tasks=tasks))  # fmt: skip
    grid = {"multitaskclassifier__alpha": [0.01, 0.1]}
    labels = np.unique(tasks)
    # routing mode
    with sklearn.config_context(enable_metadata_routing=True):
        routed = GridSearchCV(_text_pipeline(), grid, cv=folds,
                              scoring=make_task_scorer("accuracy"))  # fmt: skip
        routed.fit(docs, y, tasks=tasks)
        routed_cv = cross_validate(
            _text_pipeline(), docs, y, params={"tasks": tasks}, cv=folds,
            scoring=per_task_scorers("accuracy", labels),
        )  # fmt: skip
    # column mode: the task is a column of a DataFrame, routing stays off
    frame = pd.DataFrame({"text": docs, "task": tasks})
    col = GridSearchCV(
        TaskColumnEstimator(_text_pipeline(), "task"),
        {f"estimator__{k}": v for k, v in grid.items()},
        cv=folds,
        scoring="accuracy",
    ).fit(frame, y)
    # the same folds and models give the same numbers (micro accuracy equals
    # the macro over tasks here because the folds are task-stratified and the
    # tasks have equal sizes)
    assert_allclose(
        col.cv_results_["mean_test_score"], routed.cv_results_["mean_test_score"]
    )
    assert (
        col.best_params_["estimator__multitaskclassifier__alpha"]
        == (routed.best_params_["multitaskclassifier__alpha"])
    )
    # one accuracy column per task, equal to a manual per-task computation
    for k, (train, test) in enumerate(folds):
        pipe = _text_pipeline()
        with sklearn.config_context(enable_metadata_routing=True):
            pipe.fit([docs[i] for i in train], y[train], tasks=tasks[train])
            pred = pipe.predict([docs[i] for i in test], tasks=tasks[test])
        for label in labels:
            rows = tasks[test] == label
            expected = np.mean(pred[rows] == y[test][rows])
            assert_allclose(routed_cv[f"test_accuracy_{label}"][k], expected)
    col_cv = cross_validate(
        TaskColumnEstimator(_text_pipeline(), "task"), frame, y, cv=folds,
        scoring="accuracy",
    )  # fmt: skip
    per_fold = np.array([routed_cv[f"test_accuracy_{t}"] for t in labels])
    assert_allclose(col_cv["test_score"], per_fold.mean(axis=0))


@needs_archive
def test_cv_estimator_chooses_like_grid_search_on_newsgroups(newsgroups):
    docs, y, tasks = newsgroups
    X = TfidfVectorizer(sublinear_tf=True).fit_transform(docs)
    folds = list(TaskStratifiedKFold(3, shuffle=True, random_state=1).split(
        X, y, tasks=tasks))  # fmt: skip
    alphas = [1.0, 0.1, 0.01, 0.001]
    cvm = MultiTaskClassifierCV(
        alphas, penalty=MeanRegularized(), penalty_grid={"specific": [0.3, 3.0]},
        cv=folds,
    ).fit(X, y, tasks=tasks)  # fmt: skip
    with sklearn.config_context(enable_metadata_routing=True):
        gs = GridSearchCV(
            MultiTaskClassifier(penalty=MeanRegularized()),
            {"alpha": alphas, "penalty__specific": [0.3, 3.0]},
            cv=folds,
        ).fit(X, y, tasks=tasks)
    assert cvm.best_params_["alpha"] == gs.best_params_["alpha"]
    assert cvm.best_params_["penalty__specific"] == gs.best_params_["penalty__specific"]
    assert_allclose(cvm.best_score_, gs.best_score_)


def test_dataframe_input_keeps_feature_names():
    X, y, tasks = make_multitask_regression(n_tasks=2, n_samples=30, n_features=3,
                                            random_state=0)  # fmt: skip
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = MultiTaskRegressor().fit(frame, y, tasks=tasks)
    assert_array_equal(model.feature_names_in_, ["a", "b", "c"])
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(X, tasks=tasks)


def test_grid_search_on_a_dask_cluster():
    pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    import joblib

    X, y, tasks = make_multitask_regression(n_tasks=3, n_samples=30, n_features=4,
                                            random_state=0)  # fmt: skip
    folds = list(TaskStratifiedKFold(3, shuffle=True, random_state=0).split(
        X, y, tasks=tasks))  # fmt: skip
    grid = {"multitaskregressor__alpha": [0.01, 0.1, 1.0]}

    def search():
        from sklearn.preprocessing import StandardScaler

        pipe = make_pipeline(StandardScaler(), MultiTaskRegressor(penalty="mean"))
        with sklearn.config_context(enable_metadata_routing=True):
            return GridSearchCV(pipe, grid, cv=folds, n_jobs=-1).fit(X, y, tasks=tasks)

    local = search()
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        with joblib.parallel_backend("dask"):
            remote = search()
    assert remote.best_params_ == local.best_params_
    assert_allclose(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
