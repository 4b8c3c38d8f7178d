"""A CV fold's training rows in fewer columns (skmtl.model_selection._fold_basis).

The references: the identity ``X A A^T = X`` checked on dense copies; fits on
the reduced design ``X A`` mapped back with ``A`` against fits on ``X`` itself
(the same objective, solved to a tight tol); the CV estimator against
GridSearchCV on text-like folds where the merge happens.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose
from sklearn.model_selection import GridSearchCV

import skmtl.model_selection._cv as cv_module
from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.model_selection import (
    MultiTaskClassifierCV,
    MultiTaskRegressorCV,
    TaskStratifiedKFold,
)
from skmtl.model_selection._fold_basis import (
    expand_coef,
    feature_reduction,
    fold_basis,
)
from skmtl.penalties import (
    L21,
    Dirty,
    GraphLaplacian,
    Independent,
    MeanRegularized,
    TraceNorm,
    TransferPrior,
)

TASKS = np.array(["a", "b", "c"])


def _text_like(classification, seed=0, n=120, n_classes=2, dtype=np.float64):
    """Sparse rows: 10 common features, then 4 to 8 "words" each row uses alone.

    As the rare words of a TF-IDF design: most of a fold's columns are used by
    one training row only, several per row.
    """
    rng = np.random.default_rng(seed)
    tasks = np.repeat(TASKS, n // 3)
    common = rng.normal(size=(n, 10)) * (rng.random((n, 10)) < 0.5)
    per_row = rng.integers(4, 9, size=n)
    cols = np.arange(per_row.sum())
    rows = np.repeat(np.arange(n), per_row)
    rare = sp.csr_matrix(
        (rng.uniform(0.2, 1.0, size=len(cols)), (rows, rng.permutation(cols))),
        shape=(n, len(cols)),
    )
    X = sp.hstack([sp.csr_matrix(common), rare]).tocsr().astype(dtype)
    shift = np.select([tasks == "a", tasks == "b"], [0.5, -0.5], 0.0)
    z = common @ rng.normal(size=10) + shift + 0.5 * rng.normal(size=n)
    z = z + np.asarray(rare.sum(axis=1)).ravel() - per_row * 0.6
    if not classification:
        return X, z, tasks
    if n_classes == 2:
        return X, (z > 0).astype(int), tasks
    return X, np.digitize(z, np.quantile(z, [1 / 3, 2 / 3])), tasks


def _key(params):
    return tuple(sorted((k, float(v)) for k, v in params.items()))


def _by_params(results, name):
    return dict(zip(map(_key, results["params"]), results[name]))


def _train_rows(X, seed=0):
    rng = np.random.default_rng(seed)
    return np.sort(rng.permutation(X.shape[0])[: 2 * X.shape[0] // 3])


@pytest.mark.parametrize("merge", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_basis_is_orthonormal_and_keeps_the_rows(merge, dtype):
    X, _, _ = _text_like(False, dtype=dtype)
    Xtr = X[_train_rows(X)]
    A = fold_basis(Xtr, merge=merge)
    assert A is not None and A.dtype == dtype
    assert A.shape[0] == X.shape[1] and A.shape[1] < 0.8 * X.shape[1]
    tol = 1e-6 if dtype == np.float32 else 1e-12
    assert_allclose((A.T @ A).toarray(), np.eye(A.shape[1]), atol=tol)
    dense = Xtr.toarray()
    assert_allclose((Xtr @ A @ A.T).toarray(), dense, atol=tol)
    used = np.flatnonzero(np.abs(dense).sum(axis=0))
    if merge:
        # one column per row that uses several features alone, fewer columns
        assert A.shape[1] < len(used) - Xtr.shape[0]
    else:
        assert A.shape[1] == len(used)
        assert np.all(A.sum(axis=1).A1[used] == 1)


def test_no_basis_when_nothing_shrinks():
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.normal(size=(30, 6)) * (rng.random((30, 6)) < 0.7))
    assert fold_basis(X, merge=True) is None
    assert fold_basis(X, merge=False) is None


def test_a_row_with_one_lone_feature_keeps_it_as_is():
    X = sp.csr_matrix(
        np.array(
            [
                [1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                [1.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0],
                [0.0, 0.0, 0.0, 3.0, 4.0, 0.0, 0.0],
            ]
        )
    )
    A = fold_basis(X, merge=True)
    # columns: feature 0 (two rows), features 1 and 2 (alone in their row),
    # then features 3 and 4 merged (row 2), feature 5-6 absent
    assert A.shape == (7, 4)
    dense = A.toarray()
    assert_allclose(dense[:, 3], [0, 0, 0, 0.6, 0.8, 0, 0])
    assert_allclose(dense[[0, 1, 2], [0, 1, 2]], 1.0)
    assert_allclose((X @ A).toarray()[2], [0, 0, 0, 5.0])


def test_expand_coef_maps_back_every_layout():
    X, _, _ = _text_like(False)
    A = fold_basis(X[_train_rows(X)], merge=True)
    rng = np.random.default_rng(1)
    for shape in [(A.shape[1],), (3, A.shape[1]), (3, 2, A.shape[1])]:
        Z = rng.normal(size=shape)
        full = expand_coef(A, Z)
        assert full.shape == shape[:-1] + (A.shape[0],)
        assert_allclose(full, Z @ A.T.toarray())
    assert expand_coef(None, Z) is not None


@pytest.mark.parametrize(
    "penalty, expected",
    [
        ("independent", "merge"),
        (Independent(), "merge"),
        (MeanRegularized(specific=2.0), "merge"),
        (GraphLaplacian(), "merge"),
        (L21(), "drop"),
        (TransferPrior(np.ones((3, 4))), None),
        (Dirty(), None),
        (TraceNorm(), None),
    ],
)
def test_which_penalties_merge(penalty, expected):
    assert feature_reduction(penalty, TASKS) == expected


FITS = [
    (MultiTaskRegressor, False, 2, MeanRegularized(specific=0.5)),
    (MultiTaskRegressor, False, 2, GraphLaplacian(coupling=2.0)),
    (MultiTaskClassifier, True, 2, MeanRegularized(specific=0.5)),
    (MultiTaskClassifier, True, 2, "independent"),
    (MultiTaskClassifier, True, 3, MeanRegularized(specific=0.5)),
]


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "Est, classification, n_classes, penalty",
    FITS,
    ids=["squared-mean", "squared-graph", "logistic-mean", "logistic-indep",
         "multinomial-mean"],
)  # fmt: skip
def test_reduced_fit_is_the_full_fit(
    Est, classification, n_classes, penalty, dtype, fit_intercept
):
    X, y, tasks = _text_like(classification, n_classes=n_classes, dtype=dtype)
    rows = _train_rows(X)
    Xtr, ytr, ttr = X[rows], y[rows], tasks[rows]
    A = fold_basis(Xtr, merge=True)
    assert A.shape[1] < 0.6 * X.shape[1]
    kw = dict(alpha=0.05, penalty=penalty, fit_intercept=fit_intercept, tol=1e-10)
    full = Est(**kw).fit(Xtr, ytr, tasks=ttr)
    reduced = Est(**kw).fit(Xtr @ A, ytr, tasks=ttr)
    scale = np.max(np.abs(full.coef_))
    atol = 2e-4 * scale if dtype == np.float32 else 1e-6 * scale
    assert_allclose(expand_coef(A, reduced.coef_), full.coef_, rtol=0, atol=atol)
    assert_allclose(reduced.intercept_, full.intercept_, rtol=0, atol=atol * 10)
    # and the held-out rows get the same scores through X_te A
    test = np.setdiff1d(np.arange(X.shape[0]), rows)
    method = "decision_function" if classification else "predict"
    d_full = getattr(full, method)(X[test], tasks=tasks[test])
    d_red = getattr(reduced, method)(X[test] @ A, tasks=tasks[test])
    assert_allclose(d_red, d_full, rtol=0, atol=atol * 50)


def test_l21_folds_only_drop(monkeypatch):
    X, y, tasks = _text_like(False)
    seen = []
    original = cv_module.fold_basis

    def spy(X, merge):
        seen.append(merge)
        return original(X, merge)

    monkeypatch.setattr(cv_module, "fold_basis", spy)
    MultiTaskRegressorCV([0.1, 0.01], penalty=L21(), cv=3).fit(X, y, tasks=tasks)
    assert seen == [False] * 3
    seen.clear()
    MultiTaskRegressorCV([0.1, 0.01], penalty="mean", cv=3).fit(X, y, tasks=tasks)
    assert seen == [True] * 3


@pytest.mark.parametrize(
    "EstCV, Est, classification, penalty, grid",
    [
        (MultiTaskClassifierCV, MultiTaskClassifier, True, MeanRegularized(),
         {"specific": [0.3, 3.0]}),
        (MultiTaskRegressorCV, MultiTaskRegressor, False, GraphLaplacian(),
         {"coupling": [0.1, 1.0]}),
    ],
    ids=["logistic-mean", "squared-graph"],
)  # fmt: skip
def test_merged_folds_match_grid_search(EstCV, Est, classification, penalty, grid,
                                        monkeypatch):  # fmt: skip
    X, y, tasks = _text_like(classification, seed=3, n=150)
    widths, fit_path = [], cv_module.fit_path

    def recording(estimator, X, *args, **kwargs):
        widths.append(X.shape[1])
        return fit_path(estimator, X, *args, **kwargs)

    monkeypatch.setattr(cv_module, "fit_path", recording)
    alphas = [1.0, 0.1, 0.01, 0.001]
    folds = list(
        TaskStratifiedKFold(3, shuffle=True, random_state=0).split(
            X, y if classification else np.zeros(len(y)), tasks=tasks
        )
    )
    cvm = EstCV(alphas, penalty=penalty, penalty_grid=grid, cv=folds, tol=1e-9)
    cvm.fit(X, y, tasks=tasks)
    # merged: fewer columns than the features the fold's rows use
    for w, (tr, _) in zip(widths, folds):
        used = np.unique(X[tr].indices).size
        assert w < used - len(tr) // 2
    param_grid = {"alpha": alphas, **{f"penalty__{k}": v for k, v in grid.items()}}
    with sklearn.config_context(enable_metadata_routing=True):
        gs = GridSearchCV(Est(penalty=penalty, tol=1e-9), param_grid, cv=folds)
        gs.fit(X, y, tasks=tasks)
    for name in ["mean_test_score"] + [f"split{k}_test_score" for k in range(3)]:
        ours, theirs = (
            _by_params(cvm.cv_results_, name),
            _by_params(gs.cv_results_, name),
        )
        assert ours.keys() == theirs.keys()
        for key, score in theirs.items():
            assert_allclose(ours[key], score, atol=1e-6, err_msg=f"{name} {key}")
    assert np.ptp(gs.cv_results_["mean_test_score"]) > 1e-3
    assert _key(cvm.best_params_) == _key(gs.best_params_)
    assert_allclose(
        cvm.best_estimator_.coef_, gs.best_estimator_.coef_, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    "case", ["shared-design", "weights-stacked", "weights-iterable"]
)
def test_merged_folds_equal_unreduced_folds(case, monkeypatch):
    # the reduction switched off (fold_basis -> None) is the reference
    X, z, tasks = _text_like(False, n=150)
    rng = np.random.default_rng(0)
    sw = rng.uniform(0.5, 2.0, size=len(z))
    sw[:10] = 0.0  # absent rows, inside a given fold's training rows below
    if case == "shared-design":
        Est, args = MultiTaskRegressorCV, (X, np.column_stack([z, -z + 0.3 * z**2]))
        kw, cv = {}, 3
    elif case == "weights-stacked":
        Est, args, kw, cv = MultiTaskRegressorCV, (X, z), dict(tasks=tasks), 3
        kw["sample_weight"] = sw
    else:
        Est, args = MultiTaskClassifierCV, (X, (z > 0).astype(int))
        kw = dict(tasks=tasks, sample_weight=sw)
        cv = [
            (np.r_[0:40, 50:90, 100:140], np.r_[40:50, 90:100, 140:150]),
            (np.r_[10:50, 60:100, 110:150], np.r_[0:10, 50:60, 100:110]),
        ]
    calls = []
    original = cv_module.fold_basis

    def counting(X, merge):
        basis = original(X, merge)
        calls.append(basis is not None and merge)
        return basis

    monkeypatch.setattr(cv_module, "fold_basis", counting)
    merged = Est([1.0, 0.1, 0.01], penalty="mean", cv=cv, tol=1e-10).fit(*args, **kw)
    assert calls and all(calls)
    monkeypatch.setattr(cv_module, "fold_basis", lambda X, merge: None)
    plain = Est([1.0, 0.1, 0.01], penalty="mean", cv=cv, tol=1e-10).fit(*args, **kw)
    for k in range(len(calls)):
        name = f"split{k}_test_score"
        assert_allclose(merged.cv_results_[name], plain.cv_results_[name], atol=1e-7)
    assert np.ptp(plain.cv_results_["mean_test_score"]) > 1e-3
    assert_allclose(merged.best_estimator_.coef_, plain.best_estimator_.coef_,
                    rtol=1e-5, atol=1e-7)  # fmt: skip
