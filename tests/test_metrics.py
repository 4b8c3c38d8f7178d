"""Task-aware scorers and per-task reports (skmtl.metrics)."""

import builtins
import pickle

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    log_loss,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skmtl.metrics
from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.datasets import make_multitask_classification
from skmtl.metrics import make_task_scorer, per_task_report, per_task_scorers


class StubClassifier(ClassifierMixin, BaseEstimator):
    """Responses read from X: predict = X[:, 0], P(class 1) = X[:, 1],
    decision_function = X[:, 2]; records the tasks it is given."""

    def fit(self, X, y, tasks=None):
        self.classes_ = np.array([0, 1])
        self.tasks_ = np.unique(tasks) if tasks is not None else np.array([0])
        return self

    def predict(self, X, tasks=None):
        self.last_tasks_ = tasks
        return np.asarray(X)[:, 0].astype(int)

    def predict_proba(self, X, tasks=None):
        p1 = np.asarray(X)[:, 1]
        return np.column_stack([1 - p1, p1])

    def decision_function(self, X, tasks=None):
        return np.asarray(X)[:, 2]


class FixedClassifier(StubClassifier):
    def __init__(self, pred=None):
        self.pred = pred

    def predict(self, X, tasks=None):
        return self.pred


class StubRegressor(RegressorMixin, BaseEstimator):
    def fit(self, X, y, tasks=None):
        return self

    def predict(self, X, tasks=None):
        return np.asarray(X)[:, 0]


@pytest.fixture(scope="module")
def stub_data():
    rng = np.random.default_rng(0)
    n = 60
    tasks = np.repeat(np.array(["a", "b", "c"]), [10, 20, 30])
    y = rng.integers(0, 2, n)
    y[[0, 1]] = [0, 1]  # each task sees both classes
    flip = rng.random(n) < np.where(tasks == "a", 0.1, np.where(tasks == "b", 0.3, 0.5))
    pred = np.where(flip, 1 - y, y)
    proba = np.clip(0.5 + 0.4 * (2 * y - 1) * rng.random(n) - 0.1, 0.01, 0.99)
    X = np.column_stack([pred, proba, rng.normal(size=n) + y])
    weights = rng.uniform(0.5, 2.0, n)
    return X, y, tasks, weights, StubClassifier().fit(X, y, tasks)


@pytest.fixture(scope="module")
def problem():
    return make_multitask_classification(n_tasks=3, n_samples=40, random_state=0)


def _manual(func, y, pred, tasks, weights=None, **kw):
    labels = np.unique(tasks)
    scores, sizes = [], []
    for t in labels:
        m = tasks == t
        sw = None if weights is None else weights[m]
        scores.append(func(y[m], pred[m], sample_weight=sw, **kw))
        sizes.append(m.sum() if weights is None else weights[m].sum())
    return np.array(scores), np.array(sizes, dtype=float)


def test_public_api_imports():
    for name in skmtl.metrics.__all__:
        assert hasattr(skmtl.metrics, name), name


@pytest.mark.parametrize("use_weights", [False, True])
def test_aggregations_match_manual(stub_data, use_weights):
    X, y, tasks, weights, est = stub_data
    sw = weights if use_weights else None
    scores, sizes = _manual(accuracy_score, y, X[:, 0], tasks, sw)
    expected = {
        "macro": scores.mean(),
        "weighted": np.average(scores, weights=sizes),
        "worst": scores.min(),
        "pooled": accuracy_score(y, X[:, 0], sample_weight=sw),
        None: accuracy_score(y, X[:, 0], sample_weight=sw),
    }
    for avg, value in expected.items():
        scorer = make_task_scorer("accuracy", task_average=avg)
        got = scorer(est, X, y, tasks=tasks, sample_weight=sw)
        assert got == pytest.approx(value), avg
        assert isinstance(got, float)
    # the three tasks really differ, so the aggregations do too
    assert len({round(v, 6) for v in expected.values()}) >= 3
    assert list(est.last_tasks_) == list(tasks)  # tasks reached predict


def test_losses_are_negated_and_worst_is_largest_loss(stub_data):
    X, y, tasks, _, _ = stub_data
    est = StubRegressor().fit(X, y)
    mse, _ = _manual(mean_squared_error, y, X[:, 0], tasks)
    by_name = make_task_scorer("neg_mean_squared_error", task_average="worst")
    by_func = make_task_scorer(
        mean_squared_error, greater_is_better=False, task_average="worst"
    )
    assert by_name(est, X, y, tasks) == pytest.approx(-mse.max())
    assert by_func(est, X, y, tasks) == pytest.approx(-mse.max())
    r2, _ = _manual(r2_score, y, X[:, 0], tasks)
    assert make_task_scorer("r2")(est, X, y, tasks) == pytest.approx(r2.mean())


def test_probability_and_decision_responses(stub_data):
    X, y, tasks, _, est = stub_data
    auc_proba, _ = _manual(roc_auc_score, y, X[:, 1], tasks)
    scorer = make_task_scorer(roc_auc_score, response_method="predict_proba")
    assert scorer(est, X, y, tasks) == pytest.approx(auc_proba.mean())
    # "roc_auc" prefers decision_function, as scikit-learn's scorer
    auc_dec, _ = _manual(roc_auc_score, y, X[:, 2], tasks)
    assert make_task_scorer("roc_auc")(est, X, y, tasks) == pytest.approx(
        auc_dec.mean()
    )
    # pos_label=0: the negative class's probability / the negated decision
    ap0, _ = _manual(average_precision_score, y, 1 - X[:, 1], tasks, pos_label=0)
    scorer = make_task_scorer(
        average_precision_score, response_method="predict_proba", pos_label=0
    )
    assert scorer(est, X, y, tasks) == pytest.approx(ap0.mean())
    ap0, _ = _manual(average_precision_score, y, -X[:, 2], tasks, pos_label=0)
    scorer = make_task_scorer(
        average_precision_score, response_method="decision_function", pos_label=0
    )
    assert scorer(est, X, y, tasks) == pytest.approx(ap0.mean())
    with pytest.raises(ValueError, match="pos_label=5"):
        make_task_scorer(
            average_precision_score, response_method="predict_proba", pos_label=5
        )(est, X, y, tasks)


def test_log_loss_task_missing_a_class(stub_data):
    X, y, tasks, _, est = stub_data
    rows = (tasks != "a") | (y == 1)  # task "a" keeps one class only
    X, y, tasks = X[rows], y[rows], tasks[rows]
    expected = [
        -log_loss(y[tasks == t], X[tasks == t, 1], labels=[0, 1])
        for t in np.unique(tasks)
    ]
    got = make_task_scorer("neg_log_loss")(est, X, y, tasks)
    assert got == pytest.approx(np.mean(expected))


def test_shared_design_columns_are_tasks():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 4))
    Y = X @ rng.normal(size=(4, 3)) + rng.normal(size=(30, 3))
    model = MultiTaskRegressor().fit(X, Y)
    pred = model.predict(X)
    per_col = [r2_score(Y[:, j], pred[:, j]) for j in range(3)]
    assert make_task_scorer("r2")(model, X, Y) == pytest.approx(np.mean(per_col))
    worst = make_task_scorer("r2", task_average="worst")
    assert worst(model, X, Y) == pytest.approx(min(per_col))
    one = per_task_scorers("r2", model.tasks_)["r2_2"]
    assert one(model, X, Y) == pytest.approx(per_col[2])


def test_grid_search_routes_tasks_to_fit_and_scorer(problem):
    X, y, tasks = problem
    cv = KFold(3, shuffle=True, random_state=0)
    grid = {"alpha": [0.01, 1.0]}
    scorer = make_task_scorer("accuracy")
    search = GridSearchCV(
        MultiTaskClassifier(), grid, cv=cv, scoring=scorer, error_score="raise"
    )
    with sklearn.config_context(enable_metadata_routing=True):
        search.fit(X, y, tasks=tasks)
        refit_score = search.score(X, y, tasks=tasks)
    for i, params in enumerate(search.cv_results_["params"]):
        for k, (train, test) in enumerate(cv.split(X)):
            model = clone(MultiTaskClassifier()).set_params(**params)
            model.fit(X[train], y[train], tasks=tasks[train])
            pred = model.predict(X[test], tasks=tasks[test])
            manual, _ = _manual(accuracy_score, y[test], pred, tasks[test])
            got = search.cv_results_[f"split{k}_test_score"][i]
            assert got == pytest.approx(manual.mean())
    best = search.best_estimator_
    manual, _ = _manual(accuracy_score, y, best.predict(X, tasks=tasks), tasks)
    assert refit_score == pytest.approx(manual.mean())


def test_cross_validate_per_task_columns(problem):
    X, y, tasks = problem
    cv = KFold(3, shuffle=True, random_state=0)
    scoring = per_task_scorers("accuracy", tasks, task_average="macro")
    assert list(scoring) == ["accuracy_0", "accuracy_1", "accuracy_2", "accuracy_macro"]
    with sklearn.config_context(enable_metadata_routing=True):
        res = cross_validate(
            MultiTaskClassifier(),
            X,
            y,
            cv=cv,
            params={"tasks": tasks},
            scoring=scoring,
            error_score="raise",
        )
    for k, (train, test) in enumerate(cv.split(X)):
        model = MultiTaskClassifier().fit(X[train], y[train], tasks=tasks[train])
        pred = model.predict(X[test], tasks=tasks[test])
        manual, _ = _manual(accuracy_score, y[test], pred, tasks[test])
        for t in range(3):
            assert res[f"test_accuracy_{t}"][k] == pytest.approx(manual[t])
        assert res["test_accuracy_macro"][k] == pytest.approx(manual.mean())


def test_per_task_scorer_nan_without_rows_of_its_task(stub_data):
    X, y, tasks, _, est = stub_data
    scorers = per_task_scorers(accuracy_score, ["a", "b", "zz"])
    assert list(scorers) == ["accuracy_a", "accuracy_b", "accuracy_zz"]
    assert np.isnan(scorers["accuracy_zz"](est, X, y, tasks))
    m = tasks == "b"
    assert scorers["accuracy_b"](est, X, y, tasks) == accuracy_score(y[m], X[m, 0])
    assert list(est.last_tasks_) == ["b"] * m.sum()  # only its rows predicted
    with pytest.raises(ValueError, match="needs the task of each row"):
        scorers["accuracy_a"](est, X, y)


def test_sample_weight_is_routed_on_request(problem):
    X, y, tasks = problem
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    cv = KFold(3, shuffle=True, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        est = MultiTaskClassifier().set_fit_request(sample_weight=True)
        scorer = make_task_scorer("accuracy", task_average="weighted")
        params = {"tasks": tasks, "sample_weight": weights}
        with pytest.raises(UnsetMetadataPassedError, match="set_score_request"):
            cross_validate(est, X, y, cv=cv, params=params, scoring=scorer)
        scorer.set_score_request(sample_weight=True)
        assert scorer.get_metadata_routing().score.requests == {
            "tasks": True,
            "sample_weight": True,
        }
        res = cross_validate(
            est, X, y, cv=cv, params=params, scoring=scorer, error_score="raise"
        )
        with pytest.raises(ValueError, match="alias"):
            scorer.set_score_request(tasks="not an identifier")
    train, test = next(iter(cv.split(X)))
    model = MultiTaskClassifier().fit(
        X[train], y[train], tasks=tasks[train], sample_weight=weights[train]
    )
    pred = model.predict(X[test], tasks=tasks[test])
    scores, sizes = _manual(accuracy_score, y[test], pred, tasks[test], weights[test])
    assert res["test_score"][0] == pytest.approx(np.average(scores, weights=sizes))


def test_set_score_request_needs_routing():
    with pytest.raises(RuntimeError, match="enable_metadata_routing"):
        make_task_scorer("accuracy").set_score_request(sample_weight=True)


def test_clear_error_when_routing_is_off(problem):
    X, y, tasks = problem
    cv = KFold(3, shuffle=True, random_state=0)
    with pytest.raises(ValueError, match="received tasks=None") as info:
        cross_validate(
            MultiTaskClassifier(),
            X,
            y,
            cv=cv,
            params={"tasks": tasks},
            scoring=make_task_scorer("accuracy"),
            error_score="raise",
        )
    assert "enable metadata routing" in str(info.value)
    assert "tasks is required" in str(info.value.__cause__)


def test_single_task_models_without_routing(problem):
    X, y, _ = problem
    cv = KFold(3, shuffle=True, random_state=0)
    scorer = make_task_scorer("accuracy")
    for est in (LogisticRegression(), MultiTaskClassifier()):
        res = cross_validate(est, X, y, cv=cv, scoring=scorer, error_score="raise")
        plain = cross_validate(est, X, y, cv=cv, scoring="accuracy")
        np.testing.assert_allclose(res["test_score"], plain["test_score"])


def test_pipeline_with_routing(problem):
    X, y, tasks = problem
    cv = KFold(3, shuffle=True, random_state=0)
    pipe = make_pipeline(StandardScaler(), MultiTaskClassifier())
    with sklearn.config_context(enable_metadata_routing=True):
        res = cross_validate(
            pipe,
            X,
            y,
            cv=cv,
            params={"tasks": tasks},
            scoring=make_task_scorer("roc_auc"),
            error_score="raise",
        )
    assert np.all((res["test_score"] > 0) & (res["test_score"] <= 1))


def test_repr_and_pickle(stub_data):
    X, y, tasks, _, est = stub_data
    scorers = {
        "make_task_scorer('accuracy')": make_task_scorer("accuracy"),
        "make_task_scorer('r2', task_average='pooled')": make_task_scorer(
            "r2", task_average="pooled"
        ),
        "make_task_scorer(mean_squared_error, greater_is_better=False, "
        "task_average='worst')": make_task_scorer(
            mean_squared_error, greater_is_better=False, task_average="worst"
        ),
        "make_task_scorer(average_precision_score, "
        "response_method='predict_proba', pos_label=0)": make_task_scorer(
            average_precision_score, response_method="predict_proba", pos_label=0
        ),
        "make_task_scorer('f1_macro', task='b')": per_task_scorers("f1_macro", tasks)[
            "f1_macro_b"
        ],
    }
    for text, scorer in scorers.items():
        assert repr(scorer) == text
        copy = pickle.loads(pickle.dumps(scorer))
        assert repr(copy) == text
        if "mean_squared" not in text:
            assert copy(est, X, y, tasks) == scorer(est, X, y, tasks)


def test_invalid_arguments(stub_data):
    X, y, tasks, _, est = stub_data
    with pytest.raises(ValueError, match="not a known metric name"):
        make_task_scorer("accuracy_score")
    with pytest.raises(ValueError, match="greater_is_better cannot be set"):
        make_task_scorer("r2", greater_is_better=True)
    with pytest.raises(ValueError, match="task_average must be one of"):
        make_task_scorer("r2", task_average="mean")
    with pytest.raises(ValueError, match="response_method must be one of"):
        make_task_scorer(accuracy_score, response_method="transform")
    with pytest.raises(TypeError, match="score_func must be"):
        make_task_scorer(3)
    with pytest.raises(ValueError, match="tasks must be an array-like"):
        per_task_scorers("accuracy", "a")
    with pytest.raises(ValueError, match="also a task key"):
        per_task_scorers("accuracy", ["macro", "x"], task_average="macro")
    with pytest.raises(ValueError, match="sample_weight must be 1-D"):
        make_task_scorer("accuracy")(est, X, y, tasks, sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="tasks has 3 labels"):
        make_task_scorer("accuracy")(est, X, y, tasks=["a", "b", "c"])


def test_per_task_report_values_and_negative_transfer(stub_data):
    X, y, tasks, _, est = stub_data
    # the baseline is perfect on task "b" only: negative transfer there
    base_pred = np.where(tasks == "b", y, 1 - y)
    baseline = FixedClassifier(base_pred).fit(X, y, tasks)
    report = per_task_report(est, X, y, tasks, baseline=baseline)
    own, _ = _manual(accuracy_score, y, X[:, 0], tasks)
    base, _ = _manual(accuracy_score, y, base_pred, tasks)
    assert report["task"].tolist() == ["a", "b", "c"]
    assert report["n_samples"].tolist() == [10, 20, 30]
    np.testing.assert_allclose(report["score"], own)
    np.testing.assert_allclose(report["baseline_score"], base)
    np.testing.assert_allclose(report["gain"], own - base)
    assert report["negative_transfer"].tolist() == [False, True, False]


def test_per_task_report_metrics(stub_data):
    X, y, tasks, weights, est = stub_data
    reg = StubRegressor().fit(X, y)
    report = per_task_report(reg, X, y, tasks)  # auto: R^2 for regressors
    r2, _ = _manual(r2_score, y, X[:, 0], tasks)
    np.testing.assert_allclose(report["score"], r2)
    assert list(report.columns) == ["task", "n_samples", "score"]
    mse, _ = _manual(mean_squared_error, y, X[:, 0], tasks, weights)
    for metric in (
        "neg_mean_squared_error",
        make_task_scorer(mean_squared_error, greater_is_better=False),
    ):
        report = per_task_report(reg, X, y, tasks, metric=metric, sample_weight=weights)
        np.testing.assert_allclose(report["score"], -mse)
    # a pooled scikit-learn baseline is called without tasks
    pooled = LogisticRegression().fit(X[:, 1:], y)
    model = MultiTaskClassifier().fit(X[:, 1:], y, tasks=tasks)
    report = per_task_report(model, X[:, 1:], y, tasks, baseline=pooled)
    base, _ = _manual(accuracy_score, y, pooled.predict(X[:, 1:]), tasks)
    np.testing.assert_allclose(report["baseline_score"], base)
    with pytest.raises(ValueError, match="tasks is required"):
        per_task_report(model, X[:, 1:], y, None)


def test_per_task_report_without_pandas(stub_data, monkeypatch):
    X, y, tasks, _, est = stub_data
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    report = per_task_report(est, X, y, tasks, baseline=est)
    assert isinstance(report, dict)
    assert list(report) == [
        "task",
        "n_samples",
        "score",
        "baseline_score",
        "gain",
        "negative_transfer",
    ]
    assert report["task"].tolist() == ["a", "b", "c"]
    assert not report["negative_transfer"].any()
    np.testing.assert_allclose(report["gain"], 0.0)
