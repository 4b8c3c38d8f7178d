"""The house's seams: task protocol, solver gate and dispatch, warm starts, paths.

Regression tests for the two defects of issue [1/9] (a fitted model aliasing
its penalty parameter; a direct solver asked of distillation) and the public
behaviour every estimator shares.
"""

import inspect
import warnings

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

from skmtl import MultiTaskClassifier, MultiTaskRegressor
from skmtl.model_selection import MultiTaskClassifierCV, MultiTaskRegressorCV
from skmtl.penalties import BasePenalty, BoundPenalty, MeanRegularized
from skmtl.solvers import SOLVERS
from skmtl.transfer import (
    DistilledClassifier,
    FineTunedClassifier,
    FineTunedRegressor,
    JointTransferClassifier,
    JointTransferRegressor,
    TrAdaBoostClassifier,
)

from .conftest import as_container, ragged_problem

TASK_ESTIMATORS = [
    MultiTaskRegressor,
    MultiTaskClassifier,
    MultiTaskRegressorCV,
    MultiTaskClassifierCV,
    JointTransferRegressor,
    JointTransferClassifier,
    TrAdaBoostClassifier,
]


# ------------------------------------------------------------ the 2 defects
def test_fitted_model_does_not_alias_its_penalty_parameter():
    # defect 1: set_params(penalty__specific=...) after fit changed the
    # predictions of an unseen task
    X, y, tasks, _ = ragged_problem()
    penalty = MeanRegularized(shared=0.5, specific=1.0)
    model = MultiTaskRegressor(penalty=penalty, unseen_tasks="shared")
    model.fit(X, y, tasks=tasks)
    X_new = X[:7]
    before = model.predict(X_new, tasks="never-seen")
    expected = X_new @ model.shared_coef_ + model.shared_intercept_
    assert_allclose(before, expected, rtol=1e-12)
    assert model.penalty_ is not penalty
    model.set_params(penalty__specific=100.0)
    assert penalty.specific == 100.0  # the parameter object did change ...
    after = model.predict(X_new, tasks="never-seen")
    assert_array_equal(after, before)  # ... the fitted model did not
    assert_allclose(after, X_new @ model.shared_coef_ + model.shared_intercept_)
    assert model.penalty_.specific == 1.0


@pytest.mark.parametrize("solver", ["gram", "kernel"])
def test_distillation_refuses_a_direct_solver_clearly(solver):
    # defect 2: a bare KeyError
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    teacher = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match=f"solver='{solver}' does not apply here"):
        DistilledClassifier(teacher, solver=solver).fit(X, y)


@pytest.mark.parametrize("solver", ["auto", "newton-cg", "lbfgs", "fista"])
def test_distillation_solvers_agree(solver):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int)
    teacher = LogisticRegression().fit(X, y)
    ref = DistilledClassifier(teacher, tol=1e-10, solver="newton-cg").fit(X, y)
    other = DistilledClassifier(teacher, tol=1e-10, solver=solver).fit(X, y)
    assert_allclose(other.coef_, ref.coef_, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------- task protocol
@pytest.mark.parametrize("Est", TASK_ESTIMATORS)
def test_one_score_signature(Est):
    params = list(inspect.signature(Est.score).parameters)
    assert params == ["self", "X", "y", "tasks", "sample_weight"]


@pytest.mark.parametrize("Est", TASK_ESTIMATORS)
def test_every_method_taking_tasks_requests_it(Est):
    with sklearn.config_context(enable_metadata_routing=True):
        routing = Est().get_metadata_routing()
    methods = [
        m
        for m in ("fit", "predict", "predict_proba", "decision_function", "score")
        if hasattr(Est, m)
    ]
    for method in methods:
        requests = getattr(routing, method).requests
        assert requests.get("tasks") is True, (Est.__name__, method)


def test_model_selection_does_not_import_pipeline():
    import ast
    from pathlib import Path

    import skmtl.model_selection as ms

    for path in Path(ms.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert "pipeline" not in (node.module or ""), path.name


def test_refit_drops_the_previous_penalty_attributes():
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor(penalty="mean").fit(X, y, tasks=tasks)
    assert hasattr(model, "shared_coef_")
    model.set_params(penalty="independent").fit(X, y, tasks=tasks)
    assert not hasattr(model, "shared_coef_")
    assert not hasattr(model, "specific_coef_")


def test_failed_fit_leaves_the_model_as_it_was():
    X, y, tasks, _ = ragged_problem(classification=True)
    model = MultiTaskClassifier(penalty="mean").fit(X, y, tasks=tasks)
    state = {k: v for k, v in vars(model).items() if k.endswith("_")}
    y_bad = np.full_like(y, y[0])  # a single class in the whole data
    with pytest.raises(ValueError, match="at least 2 classes"):
        model.fit(X, y_bad, tasks=tasks)
    with pytest.raises(ValueError, match="coef_init"):
        model.fit(X, y, tasks=tasks, coef_init=np.zeros((2, 2)))
    for name, value in state.items():
        assert_array_equal(getattr(model, name), value)


# ------------------------------------------------------- warm-start seam
@pytest.mark.parametrize("Est", [MultiTaskRegressor, MultiTaskClassifier])
@pytest.mark.parametrize("penalty", ["independent", "mean", "l21"])
def test_coef_init_at_the_solution_needs_no_iteration(Est, penalty, container):
    X, y, tasks, _ = ragged_problem(classification=Est is MultiTaskClassifier)
    X = as_container(X, container)
    solver = "fista" if penalty == "l21" else "newton-cg"
    model = Est(penalty=penalty, solver=solver, tol=1e-8).fit(X, y, tasks=tasks)
    again = clone(model).fit(
        X, y, tasks=tasks, coef_init=model.coef_, intercept_init=model.intercept_
    )
    if solver == "newton-cg":
        assert again.n_iter_ == 0
    assert_allclose(again.coef_, model.coef_, rtol=1e-6, atol=1e-8)
    assert_allclose(again.intercept_, model.intercept_, rtol=1e-6, atol=1e-8)


def test_coef_init_changes_the_path_not_the_solution():
    X, y, tasks, _ = ragged_problem()
    ref = MultiTaskRegressor(penalty="mean", tol=1e-10).fit(X, y, tasks=tasks)
    rng = np.random.default_rng(0)
    start = rng.normal(size=ref.coef_.shape)
    model = MultiTaskRegressor(penalty="mean", tol=1e-10, solver="lbfgs")
    model.fit(X, y, tasks=tasks, coef_init=start, intercept_init=3.0)
    assert_allclose(model.coef_, ref.coef_, rtol=1e-6, atol=1e-8)
    # a budget of one iteration stays near the start
    short = MultiTaskRegressor(penalty="mean", solver="fista", max_iter=1)
    with pytest.warns(ConvergenceWarning):
        short.fit(X, y, tasks=tasks, coef_init=start)
    assert np.linalg.norm(short.coef_ - start) < np.linalg.norm(ref.coef_ - start)


def test_coef_init_without_task_axis_is_every_task():
    X, y, tasks, _ = ragged_problem()
    w = np.arange(X.shape[1], dtype=float)
    a = MultiTaskRegressor(solver="fista", max_iter=1)
    b = MultiTaskRegressor(solver="fista", max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(X, y, tasks=tasks, coef_init=w)
        b.fit(X, y, tasks=tasks, coef_init=np.tile(w, (3, 1)))
    assert_array_equal(a.coef_, b.coef_)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"coef_init": np.zeros((3, 5))}, "coef_init has shape"),
        ({"coef_init": np.full((3, 6), np.nan)}, "coef_init contains NaN"),
        ({"coef_init": "abc"}, "coef_init must be numeric"),
        ({"intercept_init": np.zeros(4)}, "intercept_init has shape"),
    ],
)
def test_bad_init_is_named(kwargs, match):
    X, y, tasks, _ = ragged_problem()
    with pytest.raises(ValueError, match=match):
        MultiTaskRegressor().fit(X, y, tasks=tasks, **kwargs)


def test_fine_tuning_early_stopping_model_is_consistent():
    rng = np.random.default_rng(1)
    Xs = rng.normal(size=(400, 8))
    ws = rng.normal(size=8)
    source = LogisticRegression().fit(Xs, (Xs @ ws > 0).astype(int))
    Xt = rng.normal(size=(60, 8)).astype(np.float32)
    yt = (Xt @ (ws + 0.3 * rng.normal(size=8)) > 0).astype(int)
    model = FineTunedClassifier(
        source, early_stopping=True, max_iter=40, check_every=2, random_state=0
    ).fit(Xt, yt)
    inner = model.model_
    assert inner.coef_.dtype == np.float32 and inner.intercept_.dtype == np.float32
    assert_allclose(
        inner.decision_function(Xt),
        Xt @ inner.coef_[0] + inner.intercept_[0],
        rtol=1e-5,
        atol=1e-5,
    )
    assert_array_equal(model.coef_, inner.coef_[0])
    # the kept model is the one with the best validation score
    assert model.best_validation_score_ == max(model.validation_scores_)


def test_fine_tuning_starts_at_the_source_through_coef_init():
    rng = np.random.default_rng(0)
    Xs, Xt = rng.normal(size=(300, 5)), rng.normal(size=(30, 5))
    w = rng.normal(size=5)
    source = Ridge(alpha=1e-3).fit(Xs, Xs @ w)
    yt = Xt @ (w + 0.5)
    tuned = FineTunedRegressor(source, max_iter=3, solver="lbfgs").fit(Xt, yt)
    direct = MultiTaskRegressor(solver="lbfgs", max_iter=3, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        direct.fit(Xt, yt, coef_init=source.coef_, intercept_init=0.0)
    assert_allclose(tuned.coef_, direct.coef_[0])


# ------------------------------------------------- solver gate and budget
@pytest.mark.parametrize("solver", sorted(SOLVERS))
def test_small_budget_warns(solver):
    X, y, tasks, _ = ragged_problem(sizes=(30, 40), n_features=8)
    model = MultiTaskRegressor(
        penalty=MeanRegularized(specific=0.3), alpha=0.01, solver=solver, tol=1e-14
    )
    if solver in ("gram", "kernel", "newton-cg"):
        # exact in one step: a budget can only run out when polishing (Newton-CG
        # solves the squared loss' Newton system to the tolerance in one step;
        # its budget warning is tested on classification below)
        model.fit(X, y, tasks=tasks)
        return
    if solver == "bcd":
        # row-sparse penalties only: the gate refuses the mean coupling
        with pytest.raises(AttributeError, match="row_l2_weight"):
            model.fit(X, y, tasks=tasks)
        model.set_params(penalty="l21")
    with pytest.warns(ConvergenceWarning, match="KKT violation"):
        model.set_params(max_iter=1).fit(X, y, tasks=tasks)


def test_small_budget_warns_for_classification_and_l21():
    X, y, tasks, _ = ragged_problem(classification=True, n_classes=3)
    for penalty, solver in (("l21", "auto"), ("mean", "auto"), ("mean", "lbfgs")):
        model = MultiTaskClassifier(penalty=penalty, solver=solver, max_iter=1)
        with pytest.warns(ConvergenceWarning):
            model.set_params(tol=1e-12).fit(X, y, tasks=tasks)


def test_non_smooth_penalty_refused_by_smooth_solvers():
    X, y, tasks, _ = ragged_problem()
    for solver in ("newton-cg", "lbfgs"):
        with pytest.raises(ValueError, match="smooth penalties only"):
            MultiTaskRegressor(penalty="l21", solver=solver).fit(X, y, tasks=tasks)


# -------------------------------------- a new penalty without estimator code
class _RidgeToConstant(BasePenalty):
    """``alpha / 2 * sum_t ||w_t - c||^2`` (a test penalty, not in skmtl)."""

    def __init__(self, c=0.0):
        self.c = c

    def bind(self, task_labels, alpha):
        return _BoundRidgeToConstant(alpha, float(self.c))


class _BoundRidgeToConstant(BoundPenalty):
    separable_by_task = True

    def __init__(self, alpha, c):
        self.alpha, self.c = alpha, c

    def value(self, W):
        return 0.5 * self.alpha * float(np.sum((W - self.c) ** 2))

    def gradient(self, W):
        return self.alpha * (W - self.c)

    def hvp(self, V):
        return self.alpha * V

    def lipschitz(self):
        return self.alpha

    def fitted_attributes(self, W, b):
        return {"distance_to_constant_": np.sqrt(np.sum((W - self.c) ** 2, axis=0))}


@pytest.mark.parametrize("solver", ["auto", "newton-cg", "lbfgs", "fista"])
def test_a_new_penalty_needs_no_estimator_change(solver):
    # ridge toward c on task t equals sklearn's Ridge on y - X c (shifted)
    X, y, tasks, labels = ragged_problem()
    c, alpha = 0.7, 0.05
    model = MultiTaskRegressor(
        alpha=alpha, penalty=_RidgeToConstant(c), solver=solver, tol=1e-10
    ).fit(X, y, tasks=tasks)
    for t, label in enumerate(labels):
        rows = tasks == label
        n_t = rows.sum()
        Xt, yt = X[rows], y[rows] - X[rows] @ np.full(X.shape[1], c)
        ref = Ridge(alpha=alpha * n_t).fit(Xt, yt)
        assert_allclose(model.coef_[t], ref.coef_ + c, rtol=1e-5, atol=1e-6)
    dist = np.sqrt(np.sum((model.coef_ - c) ** 2, axis=1))
    assert_allclose(model.distance_to_constant_, dist)


def test_direct_solver_refuses_a_penalty_without_quadratic_form():
    X, y, tasks, _ = ragged_problem()
    with pytest.raises(ValueError, match="solver='gram' does not apply here"):
        MultiTaskRegressor(penalty=_RidgeToConstant(0.5), solver="gram").fit(
            X, y, tasks=tasks
        )


def test_fine_tuning_early_stopping_ignores_zero_weight_rows():
    rng = np.random.default_rng(2)
    Xs = rng.normal(size=(300, 5))
    ws = rng.normal(size=5)
    source = LogisticRegression().fit(Xs, (Xs @ ws > 0).astype(int))
    Xt = rng.normal(size=(50, 5))
    yt = (Xt @ ws > 0).astype(int)
    extra = rng.normal(size=(20, 5))  # rows of weight 0 with arbitrary labels
    X_all = np.vstack([Xt, extra])
    y_all = np.concatenate([yt, rng.integers(0, 2, size=20)])
    sw = np.concatenate([np.ones(50), np.zeros(20)])
    params = dict(early_stopping=True, max_iter=20, check_every=2, random_state=0)
    ref = FineTunedClassifier(source, **params).fit(Xt, yt)
    weighted = FineTunedClassifier(source, **params).fit(X_all, y_all, sample_weight=sw)
    assert_allclose(weighted.validation_scores_, ref.validation_scores_)
    assert_allclose(weighted.coef_, ref.coef_, rtol=1e-10)
    assert weighted.n_iter_ == ref.n_iter_


# ------------------------------------------- found by a new-user review
def test_failed_fit_keeps_input_attributes():
    pd = pytest.importorskip("pandas")
    X, y, tasks, _ = ragged_problem()
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    model = MultiTaskRegressor().fit(df, y, tasks=tasks)
    names = model.feature_names_in_.copy()
    narrow = pd.DataFrame(X[:, :3], columns=["a", "b", "c"])
    for bad in (
        dict(tasks=tasks[:-1]),
        dict(tasks=tasks, sample_weight=np.full(len(y), np.nan)),
        dict(tasks=tasks, coef_init=np.zeros((7, 7))),
    ):
        with pytest.raises(ValueError):
            model.fit(narrow, y, **bad)
        assert model.n_features_in_ == X.shape[1]
        assert_array_equal(model.feature_names_in_, names)
        model.predict(df, tasks=tasks)  # still the fitted model


def test_fit_path_models_check_their_input_like_fitted_models():
    pd = pytest.importorskip("pandas")
    from skmtl.linear_model import fit_path

    X, y, tasks, _ = ragged_problem()
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    [model] = fit_path(MultiTaskRegressor(), df, y, tasks, alphas=[0.1])
    fitted = MultiTaskRegressor(alpha=0.1).fit(df, y, tasks=tasks)
    assert model.n_features_in_ == fitted.n_features_in_
    assert_array_equal(model.feature_names_in_, fitted.feature_names_in_)
    with pytest.raises(ValueError, match="feature names"):
        model.predict(df[df.columns[::-1]], tasks=tasks)


def test_fit_path_validates_its_arguments():
    from skmtl.linear_model import fit_path

    X, y, tasks, _ = ragged_problem()
    for alphas in ([-1.0], [np.nan], []):
        with pytest.raises(ValueError, match="alphas"):
            list(fit_path(MultiTaskRegressor(), X, y, tasks, alphas=alphas))
    with pytest.raises(ValueError, match="tol"):
        list(fit_path(MultiTaskRegressor(tol=-1), X, y, tasks, alphas=[1.0]))
    with pytest.raises(TypeError, match="fit_path needs"):
        list(fit_path(Ridge(), X, y, tasks, alphas=[1.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repeated alphas: no division by zero
        models = list(fit_path(MultiTaskRegressor(), X, y, tasks, alphas=[1, 1, 1]))
    assert_allclose(models[0].coef_, models[2].coef_, rtol=1e-6)


def test_fit_path_models_share_no_penalty():
    from skmtl.linear_model import fit_path

    X, y, tasks, _ = ragged_problem()
    settings = [MeanRegularized(specific=1.0)]
    models = list(fit_path(MultiTaskRegressor(), X, y, tasks, alphas=[1, 0.1],
                           penalties=settings))  # fmt: skip
    models[0].set_params(penalty__specific=7.0)
    assert models[1].penalty.specific == 1.0 and settings[0].specific == 1.0
    assert models[0].penalty_ is not models[1].penalty_


@pytest.mark.parametrize("solver", ["newton-cg", "lbfgs", "fista", "auto"])
def test_no_intercept_means_zero_intercept_whatever_the_start(solver):
    X, y, tasks, _ = ragged_problem()
    y = y + 10.0
    model = MultiTaskRegressor(solver=solver, warm_start=True).fit(X, y, tasks=tasks)
    assert np.abs(model.intercept_).max() > 1
    model.set_params(fit_intercept=False).fit(X, y, tasks=tasks)
    assert_array_equal(model.intercept_, 0.0)
    assert_allclose(model.predict(X, tasks=tasks), np.sum(
        X * model.coef_[np.searchsorted(model.tasks_, tasks)], axis=1))  # fmt: skip
    with pytest.raises(ValueError, match="fit_intercept=False"):
        model.fit(X, y, tasks=tasks, intercept_init=5.0)


def test_multinomial_intercept_does_not_depend_on_the_start():
    X, y, tasks, _ = ragged_problem(classification=True, n_classes=3)
    a = MultiTaskClassifier(tol=1e-10).fit(X, y, tasks=tasks)
    b = MultiTaskClassifier(tol=1e-10).fit(
        X, y, tasks=tasks, intercept_init=np.array([4.0, -1.0, 1.0])
    )
    assert_allclose(a.intercept_, b.intercept_, atol=1e-6)
    assert_allclose(a.intercept_.sum(axis=1), 0.0, atol=1e-12)
    # as scikit-learn's multinomial model (one task, independent ridge)
    one = tasks == tasks[0]
    ref = LogisticRegression(C=1.0 / (0.01 * one.sum()), tol=1e-10, max_iter=10000)
    ref.fit(X[one], y[one])
    mine = MultiTaskClassifier(tol=1e-10).fit(X[one], y[one])
    assert_allclose(mine.intercept_[0], ref.intercept_, atol=1e-5)


def test_shared_fallback_after_the_fact_is_a_clear_error():
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor(penalty="independent").fit(X, y, tasks=tasks)
    model.set_params(unseen_tasks="shared")
    with pytest.raises(ValueError, match="shared component"):
        model.predict(X, tasks="never-seen")


def test_fine_tuning_refuses_mismatched_source_classes():
    rng = np.random.default_rng(0)
    Xs = rng.normal(size=(90, 4))
    source = LogisticRegression().fit(Xs, np.repeat([0, 1, 2], 30))
    Xt = rng.normal(size=(30, 4))
    model = FineTunedClassifier(source).fit(Xt, np.repeat([0, 1, 2], 10))
    coef = model.coef_.copy()
    with pytest.raises(ValueError, match="classes"):
        model.fit(Xt, np.repeat([5, 6, 7], 10))
    assert_array_equal(model.coef_, coef)  # the failed fit changed nothing


def test_fine_tuning_early_stopping_with_undefined_scores():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 3))
    y = X @ [1.0, 2.0, 3.0]
    model = FineTunedRegressor(
        early_stopping=True, validation_fraction=0.2, random_state=0
    ).fit(X, y)  # one validation row: R^2 is undefined (NaN)
    assert model.predict(X).shape == (5,)
    assert np.isnan(model.best_validation_score_)


def _state(est):
    return dict(vars(est))


@pytest.mark.parametrize(
    "estimator",
    __import__("tests.test_common", fromlist=["ESTIMATORS"]).ESTIMATORS,
    ids=lambda e: type(e).__name__,
)
def test_every_failed_fit_leaves_the_estimator_as_it_was(estimator):
    from sklearn.base import is_classifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int) if is_classifier(estimator) else X[:, 0] + 1.0
    est = clone(estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    before = _state(est)
    wide = rng.normal(size=(60, 7))  # another width, with a NaN
    wide[5, 2] = np.nan
    bad_inputs = [(wide, y)]
    if type(est).__name__ != "FeatureAugmenter":  # y is not read
        bad_inputs.append((rng.normal(size=(30, 7)), y))  # y of another length
    for bad_X, bad_y in bad_inputs:
        with pytest.raises(ValueError):
            est.fit(bad_X, bad_y)
    if "sample_weight" in inspect.signature(est.fit).parameters:
        # fails after X and y were validated (and n_features_in_ reset)
        with pytest.raises(ValueError):
            est.fit(rng.normal(size=(60, 7)), y, sample_weight=np.full(60, np.nan))
    after = _state(est)
    assert before.keys() == after.keys()
    for name, value in before.items():
        assert after[name] is value, name


@pytest.mark.parametrize("bad", [np.ones(5), "heavy", np.full(60, -1.0)])
def test_cv_estimator_names_bad_sample_weight(bad):
    X, y, tasks, _ = ragged_problem(sizes=(30, 30))
    with pytest.raises(ValueError, match="sample_weight"):
        MultiTaskRegressorCV(alphas=[0.1], cv=2).fit(
            X, y, tasks=tasks, sample_weight=bad
        )


def test_missing_tasks_under_routing_points_to_column_mode():
    X, y, tasks, _ = ragged_problem()
    model = MultiTaskRegressor().fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="enable metadata routing"):
        model.predict(X)
    with sklearn.config_context(enable_metadata_routing=True):
        with pytest.raises(ValueError, match="metadata routing is on.*column mode"):
            model.predict(X)
