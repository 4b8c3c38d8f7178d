"""Label containers and missing labels, issue [6/9] kinds 3 and 5.

Every argument that takes labels means the same thing whatever its container
(list, tuple, numpy, pandas Series with any index, Categorical, nullable and
pyarrow-backed dtypes), and a missing label of any kind gets the one "missing
labels" message naming the argument. A search over a Pipeline that needs
``tasks`` in predict, scored by a stock scorer, stops and says what to do instead.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone, is_classifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_predict, cross_validate
from sklearn.pipeline import make_pipeline

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.base import TasksNotPassedError
from skmtl.metrics import make_task_scorer
from skmtl.transfer import FeatureAugmenter

from .test_common import ESTIMATORS, _key
from .test_properties import _fit, _takes_tasks

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning", "ignore::UserWarning"
)

try:  # pyarrow-backed dtypes need pyarrow (in the test extra)
    import pyarrow  # noqa: F401

    HAVE_ARROW = True
except ImportError:  # pragma: no cover - CI installs it
    HAVE_ARROW = False

MISSING = r"contains missing labels \(None, NaN or pd\.NA\)"
CLASSIFIERS = [e for e in ESTIMATORS if is_classifier(e)]


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random(size=(40, 3))  # non-negative: counts for the naive Bayes
    y = (X[:, 0] + 0.1 * rng.normal(size=40) > 0.5).astype(int)
    tasks = np.repeat(["a", "b"], 20)
    return X, y, tasks


def _y_containers(y):
    """The same binary labels in every container a user may pass."""
    words = np.where(y == 1, "pos", "neg")
    out = {
        "list": list(y),
        "tuple": tuple(y),
        "Int64": pd.Series(y, dtype="Int64"),
        "Categorical": pd.Series(pd.Categorical(words)),
        "string": pd.Series(words, dtype="string"),
        "object": pd.Series(words.astype(object)),
        "boolean": pd.Series(y.astype(bool), dtype="boolean"),
        "shuffled_index": pd.Series(y, index=np.arange(100, 100 + len(y))[::-1]),
    }
    if HAVE_ARROW:
        out["int64[pyarrow]"] = pd.Series(y, dtype="int64[pyarrow]")
        out["string[pyarrow]"] = pd.Series(words, dtype="string[pyarrow]")
    return out


def _with_missing(y, row=3):
    """``y`` with one label missing, in the container's own missing marker."""
    if isinstance(y, pd.Series):
        y = y.copy()
        y.iloc[row] = None  # pandas stores its marker (pd.NA, NaN) per dtype
        return y
    y = list(y)
    y[row] = None
    return y


@pytest.mark.parametrize("container", list(_y_containers(np.zeros(2, int))))
def test_classifier_y_container_same_model(container):
    """The labels mean the same in every container: the same coefficients."""
    X, y, tasks = _problem()
    ref = MultiTaskClassifier(alpha=0.1).fit(X, y, tasks=tasks)
    est = MultiTaskClassifier(alpha=0.1).fit(
        X, _y_containers(y)[container], tasks=tasks
    )
    # "neg" < "pos" and False < True order the classes as 0 < 1
    assert_allclose(est.coef_, ref.coef_, rtol=1e-6, atol=1e-8)
    assert len(est.classes_) == 2


@pytest.mark.parametrize(
    "container",
    ["list", "Int64", "Categorical", "string", "object", "boolean"]
    + (["int64[pyarrow]", "string[pyarrow]"] if HAVE_ARROW else []),
)
@pytest.mark.parametrize("est", CLASSIFIERS, ids=_key)
def test_missing_class_label_is_named(est, container):
    """Every classifier refuses a missing y label with the one message."""
    X, y, tasks = _problem()
    y_bad = _with_missing(_y_containers(y)[container])
    before = y_bad.copy()
    with pytest.raises(ValueError, match="y " + MISSING):
        _fit(clone(est), X, y_bad, tasks=tasks if _takes_tasks(est) else None)
    if isinstance(before, pd.Series):  # the caller's labels are left as they were
        pd.testing.assert_series_equal(y_bad, before)


@pytest.mark.parametrize(
    "make",
    [
        lambda t: pd.Series(t, dtype="string"),
        lambda t: pd.Series(pd.Categorical(t)),
        lambda t: pd.Series(t.astype(object)),
        lambda t: pd.Series(np.where(t == "a", 1, 2), dtype="Int64"),
        lambda t: pd.Series(np.where(t == "a", 1.0, 2.0)),
        lambda t: list(t),
    ]
    + (
        [
            lambda t: pd.Series(t, dtype="string[pyarrow]"),
            lambda t: pd.Series(np.where(t == "a", 1, 2), dtype="int64[pyarrow]"),
        ]
        if HAVE_ARROW
        else []
    ),
)
def test_missing_task_label_same_message(make):
    """A missing task label of any container and dtype: the one message."""
    X, y, tasks = _problem()
    bad = _with_missing(make(tasks), row=5)
    for est in (MultiTaskClassifier(), MultiTaskRegressor()):
        with pytest.raises(ValueError, match="tasks " + MISSING):
            est.fit(X, y, tasks=bad)


def test_missing_label_on_unlabelled_rows_is_a_placeholder():
    """Rows marked ``unlabelled`` may hold anything, a missing value included;
    a missing label on a labelled row is named by its row in the caller's y."""
    from skmtl.transfer import DistilledClassifier, SelfTrainingTransferClassifier

    X, y, _ = _problem()
    unlabelled = np.arange(len(y)) >= 20
    y_obj = pd.Series(y.astype(object))
    y_obj[unlabelled] = None
    for est in (DistilledClassifier(), SelfTrainingTransferClassifier()):
        est.fit(X, y_obj, unlabelled=unlabelled)  # placeholders unread
        bad = y_obj.copy()
        bad.iloc[7] = pd.NA
        with pytest.raises(ValueError, match="y " + MISSING + ".* at row 7;"):
            clone(est).fit(X, bad, unlabelled=unlabelled)


def test_tasks_containers_same_model():
    X, y, tasks = _problem()
    ref = MultiTaskClassifier(alpha=0.1).fit(X, y, tasks=tasks)
    variants = [
        tuple(tasks),
        pd.Series(pd.Categorical(tasks)),
        pd.Series(tasks, dtype="string"),
        pd.Series(tasks, index=np.arange(40)[::-1]),
    ]
    if HAVE_ARROW:
        variants.append(pd.Series(tasks, dtype="string[pyarrow]"))
    for t in variants:
        est = MultiTaskClassifier(alpha=0.1).fit(X, y, tasks=t)
        assert_allclose(est.coef_, ref.coef_, rtol=1e-10)
        assert_array_equal(est.tasks_.astype(str), ref.tasks_.astype(str))


def _augmenter_search(scoring):
    X, y, tasks = _problem()
    pipe = make_pipeline(FeatureAugmenter(), LogisticRegression())
    search = GridSearchCV(pipe, {"logisticregression__C": [0.1, 1.0]}, cv=3,
                          scoring=scoring)  # fmt: skip
    with sklearn.config_context(enable_metadata_routing=True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            search.fit(X, y, tasks=tasks)
    return search, [str(w.message) for w in caught]


@pytest.mark.parametrize(
    "scoring", [None, make_task_scorer("accuracy", task_average="pooled")]
)
def test_search_over_augmenter_pipeline_scores(scoring):
    """Routing mode: the estimator's score and a task scorer get tasks; finite."""
    search, _ = _augmenter_search(scoring)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores))
    # the task scorer's pooled accuracy is the stock accuracy with tasks routed
    X, y, tasks = _problem()
    best = search.best_estimator_
    with sklearn.config_context(enable_metadata_routing=True):
        acc = np.mean(best.predict(X, tasks=tasks) == y)
        assert best.score(X, y, tasks=tasks) == pytest.approx(acc)


def test_stock_scorer_over_augmenter_pipeline_stops_the_search():
    """A stock scorer calls predict(X) without tasks: no fold can succeed, so
    the search stops (error_score cannot turn it into NaN) and the error names
    the scorer that works instead."""
    with pytest.raises(TasksNotPassedError) as info:
        _augmenter_search("accuracy")
    message = str(info.value)
    assert "stock scorers" in message
    assert "make_task_scorer('accuracy', task_average='pooled')" in message
    assert not isinstance(info.value, Exception)


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_stock_scorers_stop_searches_and_cross_validation(n_jobs):
    """Every way a stock scorer reaches a multi-task model without tasks
    stops, in routing mode and without it (scoring=None then calls score
    without tasks), in-process and in joblib workers."""
    X, y, tasks = _problem()
    grid = {"alpha": [0.1, 1.0]}
    with sklearn.config_context(enable_metadata_routing=True):
        with pytest.raises(TasksNotPassedError, match="metadata routing is on"):
            GridSearchCV(MultiTaskClassifier(), grid, cv=3, scoring="accuracy",
                         n_jobs=n_jobs).fit(X, y, tasks=tasks)  # fmt: skip
        with pytest.raises(TasksNotPassedError):
            cross_validate(MultiTaskClassifier(), X, y, scoring=["accuracy"],
                           params={"tasks": tasks}, cv=3, n_jobs=n_jobs)  # fmt: skip
        # scoring=None routes tasks to score: finite
        search = GridSearchCV(MultiTaskClassifier(), grid, cv=3, n_jobs=n_jobs)
        search.fit(X, y, tasks=tasks)
        assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    with pytest.raises(TasksNotPassedError, match="enable metadata routing"):
        GridSearchCV(MultiTaskClassifier(), grid, cv=3, n_jobs=n_jobs).fit(
            X, y, tasks=tasks
        )


def test_calls_without_tasks_outside_stock_scorers_stay_value_errors():
    """A direct call, cross_val_predict and a task scorer without routed tasks
    raise the ordinary ValueError (an ``except Exception`` catches it)."""
    X, y, tasks = _problem()
    model = MultiTaskClassifier().fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="tasks is required"):
        model.predict(X)
    with sklearn.config_context(enable_metadata_routing=True):
        with pytest.raises(ValueError, match="tasks is required"):
            cross_val_predict(MultiTaskClassifier(), X, y, params={"tasks": tasks})
    scorer = make_task_scorer("accuracy")
    with pytest.raises(ValueError, match="received tasks=None"):
        scorer(model, X, y)


def _graph_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = X[:, 0] + rng.normal(size=60)
    tasks = np.repeat(["a", "b", "c"], 20)
    A = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 3.0], [0.0, 3.0, 0.0]])
    return X, y, tasks, A


def test_adjacency_containers_same_graph():
    """numpy, nested lists, sparse, a DataFrame by label in any order, a
    DataFrame by position and a nullable-integer frame: one graph."""
    import scipy.sparse as sp

    from skmtl.penalties import GraphLaplacian

    X, y, tasks, A = _graph_problem()

    def coef(adjacency):
        penalty = GraphLaplacian(adjacency=adjacency)
        return (
            MultiTaskRegressor(penalty=penalty, alpha=0.1).fit(X, y, tasks=tasks).coef_
        )

    ref = coef(A)
    by_label = pd.DataFrame(A, index=list("abc"), columns=list("abc"))
    variants = [
        A.tolist(),
        tuple(map(tuple, A)),
        sp.csr_matrix(A),
        by_label.loc[["c", "a", "b"], ["b", "c", "a"]],  # another order
        pd.DataFrame(A),  # default index: by position
        pd.DataFrame(A.astype(int), dtype="Int64"),
        # ordered pairs: each direction of the symmetric A
        {("a", "b"): 1.0, ("b", "a"): 1.0, ("b", "c"): 3.0, ("c", "b"): 3.0},
    ]
    for adjacency in variants:
        assert_allclose(coef(adjacency), ref, rtol=1e-7, atol=1e-10)
    # the symmetrised graph differs from an order-blind read of the shuffled frame
    shuffled = by_label.loc[["c", "a", "b"], ["b", "c", "a"]].to_numpy()
    assert not np.allclose(coef(shuffled), ref)


def test_adjacency_frame_with_other_labels_is_refused():
    from skmtl.penalties import GraphLaplacian

    X, y, tasks, A = _graph_problem()
    frame = pd.DataFrame(A, index=list("abx"), columns=list("abc"))
    with pytest.raises(ValueError, match=r"adjacency is a DataFrame .*\['x'\]"):
        MultiTaskRegressor(penalty=GraphLaplacian(adjacency=frame)).fit(
            X, y, tasks=tasks
        )
    missing = pd.DataFrame(A.astype(int), dtype="Int64")
    missing.iloc[0, 1] = pd.NA
    with pytest.raises(ValueError, match="adjacency contains NaN"):
        MultiTaskRegressor(penalty=GraphLaplacian(adjacency=missing)).fit(
            X, y, tasks=tasks
        )


def test_task_weights_containers_same_model():
    """task_weights by label: dict, Series (any dtype, nullable, pyarrow)."""
    X, y, tasks = _problem()
    ref = MultiTaskClassifier(alpha=0.1, task_weights={"a": 1.0, "b": 3.0})
    ref = ref.fit(X, y, tasks=tasks).coef_
    variants = [
        pd.Series({"a": 1.0, "b": 3.0}),
        pd.Series({"b": 3, "a": 1}, dtype="Int64"),  # another order, nullable
        pd.Series({"a": 1.0, "b": 3.0}, index=pd.CategoricalIndex(["a", "b"])),
    ]
    if HAVE_ARROW:
        variants.append(pd.Series({"a": 1.0, "b": 3.0}).astype("float64[pyarrow]"))
    for weights in variants:
        est = MultiTaskClassifier(alpha=0.1, task_weights=weights)
        assert_allclose(est.fit(X, y, tasks=tasks).coef_, ref, rtol=1e-8)
    missing = pd.Series({"a": 1.0, "b": 3.0}, dtype="Float64")
    missing["b"] = pd.NA
    with pytest.raises(ValueError, match="task_weights"):
        MultiTaskClassifier(task_weights=missing).fit(X, y, tasks=tasks)
