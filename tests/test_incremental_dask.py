"""Out of core: dask-ml's ``Incremental`` drives ``partial_fit`` block by block.

``Incremental`` hands every block the same keyword arguments, so per-row tasks
travel inside X, read by :class:`skmtl.pipeline.TaskColumnEstimator`.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.pipeline import TaskColumnEstimator

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
wrappers = pytest.importorskip("dask_ml.wrappers")


def _data(seed=0, n=400, p=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) + 1.0
    tasks = rng.integers(0, 3, size=n)
    y = X @ rng.normal(size=p) + tasks + 0.3 * rng.normal(size=n)
    return X, y, tasks


@pytest.mark.parametrize("penalty", ["independent", "mean", "graph"])
def test_incremental_regressor_equals_fit(penalty):
    # blocks in a shuffled order: the regressor's stream is exact
    X, y, tasks = _data()
    dX = da.from_array(np.column_stack([X, tasks]), chunks=(70, 6))
    dy = da.from_array(y, chunks=70)
    params = dict(alpha=0.1, penalty=penalty, tol=1e-12, max_iter=10_000)
    inc = wrappers.Incremental(
        TaskColumnEstimator(MultiTaskRegressor(**params), task_column=-1),
        random_state=0,
    ).fit(dX, dy)
    ref = MultiTaskRegressor(**params).fit(X, y, tasks=tasks)
    model = inc.estimator_.estimator_
    np.testing.assert_array_equal(model.tasks_, [0, 1, 2])
    scale = np.max(np.abs(ref.coef_))
    assert np.max(np.abs(model.coef_ - ref.coef_)) <= 1e-8 * scale
    np.testing.assert_allclose(model.intercept_, ref.intercept_, rtol=1e-8)
    pred = inc.predict(dX)
    np.testing.assert_allclose(
        np.asarray(pred.compute() if hasattr(pred, "compute") else pred),
        ref.predict(X, tasks=tasks),
        rtol=1e-8,
    )


def _frame(seed=1, n=600):
    X, _, tasks = _data(seed, n)
    rng = np.random.default_rng(seed)
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=n) > 0).astype(int)
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    df["task"] = np.array(["alpha", "beta", "gamma"])[tasks]
    return df, y


def _stream(df, y, blocks):
    model = TaskColumnEstimator(MultiTaskClassifier(alpha=0.01, penalty="mean"))
    for rows in blocks:
        model.partial_fit(df.iloc[rows], y[rows], classes=[0, 1])
    return model


def test_incremental_classifier_on_a_dask_dataframe_equals_the_stream():
    # tasks as a string column of a dask DataFrame; blocks in order
    df, y = _frame()
    ddf = dd.from_pandas(df, npartitions=4)
    dy = dd.from_pandas(pd.Series(y), npartitions=4)
    inc = wrappers.Incremental(
        TaskColumnEstimator(MultiTaskClassifier(alpha=0.01, penalty="mean")),
        shuffle_blocks=False,
    ).fit(ddf, dy, classes=[0, 1])
    bounds = np.cumsum([0] + [len(part) for part in ddf.partitions])
    blocks = [np.arange(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
    ref = _stream(df, y, blocks)
    np.testing.assert_array_equal(inc.estimator_.tasks_, ["alpha", "beta", "gamma"])
    np.testing.assert_allclose(
        inc.estimator_.estimator_.coef_, ref.estimator_.coef_, rtol=1e-12
    )
    np.testing.assert_array_equal(inc.predict(df), ref.predict(df))


def test_incremental_on_a_local_cluster_of_two_workers():
    distributed = pytest.importorskip("distributed")
    X, y, tasks = _data(seed=2)
    Xt = np.column_stack([X, tasks])
    dX, dy = da.from_array(Xt, chunks=(100, 6)), da.from_array(y, chunks=100)
    params = dict(alpha=0.1, penalty="mean", tol=1e-12)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        inc = wrappers.Incremental(
            TaskColumnEstimator(MultiTaskRegressor(**params), task_column=-1),
            shuffle_blocks=False,
        ).fit(dX, dy)
    local = TaskColumnEstimator(MultiTaskRegressor(**params), task_column=-1)
    for lo in range(0, len(y), 100):
        local.partial_fit(Xt[lo : lo + 100], y[lo : lo + 100])
    np.testing.assert_allclose(
        inc.estimator_.estimator_.coef_, local.estimator_.coef_, rtol=1e-12
    )


def test_task_column_partial_fit_rules():
    df, y = _frame(seed=3, n=90)
    model = TaskColumnEstimator(MultiTaskClassifier())
    with pytest.raises(ValueError, match="do not pass tasks"):
        model.partial_fit(df, y, tasks=df["task"], classes=[0, 1])
    model.partial_fit(df.iloc[:40], y[:40], classes=[0, 1])
    saved = dict(vars(model))
    inner = dict(vars(model.estimator_))
    with pytest.raises(ValueError, match="not in classes"):
        model.partial_fit(df.iloc[40:], y[40:] + 2)
    assert vars(model).keys() == saved.keys()
    assert all(vars(model)[k] is v for k, v in saved.items())
    assert vars(model.estimator_).keys() == inner.keys()
    assert all(vars(model.estimator_)[k] is v for k, v in inner.items())
    # a Pipeline has no partial_fit: neither has the wrapper
    piped = TaskColumnEstimator(make_pipeline(StandardScaler(), MultiTaskClassifier()))
    assert not hasattr(piped, "partial_fit")
    assert hasattr(TaskColumnEstimator(MultiTaskRegressor()), "partial_fit")
