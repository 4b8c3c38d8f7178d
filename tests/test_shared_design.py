"""The shared design for classification: 2-D y, one task per column on one X.

References: independent tasks equal a loop of scikit-learn's
LogisticRegression on the columns; every coupling equals the stacked (ragged)
layout with X repeated once per task; and X is not copied per task (peak
memory measured with tracemalloc).
"""

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.penalties import GraphLaplacian


def _data(n=60, p=5, n_tasks=3, n_classes=2, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)).astype(dtype)
    coef = rng.normal(size=(p, n_tasks)) + rng.normal(size=(p, 1))  # related
    scores = X @ coef + 0.5 * rng.normal(size=(n, n_tasks))
    if n_classes == 2:
        Y = (scores > 0).astype(int)
    else:
        Y = np.digitize(scores, np.quantile(scores, [1 / 3, 2 / 3]))
    return X, Y


def _stacked(X, Y, sample_weight=None):
    """The ragged layout of the same problem: X repeated once per task."""
    n, n_tasks = Y.shape
    stack = sp.vstack if sp.issparse(X) else np.vstack
    Xs = stack([X] * n_tasks)
    if sp.issparse(Xs):
        Xs = Xs.tocsr()
    ys = Y.T.ravel()
    tasks = np.repeat(np.arange(n_tasks), n)
    sw = None if sample_weight is None else np.tile(sample_weight, n_tasks)
    return Xs, ys, tasks, sw


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_independent_equals_sklearn_loop(sparse, dtype, fit_intercept):
    X, Y = _data(dtype=dtype)
    Xf = sp.csr_matrix(X) if sparse else X
    alpha, n = 0.05, X.shape[0]
    # float32 gradients stall at a KKT violation of 1e-6 to 1e-5 relative: a
    # ConvergenceWarning there is the precision of float32, not of the solver
    tol = 1e-10 if dtype == np.float64 else 1e-6
    with warnings.catch_warnings():
        if dtype == np.float32:
            warnings.simplefilter("ignore", ConvergenceWarning)
        model = MultiTaskClassifier(
            alpha=alpha, fit_intercept=fit_intercept, tol=tol, max_iter=5000
        ).fit(Xf, Y)
    assert model.coef_.shape == (3, 5) and model.intercept_.shape == (3,)
    assert model.coef_.dtype == dtype
    for t in range(Y.shape[1]):
        ref = LogisticRegression(
            C=1.0 / (alpha * n), fit_intercept=fit_intercept, tol=1e-12,
            max_iter=10_000,
        ).fit(X.astype(np.float64), Y[:, t])  # fmt: skip
        atol = 1e-6 if dtype == np.float64 else 1e-4
        np.testing.assert_allclose(model.coef_[t], ref.coef_[0], atol=atol)
        np.testing.assert_allclose(model.intercept_[t], ref.intercept_[0], atol=atol)
        proba = model.predict_proba(Xf)[:, t]
        np.testing.assert_allclose(proba, ref.predict_proba(X)[:, 1], atol=atol)
    np.testing.assert_array_equal(model.predict(Xf), (model.decision_function(Xf) > 0))


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize(
    "penalty, alpha",
    [
        ("independent", 0.05),
        ("mean", 0.05),
        (GraphLaplacian(adjacency=np.array([[0, 1, 0], [1, 0, 2], [0, 2, 0]])), 0.05),
        ("l21", 0.02),
        ("trace", 0.02),
    ],
    ids=["independent", "mean", "graph", "l21", "trace"],
)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_coupled_equals_stacked_layout(sparse, penalty, alpha, n_classes):
    X, Y = _data(n_classes=n_classes)
    rng = np.random.default_rng(1)
    sw = rng.uniform(0.5, 2.0, size=X.shape[0])
    Xf = sp.csr_matrix(X) if sparse else X
    kw = dict(alpha=alpha, penalty=penalty, tol=1e-9, max_iter=20_000)
    shared = MultiTaskClassifier(**kw).fit(Xf, Y, sample_weight=sw)
    Xs, ys, tasks, sws = _stacked(Xf, Y, sw)
    ragged = MultiTaskClassifier(**kw).fit(Xs, ys, tasks=tasks, sample_weight=sws)
    np.testing.assert_array_equal(shared.tasks_, ragged.tasks_)
    np.testing.assert_array_equal(shared.classes_, ragged.classes_)
    np.testing.assert_allclose(shared.coef_, ragged.coef_, atol=2e-5)
    np.testing.assert_allclose(shared.intercept_, ragged.intercept_, atol=2e-5)
    np.testing.assert_allclose(shared.objective_, ragged.objective_, rtol=1e-7)
    # predicting every task at once, or row by row with tasks, agree
    S = shared.decision_function(Xf)
    assert S.shape == ((60, 3) if n_classes == 2 else (60, 3, n_classes))
    for t in range(3):
        by_task = shared.decision_function(Xf, tasks=np.full(60, t))
        np.testing.assert_allclose(S[:, t], by_task, atol=1e-10)
        np.testing.assert_array_equal(
            shared.predict(Xf)[:, t], ragged.predict(Xf, tasks=np.full(60, t))
        )
    proba = shared.predict_proba(Xf)
    if n_classes == 2:
        assert proba.shape == (60, 3)
    else:
        assert proba.shape == (60, 3, n_classes)
        np.testing.assert_allclose(proba.sum(axis=2), 1.0)
    # the score of the shared form is the stacked form's accuracy
    assert shared.score(Xf, Y) == pytest.approx(ragged.score(Xs, ys, tasks=tasks))


def test_labels_of_any_type_and_single_class_columns():
    X, Y = _data()
    Ys = np.where(Y == 1, "yes", "no")
    Ys[:, 2] = "yes"  # a column of one class predicts it, with a warning
    with pytest.warns(UserWarning, match="one class only"):
        model = MultiTaskClassifier(penalty="mean").fit(X, Ys)
    pred = model.predict(X)
    assert pred.shape == (60, 3) and set(pred[:, 2]) == {"yes"}
    assert np.all(model.predict_proba(X)[:, 2] == 1.0)
    assert model.score(X, Ys) > 0.8


def test_shared_design_errors():
    X, Y = _data()
    with pytest.raises(ValueError, match="cannot be combined with tasks"):
        MultiTaskClassifier().fit(X, Y, tasks=np.zeros(60))
    with pytest.raises(ValueError, match="Unknown label type"):
        MultiTaskClassifier().fit(X, Y + 0.5)
    model = MultiTaskClassifier().fit(X, Y)
    with pytest.raises(ValueError, match="one column per task"):
        model.score(X, Y[:, :2])


def test_refit_between_forms_forgets_the_shared_design():
    X, Y = _data()
    model = MultiTaskClassifier().fit(X, Y)
    model.fit(X, Y[:, 0], tasks=np.repeat([0, 1], 30))
    assert model.predict(X, tasks=np.zeros(60, int)).shape == (60,)
    with pytest.raises(ValueError, match="tasks is required"):
        model.predict(X)


def _peak_bytes(fit):
    tracemalloc.start()
    try:
        fit()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("Est", [MultiTaskClassifier, MultiTaskRegressor])
def test_no_copy_of_X_per_task(sparse, Est):
    rng = np.random.default_rng(0)
    n, p, n_tasks = 2000, 400, 20
    if sparse:
        X = sp.random(n, p, density=0.2, format="csr", random_state=0)
        x_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    else:
        X = rng.normal(size=(n, p))
        x_bytes = X.nbytes
    Y = rng.normal(size=(n, n_tasks))
    if Est is MultiTaskClassifier:
        Y = (Y > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a capped max_iter is fine here
        peak = _peak_bytes(lambda: Est(penalty="mean", max_iter=5).fit(X, Y).predict(X))
    # the stacked layout alone would hold n_tasks = 20 copies of X; the fit may
    # hold a few arrays of X's size (Newton-CG's preconditioner keeps the
    # squared X once), never one per task
    assert peak < 5 * x_bytes, f"peak {peak / 1e6:.1f} MB, X {x_bytes / 1e6:.1f} MB"
