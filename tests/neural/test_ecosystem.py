"""The networks in scikit-learn's tools: routed CV scores, column mode, reports,
a sparse text pipeline, cross_val_predict, clone and parallel search.

Every score is checked against an independent computation: clones fitted by
hand on the same folds, ``accuracy_score`` / ``r2_score`` per task.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV, cross_val_predict, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.utils.validation import check_is_fitted

from skmtl import MultiTaskClassifier
from skmtl.datasets import train_test_split_tasks
from skmtl.metrics import make_task_scorer, per_task_report, per_task_scorers
from skmtl.model_selection import TaskStratifiedKFold
from skmtl.pipeline import TaskColumnEstimator

from ..conftest import needs_archive, ragged_problem

torch = pytest.importorskip("torch")
pd = pytest.importorskip("pandas")

from skmtl.neural import MultiTaskNetClassifier, MultiTaskNetRegressor  # noqa: E402
from skmtl.neural._module import CSRBatch  # noqa: E402

#: small, converging settings (ConvergenceWarning is an error in the tests)
FAST = {
    "hidden_layer_sizes": (8,),
    "alpha": 0.01,
    "batch_size": 32,
    "learning_rate": 0.03,
    "tol": 1e-2,
    "n_iter_no_change": 3,
    "random_state": 0,
}


def _net(kind="classifier", **params):
    cls = MultiTaskNetClassifier if kind == "classifier" else MultiTaskNetRegressor
    return cls(**{**FAST, **params})


def _folds(X, y, tasks, seed=0):
    cv = TaskStratifiedKFold(3, shuffle=True, random_state=seed)
    return list(cv.split(X, y, tasks=tasks))


def _tensor_ptrs(net):
    """Storage addresses of every tensor a fitted network holds."""
    ptrs = {p.data_ptr() for p in net.module_.parameters()}
    ptrs |= {b.data_ptr() for b in net.module_.buffers()}
    for state in net.optimizer_.state.values():
        ptrs |= {v.data_ptr() for v in state.values() if torch.is_tensor(v)}
    return ptrs


# ------------------------------------------------------------ routed CV
@pytest.mark.parametrize(
    "kind, metric, metric_func",
    [("classifier", "accuracy", accuracy_score), ("regressor", "r2", r2_score)],
)
def test_cross_validate_per_task_scores_match_hand_fitted_folds(
    kind, metric, metric_func
):
    X, y, tasks, labels = ragged_problem(classification=kind == "classifier")
    net = _net(kind)
    cv = TaskStratifiedKFold(3, shuffle=True, random_state=0)
    scoring = {
        **per_task_scorers(metric, tasks),
        "macro": make_task_scorer(metric),
        "worst": make_task_scorer(metric, task_average="worst"),
    }
    with sklearn.config_context(enable_metadata_routing=True):
        # the splitter itself gets the tasks too (routed to split)
        res = cross_validate(net, X, y, params={"tasks": tasks}, cv=cv,
                             scoring=scoring)  # fmt: skip
    for k, (train, test) in enumerate(_folds(X, y, tasks)):
        model = clone(net).fit(X[train], y[train], tasks=tasks[train])
        pred = model.predict(X[test], tasks=tasks[test])
        per_task = []
        for label in labels:
            rows = tasks[test] == label
            per_task.append(metric_func(y[test][rows], pred[rows]))
            got = res[f"test_{metric}_{label}"][k]
            assert np.isfinite(got)
            assert_allclose(got, per_task[-1], rtol=1e-6)
        assert_allclose(res["test_macro"][k], np.mean(per_task), rtol=1e-6)
        assert_allclose(res["test_worst"][k], np.min(per_task), rtol=1e-6)
    # the networks learn something on every task (not a constant predictor)
    per_task_mean = [np.mean(res[f"test_{metric}_{t}"]) for t in labels]
    assert min(per_task_mean) > (0.65 if kind == "classifier" else 0.8)


# ---------------------------------------------------------- column mode
def test_column_mode_grid_search_equals_routing_mode():
    X, y, tasks, _ = ragged_problem(classification=True)
    folds = _folds(X, y, tasks)
    net = _net()
    grid = {"alpha": [0.01, 0.3]}
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    frame["task"] = tasks
    # routing stays off: the task travels in a column
    col = GridSearchCV(
        TaskColumnEstimator(net, task_column="task"),
        {f"estimator__{k}": v for k, v in grid.items()},
        cv=folds,
        scoring="accuracy",
    ).fit(frame, y)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = GridSearchCV(
            net, grid, cv=folds,
            scoring=make_task_scorer("accuracy", task_average="pooled"),
        ).fit(X, y, tasks=tasks)  # fmt: skip
    assert_allclose(
        col.cv_results_["mean_test_score"], routed.cv_results_["mean_test_score"]
    )
    alpha = col.best_params_["estimator__alpha"]
    assert alpha == routed.best_params_["alpha"]
    # the refitted column-mode model predicts like a routing-mode network
    # fitted on the same rows with the same seed
    ref = clone(net).set_params(alpha=alpha).fit(X, y, tasks=tasks)
    assert_array_equal(col.predict(frame), ref.predict(X, tasks=tasks))
    assert_allclose(
        col.predict_proba(frame), ref.predict_proba(X, tasks=tasks), rtol=1e-6
    )
    assert_array_equal(col.best_estimator_.tasks_, ref.tasks_)


def test_column_mode_numeric_array_with_int_column_index():
    X, y, tasks, labels = ragged_problem(classification=True)
    codes = np.searchsorted(labels, tasks)
    Xc = np.column_stack([X[:, :2], codes, X[:, 2:]])  # the task is column 2
    folds = _folds(X, y, tasks)
    net = _net()
    search = GridSearchCV(
        TaskColumnEstimator(net, task_column=2),
        {"estimator__hidden_layer_sizes": [(4,), (8,)]},
        cv=folds,
        scoring="accuracy",
    ).fit(Xc, y)
    best = search.best_params_["estimator__hidden_layer_sizes"]
    ref = clone(net).set_params(hidden_layer_sizes=best)
    ref.fit(X, y, tasks=codes.astype(float))
    assert_array_equal(search.best_estimator_.tasks_, [0.0, 1.0, 2.0])
    assert_array_equal(search.predict(Xc), ref.predict(X, tasks=codes.astype(float)))
    # every fold's score equals the hand-fitted clone's accuracy
    for k, (train, test) in enumerate(folds):
        model = clone(ref).fit(X[train], y[train], tasks=codes[train])
        expected = accuracy_score(y[test], model.predict(X[test], tasks=codes[test]))
        i = search.cv_results_["params"].index({"estimator__hidden_layer_sizes": best})
        assert_allclose(search.cv_results_[f"split{k}_test_score"][i], expected)


# -------------------------------------------------------- per-task report
def test_per_task_report_of_a_network_against_a_linear_baseline():
    X, y, tasks, labels = ragged_problem(classification=True)
    X_tr, X_te, y_tr, y_te, t_tr, t_te = train_test_split_tasks(
        X, y, tasks, train_size=20, random_state=0
    )
    net = _net().fit(X_tr, y_tr, tasks=t_tr)
    base = MultiTaskClassifier(penalty="independent", alpha=0.1)
    base.fit(X_tr, y_tr, tasks=t_tr)
    report = per_task_report(net, X_te, y_te, t_te, baseline=base)
    assert len(report) == len(labels)
    assert_array_equal(report["task"], labels)
    pred = net.predict(X_te, tasks=t_te)
    pred_base = base.predict(X_te, tasks=t_te)
    for i, label in enumerate(labels):
        rows = t_te == label
        assert report["n_samples"][i] == rows.sum()
        assert_allclose(report["score"][i], accuracy_score(y_te[rows], pred[rows]))
        assert_allclose(
            report["baseline_score"][i], accuracy_score(y_te[rows], pred_base[rows])
        )
    assert_allclose(report["gain"], report["score"] - report["baseline_score"])
    assert_array_equal(report["negative_transfer"], report["gain"] < 0)
    assert report["score"].min() > 0.6


def test_per_task_report_of_a_regressor_with_a_loss():
    X, y, tasks, labels = ragged_problem()
    net = _net("regressor").fit(X, y, tasks=tasks)
    report = per_task_report(net, X, y, tasks, metric="neg_mean_squared_error")
    pred = net.predict(X, tasks=tasks)
    expected = [-np.mean((y - pred)[tasks == t] ** 2) for t in labels]
    assert_allclose(report["score"], expected, rtol=1e-10)


# ------------------------------------------------------- sparse text
@pytest.fixture(scope="module")
def newsgroups(data_home):
    """100 training documents per task of comp_vs_rec (4 tasks), 150 test ones."""
    from skmtl.datasets import fetch_20newsgroups_multitask

    data = fetch_20newsgroups_multitask(
        "comp_vs_rec", remove=("headers", "footers", "quotes")
    )
    docs = np.asarray(data.data, dtype=object)
    X_tr, X_te, y_tr, y_te, t_tr, t_te = train_test_split_tasks(
        docs, data.target, data.tasks, train_size=100, random_state=0
    )
    # a fixed subsample of the test documents, 150 per task, keeps it fast
    rng = np.random.default_rng(0)
    keep = np.concatenate(
        [rng.choice(np.flatnonzero(t_te == t), 150, replace=False)
         for t in np.unique(t_te)]
    )  # fmt: skip
    return list(X_tr), y_tr, t_tr, list(X_te[keep]), y_te[keep], t_te[keep]


@needs_archive
def test_tfidf_pipeline_on_newsgroups_stays_sparse(newsgroups, monkeypatch):
    import time

    docs, y, tasks, docs_te, y_te, t_te = newsgroups
    calls = {"from_scipy": 0, "to_dense": 0}
    from_scipy, to_dense = CSRBatch.from_scipy.__func__, CSRBatch.to_dense

    def spy_from_scipy(cls, *args, **kwargs):
        calls["from_scipy"] += 1
        return from_scipy(cls, *args, **kwargs)

    def spy_to_dense(self):
        calls["to_dense"] += 1
        return to_dense(self)

    monkeypatch.setattr(CSRBatch, "from_scipy", classmethod(spy_from_scipy))
    monkeypatch.setattr(CSRBatch, "to_dense", spy_to_dense)
    pipe = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, min_df=2),
        _net(hidden_layer_sizes=(16,), alpha=1e-3, learning_rate=0.01),
    )
    with sklearn.config_context(enable_metadata_routing=True):
        start = time.perf_counter()
        pipe.fit(docs, y, tasks=tasks)
        elapsed = time.perf_counter() - start
        pred = pipe.predict(docs_te, tasks=t_te)
    assert elapsed < 20, f"fit took {elapsed:.1f} s"
    Xt = pipe[:-1].transform(docs_te)
    assert sp.issparse(Xt)
    # batches went through CSRBatch, and nothing was ever densified
    assert calls["from_scipy"] > 0
    assert calls["to_dense"] == 0
    accs = [accuracy_score(y_te[t_te == t], pred[t_te == t]) for t in np.unique(t_te)]
    assert len(accs) == 4
    assert np.mean(accs) > 0.75, accs
    # the spy itself works: a dense-only encoder does densify
    dense_net = _net(encoder=torch.nn.Sequential(torch.nn.Linear(Xt.shape[1], 4)))
    dense_net.set_params(max_epochs=1, tol=0.0)
    with pytest.warns(sklearn.exceptions.ConvergenceWarning):
        dense_net.fit(Xt[:50], y_te[:50], tasks=t_te[:50])
    assert calls["to_dense"] > 0


# ---------------------------------------------------- cross_val_predict
@pytest.mark.parametrize(
    "model",
    [_net(), MultiTaskClassifier(alpha=0.1)],
    ids=["network", "linear"],
)
def test_cross_val_predict_with_routing_points_to_column_mode(model):
    X, y, tasks, _ = ragged_problem(classification=True)
    folds = _folds(X, y, tasks)
    with sklearn.config_context(enable_metadata_routing=True):
        with pytest.raises(ValueError, match="cross_val_predict never pass") as e:
            cross_val_predict(model, X, y, params={"tasks": tasks}, cv=folds)
    assert "TaskColumnEstimator" in str(e.value)
    # ... and column mode gives the hand-fitted out-of-fold predictions
    frame = pd.DataFrame(X)
    frame.columns = [f"x{j}" for j in range(X.shape[1])]
    frame["task"] = tasks
    got = cross_val_predict(TaskColumnEstimator(model, "task"), frame, y, cv=folds)
    expected = np.empty_like(y)
    for train, test in folds:
        fitted = clone(model).fit(X[train], y[train], tasks=tasks[train])
        expected[test] = fitted.predict(X[test], tasks=tasks[test])
    assert_array_equal(got, expected)


# ------------------------------------------------- clone and parallelism
def test_clone_of_a_fitted_network_is_unfitted_and_shares_no_tensors():
    X, y, tasks, _ = ragged_problem(classification=True)
    encoder = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 8), torch.nn.ReLU())
    net = _net(encoder=encoder, optimizer__weight_decay=0.0).fit(X, y, tasks=tasks)
    before = [p.detach().clone() for p in net.module_.parameters()]
    twin = clone(net)
    with pytest.raises(NotFittedError):
        check_is_fitted(twin)
    assert not hasattr(twin, "module_") and not hasattr(twin, "tasks_")
    assert twin.get_params()["optimizer__weight_decay"] == 0.0
    # the encoder parameter is copied, not aliased
    assert twin.encoder is not net.encoder
    own = {p.data_ptr() for p in net.encoder.parameters()}
    assert own.isdisjoint(p.data_ptr() for p in twin.encoder.parameters())
    # fitting the clone (on other rows) leaves the original as it was
    twin.fit(X[::2], y[::2], tasks=tasks[::2])
    assert _tensor_ptrs(net).isdisjoint(_tensor_ptrs(twin))
    assert own.isdisjoint(_tensor_ptrs(twin)) and own.isdisjoint(_tensor_ptrs(net))
    for a, b in zip(before, net.module_.parameters()):
        assert torch.equal(a, b)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(net.module_.parameters(), twin.module_.parameters())
    )


def test_parallel_grid_search_and_cross_validate_with_loky():
    X, y, tasks, _ = ragged_problem(classification=True)
    folds = _folds(X, y, tasks)
    net = _net()
    grid = {"alpha": [0.01, 0.1]}
    with sklearn.config_context(enable_metadata_routing=True):
        results = [
            GridSearchCV(net, grid, cv=folds, scoring=make_task_scorer("accuracy"),
                         n_jobs=n_jobs).fit(X, y, tasks=tasks)
            for n_jobs in (1, 2)
        ]  # fmt: skip
        # fitted networks come back from the workers through pickle
        res = cross_validate(net, X, y, params={"tasks": tasks}, cv=folds[:2],
                             n_jobs=2, return_estimator=True)  # fmt: skip
    serial, parallel = results
    assert_allclose(
        parallel.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )
    assert parallel.best_params_ == serial.best_params_
    for est, (train, test) in zip(res["estimator"], folds):
        ref = clone(net).fit(X[train], y[train], tasks=tasks[train])
        assert_allclose(
            est.predict_proba(X[test], tasks=tasks[test]),
            ref.predict_proba(X[test], tasks=tasks[test]),
            rtol=1e-6,
        )


# ------------------------------------------------------------- bug (A)
@pytest.mark.parametrize(
    "first, second, union",
    [("a", "b", np.array(["a", "b"])), (0, 1, np.array([0, 1]))],
)
def test_partial_fit_with_a_scalar_new_task_keeps_the_label_dtype(first, second, union):
    X, y, _, _ = ragged_problem(classification=True)
    y = y.astype(int)
    net = MultiTaskNetClassifier((16,), random_state=0)
    net.partial_fit(X[:60], y[:60], tasks=first, classes=[0, 1])
    net.partial_fit(X[60:120], y[60:120], tasks=second)
    fresh = MultiTaskNetClassifier((16,), random_state=0, max_epochs=1)
    with pytest.warns(sklearn.exceptions.ConvergenceWarning):
        fresh.fit(X[:120], y[:120], tasks=np.repeat(union, 60))
    assert net.tasks_.dtype == fresh.tasks_.dtype == union.dtype
    assert_array_equal(net.tasks_, union)
    # a third call with array labels of the fitted dtype adds nothing
    net.partial_fit(X[120:], y[120:], tasks=np.repeat(union, [10, 35]))
    assert net.tasks_.dtype == union.dtype
    assert net.predict(X[:4], tasks=[first, second] * 2).shape == (4,)
