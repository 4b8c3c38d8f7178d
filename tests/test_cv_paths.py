"""Paths over (penalty setting, alpha), cached test rows and fold scores.

What the cross-validated estimators build on: ``fit_path`` with several
penalty settings must reach the cold fits at every point, its ``X_eval`` must
cache rows (never predictions), ``_default_score`` must be ``score``, and the
whole must choose and score as ``GridSearchCV`` on the same grid and folds.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.datasets import make_multitask_classification, make_multitask_regression
from skmtl.linear_model import fit_path
from skmtl.model_selection import (
    MultiTaskClassifierCV,
    MultiTaskRegressorCV,
    TaskStratifiedKFold,
)
from skmtl.model_selection._cv import _default_score, _fold_scores
from skmtl.penalties import GraphLaplacian, MeanRegularized
from skmtl.solvers import _direct

from .conftest import ragged_problem

ALPHAS = [1.0, 0.1, 0.01]


def _mean_settings():
    return [MeanRegularized(specific=s) for s in (0.3, 1.0, 3.0)]


def _graph_settings():
    return [GraphLaplacian(coupling=c) for c in (0.1, 1.0, 10.0)]


def _small_regression():
    return make_multitask_regression(
        n_tasks=3, n_samples=[20, 30, 40], n_features=5, noise=1.0, random_state=0
    )


def _small_binary():
    return make_multitask_classification(
        n_tasks=3, n_samples=[20, 25, 30], n_features=6, random_state=0
    )


def _sparse_wide_binary():
    # n << p: 45 rows, 100 features, 3 tasks (the kernel solver's regime)
    return make_multitask_classification(
        n_tasks=3,
        n_samples=[12, 15, 18],
        n_features=100,
        sparse=True,
        density=0.2,
        random_state=0,
    )


def _three_class():
    X, y, tasks, _ = ragged_problem((25, 35, 45), classification=True, n_classes=3)
    return X, y, tasks


@pytest.fixture
def solver_calls(monkeypatch):
    """Count the calls of the direct solvers' ``solve`` (to check auto's choice)."""
    calls = {"gram": 0, "kernel": 0}
    for name, cls in (("gram", _direct.GramSolver), ("kernel", _direct.KernelNewton)):
        original = cls.solve

        def counted(self, *args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "solve", counted)
    return calls


# ----------------------------------------------------------------- 1. paths
def _identifiable(intercept):
    """Multinomial intercepts up to a constant per task (softmax ignores it)."""
    if intercept.ndim == 2:
        return intercept - intercept.mean(axis=1, keepdims=True)
    return intercept


PATH_CASES = [
    # solver="auto" on few features and the squared loss: the Gram solver
    (MultiTaskRegressor, _small_regression, "auto", "gram"),
    # solver="auto" on a sparse n << p binary problem: the kernel solver
    (MultiTaskClassifier, _sparse_wide_binary, "auto", "kernel"),
    (MultiTaskRegressor, _small_regression, "newton-cg", None),
    (MultiTaskRegressor, _small_regression, "lbfgs", None),
    (MultiTaskClassifier, _small_binary, "auto", None),
    (MultiTaskClassifier, _small_binary, "newton-cg", None),
    (MultiTaskClassifier, _small_binary, "lbfgs", None),
    (MultiTaskClassifier, _three_class, "auto", None),
    (MultiTaskClassifier, _three_class, "newton-cg", None),
    (MultiTaskClassifier, _three_class, "lbfgs", None),
]


@pytest.mark.parametrize("settings", [_mean_settings, _graph_settings])
@pytest.mark.parametrize(
    "Est, data, solver, direct",
    PATH_CASES,
    ids=[f"{c[0].__name__}-{c[1].__name__[1:]}-{c[2]}" for c in PATH_CASES],
)
def test_path_over_settings_matches_cold_fits(
    Est, data, solver, direct, settings, solver_calls
):
    X, y, tasks = data()
    penalties = settings()
    est = Est(solver=solver, tol=1e-10)
    params = est.get_params()
    points, seen = [], []
    for fitted in fit_path(est, X, y, tasks, None, alphas=ALPHAS, penalties=penalties):
        # a new model per point; the estimator given is neither fitted nor changed
        assert fitted is not est and all(fitted is not f for f in seen)
        seen.append(fitted)
        points.append(
            (
                fitted.get_params()["alpha"],
                fitted.get_params()["penalty"],
                fitted.coef_.copy(),
                fitted.intercept_.copy(),
            )
        )
    # penalties outermost, alphas in the order given; each model's penalty is
    # a copy of its setting (models share no state with the caller's list)
    expected = [(a, p.get_params()) for p in penalties for a in ALPHAS]
    assert [(a, p.get_params()) for a, p, _, _ in points] == expected
    owners = [p for p in penalties for _ in ALPHAS]
    assert all(p is not q for (_, p, _, _), q in zip(points, owners))
    if direct is not None:
        # the direct solver named solved every point of the path
        assert solver_calls[direct] >= len(points)
    for alpha, penalty, coef, intercept in points:
        cold = Est(alpha=alpha, penalty=penalty, tol=1e-10).fit(X, y, tasks=tasks)
        assert_allclose(coef, cold.coef_, rtol=0, atol=1e-6)
        assert_allclose(
            _identifiable(intercept), _identifiable(cold.intercept_), rtol=0, atol=1e-6
        )
    assert est.get_params() == params and not hasattr(est, "coef_")
    # every yielded model is still the one of its point (no shared state)
    for model, (alpha, penalty, coef, _) in zip(seen, points):
        assert model.alpha == alpha and model.penalty is penalty
        assert_array_equal(model.coef_, coef)
        assert model.penalty_ is not penalty  # fitted state never aliases a param
    assert len({id(m.penalty_) for m in seen}) == len(seen)


def test_path_settings_differ_and_are_not_reused():
    # the settings give different models: a path that solved one setting only
    # (or kept the first setting's penalty) would fail the comparison above
    X, y, tasks = _small_regression()
    coefs = [
        est.coef_.copy()
        for est in fit_path(
            MultiTaskRegressor(tol=1e-10),
            X,
            y,
            tasks,
            None,
            alphas=[0.1],
            penalties=_mean_settings(),
        )
    ]
    assert np.abs(coefs[0] - coefs[2]).max() > 1e-3


# ----------------------------------------------------------- 2. cached rows
def _split_half(X, y, tasks):
    return (X[::2], y[::2], tasks[::2]), (X[1::2], y[1::2], tasks[1::2])


def _outputs(est, X, y, tasks):
    out = {"predict": est.predict(X, tasks=tasks), "score": est.score(X, y, tasks)}
    if hasattr(est, "predict_proba"):
        out["predict_proba"] = est.predict_proba(X, tasks=tasks)
        out["decision_function"] = est.decision_function(X, tasks=tasks)
    return out


def _assert_same_outputs(a, b):
    assert a.keys() == b.keys()
    for name in a:
        if np.asarray(a[name]).dtype.kind == "f":
            assert_allclose(a[name], b[name], rtol=1e-13, atol=1e-13, err_msg=name)
        else:
            assert_array_equal(a[name], b[name], err_msg=name)


CACHE_CASES = [
    (MultiTaskRegressor, _small_regression),
    (MultiTaskClassifier, _small_binary),
    (MultiTaskClassifier, _three_class),
]


@pytest.mark.parametrize(
    "Est, data", CACHE_CASES, ids=["regression", "binary", "multiclass"]
)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_cached_rows_give_the_uncached_results(Est, data, sparse):
    X, y, tasks = data()
    if sparse:
        X = sp.csr_matrix(X)
    (X_tr, y_tr, t_tr), (X_te, y_te, t_te) = _split_half(X, y, tasks)
    X_copy = X_te.copy()
    est = Est(alpha=0.1, penalty="mean")
    [cached_model] = fit_path(
        est, X_tr, y_tr, t_tr, alphas=[0.1], X_eval=X_te, tasks_eval=t_te
    )
    cached = _outputs(cached_model, X_te, y_te, t_te)
    _assert_same_outputs(cached, _outputs(cached_model, X_copy, y_te, t_te))
    # equal to a plain fit
    plain = est.fit(X_tr, y_tr, tasks=t_tr)
    for name, value in _outputs(plain, X_copy, y_te, t_te).items():
        assert_allclose(cached[name], value, rtol=1e-6, atol=1e-8, err_msg=name)

    # the same X with other tasks is not served from the cache
    t_other = t_te[::-1].copy()
    _assert_same_outputs(
        _outputs(cached_model, X_te, y_te, t_other),
        _outputs(cached_model, X_copy, y_te, t_other),
    )

    # a new fit drops the cache (the tasks may have changed) and the cache
    # holds rows, not predictions
    cached_model.set_params(alpha=10.0).fit(X_tr, y_tr, tasks=t_tr)
    refitted = _outputs(cached_model, X_te, y_te, t_te)
    _assert_same_outputs(refitted, _outputs(cached_model, X_copy, y_te, t_te))
    moved = "predict_proba" if "predict_proba" in cached else "predict"
    assert np.abs(refitted[moved] - cached[moved]).max() > 1e-3


@pytest.mark.parametrize("Est, data", CACHE_CASES[:2], ids=["regression", "binary"])
def test_cached_rows_are_used(Est, data, monkeypatch):
    # X_eval is validated once, when the first model is yielded; the models'
    # predictions on that object then skip validation, other objects do not
    import skmtl.linear_model._base as base_module

    X, y, tasks = data()
    (X_tr, y_tr, t_tr), (X_te, _, t_te) = _split_half(X, y, tasks)
    calls = []
    original = base_module.validate_data

    def counting(est, X, *args, **kwargs):
        calls.append(X)
        return original(est, X, *args, **kwargs)

    monkeypatch.setattr(base_module, "validate_data", counting)
    path = fit_path(
        Est(), X_tr, y_tr, t_tr, alphas=ALPHAS, X_eval=X_te, tasks_eval=t_te
    )
    models = list(path)
    assert sum(c is X_te for c in calls) == 1
    n_calls = len(calls)
    for model in models:
        model.predict(X_te, tasks=t_te)
    assert len(calls) == n_calls
    models[0].predict(X_te.copy(), tasks=t_te)
    assert len(calls) == n_calls + 1


@pytest.mark.parametrize("Est, data", CACHE_CASES[:2], ids=["regression", "binary"])
def test_cached_rows_along_a_path(Est, data):
    # as in _fold_scores: the rows prepared once, scored at every point
    X, y, tasks = data()
    (X_tr, y_tr, t_tr), (X_te, y_te, t_te) = _split_half(X, y, tasks)
    X_copy = X_te.copy()
    seen = []
    path = fit_path(
        Est(tol=1e-8),
        X_tr,
        y_tr,
        t_tr,
        alphas=ALPHAS,
        penalties=_mean_settings(),
        X_eval=X_te,
        tasks_eval=t_te,
    )
    for fitted in path:
        out = _outputs(fitted, X_te, y_te, t_te)
        _assert_same_outputs(out, _outputs(fitted, X_copy, y_te, t_te))
        seen.append(out["predict_proba" if "predict_proba" in out else "predict"])
    assert len(seen) == 9 and np.abs(seen[0] - seen[-1]).max() > 1e-3


@pytest.mark.parametrize("Est, data", CACHE_CASES[:2], ids=["regression", "binary"])
def test_unseen_task_is_not_cached(Est, data):
    X, y, tasks = data()
    (X_tr, y_tr, t_tr), (X_te, y_te, t_te) = _split_half(X, y, tasks)
    est = Est(alpha=0.1, penalty="mean", unseen_tasks="shared")
    t_te = t_te.copy()
    t_te[:5] = 99  # a task never seen in fit
    [fitted] = fit_path(
        est, X_tr, y_tr, t_tr, alphas=[0.1], X_eval=X_te, tasks_eval=t_te
    )
    X_copy = X_te.copy()
    _assert_same_outputs(
        _outputs(fitted, X_te, y_te, t_te), _outputs(fitted, X_copy, y_te, t_te)
    )


def test_fold_scores_match_cold_fits():
    # one fold's scores at every (setting, alpha), through the cached test rows
    X, y, tasks = _small_binary()
    folds = list(TaskStratifiedKFold(3).split(X, y, tasks=tasks))
    tr, te = folds[0]
    base = MultiTaskClassifier(warm_start=True, tol=1e-10)
    scores, elapsed, solutions = _fold_scores(
        base, _mean_settings(), np.array(ALPHAS), X, y, tasks, None, tr, te, None
    )
    assert scores.shape == (3, 3) and elapsed >= 0
    assert solutions is None  # nothing kept without a budget for the refit
    for g, penalty in enumerate(_mean_settings()):
        for a, alpha in enumerate(ALPHAS):
            cold = MultiTaskClassifier(alpha=alpha, penalty=penalty, tol=1e-10)
            cold.fit(X[tr], y[tr], tasks=tasks[tr])
            expected = cold.score(X[te], y[te], tasks=tasks[te])
            assert scores[g, a] == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------- 3. default score
def test_default_score_is_accuracy_for_classifiers():
    X, y, tasks = _three_class()
    labels = np.array(["ant", "bee", "cat"])[y.astype(int)]
    (X_tr, y_tr, t_tr), (X_te, y_te, t_te) = _split_half(X, labels, tasks)
    est = MultiTaskClassifier(alpha=1.0, penalty="mean").fit(X_tr, y_tr, tasks=t_tr)
    got = _default_score(est, X_te, y_te, t_te)
    assert isinstance(got, float)
    expected = accuracy_score(y_te, est.predict(X_te, tasks=t_te))
    assert 0.3 < expected < 1.0  # neither trivial nor perfect
    assert got == pytest.approx(expected, abs=1e-15)
    assert got == pytest.approx(est.score(X_te, y_te, tasks=t_te), abs=1e-15)


def test_default_score_is_r2_for_regressors():
    X, y, tasks = _small_regression()
    (X_tr, y_tr, t_tr), (X_te, y_te, t_te) = _split_half(X, y, tasks)
    est = MultiTaskRegressor(alpha=1.0, penalty="mean").fit(X_tr, y_tr, tasks=t_tr)
    got = _default_score(est, X_te, y_te, t_te)
    expected = r2_score(y_te, est.predict(X_te, tasks=t_te))
    assert 0.0 < expected < 1.0
    assert got == pytest.approx(expected, rel=1e-12)
    assert got == pytest.approx(est.score(X_te, y_te, tasks=t_te), rel=1e-12)


@pytest.mark.parametrize(
    "y_test, expected",
    [
        ("zeros", 1.0),  # constant y, predicted exactly: sklearn gives 1
        ("threes", 0.0),  # constant y, predicted wrong: sklearn gives 0
        ("moving", None),  # y varies, constant predictions: R^2 <= 0
    ],
)
def test_default_score_r2_edge_cases(y_test, expected):
    X, _, tasks = _small_regression()
    (X_tr, _, t_tr), (X_te, _, t_te) = _split_half(X, np.zeros(len(X)), tasks)
    # a constant (zero) target fits the zero model exactly: predictions are 0
    est = MultiTaskRegressor(alpha=0.1, penalty="mean")
    est.fit(X_tr, np.zeros(X_tr.shape[0]), tasks=t_tr)
    assert_array_equal(est.predict(X_te, tasks=t_te), 0.0)
    y_te = {
        "zeros": np.zeros(X_te.shape[0]),
        "threes": np.full(X_te.shape[0], 3.0),
        "moving": np.arange(X_te.shape[0], dtype=float),
    }[y_test]
    got = _default_score(est, X_te, y_te, t_te)
    reference = r2_score(y_te, est.predict(X_te, tasks=t_te))
    assert np.isfinite(got)
    assert got == pytest.approx(reference, rel=1e-12, abs=1e-15)
    assert got == pytest.approx(est.score(X_te, y_te, tasks=t_te), abs=1e-15)
    if expected is not None:
        assert got == expected


# ------------------------------------------------------ 4. against GridSearch
def _binary_cv_data():
    return make_multitask_classification(
        n_tasks=3, n_samples=[30, 40, 50], n_features=8, random_state=0
    )


def _sparse_binary_cv_data():
    return make_multitask_classification(
        n_tasks=3,
        n_samples=[30, 40, 50],
        n_features=60,
        sparse=True,
        density=0.2,
        random_state=0,
    )


def _regression_cv_data():
    return make_multitask_regression(
        n_tasks=3, n_samples=[25, 35, 45], n_features=8, noise=1.0, random_state=0
    )


GRID_CASES = [
    (MultiTaskClassifier, MultiTaskClassifierCV, _binary_cv_data,
     MeanRegularized(), {"specific": [0.3, 1, 3]}),
    (MultiTaskClassifier, MultiTaskClassifierCV, _sparse_binary_cv_data,
     MeanRegularized(), {"specific": [0.3, 1, 3]}),
    (MultiTaskRegressor, MultiTaskRegressorCV, _regression_cv_data,
     GraphLaplacian(), {"coupling": [0.1, 1, 10]}),
]  # fmt: skip


def _key(params):
    return tuple(sorted((k, float(v)) for k, v in params.items()))


def _by_params(results, name):
    return dict(zip(map(_key, results["params"]), results[name]))


def _folds(X, y, tasks):
    splitter = TaskStratifiedKFold(3, shuffle=True, random_state=0)
    return list(splitter.split(X, y, tasks=tasks))


@pytest.mark.parametrize(
    "Est, EstCV, data, penalty, grid",
    GRID_CASES,
    ids=["binary-mean", "sparse-binary-mean", "regression-graph"],
)
def test_penalty_grid_matches_grid_search(Est, EstCV, data, penalty, grid):
    X, y, tasks = data()
    assert sp.issparse(X) == (data is _sparse_binary_cv_data)
    folds = _folds(X, y, tasks)
    cvm = EstCV(ALPHAS, penalty=penalty, penalty_grid=grid, cv=folds, tol=1e-8)
    cvm.fit(X, y, tasks=tasks)
    param_grid = {"alpha": ALPHAS}
    param_grid.update({f"penalty__{k}": v for k, v in grid.items()})
    with sklearn.config_context(enable_metadata_routing=True):
        gs = GridSearchCV(Est(penalty=penalty, tol=1e-8), param_grid, cv=folds)
        gs.fit(X, y, tasks=tasks)

    assert _key(cvm.best_params_) == _key(gs.best_params_)
    assert set(cvm.best_params_) == set(gs.best_params_)
    names = ["mean_test_score"] + [f"split{k}_test_score" for k in range(len(folds))]
    for name in names:
        # the same candidates in another order: match them by their parameters
        ours = _by_params(cvm.cv_results_, name)
        theirs = _by_params(gs.cv_results_, name)
        assert ours.keys() == theirs.keys() and len(ours) == 9
        for key, score in theirs.items():
            assert_allclose(ours[key], score, rtol=0, atol=1e-6, err_msg=f"{key}")
    theirs = _by_params(gs.cv_results_, "mean_test_score")
    assert cvm.best_score_ == pytest.approx(gs.best_score_, abs=1e-6)
    # the candidates' scores are not all alike (the comparison means something)
    assert np.ptp(list(theirs.values())) > 1e-3


@pytest.mark.parametrize(
    "Est, EstCV, data, penalty, grid",
    [GRID_CASES[1], GRID_CASES[2]],
    ids=["sparse-binary-mean", "regression-graph"],
)
def test_penalty_grid_parallel_is_identical(Est, EstCV, data, penalty, grid):
    X, y, tasks = data()
    folds = _folds(X, y, tasks)
    kwargs = dict(penalty=penalty, penalty_grid=grid, cv=folds, tol=1e-8)
    one = EstCV(ALPHAS, n_jobs=1, **kwargs).fit(X, y, tasks=tasks)
    two = EstCV(ALPHAS, n_jobs=2, **kwargs).fit(X, y, tasks=tasks)
    assert one.best_params_ == two.best_params_
    assert one.cv_results_["params"] == two.cv_results_["params"]
    for name, value in one.cv_results_.items():
        if name.endswith("_score"):
            assert_allclose(two.cv_results_[name], value, rtol=1e-12, atol=1e-12)
    assert_allclose(two.best_estimator_.coef_, one.best_estimator_.coef_, rtol=1e-12)


def _tie_scorer(winners):
    def score(estimator, X, y, tasks=None):
        point = (float(estimator.alpha), float(estimator.penalty.specific))
        return float(point in winners)

    return score


@pytest.mark.parametrize(
    "alphas, winners",
    [
        # every candidate ties: the first of each search's order
        pytest.param([1.0, 0.1, 0.01], None, id="all-tie-descending"),
        pytest.param([0.01, 0.1, 1.0], None, id="all-tie-ascending"),
        pytest.param([1.0, 0.1, 0.01], {(1.0, 3.0), (0.1, 0.3)}, id="across-settings"),
        pytest.param([0.1, 1.0, 0.01], {(0.01, 0.3), (1.0, 1.0)}, id="unsorted"),
    ],
)
def test_ties_break_as_grid_search(alphas, winners):
    # the documented rule: "first in parameter order on ties, as GridSearchCV"
    X, y, tasks = _small_binary()
    folds = _folds(X, y, tasks)
    if winners is None:
        winners = {(a, s) for a in alphas for s in (0.3, 1.0, 3.0)}
    scoring = _tie_scorer(winners)
    grid = {"specific": [0.3, 1.0, 3.0]}
    cvm = MultiTaskClassifierCV(
        alphas, penalty=MeanRegularized(), penalty_grid=grid, cv=folds, scoring=scoring
    ).fit(X, y, tasks=tasks)
    with sklearn.config_context(enable_metadata_routing=True):
        gs = GridSearchCV(
            MultiTaskClassifier(penalty=MeanRegularized()),
            {"alpha": alphas, "penalty__specific": grid["specific"]},
            cv=folds,
            scoring=scoring,
        ).fit(X, y, tasks=tasks)
    assert cvm.best_score_ == gs.best_score_ == 1.0
    assert _key(cvm.best_params_) == _key(gs.best_params_)


def test_list_penalty_grid_matches_grid_search_candidate_by_candidate():
    # a list of sub-grids with different parameters: the same candidates, in
    # the same order, with the same scores and masked param_ columns
    X, y, tasks = make_multitask_regression(
        n_tasks=3, n_samples=30, n_features=6, noise=1.0, random_state=3
    )[:3]
    folds = _folds(X, y, tasks)
    alphas = [0.1, 1.0, 0.01]
    sub_grids = [{"coupling": [0.3, 3.0]}, {"ridge": [0.5, 2.0]}]
    cvm = MultiTaskRegressorCV(
        alphas, penalty=GraphLaplacian(), penalty_grid=sub_grids, cv=folds
    ).fit(X, y, tasks=tasks)
    gs_grid = [
        {"alpha": alphas, **{f"penalty__{k}": v for k, v in g.items()}}
        for g in sub_grids
    ]
    with sklearn.config_context(enable_metadata_routing=True):
        gs = GridSearchCV(
            MultiTaskRegressor(penalty=GraphLaplacian(), tol=1e-8), gs_grid, cv=folds
        ).fit(X, y, tasks=tasks)
    assert cvm.cv_results_["params"] == gs.cv_results_["params"]
    assert_allclose(
        cvm.cv_results_["mean_test_score"], gs.cv_results_["mean_test_score"],
        atol=1e-5,
    )  # fmt: skip
    assert_array_equal(
        np.ma.getmaskarray(cvm.cv_results_["param_penalty__ridge"]),
        np.ma.getmaskarray(gs.cv_results_["param_penalty__ridge"]),
    )
    assert cvm.best_params_ == gs.best_params_
