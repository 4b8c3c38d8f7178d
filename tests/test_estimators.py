"""Behaviour of the estimators: tasks, bad input, state, routing."""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skmtl
from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.linear_model import fit_path
from skmtl.penalties import GraphLaplacian, MeanRegularized

from .conftest import ragged_problem

ESTIMATORS = [MultiTaskRegressor, MultiTaskClassifier]
PENALTIES = ["independent", "mean", "graph", "l21"]


def _problem(Est, **kw):
    return ragged_problem(classification=Est is MultiTaskClassifier, **kw)


# ---------------------------------------------------------------- tasks
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_string_and_int_task_labels_give_same_model(Est):
    X, y, tasks, labels = _problem(Est)
    as_int = np.searchsorted(labels, tasks)
    a = Est(penalty="mean").fit(X, y, tasks=tasks)
    b = Est(penalty="mean").fit(X, y, tasks=as_int)
    assert_array_equal(a.tasks_, labels)
    assert_array_equal(b.tasks_, [0, 1, 2])
    assert_allclose(a.coef_, b.coef_)
    assert_array_equal(a.predict(X, tasks=tasks), b.predict(X, tasks=as_int))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_scalar_tasks_means_one_task(Est):
    X, y, tasks, _ = _problem(Est)
    a = Est().fit(X, y, tasks="only")
    b = Est().fit(X, y)
    assert_array_equal(a.tasks_, ["only"])
    assert_allclose(a.coef_, b.coef_)
    assert_array_equal(a.predict(X, tasks="only"), b.predict(X))


def test_ragged_sparse_multiclass_fit_predict():
    X, y, tasks, labels = ragged_problem(
        sizes=(12, 90, 40), classification=True, n_classes=4
    )
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.8, X, 0.0))
    for penalty in PENALTIES:
        clf = MultiTaskClassifier(penalty=penalty, alpha=0.01).fit(Xs, y, tasks=tasks)
        assert clf.coef_.shape == (3, 4, X.shape[1])
        proba = clf.predict_proba(Xs, tasks=tasks)
        assert_allclose(proba.sum(axis=1), 1.0)
        pred = clf.predict(Xs, tasks=tasks)
        assert set(pred) <= set(clf.classes_)
        assert clf.score(Xs, y, tasks=tasks) > 0.5


def test_task_missing_a_class_gets_zero_probability():
    X, y, tasks, labels = ragged_problem(
        classification=True, n_classes=3, sizes=(60, 60)
    )
    keep = ~((tasks == labels[0]) & (y == 2))
    X, y, tasks = X[keep], y[keep], tasks[keep]
    clf = MultiTaskClassifier(penalty="mean").fit(X, y, tasks=tasks)
    assert_array_equal(clf.task_class_mask_, [[True, True, False], [True, True, True]])
    proba = clf.predict_proba(X, tasks=tasks)
    assert np.all(proba[tasks == labels[0], 2] == 0)
    assert np.all(clf.predict(X[tasks == labels[0]], tasks=labels[0]) != 2)
    assert np.isfinite(clf.intercept_).all()


@pytest.mark.parametrize("n_classes", [2, 3])
def test_one_class_task_predicts_its_class(n_classes):
    # normal in a cross-validation fold: the fit is kept, with a warning
    X, y, tasks, labels = ragged_problem(classification=True, n_classes=n_classes)
    y = y.copy()
    y[tasks == labels[1]] = 1
    with pytest.warns(UserWarning, match=r"'task-1' \(only 1.0\).*one class only"):
        clf = MultiTaskClassifier(tol=1e-10).fit(X, y, tasks=tasks)
    rows = tasks == labels[1]
    assert np.all(clf.predict(X[rows], tasks=tasks[rows]) == 1)
    proba = clf.predict_proba(X[rows], tasks=tasks[rows])
    assert_allclose(proba[:, list(clf.classes_).index(1)], 1.0)
    # the other tasks: as a fit without the one-class task's rows
    ref = MultiTaskClassifier(tol=1e-10).fit(X[~rows], y[~rows], tasks=tasks[~rows])
    others = [list(clf.tasks_).index(t) for t in ref.tasks_]
    assert_allclose(clf.coef_[others], ref.coef_, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_unseen_task_error_and_shared_fallback(Est):
    X, y, tasks, _ = _problem(Est)
    model = Est(penalty="mean").fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="not seen during fit: 'new'"):
        model.predict(X[:3], tasks="new")
    shared = Est(penalty="mean", unseen_tasks="shared").fit(X, y, tasks=tasks)
    scores = shared._raw_scores(X[:3], "new")[0]
    expected = (
        X[:3] @ np.moveaxis(shared.shared_coef_, -1, 0) + shared.shared_intercept_
    )
    assert_allclose(scores, expected, atol=1e-10)
    assert_allclose(
        shared.coef_, shared.shared_coef_ + shared.specific_coef_, atol=1e-12
    )
    with pytest.raises(ValueError, match="shared component"):
        Est(penalty="l21", unseen_tasks="shared").fit(X, y, tasks=tasks)


def test_predict_without_tasks_on_multitask_model_says_how():
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor().fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="tasks is required.*metadata routing"):
        model.predict(X)


def test_shared_design_two_dimensional_y():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4))
    Y = X @ rng.normal(size=(4, 3))
    model = MultiTaskRegressor(alpha=1e-6, tol=1e-10).fit(X, Y)
    assert_array_equal(model.tasks_, [0, 1, 2])
    assert model.predict(X).shape == (50, 3)
    assert_allclose(model.predict(X), Y, atol=1e-3)
    assert_allclose(model.predict(X, tasks=1), Y[:, 1], atol=1e-3)
    # equals stacking the tasks
    stacked = MultiTaskRegressor(alpha=1e-6, tol=1e-10).fit(
        np.vstack([X] * 3), Y.T.ravel(), tasks=np.repeat([0, 1, 2], 50)
    )
    assert_allclose(model.coef_, stacked.coef_, atol=1e-6)


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_bad_input_errors_name_the_argument(Est):
    X, y, tasks, labels = _problem(Est)
    est = Est()
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        est.fit(Xn, y, tasks=tasks)
    Xi = X.copy()
    Xi[0, 0] = np.inf
    with pytest.raises(ValueError, match="X contains infinity"):
        est.fit(Xi, y, tasks=tasks)
    if Est is MultiTaskRegressor:
        yn = y.copy()
        yn[0] = np.nan
        with pytest.raises(ValueError, match="y contains NaN"):
            est.fit(X, yn, tasks=tasks)
    with pytest.raises(ValueError, match="0 sample"):
        est.fit(X[:0], y[:0], tasks=tasks[:0])
    with pytest.raises(ValueError, match="tasks has 5 labels but X has"):
        est.fit(X, y, tasks=tasks[:5])
    with pytest.raises(ValueError, match="tasks contains missing labels"):
        est.fit(X, y, tasks=np.where(np.arange(len(y)) == 0, None, tasks))
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        est.fit(X, y, tasks=tasks, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="sample_weight contains NaN"):
        est.fit(X, y, tasks=tasks, sample_weight=np.full(len(y), np.nan))
    with pytest.raises(ValueError, match="sample_weight has 3 values"):
        est.fit(X, y, tasks=tasks, sample_weight=[1, 2, 3])
    with pytest.raises(ValueError, match="sample_weight is zero for every row"):
        est.fit(X, y, tasks=tasks, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="task_weights must be non-negative"):
        Est(task_weights={"task-0": -1.0}).fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="task_weights must be finite"):
        Est(task_weights=[1.0, np.nan, 1.0]).fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="task_weights names task.*'nope'"):
        Est(task_weights={"nope": 2.0}).fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="task_weights must be a dict"):
        Est(task_weights=[1.0, 2.0]).fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="adjacency must have shape"):
        Est(penalty=GraphLaplacian(adjacency=np.ones((2, 2)))).fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="adjacency weights must be non-negative"):
        Est(penalty=GraphLaplacian(adjacency=-np.ones((3, 3)))).fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="adjacency names task pair"):
        Est(penalty=GraphLaplacian(adjacency=[("task-0", "zzz")])).fit(
            X, y, tasks=tasks
        )
    with pytest.raises(ValueError, match="specific must be a finite non-negative"):
        Est(penalty=MeanRegularized(specific=-1)).fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="penalty"):
        Est(penalty="ridge2").fit(X, y, tasks=tasks)
    with pytest.raises(NotFittedError):
        Est().predict(X, tasks=tasks)


def test_wrong_y_shape():
    X, y, tasks, _ = ragged_problem()
    with pytest.raises(ValueError, match="2-D y means one column per task"):
        MultiTaskRegressor().fit(X, np.column_stack([y, y]), tasks=tasks)
    with pytest.raises(ValueError, match="y"):
        MultiTaskClassifier().fit(X, np.column_stack([y > 0, y > 0]), tasks=tasks)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        MultiTaskRegressor().fit(X, y[:-1], tasks=tasks)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_zero_and_huge_alpha(Est):
    X, y, tasks, labels = _problem(Est, sizes=(200, 250, 300))
    for penalty in PENALTIES:
        big = Est(alpha=1e8, penalty=penalty).fit(X, y, tasks=tasks)
        assert np.abs(big.coef_).max() < 1e-6
    if Est is MultiTaskRegressor:
        # alpha=0: plain least squares per task
        free = Est(alpha=0.0, tol=1e-10).fit(X, y, tasks=tasks)
        for t, label in enumerate(labels):
            rows = tasks == label
            A = np.column_stack([X[rows], np.ones(rows.sum())])
            sol = np.linalg.lstsq(A, y[rows], rcond=None)[0]
            assert_allclose(free.coef_[t], sol[:-1], atol=1e-6)
    else:
        # separable data without penalty: no finite optimum; the solver stops
        # once the gradient vanishes numerically, or warns, and still predicts
        Xs = np.vstack([X, X + 10])
        ys = np.r_[np.zeros(len(y)), np.ones(len(y))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = Est(alpha=0.0, max_iter=50).fit(Xs, ys)
        assert model.score(Xs, ys) == 1.0


# ---------------------------------------------------------- state, pickling
@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("penalty", PENALTIES)
def test_inputs_unchanged_pickle_and_determinism(Est, penalty):
    X, y, tasks, _ = _problem(Est)
    Xs = sp.csr_matrix(X)
    sw = np.linspace(0.5, 1.5, len(y))
    copies = [a.copy() for a in (X, y, tasks, sw)] + [Xs.copy()]
    model = Est(penalty=penalty).fit(X, y, tasks=tasks, sample_weight=sw)
    model.predict(X, tasks=tasks)
    Est(penalty=penalty).fit(Xs, y, tasks=tasks, sample_weight=sw).predict(Xs, tasks)
    for before, after in zip(copies, (X, y, tasks, sw)):
        assert_array_equal(before, after)
    assert (copies[-1] != Xs).nnz == 0
    again = Est(penalty=penalty).fit(X, y, tasks=tasks, sample_weight=sw)
    assert_array_equal(model.coef_, again.coef_)
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.predict(X, tasks=tasks), model.predict(X, tasks=tasks))


@pytest.mark.parametrize("penalty", PENALTIES)
def test_warm_start_needs_fewer_iterations(penalty):
    # an iterative solver (the default here is the direct Gram solve); not
    # Newton-CG, which solves the squared loss in one Newton step from any start
    X, y, tasks, _ = ragged_problem(sizes=(100, 150, 200), n_features=20)
    solver = "fista" if penalty == "l21" else "lbfgs"
    kw = dict(penalty=penalty, tol=1e-8, solver=solver)
    model = MultiTaskRegressor(alpha=0.01, warm_start=True, **kw)
    model.fit(X, y, tasks=tasks)
    first = model.n_iter_
    model.set_params(alpha=0.011).fit(X, y, tasks=tasks)
    cold = MultiTaskRegressor(alpha=0.011, **kw).fit(X, y, tasks=tasks)
    assert model.n_iter_ < max(first, cold.n_iter_)
    assert_allclose(model.coef_, cold.coef_, atol=1e-5)


def test_task_weights_equal_sample_weight_scaling():
    # lambda_t scales task t's whole loss; so does multiplying its rows' weights
    # by lambda_t when the per-task normalisation is undone.
    X, y, tasks, labels = ragged_problem()
    a = MultiTaskRegressor(penalty="graph", task_weights={"task-2": 4.0}, tol=1e-10)
    a.fit(X, y, tasks=tasks)
    b = MultiTaskRegressor(penalty="graph", task_weights=[1.0, 1.0, 4.0], tol=1e-10)
    b.fit(X, y, tasks=tasks)
    assert_allclose(a.coef_, b.coef_)
    c = MultiTaskRegressor(penalty="graph", tol=1e-10).fit(X, y, tasks=tasks)
    assert not np.allclose(a.coef_, c.coef_)


def test_verbose_prints(capsys):
    X, y, tasks, _ = ragged_problem()
    MultiTaskRegressor(penalty="l21", solver="fista", verbose=1).fit(X, y, tasks=tasks)
    assert "FISTA" in capsys.readouterr().out
    # "auto" picks block coordinate descent here (the squared loss)
    MultiTaskRegressor(penalty="l21", solver="bcd", verbose=1).fit(X, y, tasks=tasks)
    assert "[BCD]" in capsys.readouterr().out


# --------------------------------------------------- scikit-learn ecosystem
def test_grid_search_over_penalty_parameters_with_routing():
    X, y, tasks, _ = ragged_problem(classification=True, sizes=(60, 60, 60))
    pipe = make_pipeline(
        StandardScaler(), MultiTaskClassifier(penalty=MeanRegularized())
    )
    grid = {"multitaskclassifier__penalty__specific": [0.1, 10.0]}
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(pipe, grid, cv=KFold(3, shuffle=True, random_state=0))
        search.fit(X, y, tasks=tasks)
        res = cross_validate(
            MultiTaskClassifier(penalty="graph"), X, y, params={"tasks": tasks}, cv=3
        )
    assert set(search.cv_results_["param_multitaskclassifier__penalty__specific"]) == {
        0.1,
        10.0,
    }
    assert len(res["test_score"]) == 3


def test_import_leaves_sklearn_config_and_torch_alone():
    code = (
        "import sys, sklearn; before = sklearn.get_config(); "
        "import skmtl, skmtl.datasets; "
        "assert sklearn.get_config() == before; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_module_imports_without_docstrings():
    # python -OO strips docstrings (__doc__ is None); the modules that fill
    # shared text into docstrings at import must still import
    pytest.importorskip("torch")
    code = (
        "import importlib, pkgutil, skmtl; "
        "assert skmtl.MultiTaskClassifier.__doc__ is None; "
        "[importlib.import_module(m.name) for m in "
        "pkgutil.walk_packages(skmtl.__path__, 'skmtl.')]"
    )
    subprocess.run([sys.executable, "-OO", "-c", code], check=True)


def test_shared_docstring_fragments_are_filled():
    import skmtl.transfer as transfer
    from skmtl.datasets import make_multitask_regression

    for obj in (
        skmtl.MultiTaskClassifier,
        skmtl.MultiTaskRegressor,
        transfer.NaiveBayesTransferClassifier,
        transfer.EMTransferClassifier,
        transfer.SelfTrainingTransferClassifier,
        make_multitask_regression,
    ):
        assert "%(" not in obj.__doc__ and "{model}" not in obj.__doc__, obj
    for cls in (
        transfer.NaiveBayesTransferClassifier,
        transfer.SelfTrainingTransferClassifier,
    ):
        assert "\n    prior_strength : float, default=0.0\n" in cls.__doc__


def test_public_names_import():
    import importlib

    for module in (
        "skmtl.metrics",
        "skmtl.model_selection",
        "skmtl.pipeline",
        "skmtl.transfer",
        "skmtl",
        "skmtl.penalties",
        "skmtl.datafits",
        "skmtl.solvers",
        "skmtl.linear_model",
        "skmtl.datasets",
    ):
        mod = importlib.import_module(module)
        for name in mod.__all__:
            assert hasattr(mod, name), f"{module}.{name}"
    assert skmtl.__version__


def test_solver_requirements_checked():
    from skmtl.solvers import LBFGS, check_solver_requirements

    class NoGradient:
        is_smooth = True

        def value(self, W):
            return 0.0

    from skmtl._design import TaskDesign
    from skmtl._loss import SmoothLoss
    from skmtl.datafits import Quadratic

    X = np.ones((3, 2))
    loss = SmoothLoss(TaskDesign(X, None, 1), Quadratic(), True)
    with pytest.raises(AttributeError, match="LBFGS needs a penalty with method"):
        check_solver_requirements(LBFGS(), loss, NoGradient())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X, y, tasks, _ = ragged_problem()
        with pytest.raises(ValueError, match="smooth penalties only"):
            MultiTaskRegressor(penalty="l21", solver="lbfgs").fit(X, y, tasks=tasks)


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("penalty", PENALTIES)
def test_fit_path_equals_cold_fits(Est, penalty):
    X, y, tasks, _ = _problem(Est)
    alphas = [1.0, 0.1, 0.01, 0.001]
    est = Est(penalty=penalty, tol=1e-8, max_iter=5000)
    for alpha, fitted in zip(alphas, fit_path(est, X, y, tasks, None, alphas=alphas)):
        cold = Est(alpha=alpha, penalty=penalty, tol=1e-8, max_iter=5000)
        cold.fit(X, y, tasks=tasks)
        assert fitted.alpha == alpha
        assert_allclose(fitted.coef_, cold.coef_, rtol=1e-4, atol=1e-5)
        assert_allclose(fitted.intercept_, cold.intercept_, rtol=1e-4, atol=1e-5)
